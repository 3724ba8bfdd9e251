//! Browser test of FTP users in headless Chromium (the plumbing is in [`crate::browser`]):
//! a taken username refused inline, an FTP user created through htmx, edited in place (a
//! bad folder refused first), the list filtered by site, and the user deleted after its
//! confirmation; the database agrees at each step.

use std::time::Instant;

use serde_json::json;

use crate::browser::{Browser, MARKER, Tools, assert_not_reloaded, choose, count, text, toast};
use crate::ftp::{FTP_PASSWORD, add_site};
use crate::helpers::{PASSWORD, TestApp};

const CREATE: &str = r#"form.ftp-create button[type="submit"]"#;

/// The usernames listed, in order.
async fn listed(browser: &Browser) -> Vec<String> {
    let found = browser
        .js("return Array.from(document.querySelectorAll('article.ftp-user')).map(a => a.dataset.username);")
        .await;
    serde_json::from_value(found).expect("a list of usernames")
}

#[tokio::test]
async fn ftp_users_in_a_real_browser() {
    let Some(tools) = Tools::find_or_skip() else { return };
    let started = Instant::now();
    let app = TestApp::spawn().await;
    let customer = app.create_customer("ftp-owner").await;
    let (shop, shop_envs) = add_site(&app, customer, "shop", &["production", "staging"]).await;
    let (blog, _) = add_site(&app, customer, "blog", &["production"]).await;
    // Another customer already has the username "taken-name".
    let other = app.create_customer("someone-else").await;
    sqlx::query(
        "insert into ftp_users (customer_id, name, username, password_hash, type) values ($1, 'theirs', 'taken-name', 'x', 'read-write')",
    )
    .bind(other)
    .execute(&app.pool)
    .await
    .unwrap();
    let mine = async || -> i64 {
        sqlx::query_scalar("select count(*) from ftp_users where customer_id = $1")
            .bind(customer)
            .fetch_one(&app.pool)
            .await
            .unwrap()
    };

    let browser = tools.start(&app.base).await;
    browser.sign_in("ftp-owner", PASSWORD).await;
    browser.wait_for_path("/").await;
    browser.goto("/ftp-users").await;
    browser.wait_for_path("/ftp-users").await;
    browser.wait_for_js("typeof htmx", json!("object")).await;
    assert_eq!(text(&browser, "#ftp-total").await, "0 FTP users");

    // A taken username is refused inline, on its field, naming no one; input kept.
    browser.js(MARKER).await;
    browser.fill("#new-ftp-name", "Web designer").await;
    browser.fill("#new-ftp-username", "Taken-Name").await;
    browser.fill("#new-ftp-password", FTP_PASSWORD).await;
    browser.fill("#new-ftp-relative_root", "./public_html//").await;
    choose(&browser, "#new-ftp-site_id", &shop.to_string()).await;
    choose(&browser, "#new-ftp-environment_id", &shop_envs[0].to_string()).await;
    browser.click(CREATE).await;
    let error = text(&browser, "#new-ftp-username-error").await;
    assert_eq!(error, "This username is taken; choose another.");
    browser.wait_for_attr("#new-ftp-username", "aria-invalid", "true").await;
    browser
        .wait_for_js(
            "document.activeElement && document.activeElement.id",
            json!("new-ftp-username"),
        )
        .await;
    assert_eq!(browser.value("#new-ftp-name").await, "Web designer");
    assert_eq!(browser.value("#new-ftp-username").await, "Taken-Name");
    assert_eq!(browser.value("#new-ftp-relative_root").await, "./public_html//");
    assert_eq!(browser.value("#new-ftp-site_id").await, shop.to_string());
    assert_eq!(
        browser.value("#new-ftp-password").await,
        "",
        "the password is not echoed"
    );
    assert_not_reloaded(&browser, "username refused").await;
    assert_eq!(mine().await, 0, "nothing created");

    // Another username: created, listed, the form empty again.
    browser.fill("#new-ftp-username", "designer").await;
    browser.fill("#new-ftp-password", FTP_PASSWORD).await;
    browser.click(CREATE).await;
    toast(&browser, "FTP user designer created.").await;
    browser.wait_for(r#"article.ftp-user[data-username="designer"]"#).await;
    assert_not_reloaded(&browser, "created").await;
    assert_eq!(browser.value("#new-ftp-username").await, "");
    let (id, root, env): (i64, String, Option<i64>) = sqlx::query_as(
        "select id, relative_root, environment_id from ftp_users where customer_id = $1 and username = 'designer'",
    )
    .bind(customer)
    .fetch_one(&app.pool)
    .await
    .expect("designer was created");
    assert_eq!(root, "public_html");
    assert_eq!(env, Some(shop_envs[0]));
    let block = format!("#ftp-user-{id}");
    assert_eq!(
        text(&browser, &format!("{block} .ftp-placement")).await,
        "shop / production"
    );
    assert_eq!(text(&browser, &format!("{block} .ftp-root")).await, "/public_html");

    // A second one, on the blog.
    browser.fill("#new-ftp-name", "Blogger").await;
    browser.fill("#new-ftp-username", "blogger").await;
    browser.fill("#new-ftp-password", FTP_PASSWORD).await;
    choose(&browser, "#new-ftp-site_id", &blog.to_string()).await;
    browser.click(CREATE).await;
    toast(&browser, "FTP user blogger created.").await;
    assert_eq!(listed(&browser).await, ["blogger", "designer"]);
    assert_eq!(text(&browser, "#ftp-total").await, "2 FTP users");

    // Edit inline: a folder escaping with .. is refused in place, then a good edit saved.
    browser.js(MARKER).await;
    browser.click(&format!("{block} details.ftp-edit summary")).await;
    // The form is loaded when the row is opened.
    browser.wait_for(&format!("{block} form.ftp-edit-form")).await;
    let root_field = format!("#ftp-user-{id}-relative_root");
    browser.fill(&format!("#ftp-user-{id}-name"), "Lead designer").await;
    browser.fill(&root_field, "../secrets").await;
    let save = format!("{block} form.ftp-edit-form button[type=\"submit\"]");
    browser.click(&save).await;
    let error = text(&browser, &format!("#ftp-user-{id}-relative_root-error")).await;
    assert!(error.contains(".."), "{error}");
    browser.wait_for_attr(&root_field, "aria-invalid", "true").await;
    assert_eq!(browser.value(&format!("#ftp-user-{id}-name")).await, "Lead designer");
    assert_not_reloaded(&browser, "edit refused").await;
    let name: String = sqlx::query_scalar("select name from ftp_users where id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(name, "Web designer", "nothing saved");

    browser.fill(&root_field, "www/").await;
    choose(&browser, &format!("#ftp-user-{id}-type"), "read-only").await;
    browser.click(&save).await;
    browser
        .wait_for_text(&format!("{block} .ftp-name"), "Lead designer")
        .await;
    toast(&browser, "FTP user designer saved.").await;
    assert_not_reloaded(&browser, "edited").await;
    assert_eq!(text(&browser, &format!("{block} .ftp-type")).await, "read-only");
    assert_eq!(text(&browser, &format!("{block} .ftp-root")).await, "/www");
    let (name, root, kind, hash_kept): (String, String, String, bool) = sqlx::query_as(
        "select name, relative_root, type, password_hash like '$argon2id$%' from ftp_users where id = $1",
    )
    .bind(id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        (name.as_str(), root.as_str(), kind.as_str()),
        ("Lead designer", "www", "read-only")
    );
    assert!(hash_kept);

    // Filter by site: only the blog's user, and the URL says so.
    choose(&browser, "#ftp-filter-site", &blog.to_string()).await;
    browser.click(r#"form.ftp-filter button[type="submit"]"#).await;
    browser
        .wait_for_js("location.search", json!(format!("?site={blog}&environment=")))
        .await;
    browser.wait_until_gone(&block).await;
    assert_eq!(listed(&browser).await, ["blogger"]);
    assert_not_reloaded(&browser, "filtered").await;
    choose(&browser, "#ftp-filter-site", &shop.to_string()).await;
    browser.click(r#"form.ftp-filter button[type="submit"]"#).await;
    browser.wait_for(&block).await;
    assert_eq!(listed(&browser).await, ["designer"]);

    // Delete after the confirmation: the block goes, the database agrees.
    browser.click(&format!("{block} details.ftp-delete summary")).await;
    let confirm = format!("{block} details.ftp-delete button[type=\"submit\"]");
    assert_eq!(text(&browser, &confirm).await, "Yes, delete designer");
    browser.click(&confirm).await;
    browser.wait_until_gone(&block).await;
    toast(&browser, "FTP user designer deleted.").await;
    assert_not_reloaded(&browser, "deleted").await;
    assert_eq!(mine().await, 1, "only the blogger is left");
    let theirs: i64 = sqlx::query_scalar("select count(*) from ftp_users where customer_id = $1")
        .bind(other)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(theirs, 1, "the other customer's user is untouched");

    browser.reload().await;
    browser.wait_for_path("/ftp-users").await;
    assert_eq!(count(&browser, "article.ftp-user").await, 0, "none on the shop now");
    browser.goto("/ftp-users").await;
    browser.wait_for_path("/ftp-users").await;
    browser.wait_for(r#"article.ftp-user[data-username="blogger"]"#).await;
    assert_eq!(listed(&browser).await, ["blogger"]);

    browser.close().await;
    eprintln!("browser FTP users test took {:.1?}", started.elapsed());
}
