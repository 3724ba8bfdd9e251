//! Passkeys in a real browser: Chromium's virtual authenticator (WebDriver's WebAuthn
//! extension) holds the passkey, so `static/passkeys.js` runs the real ceremonies against
//! Berth as the relying party `localhost`.

use fantoccini::wd::WebDriverCompatibleCommand;
use serde_json::json;

use super::{Browser, Tools};
use crate::helpers::{PASSWORD, TestApp};

/// `POST /session/{id}/webauthn/authenticator`: a CTAP2 platform authenticator that can
/// hold discoverable credentials and verifies its user without asking.
#[derive(Debug)]
struct AddVirtualAuthenticator;

impl WebDriverCompatibleCommand for AddVirtualAuthenticator {
    fn endpoint(&self, base_url: &url::Url, session_id: Option<&str>) -> Result<url::Url, url::ParseError> {
        let session = session_id.expect("a WebDriver session");
        base_url.join(&format!("session/{session}/webauthn/authenticator"))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (axum::http::Method, Option<String>) {
        let options = json!({
            "protocol": "ctap2",
            "transport": "internal",
            "hasResidentKey": true,
            "hasUserVerification": true,
            "isUserVerified": true,
            "automaticPresenceSimulation": true,
        });
        (axum::http::Method::POST, Some(options.to_string()))
    }
}

async fn add_authenticator(browser: &Browser) {
    browser
        .client
        .issue_cmd(AddVirtualAuthenticator)
        .await
        .expect("Chromium's virtual authenticator");
}

#[tokio::test]
async fn a_passkey_is_added_and_signs_in_alone_and_as_the_second_factor() {
    let Some(tools) = Tools::find_or_skip() else { return };
    let app = TestApp::spawn().await;
    let alice = app.create_customer("alice").await;
    // A relying party id is a name, never an IP address: the browser goes to localhost.
    let browser = tools.start(&app.base.replace("127.0.0.1", "localhost")).await;
    add_authenticator(&browser).await;

    browser.sign_in("alice", PASSWORD).await;
    browser.wait_for_path("/").await;
    browser.goto("/account/security/passkeys").await;
    browser.wait_for_text("#passkeys-none", "no passkeys").await;
    browser.fill("#passkey-new-name", "Laptop").await;
    browser
        .click(r#"form[data-passkey="create"] button[type="submit"]"#)
        .await;
    browser.wait_for_text("#passkeys .passkey-name", "Laptop").await;
    browser
        .wait_for_text("#toasts .toast", "Passkey \"Laptop\" added.")
        .await;
    let stored: i64 = app
        .scalar(&format!("select count(*) from passkeys where customer_id = {alice}"))
        .await;
    assert_eq!(stored, 1);

    // Signed out, the sign-in page offers the passkey; no username is typed.
    browser.click(r#"form[action="/logout"] button"#).await;
    browser.wait_for_path("/login").await;
    browser.click(r#"form[data-passkey="get"] button[type="submit"]"#).await;
    browser.wait_for_path("/").await;
    browser.wait_for_text("#signed-in-as", "alice").await;

    let how: String = app
        .scalar(&format!(
            "select detail from activity where customer_id = {alice} and kind = 'sign_in' order by id desc limit 1"
        ))
        .await;
    assert_eq!(how, "with the passkey \"Laptop\"");
    let used: bool = app
        .scalar(&format!(
            "select last_used_at is not null from passkeys where customer_id = {alice}"
        ))
        .await;
    assert!(used, "the passkey's last use is recorded");

    // With a passkey the password alone no longer signs in: the second step asks for the
    // passkey (there is no authenticator app, so no code field), and it signs in.
    browser.click(r#"form[action="/logout"] button"#).await;
    browser.wait_for_path("/login").await;
    browser.sign_in("alice", PASSWORD).await;
    browser.wait_for_path("/login/second-factor").await;
    browser.wait_for(r#"form[data-passkey="get"]:not([hidden])"#).await;
    assert_eq!(
        super::count(&browser, r#"input[name="code"]"#).await,
        0,
        "no code is asked of an account without an authenticator app"
    );
    browser.click(r#"form[data-passkey="get"] button[type="submit"]"#).await;
    browser.wait_for_path("/").await;
    browser.wait_for_text("#signed-in-as", "alice").await;
    let how: String = app
        .scalar(&format!(
            "select detail from activity where customer_id = {alice} and kind = 'sign_in' order by id desc limit 1"
        ))
        .await;
    assert_eq!(how, "with the password and the passkey \"Laptop\"");

    // 16 minutes on, creating an API key asks for a fresh check: with the passkey.
    app.advance(std::time::Duration::from_secs(16 * 60));
    browser.goto("/keys").await;
    browser.click("#new-key-passkey a").await;
    browser.wait_for_path("/account/security/passkeys/confirm").await;
    browser.click(r#"form[data-passkey="get"] button[type="submit"]"#).await;
    browser.wait_for_path("/keys").await;
    assert_eq!(super::count(&browser, "#new-key-passkey").await, 0, "proven just now");
    browser.fill("#new-key-name", "deploy").await;
    browser.click(r#"form[action="/keys"] button[type="submit"]"#).await;
    browser.wait_for_text("h1", "API key created").await;
    let keys: i64 = app
        .scalar(&format!("select count(*) from api_keys where customer_id = {alice}"))
        .await;
    assert_eq!(keys, 1);

    // Once the account is cancelled, its passkey is told so, as the password is.
    browser.click(r#"form[action="/logout"] button"#).await;
    browser.wait_for_path("/login").await;
    sqlx::query("update customers set status = 'cancelled' where id = $1")
        .bind(alice)
        .execute(&app.pool)
        .await
        .unwrap();
    browser.click(r#"form[data-passkey="get"] button[type="submit"]"#).await;
    browser
        .wait_for_text(
            r#"form[data-passkey="get"] [data-passkey-error]"#,
            "This account is cancelled. To reopen it",
        )
        .await;
    assert_eq!(browser.path().await, "/login");
    browser.close().await;
}
