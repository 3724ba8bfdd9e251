//! Account recovery (issue 16): the reset link (works once, expires after 30 minutes, ends
//! every session, throttled, the same answer for an unknown name), the email-change undo
//! (once, within 72 hours), with the emails caught by the SMTP sink.

mod sessions;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use berth::delivery::DeliveryConfig;
use berth::state::WebConfig;

use crate::helpers::{Client, PASSWORD, TestApp, assert_field_error};
use crate::smtp_sink::{Mail, SmtpSink};

const NEW_PASSWORD: &str = "a brand new long passphrase";

/// A Berth whose emails go to a sink, at `public_url`.
async fn app_with_mail(web: WebConfig) -> (TestApp, SmtpSink) {
    let (sink, url) = SmtpSink::start().await;
    let mailer = DeliveryConfig::new(Some(&url), "Berth <noreply@berth.test>").unwrap();
    let web = WebConfig {
        mail: Some(Arc::new(mailer)),
        ..web
    };
    (TestApp::spawn_with(web).await, sink)
}

/// The mail's text, with quoted-printable soft breaks undone.
fn text(mail: &Mail) -> String {
    mail.data.replace("=\r\n", "").replace("=\n", "").replace("=3D", "=")
}

/// The 64-digit token after `path` in the mail.
fn token_in(mail: &Mail, path: &str) -> String {
    let text = text(mail);
    let at = text.find(path).unwrap_or_else(|| panic!("no {path} in:\n{text}"));
    let token: String = text[at + path.len()..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    assert_eq!(token.len(), 64, "{text}");
    token
}

async fn ask_reset(client: &Client, username: &str) -> crate::helpers::Resp {
    client.get("/password-reset").await;
    client.post_form("/password-reset", &[("username", username)]).await
}

async fn signed_out(client: &Client) -> bool {
    let r = client.get("/account").await;
    r.status == StatusCode::SEE_OTHER && r.location().starts_with("/login")
}

#[tokio::test]
async fn the_reset_link_sets_a_new_password_once_and_ends_every_session() {
    let (app, sink) = app_with_mail(WebConfig::new(Some("https://panel.example.com"))).await;
    let (first, id) = app.signed_in_client("alice").await;
    let second = app.client();
    assert_eq!(second.sign_in("alice", PASSWORD).await.status, StatusCode::SEE_OTHER);
    assert_eq!(first.get("/account").await.status, StatusCode::OK);

    let login = app.client().get("/login").await;
    assert_eq!(
        login.text_attr(r#"a[href="/password-reset"]"#, "href"),
        "/password-reset"
    );
    let anonymous = app.client();
    let r = ask_reset(&anonymous, "Alice").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.text("#reset-message").contains("on its way"), "{}", r.body);

    let mails = sink.wait_for(1).await;
    assert_eq!(mails.len(), 1);
    assert!(mails[0].to[0].contains("<alice@example.com>"), "{:?}", mails[0].to);
    assert!(
        text(&mails[0]).contains("https://panel.example.com/password-reset?token="),
        "{}",
        text(&mails[0])
    );
    let token = token_in(&mails[0], "/password-reset?token=");
    // Only the token's hash is stored.
    let stored: i64 = app
        .scalar(&format!(
            "select count(*) from password_resets where token_hash = '{token}'"
        ))
        .await;
    assert_eq!(stored, 0);
    let rows: i64 = app.scalar("select count(*) from password_resets").await;
    assert_eq!(rows, 1);

    let link = format!("/password-reset?token={token}");
    let page = anonymous.get(&link).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let r = anonymous
        .post_form(
            "/password-reset/new",
            &[
                ("token", token.as_str()),
                ("password", NEW_PASSWORD),
                ("password_confirm", "something else entirely"),
            ],
        )
        .await;
    assert_field_error(&r, "password_confirm", "differ");
    let r = anonymous
        .post_form(
            "/password-reset/new",
            &[
                ("token", token.as_str()),
                ("password", "short"),
                ("password_confirm", "short"),
            ],
        )
        .await;
    assert_field_error(&r, "password", "12 characters");

    let r = anonymous
        .post_form(
            "/password-reset/new",
            &[
                ("token", token.as_str()),
                ("password", NEW_PASSWORD),
                ("password_confirm", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    // Not signed in: the sign-in (and a second factor, when enrolled) follows.
    assert_eq!(r.location(), "/login");
    assert!(anonymous.get("/login").await.body.contains("Your new password is set"));
    assert!(signed_out(&anonymous).await);

    // Every session of the account ended at once.
    assert!(signed_out(&first).await);
    assert!(signed_out(&second).await);

    // The link works once.
    let again = app.client();
    assert_eq!(again.get(&link).await.status, StatusCode::NOT_FOUND);
    let r = again
        .post_form(
            "/password-reset/new",
            &[
                ("token", token.as_str()),
                ("password", "yet another long passphrase"),
                ("password_confirm", "yet another long passphrase"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.text("#recovery-message").contains("does not work"));

    assert_eq!(
        app.client().sign_in("alice", PASSWORD).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        app.client().sign_in("alice", NEW_PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    let kinds: Vec<String> = sqlx::query_scalar("select kind from activity where customer_id = $1 order by id")
        .bind(id.0)
        .fetch_all(&app.pool)
        .await
        .unwrap();
    let requested = kinds
        .iter()
        .position(|k| k == "password_reset_requested")
        .expect("request recorded");
    let reset = kinds
        .iter()
        .position(|k| k == "password_reset")
        .expect("reset recorded");
    assert!(requested < reset, "{kinds:?}");
}

#[tokio::test]
async fn a_new_link_ends_with_a_reset_made_by_another() {
    let (app, sink) = app_with_mail(WebConfig::new(None)).await;
    app.create_customer("alice").await;
    let client = app.client();
    ask_reset(&client, "alice").await;
    ask_reset(&client, "alice").await;
    let mails = sink.wait_for(2).await;
    assert_eq!(mails.len(), 2);
    let (one, two) = (
        token_in(&mails[0], "/password-reset?token="),
        token_in(&mails[1], "/password-reset?token="),
    );
    let r = client
        .post_form(
            "/password-reset/new",
            &[
                ("token", one.as_str()),
                ("password", NEW_PASSWORD),
                ("password_confirm", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    // Setting the password ended every reset link of the account.
    assert_eq!(
        client.get(&format!("/password-reset?token={two}")).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_reset_link_expires_after_30_minutes() {
    let (app, sink) = app_with_mail(WebConfig::new(None)).await;
    app.create_customer("alice").await;
    let client = app.client();
    ask_reset(&client, "alice").await;
    let token = token_in(&sink.wait_for(1).await[0], "/password-reset?token=");
    let link = format!("/password-reset?token={token}");
    app.advance(Duration::from_secs(29 * 60));
    assert_eq!(client.get(&link).await.status, StatusCode::OK);
    app.advance(Duration::from_secs(2 * 60));
    assert_eq!(client.get(&link).await.status, StatusCode::NOT_FOUND);
    let r = client
        .post_form(
            "/password-reset/new",
            &[
                ("token", token.as_str()),
                ("password", NEW_PASSWORD),
                ("password_confirm", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.client().sign_in("alice", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn an_unknown_name_gets_the_same_answer_in_the_same_time_and_no_email() {
    let (app, sink) = app_with_mail(behind_proxy()).await;
    app.create_customer("alice").await;
    let client = app.client();
    // Each from its own address, so the throttle of one client does not play in.
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for i in 0..3 {
        known.push(answer_from(&client, &format!("203.0.113.{i}"), "alice").await);
        unknown.push(answer_from(&client, &format!("198.51.100.{i}"), &format!("nobody{i}")).await);
    }
    for (k, u) in known.iter().zip(&unknown) {
        assert_eq!(k.0, StatusCode::OK, "{}", k.1);
        assert_eq!((k.0, &k.1), (u.0, &u.1));
    }
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[1]
    };
    let k = median(known.iter().map(|a| a.2).collect());
    let u = median(unknown.iter().map(|a| a.2).collect());
    // No password is hashed on either path, and the email is sent after the answer.
    assert!(k.abs_diff(u) < Duration::from_millis(250), "known {k:?}, unknown {u:?}");
    sink.wait_for(3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mails = sink.mails();
    assert_eq!(mails.len(), 3, "{mails:?}");
    assert!(mails.iter().all(|m| m.to[0].contains("alice@example.com")));
}

/// The answer to asking for `username`'s link from `from` (behind a trusted proxy): its
/// status, its message, and how long it took.
async fn answer_from(client: &Client, from: &str, username: &str) -> (StatusCode, String, Duration) {
    let token = client.token().await;
    let started = Instant::now();
    let r = client
        .http
        .post(format!("{}/password-reset", client.base))
        .header("x-forwarded-for", from)
        .form(&[("csrf_token", token.as_str()), ("username", username)])
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body = r.text().await.unwrap();
    let took = started.elapsed();
    let html = scraper::Html::parse_document(&body);
    let message = html
        .select(&scraper::Selector::parse("#reset-message").unwrap())
        .next()
        .map(|e| e.text().collect::<String>())
        .unwrap_or_else(|| panic!("no message in {body}"));
    (status, message, took)
}

/// Asks for `username`'s link from `from` (behind a trusted proxy).
async fn ask_from(client: &Client, from: &str, username: &str) -> StatusCode {
    let token = client.token().await;
    client
        .http
        .post(format!("{}/password-reset", client.base))
        .header("x-forwarded-for", from)
        .form(&[("csrf_token", token.as_str()), ("username", username)])
        .send()
        .await
        .unwrap()
        .status()
}

fn behind_proxy() -> WebConfig {
    WebConfig {
        trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()],
        ..WebConfig::new(None)
    }
}

#[tokio::test]
async fn requests_are_throttled_per_account() {
    let (app, sink) = app_with_mail(behind_proxy()).await;
    app.create_customer("alice").await;
    let client = app.client();
    // From a new address each time: only the account's counter adds up.
    for i in 1..=5 {
        assert_eq!(
            ask_from(&client, &format!("203.0.113.{i}"), "alice").await,
            StatusCode::OK
        );
    }
    let mut refused = false;
    for i in 6..=9 {
        refused |= ask_from(&client, &format!("203.0.113.{i}"), "alice").await == StatusCode::TOO_MANY_REQUESTS;
    }
    assert!(refused, "the account's requests were never refused");
    // An unknown name is counted the same way: its answers tell nothing either.
    for i in 1..=5 {
        assert_eq!(
            ask_from(&client, &format!("198.51.100.{i}"), "nobody").await,
            StatusCode::OK
        );
    }
    let mut refused = false;
    for i in 6..=9 {
        refused |= ask_from(&client, &format!("198.51.100.{i}"), "nobody").await == StatusCode::TOO_MANY_REQUESTS;
    }
    assert!(refused);
    // After the 15 minutes, the account may ask again.
    app.advance(Duration::from_secs(16 * 60));
    assert_eq!(ask_from(&client, "192.0.2.1", "alice").await, StatusCode::OK);
    let sent = sink.wait_for(6).await.len();
    assert!((6..=9).contains(&sent), "{sent} emails");
}

#[tokio::test]
async fn requests_are_throttled_per_address() {
    let (app, _sink) = app_with_mail(behind_proxy()).await;
    let client = app.client();
    for i in 1..=5 {
        assert_eq!(
            ask_from(&client, "203.0.113.7", &format!("name{i}")).await,
            StatusCode::OK
        );
    }
    let mut refused = false;
    for i in 6..=9 {
        refused |= ask_from(&client, "203.0.113.7", &format!("name{i}")).await == StatusCode::TOO_MANY_REQUESTS;
    }
    assert!(refused, "the address's requests were never refused");
    // Another address is not held up.
    assert_eq!(ask_from(&client, "203.0.113.8", "name10").await, StatusCode::OK);
}

#[tokio::test]
async fn an_empty_username_is_a_field_error() {
    let (app, _sink) = app_with_mail(WebConfig::new(None)).await;
    let r = ask_reset(&app.client(), "  ").await;
    assert_field_error(&r, "username", "Enter your username");
}

/// Alice changes her email on the account page; the undo link from the mail to the old
/// address.
async fn change_email(client: &Client, sink: &SmtpSink, mails_before: usize) -> String {
    client.get("/account").await;
    let r = client
        .post_form(
            "/account/email",
            &[("email", "mallory@example.net"), ("current_password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let mails = sink.wait_for(mails_before + 1).await;
    let mail = &mails[mails_before];
    assert!(mail.to[0].contains("<alice@example.com>"), "{:?}", mail.to);
    assert!(text(mail).contains("mallory@example.net"), "{}", text(mail));
    token_in(mail, "/email-undo?token=")
}

async fn email_of(app: &TestApp, id: berth::identity::CustomerId) -> String {
    sqlx::query_scalar("select email from customers where id = $1")
        .bind(id.0)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_email_change_can_be_undone_once_from_the_old_address() {
    let (app, sink) = app_with_mail(WebConfig::new(None)).await;
    let (alice, id) = app.signed_in_client("alice").await;
    let other = app.client();
    other.sign_in("alice", PASSWORD).await;
    let token = change_email(&alice, &sink, 0).await;
    assert_eq!(email_of(&app, id).await, "mallory@example.net");
    let stored: i64 = app
        .scalar(&format!(
            "select count(*) from email_change_undos where token_hash = '{token}'"
        ))
        .await;
    assert_eq!(stored, 0, "only the token's hash is stored");

    let link = format!("/email-undo?token={token}");
    let anonymous = app.client();
    let page = anonymous.get(&link).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("mallory@example.net") && page.body.contains("alice@example.com"));
    // Looking at the page changes nothing (a mail scanner may open links).
    assert_eq!(email_of(&app, id).await, "mallory@example.net");
    let r = anonymous.post_form("/email-undo", &[("token", token.as_str())]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.text("#recovery-message").contains("alice@example.com"));
    assert_eq!(email_of(&app, id).await, "alice@example.com");
    // Every session of the account ended.
    assert!(signed_out(&alice).await);
    assert!(signed_out(&other).await);
    let detail: String =
        sqlx::query_scalar("select detail from activity where customer_id = $1 and kind = 'email_change_undone'")
            .bind(id.0)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(
        detail.contains("mallory@example.net") && detail.contains("alice@example.com"),
        "{detail}"
    );

    // Once.
    assert_eq!(
        anonymous
            .post_form("/email-undo", &[("token", token.as_str())])
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(anonymous.get(&link).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_email_change_cannot_be_undone_after_72_hours() {
    let (app, sink) = app_with_mail(WebConfig::new(None)).await;
    let (alice, id) = app.signed_in_client("alice").await;
    let token = change_email(&alice, &sink, 0).await;
    let link = format!("/email-undo?token={token}");
    let anonymous = app.client();
    app.advance(Duration::from_secs(71 * 3600));
    assert_eq!(anonymous.get(&link).await.status, StatusCode::OK);
    app.advance(Duration::from_secs(2 * 3600));
    assert_eq!(anonymous.get(&link).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        anonymous
            .post_form("/email-undo", &[("token", token.as_str())])
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(email_of(&app, id).await, "mallory@example.net");
}
