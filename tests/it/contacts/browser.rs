//! Browser test of contacts in headless Chromium (the plumbing is in [`crate::browser`]):
//! create a contact, add an email method after a bad address is refused inline, subscribe
//! it to "outage" and remove that subscription, all swapped in place by htmx without a
//! reload; the database agrees at every step.

use std::time::Instant;

use serde_json::json;

use crate::browser::{MARKER, Tools, assert_not_reloaded, choose, count, text, toast};
use crate::helpers::{PASSWORD, TestApp};

#[tokio::test]
async fn contacts_in_a_real_browser() {
    let Some(tools) = Tools::find_or_skip() else { return };
    let started = Instant::now();
    let app = TestApp::spawn().await;
    let customer = app.create_customer("contacts-user").await;
    let browser = tools.start(&app.base).await;

    browser.sign_in("contacts-user", PASSWORD).await;
    browser.wait_for_path("/").await;
    browser.goto("/contacts").await;
    browser.wait_for_path("/contacts").await;
    browser.wait_for_js("typeof htmx", json!("object")).await;
    browser.wait_for(".contacts-none").await;
    browser.js(MARKER).await;

    // Create a contact.
    browser.fill("#new-contact-name", "On-call team").await;
    browser.click(r#"form.contact-create button[type="submit"]"#).await;
    browser
        .wait_for_text("article.contact .contact-name", "On-call team")
        .await;
    toast(&browser, "Contact On-call team added.").await;
    assert_not_reloaded(&browser, "contact created").await;
    let contact: i64 = sqlx::query_scalar("select id from contacts where customer_id = $1")
        .bind(customer)
        .fetch_one(&app.pool)
        .await
        .expect("one contact was created");
    let block = format!("#contact-{contact}");
    browser.wait_for(&format!("{block} .methods-none")).await;

    // A bad address is refused inline, what was typed kept, nothing stored.
    let address = format!("#contact-{contact}-method-address");
    let add = format!(r#"{block} form.method-add button[type="submit"]"#);
    choose(&browser, &format!("#contact-{contact}-method-method"), "email").await;
    browser.fill(&address, "ops-at-example.com").await;
    browser.click(&add).await;
    let error = text(&browser, &format!("#contact-{contact}-method-address-error")).await;
    assert!(error.contains("email address"), "address message: {error:?}");
    browser.wait_for_attr(&address, "aria-invalid", "true").await;
    assert_eq!(browser.value(&address).await, "ops-at-example.com");
    browser
        .wait_for_js(
            "document.activeElement && document.activeElement.id",
            json!(format!("contact-{contact}-method-address")),
        )
        .await;
    assert_not_reloaded(&browser, "address refused").await;
    let methods: i64 = app.scalar("select count(*) from contact_methods").await;
    assert_eq!(methods, 0, "nothing stored for a bad address");

    // A good one: the grid gets its row, the form is empty again.
    browser.fill(&address, "ops@example.com").await;
    browser.click(&add).await;
    browser
        .wait_for_text(&format!("{block} tr.method .method-target"), "ops@example.com")
        .await;
    toast(&browser, "Contact method added.").await;
    assert_not_reloaded(&browser, "method added").await;
    assert_eq!(browser.value(&address).await, "");
    assert_eq!(
        count(&browser, &format!("#contact-{contact}-method-address-error")).await,
        0
    );
    let method: i64 =
        sqlx::query_scalar("select id from contact_methods where contact_id = $1 and method_id = 'email'")
            .bind(contact)
            .fetch_one(&app.pool)
            .await
            .expect("the email method");

    // Subscribe it to outage from warning, in its cell.
    let cell = format!("#cell-{method}-outage");
    choose(&browser, &format!("{cell}-severity"), "warning").await;
    browser
        .click(&format!(r#"{cell} form.cell-add button[type="submit"]"#))
        .await;
    browser.wait_for(&format!("{cell}.subscribed")).await;
    toast(&browser, "Subscribed to Outage from warning.").await;
    assert_not_reloaded(&browser, "subscribed").await;
    assert_eq!(browser.value(&format!("{cell}-severity")).await, "warning");
    assert_eq!(count(&browser, &format!("{block} td.subscribed")).await, 1);
    let severity: String = sqlx::query_scalar(
        "select options ->> 'min_severity' from contact_method_notices
         where contact_method_id = $1 and notice_type_id = 'outage'",
    )
    .bind(method)
    .fetch_one(&app.pool)
    .await
    .expect("the outage subscription");
    assert_eq!(severity, "warning");

    // Remove it.
    browser
        .click(&format!(r#"{cell} form.cell-remove button[type="submit"]"#))
        .await;
    browser.wait_until_gone(&format!("{cell}.subscribed")).await;
    toast(&browser, "Unsubscribed from outage.").await;
    assert_not_reloaded(&browser, "unsubscribed").await;
    browser.wait_for(&format!("{cell} form.cell-add")).await;
    assert_eq!(count(&browser, &format!("{block} td.subscribed")).await, 0);
    let subscriptions: i64 = app.scalar("select count(*) from contact_method_notices").await;
    assert_eq!(subscriptions, 0, "the subscription is gone");
    assert_eq!(browser.path().await, "/contacts");

    browser.close().await;
    eprintln!("browser contacts test took {:.1?}", started.elapsed());
}
