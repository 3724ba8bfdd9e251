//! Signing in and out, throttling, session lifetime.

pub mod hardening;

use std::time::Duration;

use berth::state::WebConfig;
use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn customer_signs_in_and_sees_the_dashboard() {
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("alice").await;
    let resp = client.get("/").await;
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(resp.text("#signed-in-as"), "alice");
    assert!(resp.text("h1").contains("Welcome, alice"));
}

#[tokio::test]
async fn unknown_user_and_wrong_password_get_the_same_answer() {
    let app = TestApp::spawn().await;
    app.create_customer("alice").await;
    let wrong = app.client().sign_in("alice", "not the password at all").await;
    let unknown = app.client().sign_in("nobody", "not the password at all").await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(wrong.status, unknown.status);
    assert_eq!(wrong.text("#login-error"), "Unknown username or wrong password.");
    assert_eq!(wrong.text("#login-error"), unknown.text("#login-error"));
    // The typed username is kept, the password never echoed.
    assert!(wrong.body.contains(r#"value="alice""#));
    assert!(!wrong.body.contains("not the password at all"));
}

#[tokio::test]
async fn passwords_are_stored_as_argon2id_with_the_required_parameters() {
    let app = TestApp::spawn().await;
    app.create_customer("alice").await;
    let hash: String = app.scalar("select password_hash from customers").await;
    assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
}

#[tokio::test]
async fn usernames_sign_in_without_regard_to_case() {
    let app = TestApp::spawn().await;
    app.create_customer("Alice").await;
    assert_eq!(
        app.client().sign_in("aLICE", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn session_id_is_cycled_on_sign_in() {
    let app = TestApp::spawn().await;
    app.create_customer("alice").await;
    let before = app.client().get("/login").await;
    let pre = session_cookie(&before.headers).expect("the sign-in page sets a session cookie");
    let token = before.text_attr(r#"input[name="csrf_token"]"#, "value");
    // Sign in with the pre-sign-in cookie, as a browser would.
    let raw = Client::new(&app.base);
    let resp = raw
        .http
        .post(format!("{}/login", app.base))
        .header("cookie", format!("berth_session={pre}"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("username", "alice"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let post = session_cookie(resp.headers()).expect("sign-in sets a new session cookie");
    assert_ne!(pre, post, "the session id changes on sign-in");
    assert_eq!(
        get_with_cookie(&app, "/account", &pre).await,
        StatusCode::SEE_OTHER,
        "old id is worthless"
    );
    assert_eq!(get_with_cookie(&app, "/account", &post).await, StatusCode::OK);
}

#[tokio::test]
async fn sign_out_ends_the_session_on_the_server() {
    let app = TestApp::spawn().await;
    app.create_customer("alice").await;
    let client = app.client();
    let resp = client.sign_in("alice", PASSWORD).await;
    let cookie = session_cookie(&resp.headers).unwrap();
    assert_eq!(get_with_cookie(&app, "/", &cookie).await, StatusCode::OK);
    client.get("/").await;
    let out = client.post_form("/logout", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.location(), "/login");
    // Replaying the old cookie is anonymous now.
    assert_eq!(get_with_cookie(&app, "/", &cookie).await, StatusCode::SEE_OTHER);
    let sessions: i64 = app
        .scalar("select count(*) from tower_sessions.session where data is not null")
        .await;
    assert!(sessions <= 1, "only an anonymous session may remain");
}

#[tokio::test]
async fn password_change_ends_the_customers_other_sessions_at_once() {
    let app = TestApp::spawn().await;
    let (laptop, _) = app.signed_in_client("alice").await;
    let phone = app.client();
    assert_eq!(phone.sign_in("alice", PASSWORD).await.status, StatusCode::SEE_OTHER);
    assert_eq!(phone.get("/").await.status, StatusCode::OK);

    laptop.get("/account").await;
    let new = "a brand new passphrase";
    let resp = laptop
        .post_form(
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("password", new),
                ("password_confirm", new),
            ],
        )
        .await;
    assert_eq!(resp.status, StatusCode::SEE_OTHER, "{}", resp.body);

    let kicked = phone.get("/").await;
    assert_eq!(kicked.status, StatusCode::SEE_OTHER);
    assert!(kicked.location().starts_with("/login"));
    assert_eq!(
        laptop.get("/").await.status,
        StatusCode::OK,
        "the session that changed it goes on"
    );
    assert_eq!(
        app.client().sign_in("alice", PASSWORD).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(app.client().sign_in("alice", new).await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn idle_sessions_expire() {
    let mut web = WebConfig::new(None);
    web.idle_timeout = Duration::from_secs(10 * 60);
    let app = TestApp::spawn_with(web).await;
    let (client, _) = app.signed_in_client("alice").await;
    assert_eq!(client.get("/").await.status, StatusCode::OK);
    app.advance(Duration::from_secs(9 * 60));
    assert_eq!(client.get("/").await.status, StatusCode::OK, "not idle long enough yet");
    app.advance(Duration::from_secs(10 * 60 + 1));
    assert_eq!(client.get("/").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn sessions_end_after_the_absolute_timeout_even_when_active() {
    let mut web = WebConfig::new(None);
    web.idle_timeout = Duration::from_secs(30 * 60);
    web.absolute_timeout = Duration::from_secs(60 * 60);
    let app = TestApp::spawn_with(web).await;
    let (client, _) = app.signed_in_client("alice").await;
    // Never idle for 30 minutes; 56 minutes in, still signed in.
    for _ in 0..4 {
        assert_eq!(client.get("/").await.status, StatusCode::OK);
        app.advance(Duration::from_secs(14 * 60));
    }
    assert_eq!(client.get("/").await.status, StatusCode::OK);
    app.advance(Duration::from_secs(5 * 60));
    assert_eq!(client.get("/").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn failed_sign_ins_are_throttled_with_a_growing_delay_and_shown_in_activity() {
    let app = TestApp::spawn().await;
    app.create_customer("alice").await;
    let attacker = app.client();
    for _ in 0..5 {
        let resp = attacker.sign_in("alice", "guessing wrongly").await;
        assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    // Now locked: even the right password is refused, without saying whether it was right.
    let locked = attacker.sign_in("alice", PASSWORD).await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(locked.text("#login-error").contains("Too many failed sign-ins"));
    let locks: i64 = app
        .scalar("select count(*) from activity where kind = 'sign_in_locked'")
        .await;
    assert_eq!(locks, 1);

    // The delay runs out (1 s after the fifth failure); a sixth failure doubles it.
    app.advance(Duration::from_millis(1100));
    assert_eq!(
        attacker.sign_in("alice", "still guessing").await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        attacker.sign_in("alice", PASSWORD).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    app.advance(Duration::from_millis(2100));

    let owner = app.client();
    assert_eq!(owner.sign_in("alice", PASSWORD).await.status, StatusCode::SEE_OTHER);
    let activity = owner.get("/activity").await;
    assert_eq!(activity.texts(r#"tr[data-kind="sign_in_failed"]"#).len(), 6);
    assert_eq!(activity.texts(r#"tr[data-kind="sign_in_locked"]"#).len(), 2);
    assert_eq!(activity.texts(r#"tr[data-kind="sign_in"]"#).len(), 1);
    assert!(owner.get("/").await.body.contains("failed sign-in attempt"));
}

#[tokio::test]
async fn failed_sign_ins_are_throttled_per_client_address() {
    let app = TestApp::spawn().await;
    app.create_customer("alice").await;
    let client = app.client();
    // Twenty different (unknown) usernames from one address.
    for i in 0..20 {
        let resp = client.sign_in(&format!("stranger{i}"), "whatever it is").await;
        assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    assert_eq!(
        client.sign_in("alice", PASSWORD).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn a_cancelled_account_is_told_so_only_with_the_right_password() {
    let app = TestApp::spawn().await;
    let alice = app.create_customer("alice").await;
    sqlx::query("update customers set status = 'cancelled'")
        .execute(&app.pool)
        .await
        .unwrap();
    let client = app.client();
    let resp = client.sign_in("alice", PASSWORD).await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN);
    assert_eq!(
        resp.text("#login-error"),
        "This account is cancelled. To reopen it, or for its data, contact your hosting provider's support."
    );
    // Told, not signed in.
    assert_eq!(client.get("/").await.status, StatusCode::SEE_OTHER);
    // A wrong password learns nothing about the account.
    let wrong = app.client().sign_in("alice", "not the password at all").await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(wrong.text("#login-error"), "Unknown username or wrong password.");
    let details: Vec<String> = sqlx::query_scalar(
        "select detail from activity where customer_id = $1 and kind = 'sign_in_failed' order by id",
    )
    .bind(alice)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(details, ["the account is cancelled", "wrong password"]);
}

#[tokio::test]
async fn a_cancelled_account_is_told_where_support_is() {
    let app = TestApp::spawn_with(WebConfig {
        support_email: Some("help@hosting.example".into()),
        ..WebConfig::new(None)
    })
    .await;
    app.create_customer("alice").await;
    sqlx::query("update customers set status = 'cancelled'")
        .execute(&app.pool)
        .await
        .unwrap();
    let resp = app.client().sign_in("alice", PASSWORD).await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN);
    assert_eq!(
        resp.text("#login-error"),
        "This account is cancelled. To reopen it, or for its data, write to help@hosting.example."
    );
}

#[tokio::test]
async fn activity_lists_only_the_customers_own_events() {
    let app = TestApp::spawn().await;
    let (alice, _) = app.signed_in_client("alice").await;
    let (bob, _) = app.signed_in_client("bob").await;
    bob.get("/account").await;
    assert_eq!(
        bob.post_form("/account/name", &[("display_name", "Bob Secret Name")])
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    let page = alice.get("/activity").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("Bob Secret Name"));
    assert_eq!(page.texts(r#"tr[data-kind="sign_in"]"#).len(), 1);
    assert!(bob.get("/activity").await.body.contains("Bob Secret Name"));
}

/// The `berth_session` value a response sets.
fn session_cookie(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| {
            c.strip_prefix("berth_session=")
                .map(|v| v.split(';').next().unwrap_or("").to_owned())
        })
}

async fn get_with_cookie(app: &TestApp, path: &str, cookie: &str) -> StatusCode {
    let raw = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    raw.get(format!("{}{path}", app.base))
        .header("cookie", format!("berth_session={cookie}"))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn client_address_comes_from_the_proxy_header_only_when_trusted() {
    for (trust, expected) in [(false, "127.0.0.1"), (true, "203.0.113.9")] {
        let mut web = WebConfig::new(None);
        web.trusted_proxies = if trust {
            vec!["127.0.0.1/32".parse().unwrap()]
        } else {
            Vec::new()
        };
        let app = TestApp::spawn_with(web).await;
        app.create_customer("alice").await;
        let client = app.client();
        let token = client.token().await;
        let resp = client
            .http
            .post(format!("{}/login", app.base))
            .header("x-forwarded-for", "198.51.100.1, 203.0.113.9")
            .form(&[
                ("csrf_token", token.as_str()),
                ("username", "alice"),
                ("password", PASSWORD),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        let address: String = app
            .scalar("select host(address) from activity where kind = 'sign_in'")
            .await;
        assert_eq!(address, expected, "trusted proxy: {trust}");
    }
}

#[tokio::test]
async fn parallel_guesses_cannot_outrun_the_throttle() {
    let app = TestApp::spawn().await;
    app.create_customer("alice").await;
    let mut guesses = Vec::new();
    for i in 0..20 {
        let client = app.client();
        client.get("/login").await;
        guesses.push(async move { client.sign_in("alice", &format!("guess number {i}")).await.status });
    }
    let statuses = futures_util::future::join_all(guesses).await;
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNPROCESSABLE_ENTITY)
        .count();
    let refused = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!(checked + refused, 20, "{statuses:?}");
    assert!(
        checked <= 5,
        "only the first five guesses are checked, got {checked}: {statuses:?}"
    );
    let failures: i64 = app
        .scalar("select count(*) from activity where kind = 'sign_in_failed'")
        .await;
    assert_eq!(failures, checked as i64);
}
