//! Browser test of the staff console and impersonation in headless Chromium (the plumbing
//! is in [`crate::browser`]): staff sign in, find a customer, impersonate with a reason, see
//! the banner on two pages, are refused a change (read-only), end it; the customer then
//! sees the visit in Activity.

use std::time::Instant;

use serde_json::json;

use crate::browser::Tools;
use crate::helpers::{PASSWORD, STAFF_PASSWORD, SecondFactorAccount, TestApp};

#[tokio::test]
async fn staff_impersonate_a_customer_in_a_real_browser() {
    let Some(tools) = Tools::find_or_skip() else { return };
    let started = Instant::now();
    let app = TestApp::spawn().await;
    let customer = app.create_customer("carol").await;
    let helpdesk = app.create_staff("helpdesk", false).await;
    let browser = tools.start(&app.base).await;

    // Staff sign in at their own page and find the customer.
    browser.goto("/staff/login").await;
    browser.fill("#login-username", "helpdesk").await;
    browser.fill("#login-password", STAFF_PASSWORD).await;
    browser
        .click(r#"form[action="/staff/login"] button[type="submit"]"#)
        .await;
    // Then the second step, with the code their authenticator app would show.
    browser.wait_for_path("/login/second-factor").await;
    let code = app.totp_code(SecondFactorAccount::Staff(helpdesk)).await;
    browser.fill("#second-code", &code).await;
    browser
        .click(r#"form[action="/login/second-factor"] button[type="submit"]"#)
        .await;
    browser.wait_for_path("/staff").await;
    browser.fill("#staff-q", "car").await;
    browser.click(r#"form[role="search"] button[type="submit"]"#).await;
    browser.wait_for_text("#customers", "carol").await;
    browser.click("#customers a").await;
    browser.wait_for_path(&format!("/staff/customers/{customer}")).await;

    // Impersonate with a reason; the banner is on the dashboard and on the keys page.
    browser
        .fill("#impersonate-reason", "Caller asks about their API keys")
        .await;
    browser
        .click(r#"form[action$="/impersonate"] button[type="submit"]"#)
        .await;
    browser.wait_for_path("/").await;
    browser
        .wait_for_text("#impersonation-banner", "Caller asks about their API keys")
        .await;
    browser.wait_for_text("#impersonation-banner", "helpdesk").await;
    browser.wait_for_text("#signed-in-as", "carol").await;
    browser.goto("/keys").await;
    browser.wait_for_path("/keys").await;
    browser.wait_for_text("#impersonation-banner", "read-only").await;

    // Read-only: every change is turned off, with the reason; nothing can be made. (A change
    // sent anyway is refused: see `web::shell` and `staff::impersonation`.)
    browser.wait_for_js("typeof htmx", json!("object")).await;
    browser
        .wait_for_js(
            r#"document.querySelector('form[action="/keys"] button[type="submit"]').matches(':disabled')"#,
            json!(true),
        )
        .await;
    browser.wait_for_text("#read-only-reason", "read-only").await;
    let keys: i64 = app.scalar("select count(*) from api_keys").await;
    assert_eq!(keys, 0);

    // End it with the banner's button: back on the customer's console page.
    browser.dismiss_toasts().await;
    browser.click(r#"#impersonation-banner button[type="submit"]"#).await;
    browser.wait_for_path(&format!("/staff/customers/{customer}")).await;
    browser.wait_for_text("#toasts .toast", "Impersonation ended.").await;
    browser.close().await;

    // The customer signs in and sees the visit in Activity.
    let browser = tools.start(&app.base).await;
    browser.sign_in("carol", PASSWORD).await;
    browser.wait_for_path("/").await;
    browser.goto("/activity").await;
    browser.wait_for_text("#activity", "Support viewed your account").await;
    browser
        .wait_for_text("#activity", "Caller asks about their API keys")
        .await;
    browser.wait_for_text("#activity", "Support (helpdesk)").await;
    browser
        .wait_for_text("#activity", "Support stopped viewing your account")
        .await;
    browser.close().await;
    eprintln!("browser test took {:.1?}", started.elapsed());
}
