//! FTP users: creating, listing with filters and pages, editing in place, deleting; the field
//! rules over plain POST and htmx; usernames unique on the whole platform; other customers'
//! FTP users, sites and environments.

pub mod api;
pub mod browser;
pub mod server;

use berth::identity::CustomerId;
use reqwest::StatusCode;

use crate::helpers::*;

pub const FTP_PASSWORD: &str = "ftp password for tests";

/// A site of `customer` with the named environments, straight into the database; answers
/// the site's id and its environments' ids in the order given.
pub async fn add_site(app: &TestApp, customer: CustomerId, name: &str, environments: &[&str]) -> (i64, Vec<i64>) {
    let site: i64 = sqlx::query_scalar(
        "insert into sites (customer_id, name, hostname, create_dns, draft_token)
         values ($1, $2, $3, false, gen_random_uuid()) returning id",
    )
    .bind(customer)
    .bind(name)
    .bind(format!("{name}.example.com"))
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let mut ids = Vec::new();
    for env in environments {
        let id: i64 = sqlx::query_scalar(
            "insert into environments (customer_id, site_id, name) values ($1, $2, $3) returning id",
        )
        .bind(customer)
        .bind(site)
        .bind(env)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        ids.push(id);
    }
    (site, ids)
}

/// The form of a valid FTP user, to change one field of.
fn valid<'a>(username: &'a str, site: &'a str, environment: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("name", "Web designer"),
        ("username", username),
        ("password", FTP_PASSWORD),
        ("relative_root", "public_html"),
        ("type", "read-write"),
        ("site_id", site),
        ("environment_id", environment),
    ]
}

/// A form, the field it is refused on, and part of the message.
type Case<'a> = (Vec<(&'a str, &'a str)>, &'a str, &'a str);

fn with<'a>(mut fields: Vec<(&'a str, &'a str)>, name: &'a str, value: &'a str) -> Vec<(&'a str, &'a str)> {
    fields.retain(|(k, _)| *k != name);
    fields.push((name, value));
    fields
}

fn without<'a>(mut fields: Vec<(&'a str, &'a str)>, name: &str) -> Vec<(&'a str, &'a str)> {
    fields.retain(|(k, _)| *k != name);
    fields
}

/// Creates an FTP user through the form; answers its id.
pub async fn create_ftp(app: &TestApp, client: &Client, fields: &[(&str, &str)]) -> i64 {
    client.get("/ftp-users").await;
    let r = client.post_form("/ftp-users", fields).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), "/ftp-users");
    let username = fields.iter().find(|(k, _)| *k == "username").unwrap().1;
    sqlx::query_scalar("select id from ftp_users where username = lower($1)")
        .bind(username.trim())
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// Everything about every FTP user, to compare before and after.
async fn snapshot(app: &TestApp) -> Vec<String> {
    sqlx::query_scalar(
        "select concat_ws(' ', id, customer_id, name, username, password_hash, relative_root, type, site_id,
                          environment_id, updated_at)
         from ftp_users order by id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    app.scalar(sql).await
}

