//! Browser test of API keys in headless Chromium (the plumbing is in [`crate::browser`]):
//! a key created through htmx shows its secret once (gone after a reload), then its block on
//! /keys is changed in place by htmx: an ACL added (host bits cleared), an invalid mask
//! refused inline, the ACL edited and deleted, and the key revoked; the database agrees.

use std::time::Instant;

use serde_json::json;

use crate::browser::{MARKER, Tools, assert_not_reloaded, attr, count, text, toast};
use crate::helpers::{PASSWORD, TestApp};

const KEY_NAME: &str = "deploy script";
const CREATE: &str = r#"form[action="/keys"] button[type="submit"]"#;

#[tokio::test]
async fn api_keys_in_a_real_browser() {
    let Some(tools) = Tools::find_or_skip() else { return };
    let started = Instant::now();
    let app = TestApp::spawn().await;
    let customer = app.create_customer("keys-user").await;
    let browser = tools.start(&app.base).await;

    browser.sign_in("keys-user", PASSWORD).await;
    browser.wait_for_path("/").await;
    browser.wait_for_text("#signed-in-as", "keys-user").await;

    // Create a key through the htmx form: the secret is shown once, in place, at /keys.
    browser.goto("/keys").await;
    browser.wait_for_path("/keys").await;
    browser.wait_for_js("typeof htmx", json!("object")).await;
    assert_eq!(text(&browser, "#keys-total").await, "0 keys");
    browser.js(MARKER).await;
    browser.fill("#new-key-name", KEY_NAME).await;
    browser.click(CREATE).await;

    browser.wait_for_text("#main h1", "API key created").await;
    let secret = text(&browser, "#new-key-secret").await;
    assert!(
        secret.starts_with("berth_") && secret.len() == 46,
        "the secret is berth_ and 40 hex digits: {secret:?}"
    );
    assert!(
        secret[6..].bytes().all(|b| b.is_ascii_hexdigit()),
        "the secret is berth_ and 40 hex digits: {secret:?}"
    );
    assert_eq!(
        attr(&browser, "button[data-copy]", "data-copy").await.as_deref(),
        Some("#new-key-secret"),
        "the copy button copies the secret"
    );
    // The copy button puts exactly the secret on the clipboard (recorded by a stand-in, as
    // headless Chromium may not let the page read the clipboard back).
    browser
        .js("navigator.clipboard.writeText = (text) => { window.__copied = text; return Promise.resolve(); };")
        .await;
    browser.click("button[data-copy]").await;
    browser.wait_for_text("button[data-copy]", "Copied").await;
    assert_eq!(
        browser.js("return window.__copied;").await,
        json!(secret),
        "what was copied"
    );
    toast(&browser, "API key created.").await;
    assert_not_reloaded(&browser, "key created").await;
    assert_eq!(browser.path().await, "/keys", "the URL stays /keys (no push)");

    let (key, prefix, kind): (i64, String, String) =
        sqlx::query_as("select id, prefix, type from api_keys where customer_id = $1")
            .bind(customer)
            .fetch_one(&app.pool)
            .await
            .expect("exactly one key was created");
    assert!(
        secret.starts_with(&prefix),
        "the stored prefix {prefix:?} begins the secret"
    );
    assert_eq!(kind, "standard", "the default type");
    let block = format!("#key-{key}");

    // Reload: /keys lists the key, and the secret is nowhere (page, text, htmx history).
    browser.reload().await;
    browser.wait_for_path("/keys").await;
    browser.wait_for_js("typeof htmx", json!("object")).await;
    assert_eq!(
        browser.js("return window.__berth_marker === undefined;").await,
        json!(true),
        "reloaded"
    );
    browser.wait_for(&block).await;
    assert_eq!(text(&browser, "#main h1").await, "API keys");
    assert_eq!(count(&browser, "#new-key-secret").await, 0, "no secret after a reload");
    let source = browser.client.source().await.expect("page source");
    assert!(
        !source.contains(&secret),
        "the secret is not in the page source after a reload"
    );
    let body = browser.js("return document.body.innerText;").await;
    assert!(
        !body.as_str().unwrap_or_default().contains(&secret),
        "the secret is not in the page text after a reload"
    );
    let storage = browser
        .js("return JSON.stringify(sessionStorage) + JSON.stringify(localStorage);")
        .await;
    assert!(
        !storage.as_str().unwrap_or_default().contains(&secret),
        "the secret is not kept in the browser's storage (htmx history)"
    );
    assert_eq!(
        text(&browser, &format!("{block} .key-prefix")).await,
        format!("{prefix}…")
    );
    assert_eq!(text(&browser, &format!("{block} .key-type")).await, "standard");
    assert_eq!(text(&browser, "#keys-total").await, "1 key");
    browser.wait_for(&format!("{block} .acl-none")).await;
    assert_eq!(count(&browser, &format!("{block} .key-revoked")).await, 0);

    // Add an ACL with host bits set: stored as its network, told so, swapped in place.
    browser.js(MARKER).await;
    let add_address = format!("#key-{key}-acl-address");
    let add_cidr = format!("#key-{key}-acl-cidr");
    let add = format!("{block} form.acl-add button[type=\"submit\"]");
    browser.fill(&add_address, "203.0.113.7").await;
    browser.fill(&add_cidr, "24").await;
    browser.click(&add).await;
    browser
        .wait_for(&format!(r#"{block} li.acl[data-network="203.0.113.0/24"]"#))
        .await;
    browser.wait_for_text("#toasts .toast", "203.0.113.0/24").await;
    toast(&browser, "host bits of 203.0.113.7 were cleared").await;
    assert_not_reloaded(&browser, "ACL added").await;
    assert_eq!(count(&browser, &format!("{block} .acl-none")).await, 0);
    assert_eq!(browser.value(&add_address).await, "", "the add form is empty again");
    assert_eq!(browser.value(&add_cidr).await, "");
    let acl: i64 = sqlx::query_scalar("select id from api_key_acls where key_id = $1 and network = '203.0.113.0/24'")
        .bind(key)
        .fetch_one(&app.pool)
        .await
        .expect("the ACL is stored as 203.0.113.0/24");
    let row = format!("#acl-{acl}");
    assert_eq!(count(&browser, &format!("{block} li.acl")).await, 1);
    assert_eq!(browser.value(&format!("#acl-{acl}-address")).await, "203.0.113.0");
    assert_eq!(browser.value(&format!("#acl-{acl}-cidr")).await, "24");

    // 10.0.0.1/33 is refused inline on the mask, with what was typed kept.
    browser.fill(&add_address, "10.0.0.1").await;
    browser.fill(&add_cidr, "33").await;
    browser.click(&add).await;
    let error = text(&browser, &format!("#key-{key}-acl-cidr-error")).await;
    assert!(error.contains("0 to 32"), "mask message: {error:?}");
    browser.wait_for_attr(&add_cidr, "aria-invalid", "true").await;
    let described = attr(&browser, &add_cidr, "aria-describedby").await.unwrap_or_default();
    assert!(
        described
            .split_whitespace()
            .any(|id| id == format!("key-{key}-acl-cidr-error")),
        "aria-describedby of the mask: {described:?}"
    );
    assert_eq!(
        attr(&browser, &add_address, "aria-invalid").await,
        None,
        "the address is valid"
    );
    assert_eq!(count(&browser, &format!("#key-{key}-acl-address-error")).await, 0);
    assert_eq!(
        browser.value(&add_address).await,
        "10.0.0.1",
        "the typed address is kept"
    );
    assert_eq!(browser.value(&add_cidr).await, "33", "the typed mask is kept");
    browser
        .wait_for_js(
            "document.activeElement && document.activeElement.id",
            json!(format!("key-{key}-acl-cidr")),
        )
        .await;
    assert_eq!(
        attr(&browser, &row, "data-network").await.as_deref(),
        Some("203.0.113.0/24"),
        "the existing ACL is still listed"
    );
    assert_eq!(count(&browser, "#toasts .toast").await, 0, "a refusal adds no toast");
    assert_not_reloaded(&browser, "ACL refused").await;
    assert_eq!(browser.path().await, "/keys");
    let acls: i64 = app.scalar("select count(*) from api_key_acls").await;
    assert_eq!(acls, 1, "nothing stored for 10.0.0.1/33");

    // Edit the ACL to another network: the row's network changes in place.
    browser.fill(&format!("#acl-{acl}-address"), "198.51.100.0").await;
    browser.fill(&format!("#acl-{acl}-cidr"), "25").await;
    browser
        .click(&format!("{row} form.acl-edit button[type=\"submit\"]"))
        .await;
    browser.wait_for_attr(&row, "data-network", "198.51.100.0/25").await;
    toast(&browser, "ACL saved: 198.51.100.0/25.").await;
    assert_not_reloaded(&browser, "ACL edited").await;
    assert_eq!(count(&browser, &format!("{block} li.acl")).await, 1, "still one ACL");
    assert_eq!(
        count(&browser, &format!("{block} .field-error")).await,
        0,
        "the refused add form's message is gone"
    );
    assert_eq!(
        text(&browser, &format!("{row} details.acl-delete summary")).await,
        "Delete ACL 198.51.100.0/25"
    );
    let network: String = sqlx::query_scalar("select network::text from api_key_acls where id = $1")
        .bind(acl)
        .fetch_one(&app.pool)
        .await
        .expect("the edited ACL");
    assert_eq!(network, "198.51.100.0/25");

    // Delete it: the confirmation says it is the only one; the row goes, the block says
    // the key may be used from anywhere.
    browser.click(&format!("{row} details.acl-delete summary")).await;
    assert_eq!(
        text(&browser, &format!("{row} details.acl-delete .consequence")).await,
        format!("198.51.100.0/25 is the key's only ACL: once it goes, {KEY_NAME} may be used from any address.")
    );
    browser
        .click(&format!("{row} details.acl-delete button[type=\"submit\"]"))
        .await;
    browser.wait_until_gone(&row).await;
    toast(&browser, "ACL 198.51.100.0/25 deleted.").await;
    browser.wait_for(&format!("{block} .acl-none")).await;
    assert_not_reloaded(&browser, "ACL deleted").await;
    assert_eq!(count(&browser, &format!("{block} li.acl")).await, 0);

    // Revoke: open the confirmation, confirm; the block shows the key revoked, without forms.
    browser.click(&format!("{block} details.revoke summary")).await;
    let confirm = format!("{block} details.revoke button[type=\"submit\"]");
    assert_eq!(text(&browser, &confirm).await, format!("Yes, revoke {KEY_NAME}"));
    assert!(
        text(&browser, &format!("{block} details.revoke .consequence"))
            .await
            .starts_with(&format!("Scripts using {KEY_NAME} stop working at once")),
        "the revoke confirmation says what happens"
    );
    browser.click(&confirm).await;
    browser.wait_for(&format!("{block} .key-revoked")).await;
    toast(&browser, "Key revoked.").await;
    assert_not_reloaded(&browser, "key revoked").await;
    assert!(
        attr(&browser, &block, "class")
            .await
            .unwrap_or_default()
            .split_whitespace()
            .any(|c| c == "revoked"),
        "the block is marked revoked"
    );
    assert_eq!(
        count(&browser, &format!("{block} form")).await,
        0,
        "a revoked key has no forms"
    );
    assert_eq!(count(&browser, &format!("{block} details.revoke")).await, 0);
    assert_eq!(browser.path().await, "/keys");

    // The database agrees: one key, revoked, without ACLs.
    let revoked: bool = sqlx::query_scalar("select revoked_at is not null from api_keys where id = $1")
        .bind(key)
        .fetch_one(&app.pool)
        .await
        .expect("the key");
    assert!(revoked, "the key is revoked in the database");
    let keys: i64 = app.scalar("select count(*) from api_keys").await;
    assert_eq!(keys, 1, "one key was created");
    let acls: i64 = app.scalar("select count(*) from api_key_acls").await;
    assert_eq!(acls, 0, "its ACL was deleted");

    // And after a reload the list still shows it revoked.
    browser.reload().await;
    browser.wait_for_path("/keys").await;
    browser.wait_for(&format!("{block} .key-revoked")).await;
    assert_eq!(count(&browser, &format!("{block} form")).await, 0);

    browser.close().await;
    eprintln!("browser keys test took {:.1?}", started.elapsed());
}
