//! The account page: username, roles, email, password, PIN, display name, cancellation;
//! and the `berth` commands that create accounts.

pub mod api;

use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn account_page_shows_username_email_and_roles() {
    let app = TestApp::spawn().await;
    let (client, id) = app.signed_in_client("alice").await;
    sqlx::query("insert into customer_roles (customer_id, role_id) select $1, id from roles where name = 'beta'")
        .bind(id)
        .execute(&app.pool)
        .await
        .unwrap();
    let page = client.get("/account").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.text("#account-username"), "alice");
    assert_eq!(page.text("#account-email"), "alice@example.com");
    let roles = page.texts("#account-roles strong");
    assert_eq!(roles, vec!["beta", "owner"]);
}

#[tokio::test]
async fn email_change_needs_the_current_password() {
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("alice").await;
    client.get("/account").await;
    let refused = client
        .post_form(
            "/account/email",
            &[("email", "new@example.com"), ("current_password", "not my password!")],
        )
        .await;
    assert_field_error(&refused, "current_password", "not your current password");
    assert!(
        refused.body.contains(r#"value="new@example.com""#),
        "the typed email is kept"
    );
    let email: String = app.scalar("select email from customers").await;
    assert_eq!(email, "alice@example.com");

    let done = client
        .post_form(
            "/account/email",
            &[("email", "new@example.com"), ("current_password", PASSWORD)],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert_eq!(done.location(), "/account");
    let page = client.get("/account").await;
    assert_eq!(page.text("#account-email"), "new@example.com");
    assert!(
        page.text("#toasts").contains("Email address changed."),
        "flash shown after the redirect"
    );
    let kinds: Vec<String> = sqlx::query_scalar("select kind from activity order by id")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert!(kinds.contains(&"email_changed".to_owned()));
}

#[tokio::test]
async fn htmx_form_gets_the_fragment_and_an_out_of_band_toast() {
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("alice").await;
    client.get("/account").await;
    let resp = client
        .post_htmx("/account/name", &[("display_name", "Alice Liddell")])
        .await;
    assert_eq!(resp.status, StatusCode::OK);
    assert!(!resp.body.contains("<html"), "a fragment, not a page");
    assert!(resp.body.contains(r#"hx-swap-oob="beforeend""#));
    assert!(resp.text(".toast").contains("Display name saved."));
    assert!(resp.header("vary").to_ascii_lowercase().contains("hx-request"));
    assert_eq!(client.get("/").await.text("#signed-in-as"), "Alice Liddell");
}

#[tokio::test]
async fn the_header_shows_the_name_as_saved_in_place() {
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("alice").await;
    assert_eq!(client.get("/account").await.text("#signed-in-as"), "alice");
    let resp = client
        .post_htmx("/account/name", &[("display_name", "Alice Liddell")])
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.body);
    // The header is outside `#main`: the answer carries it out of band, with the new name.
    assert_eq!(resp.text_attr("#signed-in-as", "hx-swap-oob"), "true");
    assert_eq!(resp.text("#signed-in-as"), "Alice Liddell");
    // Cleared, the header falls back to the username.
    let resp = client.post_htmx("/account/name", &[("display_name", "")]).await;
    assert_eq!(resp.text("#signed-in-as"), "alice");
    // A refused name changes nothing, so the header is left alone.
    let refused = client
        .post_htmx("/account/name", &[("display_name", &"x".repeat(500))])
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
    assert!(refused.texts("#signed-in-as").is_empty());
    // The whole page has the header once, without the out-of-band mark.
    let page = client.get("/account").await;
    assert_eq!(page.texts("#signed-in-as"), ["alice"]);
    assert!(
        page.html()
            .select(&scraper::Selector::parse("#signed-in-as[hx-swap-oob]").unwrap())
            .next()
            .is_none()
    );
}

#[tokio::test]
async fn pin_is_hashed_and_never_shown() {
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("alice").await;
    let before = client.get("/account").await;
    assert!(before.body.contains("No PIN is set yet."));
    let bad = client
        .post_form("/account/pin", &[("pin", "12ab"), ("current_password", PASSWORD)])
        .await;
    assert_field_error(&bad, "pin", "6 to 12 digits");
    let done = client
        .post_form("/account/pin", &[("pin", "90817263"), ("current_password", PASSWORD)])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    let hash: String = app.scalar("select pin_hash from customers").await;
    assert!(hash.starts_with("$argon2id$"));
    let page = client.get("/account").await;
    assert!(page.body.contains("A PIN is set."));
    assert!(!page.body.contains("90817263"));
}

#[tokio::test]
async fn password_rules_are_enforced_and_nothing_changes_on_error() {
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("alice").await;
    let before: String = app.scalar("select password_hash from customers").await;
    client.get("/account").await;
    for (new, confirm, field, message) in [
        ("short", "short", "password", "at least 12"),
        ("password1234", "password1234", "password", "most common"),
        (
            "long enough passphrase",
            "a different passphrase",
            "password_confirm",
            "differ",
        ),
    ] {
        let resp = client
            .post_form(
                "/account/password",
                &[
                    ("current_password", PASSWORD),
                    ("password", new),
                    ("password_confirm", confirm),
                ],
            )
            .await;
        assert_field_error(&resp, field, message);
        assert!(!resp.body.contains(new), "a typed password is never echoed");
    }
    let after: String = app.scalar("select password_hash from customers").await;
    assert_eq!(before, after);
}

#[tokio::test]
async fn cancellation_can_be_requested_and_withdrawn_while_pending() {
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("alice").await;
    let page = client.get("/account/cancel").await;
    assert_eq!(page.status, StatusCode::OK);

    let empty = client.post_form("/account/cancel", &[("reason", "   ")]).await;
    assert_field_error(&empty, "reason", "Tell us why");

    let asked = client
        .post_form("/account/cancel", &[("reason", "Moving to our own servers")])
        .await;
    assert_eq!(asked.status, StatusCode::SEE_OTHER);
    let status: String = app.scalar("select status from customers").await;
    assert_eq!(status, "cancellation_requested");
    let page = client.get("/account/cancel").await;
    assert_eq!(page.text("#pending-reason"), "Moving to our own servers");
    assert!(client.get("/").await.body.contains("You asked to cancel this account."));

    let again = client.post_form("/account/cancel", &[("reason", "Twice")]).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    let open: i64 = app.scalar("select count(*) from cancellation_requests").await;
    assert_eq!(open, 1);

    client.get("/account/cancel").await;
    let withdrawn = client.post_form("/account/cancel", &[("action", "withdraw")]).await;
    assert_eq!(withdrawn.status, StatusCode::SEE_OTHER);
    let status: String = app.scalar("select status from customers").await;
    assert_eq!(status, "active");
    let request: String = app.scalar("select status from cancellation_requests").await;
    assert_eq!(request, "withdrawn");
    let twice = client.post_form("/account/cancel", &[("action", "withdraw")]).await;
    assert_eq!(twice.status, StatusCode::CONFLICT);
    let kinds: Vec<String> =
        sqlx::query_scalar("select kind from activity where kind like 'cancellation%' order by id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(kinds, vec!["cancellation_requested", "cancellation_withdrawn"]);
}

#[tokio::test]
async fn one_customers_changes_never_touch_another() {
    let app = TestApp::spawn().await;
    let (alice, _) = app.signed_in_client("alice").await;
    let (_bob, bob_id) = app.signed_in_client("bob").await;
    alice.get("/account").await;
    alice
        .post_form(
            "/account/email",
            &[("email", "alice2@example.com"), ("current_password", PASSWORD)],
        )
        .await;
    alice.post_form("/account/cancel", &[("reason", "leaving")]).await;
    alice.get("/settings").await;
    alice
        .post_form("/settings", &[("settings[time_zone]", "Europe/Paris")])
        .await;
    let (email, status): (String, String) = sqlx::query_as("select email, status from customers where id = $1")
        .bind(bob_id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!((email.as_str(), status.as_str()), ("bob@example.com", "active"));
    let bob_settings: i64 = sqlx::query_scalar("select count(*) from customer_settings where customer_id = $1")
        .bind(bob_id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(bob_settings, 0);
}

#[tokio::test]
async fn cli_creates_a_customer_with_the_password_from_standard_input() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let app = TestApp::spawn().await;
    let url = app.database_url().await;
    let run = |args: &[&str], stdin: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(args)
            .env("DATABASE_URL", &url)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let weak = run(
        &["create-customer", "--username", "carol", "--email", "carol@example.com"],
        "short\n",
    );
    assert!(!weak.status.success());
    assert!(String::from_utf8_lossy(&weak.stderr).contains("at least 12"));

    let ok = run(
        &["create-customer", "--username", "carol", "--email", "carol@example.com"],
        "  carol's passphrase  \n",
    );
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    // Spaces are part of the password; only the line ending is dropped.
    assert_eq!(
        app.client().sign_in("carol", "  carol's passphrase  ").await.status,
        StatusCode::SEE_OTHER
    );

    let taken = run(
        &["create-customer", "--username", "CAROL", "--email", "c2@example.com"],
        "another passphrase\n",
    );
    assert!(!taken.status.success());
    assert!(String::from_utf8_lossy(&taken.stderr).contains("taken"));

    let staff = run(&["create-staff", "--username", "sam"], "staff passphrase 1\n");
    assert!(staff.status.success(), "{}", String::from_utf8_lossy(&staff.stderr));
    let perms: Vec<String> = app.scalar("select permissions from staff where username = 'sam'").await;
    assert_eq!(perms, vec!["support"]);
    let writer = run(
        &["create-staff", "--username", "wendy", "--permission", "support-write"],
        "staff passphrase 2\n",
    );
    assert!(writer.status.success(), "{}", String::from_utf8_lossy(&writer.stderr));
    let perms: Vec<String> = app
        .scalar("select permissions from staff where username = 'wendy'")
        .await;
    assert_eq!(perms, vec!["support", "support-write"]);
    let bad = run(
        &["create-staff", "--username", "eve", "--permission", "admin"],
        "staff passphrase 3\n",
    );
    assert!(!bad.status.success());

    assert!(run(&["migrate"], "").status.success());
    assert!(run(&["seed-demo"], "").status.success());
    assert!(run(&["seed-demo"], "").status.success(), "seeding twice is harmless");
    assert_eq!(
        app.client().sign_in("demo", "demo-password-2026").await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn wrong_current_passwords_are_throttled_and_recorded() {
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("alice").await;
    client.get("/account").await;
    for i in 0..5 {
        let guess = format!("not my password {i}");
        let resp = client
            .post_form(
                "/account/email",
                &[("email", "x@example.com"), ("current_password", &guess)],
            )
            .await;
        assert_field_error(&resp, "current_password", "not your current password");
    }
    // Now even the right password waits.
    let resp = client
        .post_form(
            "/account/email",
            &[("email", "x@example.com"), ("current_password", PASSWORD)],
        )
        .await;
    assert_field_error(&resp, "current_password", "Too many wrong passwords");
    let email: String = app.scalar("select email from customers").await;
    assert_eq!(email, "alice@example.com");
    let recorded: i64 = app
        .scalar("select count(*) from activity where kind = 'password_check_failed'")
        .await;
    assert_eq!(recorded, 5);
    assert_eq!(
        client
            .get("/activity")
            .await
            .texts(r#"tr[data-kind="password_check_failed"]"#)
            .len(),
        5
    );
}