async fn hash_of(app: &TestApp, id: i64) -> String {
    sqlx::query_scalar("select password_hash from ftp_users where id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_ftp_user_is_created_and_listed_with_its_password_only_hashed() {
    let app = TestApp::spawn().await;
    let (client, alice) = app.signed_in_client("alice").await;
    let (site, envs) = add_site(&app, alice, "shop", &["production", "staging"]).await;
    let (site_s, staging) = (site.to_string(), envs[1].to_string());
    let fields = with(
        valid(" Designer.One ", &site_s, &staging),
        "relative_root",
        "./public_html//uploads/",
    );
    let id = create_ftp(&app, &client, &fields).await;

    let (username, root, kind, site_id, env_id, hash): (String, String, String, Option<i64>, Option<i64>, String) =
        sqlx::query_as(
            "select username, relative_root, type, site_id, environment_id, password_hash from ftp_users where id = $1",
        )
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(username, "designer.one", "trimmed and in small letters");
    assert_eq!(root, "public_html/uploads", "normalised");
    assert_eq!(kind, "read-write");
    assert_eq!((site_id, env_id), (Some(site), Some(envs[1])));
    assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
    assert!(!hash.contains(FTP_PASSWORD));

    let list = client.get("/ftp-users").await;
    assert_eq!(list.status, StatusCode::OK);
    let row = format!("#ftp-user-{id}");
    assert_eq!(list.text(&format!("{row} .ftp-name")), "Web designer");
    assert_eq!(list.text(&format!("{row} .ftp-username")), "designer.one");
    assert_eq!(list.text(&format!("{row} .ftp-type")), "read-write");
    assert_eq!(list.text(&format!("{row} .ftp-placement")), "shop / staging");
    assert_eq!(list.text(&format!("{row} .ftp-root")), "/public_html/uploads");
    assert!(!list.text(&format!("{row} .ftp-created")).is_empty());
    assert_eq!(list.text("#ftp-total"), "1 FTP user");
    // The list carries no edit forms: a row loads its form when opened (and links to the
    // user's page without JavaScript).
    assert!(
        list.html()
            .select(&scraper::Selector::parse("form.ftp-edit-form").unwrap())
            .next()
            .is_none()
    );
    assert_eq!(
        list.text_attr(&format!("{row} details.ftp-edit"), "hx-get"),
        format!("/ftp-users/{id}/edit")
    );
    assert_eq!(
        list.text_attr(&format!("{row} .ftp-edit-body a"), "href"),
        format!("/ftp-users/{id}")
    );
    // Its edit form shows its fields, never a password.
    let form = client.get_htmx(&format!("/ftp-users/{id}/edit")).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(!form.body.contains("<html"));
    assert_eq!(
        form.text_attr(&format!("#ftp-user-{id}-username"), "value"),
        "designer.one"
    );
    assert_eq!(
        form.text_attr(&format!("#ftp-user-{id}-environment_id option[selected]"), "value"),
        staging
    );
    let plain = client.get(&format!("/ftp-users/{id}/edit")).await;
    assert_eq!(plain.status, StatusCode::SEE_OTHER);
    assert_eq!(plain.location(), format!("/ftp-users/{id}"));
    assert!(
        form.html()
            .select(&scraper::Selector::parse(r#"input[type="password"][value]"#).unwrap())
            .next()
            .is_none()
    );

    // An environment without a site places the user on the environment's site.
    let production = envs[0].to_string();
    let id2 = create_ftp(&app, &client, &valid("deployer", "", &production)).await;
    let (site_id, env_id): (Option<i64>, Option<i64>) =
        sqlx::query_as("select site_id, environment_id from ftp_users where id = $1")
            .bind(id2)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!((site_id, env_id), (Some(site), Some(envs[0])));
    // No site at all: the account's home, and an empty folder is that home.
    let id3 = create_ftp(
        &app,
        &client,
        &with(with(valid("backup", "", ""), "relative_root", ""), "type", "read-only"),
    )
    .await;
    let page = client.get(&format!("/ftp-users/{id3}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.text(".ftp-placement"), "account home");
    assert_eq!(page.text(".ftp-root"), "/");
    assert_eq!(page.text(".ftp-type"), "read-only");

    // Over htmx: the list's fragment with a toast.
    client.get("/ftp-users").await;
    let r = client.post_htmx("/ftp-users", &valid("htmx-user", "", "")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(!r.body.contains("<html"), "htmx gets the fragment");
    assert!(r.body.contains("FTP user htmx-user created."));
    assert_eq!(r.text("#ftp-total"), "4 FTP users");

    // Activity has every creation, and the password is nowhere in the database.
    let activity = client.get("/activity").await;
    assert_eq!(
        activity.texts("td").iter().filter(|t| *t == "FTP user created").count(),
        4
    );
    let leaks = count(
        &app,
        &format!("select count(*) from activity where detail like '%{FTP_PASSWORD}%' or kind like '%{FTP_PASSWORD}%'"),
    )
    .await;
    assert_eq!(leaks, 0);
    for path in [
        "/ftp-users".to_owned(),
        format!("/ftp-users/{id}"),
        "/activity".to_owned(),
    ] {
        assert!(!client.get(&path).await.body.contains(FTP_PASSWORD), "{path}");
    }
}

#[tokio::test]
async fn create_form_errors_are_shown_on_their_fields_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let (client, alice) = app.signed_in_client("alice").await;
    let (site, envs) = add_site(&app, alice, "shop", &["production"]).await;
    let (other_site, other_envs) = add_site(&app, alice, "blog", &["production"]).await;
    let (site, env, other_site, other_env) = (
        site.to_string(),
        envs[0].to_string(),
        other_site.to_string(),
        other_envs[0].to_string(),
    );
    let long_name = "x".repeat(65);
    let long_root = "a".repeat(256);
    let base = || valid("designer", &site, &env);
    let cases: Vec<Case> = vec![
        (with(base(), "name", ""), "name", "Give the FTP user a name"),
        (with(base(), "name", "   "), "name", "Give the FTP user a name"),
        (with(base(), "name", &long_name), "name", "at most 64"),
        (without(base(), "name"), "name", "Give the FTP user a name"),
        (with(base(), "username", "ab"), "username", "3 to 32"),
        (with(base(), "username", "1abc"), "username", "starting with a letter"),
        (with(base(), "username", "_abc"), "username", "starting with a letter"),
        (with(base(), "username", "ab c"), "username", "3 to 32"),
        (with(base(), "username", "abç"), "username", "3 to 32"),
        (with(base(), "username", &long_name), "username", "3 to 32"),
        (with(base(), "password", ""), "password", "at least 12"),
        (with(base(), "password", "short"), "password", "at least 12"),
        (with(base(), "password", "password1234"), "password", "common"),
        (with(base(), "relative_root", "/etc"), "relative_root", "leading /"),
        (with(base(), "relative_root", "../other"), "relative_root", ".."),
        (with(base(), "relative_root", "a/../../b"), "relative_root", ".."),
        (with(base(), "relative_root", "a\\b"), "relative_root", "not \\"),
        (with(base(), "relative_root", &long_root), "relative_root", "255 bytes"),
        (with(base(), "type", "admin"), "type", "read-write or read-only"),
        (without(base(), "type"), "type", "read-write or read-only"),
        (with(base(), "site_id", "x"), "site_id", "Choose one of your sites"),
        (with(base(), "site_id", "999999"), "site_id", "Choose one of your sites"),
        (
            with(base(), "environment_id", "999999"),
            "environment_id",
            "Choose one of your environments",
        ),
        (
            with(base(), "environment_id", "-"),
            "environment_id",
            "Choose one of your environments",
        ),
        (
            with(base(), "site_id", &other_site),
            "environment_id",
            "not one of the chosen site's",
        ),
        (
            with(base(), "environment_id", &other_env),
            "environment_id",
            "not one of the chosen site's",
        ),
    ];
    // Control characters are refused before any handler, by the form extractor (issue 13):
    // a 422 naming the field.
    for (field, value) in [("name", "a\u{7}b"), ("relative_root", "a\u{1}b")] {
        client.get("/ftp-users").await;
        let r = client.post_form("/ftp-users", &with(base(), field, value)).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert!(
            r.body.contains(field) && r.body.contains("control character"),
            "{}",
            r.body
        );
    }
    for (fields, field, message) in &cases {
        for htmx in [false, true] {
            client.get("/ftp-users").await;
            let r = if htmx {
                client.post_htmx("/ftp-users", fields).await
            } else {
                client.post_form("/ftp-users", fields).await
            };
            assert_field_error(&r, field, message);
            assert_eq!(htmx, !r.body.contains("<html"), "{field}: fragment for htmx only");
            // What was typed is kept, except the password.
            if *field != "name" {
                assert_eq!(r.text_attr("#new-ftp-name", "value"), "Web designer", "{field}");
            }
            if *field != "username" {
                assert_eq!(r.text_attr("#new-ftp-username", "value"), "designer", "{field}");
            }
            if *field == "relative_root" {
                let typed = fields.iter().find(|(k, _)| *k == "relative_root").unwrap().1;
                assert_eq!(r.text_attr("#new-ftp-relative_root", "value"), typed);
            }
            assert!(
                r.html()
                    .select(&scraper::Selector::parse("#new-ftp-password[value]").unwrap())
                    .next()
                    .is_none()
            );
            assert!(!r.body.contains(FTP_PASSWORD), "{field}: the password is never echoed");
        }
    }
    assert_eq!(count(&app, "select count(*) from ftp_users").await, 0);
    assert_eq!(
        count(&app, "select count(*) from activity where kind like 'ftp_user%'").await,
        0
    );
}

#[tokio::test]
async fn edits_are_checked_like_creation_and_change_nothing_when_refused() {
    let app = TestApp::spawn().await;
    let (client, alice) = app.signed_in_client("alice").await;
    let (site, envs) = add_site(&app, alice, "shop", &["production"]).await;
    let (other_site, _) = add_site(&app, alice, "blog", &["production"]).await;
    let (site, env, other_site) = (site.to_string(), envs[0].to_string(), other_site.to_string());
    let id = create_ftp(&app, &client, &valid("designer", &site, &env)).await;
    create_ftp(&app, &client, &valid("taken-one", "", "")).await;
    let before = snapshot(&app).await;
    let path = format!("/ftp-users/{id}");
    let base = || with(valid("designer", &site, &env), "password", "");
    let cases: Vec<Case> = vec![
        (with(base(), "name", ""), "name", "Give the FTP user a name"),
        (with(base(), "username", "x"), "username", "3 to 32"),
        (with(base(), "username", "Taken-One"), "username", "taken"),
        (with(base(), "password", "short"), "password", "at least 12"),
        (with(base(), "relative_root", "/"), "relative_root", "leading /"),
        (with(base(), "relative_root", ".."), "relative_root", ".."),
        (with(base(), "type", "write-only"), "type", "read-write or read-only"),
        (with(base(), "site_id", "999999"), "site_id", "Choose one of your sites"),
        (
            with(base(), "site_id", &other_site),
            "environment_id",
            "not one of the chosen site's",
        ),
        // The site changes but the environment, left out, is kept: it is not of that site.
        (
            without(with(base(), "site_id", &other_site), "environment_id"),
            "environment_id",
            "not one of the chosen site's",
        ),
    ];
    for (fields, field, message) in &cases {
        // Without JavaScript: the user's page at 422.
        client.get(&path).await;
        let r = client.post_form(&path, fields).await;
        assert_field_error(&r, field, message);
        assert!(r.body.contains("<html"));
        assert_eq!(r.text("h1"), "FTP user designer");
        // Over htmx: the user's block alone, its edit form open.
        let r = client.post_htmx(&path, fields).await;
        let error = assert_field_error(&r, field, message);
        assert!(!error.contains("alice"));
        assert!(!r.body.contains("<html"));
        assert_eq!(r.text_attr(&format!("#ftp-user-{id}"), "id"), format!("ftp-user-{id}"));
        assert!(r.body.contains("<details class=\"ftp-edit\" open>"), "{}", r.body);
        let prefix = format!("#ftp-user-{id}");
        if *field != "name" {
            assert_eq!(r.text_attr(&format!("{prefix}-name"), "value"), "Web designer");
        }
        if *field == "username" {
            let typed = fields.iter().find(|(k, _)| *k == "username").unwrap().1;
            assert_eq!(r.text_attr(&format!("{prefix}-username"), "value"), typed);
        }
        assert!(!r.body.contains("short\""), "a password is never echoed");
    }
    assert_eq!(snapshot(&app).await, before);
    assert_eq!(
        count(&app, "select count(*) from activity where kind = 'ftp_user_changed'").await,
        0
    );
}

#[tokio::test]
async fn a_taken_username_is_a_field_error_that_names_no_one() {
    let app = TestApp::spawn().await;
    let (bob, _) = app.signed_in_client("bob").await;
    create_ftp(&app, &bob, &valid("shared-name", "", "")).await;
    let before = snapshot(&app).await;

    let (alice, _) = app.signed_in_client("alice").await;
    for taken in ["shared-name", "Shared-Name", " SHARED-NAME "] {
        for htmx in [false, true] {
            alice.get("/ftp-users").await;
            let fields = valid(taken, "", "");
            let r = if htmx {
                alice.post_htmx("/ftp-users", &fields).await
            } else {
                alice.post_form("/ftp-users", &fields).await
            };
            let message = assert_field_error(&r, "username", "This username is taken; choose another.");
            assert!(!message.contains("bob"), "{message}");
            assert!(!r.body.contains("bob"), "the page says nothing of bob");
        }
    }
    assert_eq!(snapshot(&app).await, before);

    // The check and the write are apart; a name taken in between is the same field error.
    let alice_id: CustomerId = sqlx::query_scalar("select id from customers where username = 'alice'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let fields = berth::ftp::model::Fields {
        name: "raced".parse().unwrap(),
        username: "Shared-Name".parse().unwrap(),
        relative_root: "".parse().unwrap(),
        kind: berth::ftp::model::FtpType::ReadOnly,
        placement: Default::default(),
    };
    let err = berth::ftp::model::insert(&app.pool, alice_id, &fields, "$argon2id$x")
        .await
        .unwrap_err();
    let refused = berth::ftp::ops::write_error(err);
    let berth::ftp::ops::FtpError::Invalid(invalid) = refused else {
        panic!("{refused:?}")
    };
    assert_eq!(
        invalid.errors(berth::validation::Names::Form).get("username"),
        Some("This username is taken; choose another.")
    );
    assert_eq!(snapshot(&app).await, before);
}

#[tokio::test]
async fn the_list_filters_by_site_and_environment_a_page_at_a_time() {
    let app = TestApp::spawn().await;
    let (client, alice) = app.signed_in_client("alice").await;
    let (shop, shop_envs) = add_site(&app, alice, "shop", &["production", "staging"]).await;
    let (blog, _) = add_site(&app, alice, "blog", &["production"]).await;
    let (shop_s, blog_s) = (shop.to_string(), blog.to_string());
    let (prod, staging) = (shop_envs[0].to_string(), shop_envs[1].to_string());
    create_ftp(&app, &client, &valid("shop-prod", &shop_s, &prod)).await;
    create_ftp(&app, &client, &valid("shop-staging", &shop_s, &staging)).await;
    create_ftp(&app, &client, &valid("shop-all", &shop_s, "")).await;
    create_ftp(&app, &client, &valid("blog-all", &blog_s, "")).await;
    create_ftp(&app, &client, &valid("home-user", "", "")).await;
    let names = |r: &Resp| r.texts("article.ftp-user .ftp-username");
    assert_eq!(
        names(&client.get("/ftp-users").await),
        ["blog-all", "home-user", "shop-all", "shop-prod", "shop-staging"]
    );
    let shop_list = client.get(&format!("/ftp-users?site={shop}")).await;
    assert_eq!(names(&shop_list), ["shop-all", "shop-prod", "shop-staging"]);
    assert_eq!(shop_list.text("#ftp-total"), "3 FTP users on this filter");
    assert_eq!(
        shop_list.text_attr("#ftp-filter-site option[selected]", "value"),
        shop_s
    );
    assert_eq!(
        names(&client.get(&format!("/ftp-users?site={blog}")).await),
        ["blog-all"]
    );
    assert_eq!(
        names(&client.get(&format!("/ftp-users?environment={staging}")).await),
        ["shop-staging"]
    );
    assert_eq!(
        names(&client.get(&format!("/ftp-users?site={shop}&environment={prod}")).await),
        ["shop-prod"]
    );
    assert!(names(&client.get(&format!("/ftp-users?site={blog}&environment={prod}")).await).is_empty());
    // Over htmx, the fragment.
    let r = client.get_htmx(&format!("/ftp-users?site={shop}")).await;
    assert!(!r.body.contains("<html"));
    assert_eq!(names(&r).len(), 3);
    // Anything but a number is no filter.
    assert_eq!(names(&client.get("/ftp-users?site=x&environment=").await).len(), 5);

    // A page at a time, by the "rows per page" setting.
    sqlx::query("insert into customer_settings (customer_id, key, value) values ($1, 'items_per_page', '10')")
        .bind(alice)
        .execute(&app.pool)
        .await
        .unwrap();
    let alice_id = alice.0;
    sqlx::query(
        "insert into ftp_users (customer_id, name, username, password_hash, type, site_id)
         select $1, 'bulk', 'bulk' || lpad(n::text, 2, '0'), 'x', 'read-only', $2 from generate_series(1, 15) n",
    )
    .bind(alice_id)
    .bind(shop)
    .execute(&app.pool)
    .await
    .unwrap();
    let first = client.get(&format!("/ftp-users?site={shop}")).await;
    assert_eq!(names(&first).len(), 10);
    assert_eq!(first.text("#ftp-total"), "18 FTP users on this filter");
    let next = first.text_attr(r#"nav[aria-label="FTP user pages"] a"#, "href");
    assert_eq!(next, format!("/ftp-users?site={shop}&page=2"));
    let second = client.get(&next).await;
    assert_eq!(
        names(&second),
        [
            "bulk11",
            "bulk12",
            "bulk13",
            "bulk14",
            "bulk15",
            "shop-all",
            "shop-prod",
            "shop-staging"
        ]
    );
}

#[tokio::test]
async fn an_ftp_user_is_edited_in_place_keeping_its_password_unless_given() {
    let app = TestApp::spawn().await;
    let (client, alice) = app.signed_in_client("alice").await;
    let (site, envs) = add_site(&app, alice, "shop", &["production", "staging"]).await;
    let (site_s, prod, staging) = (site.to_string(), envs[0].to_string(), envs[1].to_string());
    let id = create_ftp(&app, &client, &valid("designer", &site_s, &prod)).await;
    let path = format!("/ftp-users/{id}");
    let hash = hash_of(&app, id).await;

    // Over htmx, every field but the password: the block comes back with a toast.
    client.get("/ftp-users").await;
    let fields = [
        ("name", "Lead designer"),
        ("username", "Lead.Designer"),
        ("password", ""),
        ("relative_root", "./www//"),
        ("type", "read-only"),
        ("site_id", site_s.as_str()),
        ("environment_id", staging.as_str()),
    ];
    let r = client.post_htmx(&path, &fields).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(!r.body.contains("<html"));
    let block = format!("#ftp-user-{id}");
    assert_eq!(r.text(&format!("{block} .ftp-name")), "Lead designer");
    assert_eq!(r.text(&format!("{block} .ftp-username")), "lead.designer");
    assert_eq!(r.text(&format!("{block} .ftp-type")), "read-only");
    assert_eq!(r.text(&format!("{block} .ftp-placement")), "shop / staging");
    assert_eq!(r.text(&format!("{block} .ftp-root")), "/www");
    assert!(r.body.contains("FTP user lead.designer saved."), "a toast");
    assert_eq!(hash_of(&app, id).await, hash, "an empty password keeps it");

    // Without JavaScript: a new password, then to the user's page.
    client.get(&path).await;
    let r = client
        .post_form(&path, &[("password", "a brand new ftp password")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), path);
    let new_hash = hash_of(&app, id).await;
    assert_ne!(new_hash, hash);
    assert!(new_hash.starts_with("$argon2id$"));
    let page = client.get(&path).await;
    assert_eq!(page.text(".ftp-username"), "lead.designer", "fields left out are kept");
    assert_eq!(page.text(".ftp-placement"), "shop / staging");
    assert!(page.body.contains("FTP user lead.designer saved."), "the flash message");

    // Clearing the site moves it to the account's home.
    let r = client
        .post_form(&path, &[("site_id", ""), ("environment_id", "")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(client.get(&path).await.text(".ftp-placement"), "account home");

    // The same values again change nothing and record nothing.
    let changes = || count(&app, "select count(*) from activity where kind = 'ftp_user_changed'");
    let before = changes().await;
    assert_eq!(before, 3);
    let r = client.post_htmx(&path, &[("name", "Lead designer")]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("Nothing changed"));
    assert_eq!(changes().await, before);
    let details: Vec<String> =
        sqlx::query_scalar("select detail from activity where kind = 'ftp_user_changed' order by id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert!(details[1].contains("password changed"), "{details:?}");
    assert!(details.iter().all(|d| !d.contains("a brand new ftp password")));
    let activity = client.get("/activity").await;
    assert!(activity.texts("td").iter().any(|t| t == "FTP user changed"));
}

#[tokio::test]
async fn an_ftp_user_is_deleted_after_confirmation() {
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("alice").await;
    let plain = create_ftp(&app, &client, &valid("plain-user", "", "")).await;
    let htmx = create_ftp(&app, &client, &valid("htmx-user", "", "")).await;
    let list = client.get("/ftp-users").await;
    // The confirmation is a <details> with its own form: it works without JavaScript.
    let confirm = format!(r#"#ftp-user-{plain} details.ftp-delete form[action="/ftp-users/{plain}/delete"] button"#);
    assert_eq!(list.text(&confirm), "Yes, delete plain-user");
    assert_eq!(
        list.text(&format!("#ftp-user-{plain} details.confirm.ftp-delete .consequence")),
        "plain-user can no longer sign in once deleted, and its open sessions end. Its files stay where they are."
    );

    let r = client.post_form(&format!("/ftp-users/{plain}/delete"), &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), "/ftp-users");
    let r = client.post_htmx(&format!("/ftp-users/{htmx}/delete"), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("FTP user htmx-user deleted."));
    assert!(!r.body.contains("ftp-user-"), "nothing replaces the block");
    assert_eq!(count(&app, "select count(*) from ftp_users").await, 0);

    // Deleted over htmx from its own page: htmx is sent to the list, which says so.
    let own = create_ftp(&app, &client, &valid("own-page", "", "")).await;
    client.get(&format!("/ftp-users/{own}")).await;
    let no_fields: [(&str, &str); 0] = [];
    let resp = client
        .http
        .post(format!("{}/ftp-users/{own}/delete", client.base))
        .header("HX-Request", "true")
        .header("HX-Current-URL", format!("{}/ftp-users/{own}", client.base))
        .header("X-CSRF-Token", client.token().await)
        .form(&no_fields)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["hx-redirect"], "/ftp-users");
    assert!(
        client
            .get("/ftp-users")
            .await
            .body
            .contains("FTP user own-page deleted.")
    );
    assert_eq!(count(&app, "select count(*) from ftp_users").await, 0);
    assert_eq!(
        count(&app, "select count(*) from activity where kind = 'ftp_user_deleted'").await,
        3
    );
    // Gone: its page and a second deletion are not found.
    assert_eq!(
        client.get(&format!("/ftp-users/{plain}")).await.status,
        StatusCode::NOT_FOUND
    );
    let r = client.post_form(&format!("/ftp-users/{plain}/delete"), &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn another_customers_ftp_users_are_not_found_and_nothing_changes() {
    let app = TestApp::spawn().await;
    let (alice, alice_id) = app.signed_in_client("alice").await;
    let (site, envs) = add_site(&app, alice_id, "shop", &["production"]).await;
    let (site_s, env_s) = (site.to_string(), envs[0].to_string());
    let id = create_ftp(&app, &alice, &valid("alice-ftp", &site_s, &env_s)).await;
    let before = snapshot(&app).await;
    let activity_before = count(&app, "select count(*) from activity where kind like 'ftp_user%'").await;

    let (bob, _) = app.signed_in_client("bob").await;
    bob.get("/ftp-users").await;
    let path = format!("/ftp-users/{id}");
    assert_eq!(bob.get(&path).await.status, StatusCode::NOT_FOUND);
    assert_eq!(bob.get_htmx(&path).await.status, StatusCode::NOT_FOUND);
    assert_eq!(bob.get(&format!("{path}/edit")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        bob.get_htmx(&format!("{path}/edit")).await.status,
        StatusCode::NOT_FOUND
    );
    let posts = [
        (path.clone(), valid("bob-took-it", "", "")),
        (path.clone(), vec![("password", "a password bob chose")]),
        (path.clone(), vec![("username", "!"), ("relative_root", "/")]),
        (path.clone(), vec![]),
        (format!("{path}/delete"), vec![]),
    ];
    for (path, fields) in &posts {
        let r = bob.post_form(path, fields).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.body);
        let r = bob.post_htmx(path, fields).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.body);
    }
    // Nothing of alice's on bob's list, even when filtered by her site or environment.
    for list in [
        "/ftp-users".to_owned(),
        format!("/ftp-users?site={site}"),
        format!("/ftp-users?environment={env_s}"),
        format!("/ftp-users?site={site}&environment={env_s}"),
    ] {
        let r = bob.get(&list).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.texts("article.ftp-user").is_empty(), "{list}");
        assert!(!r.body.contains("alice-ftp") && !r.body.contains("shop"), "{list}");
    }
    assert_eq!(snapshot(&app).await, before);
    assert_eq!(
        count(&app, "select count(*) from activity where kind like 'ftp_user%'").await,
        activity_before
    );
    // Ids that are not numbers, or do not exist, are simply not found.
    for path in ["/ftp-users/x", "/ftp-users/99999", "/ftp-users/-1"] {
        assert_eq!(bob.get(path).await.status, StatusCode::NOT_FOUND, "{path}");
        let r = bob.post_form(&format!("{path}/delete"), &[]).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn an_ftp_user_cannot_be_placed_on_another_customers_site_or_environment() {
    let app = TestApp::spawn().await;
    let (alice, alice_id) = app.signed_in_client("alice").await;
    let (alice_site, alice_envs) = add_site(&app, alice_id, "shop", &["production"]).await;
    let (a_site, a_env) = (alice_site.to_string(), alice_envs[0].to_string());

    let (bob, bob_id) = app.signed_in_client("bob").await;
    let (bob_site, _) = add_site(&app, bob_id, "bobs", &["production"]).await;
    let bob_site_s = bob_site.to_string();
    let bob_ftp = create_ftp(&app, &bob, &valid("bob-ftp", &bob_site_s, "")).await;
    let before = snapshot(&app).await;

    // Bob's form does not offer alice's site or environment.
    let page = bob.get("/ftp-users").await;
    assert!(!page.body.contains("shop"));

    // A foreign site or environment reads exactly like one that does not exist.
    let missing = (alice_site + alice_envs[0] + 1000).to_string();
    let cases = [
        ("site_id", a_site.as_str(), "", missing.as_str(), ""),
        ("environment_id", "", a_env.as_str(), "", missing.as_str()),
        (
            "environment_id",
            bob_site_s.as_str(),
            a_env.as_str(),
            bob_site_s.as_str(),
            missing.as_str(),
        ),
    ];
    for (field, site, env, missing_site, missing_env) in cases {
        for htmx in [false, true] {
            let post = |path: String, fields: Vec<(&'static str, String)>| {
                let bob = bob.clone();
                async move {
                    bob.get("/ftp-users").await;
                    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
                    if htmx {
                        bob.post_htmx(&path, &fields).await
                    } else {
                        bob.post_form(&path, &fields).await
                    }
                }
            };
            let owned = |site: &str, env: &str| -> Vec<(&'static str, String)> {
                valid("bob-new", "", "")
                    .into_iter()
                    .map(|(k, v)| match k {
                        "site_id" => (k, site.to_owned()),
                        "environment_id" => (k, env.to_owned()),
                        _ => (k, v.to_owned()),
                    })
                    .collect()
            };
            // Create.
            let foreign = post("/ftp-users".into(), owned(site, env)).await;
            let absent = post("/ftp-users".into(), owned(missing_site, missing_env)).await;
            let m1 = assert_field_error(&foreign, field, "Choose one of your");
            let m2 = assert_field_error(&absent, field, "Choose one of your");
            assert_eq!(m1, m2, "{field}: a foreign id reads like a missing one");
            // Update.
            let path = format!("/ftp-users/{bob_ftp}");
            let foreign = post(path.clone(), owned(site, env)).await;
            let absent = post(path.clone(), owned(missing_site, missing_env)).await;
            let m1 = assert_field_error(&foreign, field, "Choose one of your");
            let m2 = assert_field_error(&absent, field, "Choose one of your");
            assert_eq!(m1, m2);
            assert!(!foreign.body.contains("shop"));
        }
    }
    assert_eq!(snapshot(&app).await, before);
    let alices: i64 = sqlx::query_scalar("select count(*) from ftp_users where customer_id = $1")
        .bind(alice_id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(alices, 0);
    assert!(!alice.get("/ftp-users").await.body.contains("bob-ftp"));
}

/// The site page says how to connect with FTP: the service's host, port and TLS, and each
/// FTP user placed on the site with the folder they land in; with no FTP service, it says so.
#[tokio::test]
async fn the_site_page_tells_how_to_connect_with_ftp() {
    let mut web = berth::state::WebConfig::new(None);
    web.ftp = Some(berth::state::FtpAccess {
        host: "ftp.example.net".to_owned(),
        port: 2121,
        tls: berth::state::FtpTls::Required,
    });
    let app = TestApp::spawn_with(web).await;
    let (client, alice) = app.signed_in_client("alice").await;
    let (site, environments) = add_site(&app, alice, "shop", &["production", "staging"]).await;
    let (site_text, staging) = (site.to_string(), environments[1].to_string());
    create_ftp(&app, &client, &valid("designer", &site_text, &staging)).await;
    let mut site_wide = with(valid("whole", &site_text, ""), "relative_root", "");
    site_wide = with(site_wide, "type", "read-only");
    create_ftp(&app, &client, &site_wide).await;

    let page = client.get(&format!("/sites/{site}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(page.text("#ftp-host"), "ftp.example.net");
    assert_eq!(page.text("#ftp-port"), "2121");
    assert!(page.text("#site-ftp").contains("TLS required"));
    assert_eq!(
        page.texts("#site-ftp-users li"),
        [
            "designer lands in staging › public_html",
            "whole lands in production (read-only)"
        ]
    );

    // Without an FTP service the page says so.
    let plain = TestApp::spawn().await;
    let (client, bob) = plain.signed_in_client("bob").await;
    let (site, _) = add_site(&plain, bob, "blog", &["production"]).await;
    let page = client.get(&format!("/sites/{site}")).await;
    assert_eq!(page.text("#ftp-off"), "This platform serves no FTP.");
}
