//! Browser test of DNS records on the site page in headless Chromium (the plumbing is in
//! [`crate::browser`]): a bad value refused in place, a record added through htmx, edited in
//! its row, and deleted after its confirmation, without the page reloading; the database
//! agrees at each step.

use serde_json::json;

use super::{provisioned_site, records, row};
use crate::browser::{MARKER, Tools, assert_not_reloaded, choose, text, toast};
use crate::helpers::{PASSWORD, TestApp};

#[tokio::test]
async fn dns_records_in_a_real_browser() {
    let Some(tools) = Tools::find_or_skip() else { return };
    let app = TestApp::spawn().await;
    let customer = app.create_customer("dns-owner").await;
    let site = provisioned_site(&app, customer, "shop.example.com", &[]).await;

    let browser = tools.start(&app.base).await;
    browser.sign_in("dns-owner", PASSWORD).await;
    browser.wait_for_path("/").await;
    browser.goto(&format!("/sites/{site}")).await;
    browser.wait_for_js("typeof htmx", json!("object")).await;
    browser.js(MARKER).await;

    // A bad value is refused on its field, in place, what was typed kept.
    browser.click("details.dns-add summary").await;
    browser.fill("#dns-new-name", "mail").await;
    choose(&browser, "#dns-new-type", "A").await;
    browser.fill("#dns-new-value", "2001:db8::1").await;
    browser.click("form.dns-add-form button[type=\"submit\"]").await;
    let error = text(&browser, "#dns-new-value-error").await;
    assert!(error.contains("IPv4 address"), "{error}");
    browser.wait_for_attr("#dns-new-value", "aria-invalid", "true").await;
    assert_eq!(browser.value("#dns-new-name").await, "mail");
    assert_not_reloaded(&browser, "refused").await;
    assert_eq!(records(&app, site).await.len(), 1, "nothing added");

    // Added: the new row shows, the form is empty again.
    browser.fill("#dns-new-value", "192.0.2.50").await;
    browser.click("form.dns-add-form button[type=\"submit\"]").await;
    toast(&browser, "Record added: mail.shop.example.com A 192.0.2.50.").await;
    let id: i64 = sqlx::query_scalar("select id from dns_records where name = 'mail.shop.example.com'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let block = format!("#dns-record-{id}");
    assert_eq!(text(&browser, &format!("{block} .dns-value")).await, "192.0.2.50");
    assert_not_reloaded(&browser, "added").await;

    // Edited in its row.
    browser.click(&format!("{block} .dns-actions a")).await;
    browser.fill(&format!("#dns-record-{id}-value"), "192.0.2.51").await;
    browser.fill(&format!("#dns-record-{id}-ttl"), "300").await;
    browser
        .click(&format!("{block} form.dns-edit-form button[type=\"submit\"]"))
        .await;
    toast(&browser, "Record saved: mail.shop.example.com A 192.0.2.51.").await;
    browser
        .wait_for_text(&format!("{block} .dns-value"), "192.0.2.51")
        .await;
    assert_not_reloaded(&browser, "edited").await;
    assert!(
        records(&app, site)
            .await
            .contains(&row("mail.shop.example.com", "A", "192.0.2.51", 300))
    );

    // Deleted after its confirmation.
    browser.click(&format!("{block} details.dns-delete summary")).await;
    assert_eq!(
        text(&browser, &format!("{block} details.dns-delete .consequence")).await,
        "mail.shop.example.com stops answering A 192.0.2.51 once the change reaches the name servers (up to its TTL of 300 s in caches)."
    );
    browser
        .click(&format!("{block} details.dns-delete button[type=\"submit\"]"))
        .await;
    browser.wait_until_gone(&block).await;
    toast(&browser, "Record deleted: mail.shop.example.com A 192.0.2.51.").await;
    assert_not_reloaded(&browser, "deleted").await;
    assert_eq!(records(&app, site).await.len(), 1);
    browser.close().await;
}
