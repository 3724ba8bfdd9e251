//! Two-factor sign-in in headless Chromium (issue 16): a customer turns TOTP on from the
//! secret the page shows (the code computed here, as an app would), then signs in with a
//! code at the second step.

use std::time::Instant;

use crate::browser::{Tools, text};
use crate::helpers::{PASSWORD, SecondFactorAccount, TestApp, totp_code_at};

#[tokio::test]
async fn enrol_totp_and_sign_in_with_it_in_a_real_browser() {
    let Some(tools) = Tools::find_or_skip() else { return };
    let started = Instant::now();
    let app = TestApp::spawn().await;
    let alice = app.create_customer("totp-user").await;
    let browser = tools.start(&app.base).await;
    browser.sign_in("totp-user", PASSWORD).await;
    browser.wait_for_path("/").await;

    browser.goto("/account/security").await;
    browser
        .click(r#"form[action="/account/security/totp"] button[type="submit"]"#)
        .await;
    browser.wait_for("#totp-secret").await;
    let shown = text(&browser, "#totp-secret").await.replace(' ', "");
    let secret = totp_rs::Secret::Encoded(shown).to_bytes().expect("a base32 secret");
    browser
        .fill("#confirm-code", &totp_code_at(&secret, app.state.clock.now()))
        .await;
    browser
        .click(r#"form[action="/account/security/totp/confirm"] button[type="submit"]"#)
        .await;
    browser.wait_for("#recovery-codes").await;
    browser.wait_for_text("#totp-status", "On.").await;

    // Signing in again: the password, then a code.
    browser.click(r#"form[action="/logout"] button[type="submit"]"#).await;
    browser.wait_for_path("/login").await;
    browser.sign_in("totp-user", PASSWORD).await;
    browser.wait_for_path("/login/second-factor").await;
    let code = app.totp_code(SecondFactorAccount::Customer(alice)).await;
    browser.fill("#second-code", &code).await;
    browser
        .click(r#"form[action="/login/second-factor"] button[type="submit"]"#)
        .await;
    browser.wait_for_path("/").await;
    browser.wait_for_text("#signed-in-as", "totp-user").await;
    browser.close().await;
    eprintln!("totp browser test: {:?}", started.elapsed());
}
