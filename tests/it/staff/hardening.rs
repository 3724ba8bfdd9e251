//! Issue 13, staff: PIN checks and current-password checks count each attempt before the
//! comparison (parallel requests included), `berth seed-demo` seeds a read-only `support`
//! and a separate `support-write`, the staff session's own timeouts hold during an
//! impersonation, and `berth staff disable|enable`.

use std::process::Command;
use std::time::Duration;

use berth::identity::CustomerId;
use berth::state::WebConfig;
use reqwest::StatusCode;

use crate::helpers::*;

async fn count(app: &TestApp, kind: &str) -> i64 {
    sqlx::query_scalar("select count(*) from activity where kind = $1")
        .bind(kind)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

async fn impersonate(staff: &Client, customer: CustomerId) {
    staff.get(&format!("/staff/customers/{customer}")).await;
    let r = staff
        .post_form(
            &format!("/staff/customers/{customer}/impersonate"),
            &[("reason", "Checking a ticket")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
}

/// Runs `berth ARGS` against the test's database: success, and stdout + stderr.
fn berth(url: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test]
async fn parallel_wrong_pins_are_counted_before_they_are_compared() {
    let app = TestApp::spawn().await;
    let alice = app.create_customer("alice").await;
    set_pin(&app, alice, "246810").await;
    let staff = app.staff_client("sam", false).await;
    staff.get(&format!("/staff/customers/{alice}")).await;
    // 30 wrong PINs at once, on real parallel connections.
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..30 {
        let staff = staff.clone();
        set.spawn(async move {
            let r = staff
                .post_form(&format!("/staff/customers/{alice}/pin"), &[("pin", "111111")])
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            r.text("#pin-result")
        });
    }
    let mut results = Vec::new();
    while let Some(result) = set.join_next().await {
        results.push(result.unwrap());
    }
    let evaluated = results.iter().filter(|r| *r == "No match.").count();
    let locked = results.iter().filter(|r| r.starts_with("Locked")).count();
    assert!(
        evaluated <= 5,
        "at most five PINs compared, got {evaluated}: {results:?}"
    );
    assert_eq!(evaluated + locked, 30, "{results:?}");
    assert_eq!(count(&app, "pin_check_failed").await as usize, evaluated);
    assert_eq!(count(&app, "pin_check_locked").await as usize, locked);
    // While locked, the right PIN is refused without a comparison.
    let r = staff
        .post_form(&format!("/staff/customers/{alice}/pin"), &[("pin", "246810")])
        .await;
    assert!(r.text("#pin-result").starts_with("Locked"), "{}", r.text("#pin-result"));
    assert_eq!(count(&app, "pin_check_passed").await, 0);
}

#[tokio::test]
async fn wrong_current_passwords_lock_the_account_forms_for_fifteen_minutes() {
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("alice").await;
    client.get("/account").await;
    // 12 wrong current passwords at once: at most five are compared.
    let mut set = tokio::task::JoinSet::new();
    for i in 0..12 {
        let client = client.clone();
        set.spawn(async move {
            let guess = format!("not my password {i}");
            let r = client
                .post_form("/account/pin", &[("pin", "90817263"), ("current_password", &guess)])
                .await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        });
    }
    while let Some(result) = set.join_next().await {
        result.unwrap();
    }
    let compared = count(&app, "password_check_failed").await;
    assert!(compared <= 5, "at most five compared, got {compared}");
    // The lock is recorded once, and it holds: not a second's delay but 15 minutes.
    assert_eq!(count(&app, "password_check_locked").await, 1);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for (path, fields) in [
        (
            "/account/email",
            vec![("email", "new@example.com"), ("current_password", PASSWORD)],
        ),
        (
            "/account/pin",
            vec![("pin", "90817263"), ("current_password", PASSWORD)],
        ),
    ] {
        let r = client.post_form(path, &fields).await;
        assert_field_error(&r, "current_password", "locked for 15 minutes");
    }
    let email: String = app.scalar("select email from customers").await;
    assert_eq!(email, "alice@example.com");
    let activity = client.get("/activity").await;
    assert_eq!(activity.texts(r#"tr[data-kind="password_check_locked"]"#).len(), 1);
    // Fifteen minutes after the last wrong one, the forms work again.
    sqlx::query("update secret_attempts set last_attempt = last_attempt - interval '16 minutes'")
        .execute(&app.pool)
        .await
        .unwrap();
    let r = client
        .post_form(
            "/account/email",
            &[("email", "new@example.com"), ("current_password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
}

#[tokio::test]
async fn seed_demo_makes_support_read_only_and_support_write_apart() {
    let app = TestApp::spawn().await;
    assert!(berth::demo::seed(&app.pool, &app.state.hasher).await.unwrap());
    assert!(
        !berth::demo::seed(&app.pool, &app.state.hasher).await.unwrap(),
        "idempotent"
    );
    let perms = |name: &'static str| {
        let pool = app.pool.clone();
        async move {
            sqlx::query_scalar::<_, Vec<String>>("select permissions from staff where username = $1")
                .bind(name)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(perms("support").await, ["support"]);
    assert_eq!(perms("support-write").await, ["support", "support-write"]);
    // Both sign in with the passwords the README gives; only support-write may change roles.
    let demo: CustomerId = app.scalar("select id from customers where username = 'demo'").await;
    for (name, password, status) in [
        ("support", "support-password-2026", StatusCode::FORBIDDEN),
        ("support-write", "support-write-password-2026", StatusCode::SEE_OTHER),
    ] {
        let client = app.client();
        client.get("/staff/login").await;
        let r = client
            .post_form("/staff/login", &[("username", name), ("password", password)])
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{name}: {}", r.body);
        // Demo staff have no second factor yet: they enrol before the console opens.
        assert_eq!(r.location(), "/staff/security");
        let id: i64 = app
            .scalar(&format!("select id from staff where username = '{name}'"))
            .await;
        app.enrol_totp(SecondFactorAccount::Staff(id), name).await;
        client.post_form("/staff/logout", &[]).await;
        client.get("/staff/login").await;
        client
            .post_form("/staff/login", &[("username", name), ("password", password)])
            .await;
        app.staff_second_step(&client, name).await;
        client.get(&format!("/staff/customers/{demo}")).await;
        let r = client
            .post_form(
                &format!("/staff/customers/{demo}/roles"),
                &[("role", "beta"), ("granted", "true")],
            )
            .await;
        assert_eq!(r.status, status, "{name}");
    }
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert!(readme.contains("| `support-write` | `support-write-password-2026` |"));
}

/// A config whose staff limits are short, so a test can outlive them.
fn short(idle: u64, absolute: u64) -> WebConfig {
    WebConfig {
        idle_timeout: Duration::from_secs(idle),
        absolute_timeout: Duration::from_secs(absolute),
        impersonation_limit: Duration::from_secs(3600),
        ..WebConfig::new(None)
    }
}

/// After the staff session's limit, a customer page sends the impersonator back to sign
/// in, and the customer's Activity says the impersonation ended and why.
async fn impersonation_outlived(app: &TestApp, alice: CustomerId, staff: &Client, why: &str) {
    let r = staff.get("/account").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), "/staff");
    let r = staff.get("/staff").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(r.location().starts_with("/staff/login"), "{}", r.location());
    assert_eq!(staff.get("/").await.status, StatusCode::SEE_OTHER);
    let ended: Vec<String> =
        sqlx::query_scalar("select detail from activity where customer_id = $1 and kind = 'impersonation_ended'")
            .bind(alice)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(ended.len(), 1, "{ended:?}");
    assert!(ended[0].contains(why), "{ended:?}");
}

#[tokio::test]
async fn an_impersonation_ends_with_the_staff_sessions_absolute_timeout() {
    let app = TestApp::spawn_with(short(3600, 10 * 60)).await;
    let alice = app.create_customer("alice").await;
    let staff = app.staff_client("sam", false).await;
    impersonate(&staff, alice).await;
    assert_eq!(staff.get("/").await.status, StatusCode::OK);
    // The session is older than its absolute limit (never idle: that limit is an hour).
    app.advance(Duration::from_secs(10 * 60 + 1));
    impersonation_outlived(&app, alice, &staff, "time limit").await;
}

#[tokio::test]
async fn an_impersonation_ends_with_the_staff_sessions_idle_timeout() {
    let app = TestApp::spawn_with(short(10 * 60, 3600)).await;
    let alice = app.create_customer("alice").await;
    let staff = app.staff_client("sam", false).await;
    impersonate(&staff, alice).await;
    assert_eq!(staff.get("/").await.status, StatusCode::OK);
    // Berth's own idle check ends the staff session (the session record, which the
    // session layer expires in real time, is still there), and records the end.
    app.advance(Duration::from_secs(10 * 60 + 1));
    impersonation_outlived(&app, alice, &staff, "idle").await;
}

#[tokio::test]
async fn a_disabled_staff_member_is_signed_out_at_once_and_cannot_sign_in() {
    let app = TestApp::spawn().await;
    let url = app.database_url().await;
    let alice = app.create_customer("alice").await;
    let impersonating = app.staff_client("sam", true).await;
    impersonate(&impersonating, alice).await;
    assert_eq!(impersonating.get("/").await.status, StatusCode::OK);
    // A second session of sam's, on the console only.
    let console = app.client();
    console.get("/staff/login").await;
    let r = console
        .post_form("/staff/login", &[("username", "sam"), ("password", STAFF_PASSWORD)])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let other = app.staff_client("olga", false).await;

    let (ok, out) = berth(&url, &["staff", "disable", "SAM"]);
    assert!(ok, "{out}");
    assert!(out.contains("disabled staff SAM"), "{out}");
    let (ok, out) = berth(&url, &["staff", "disable", "sam"]);
    assert!(ok && out.contains("already disabled"), "{out}");
    let (ok, out) = berth(&url, &["staff", "disable", "nobody"]);
    assert!(!ok && out.contains("no staff member nobody"), "{out}");

    // The very next request of each session is refused; the impersonation is recorded ended.
    let r = impersonating
        .post_form("/account/name", &[("display_name", "Sam was here")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/staff");
    assert_eq!(impersonating.get("/").await.status, StatusCode::SEE_OTHER);
    let r = impersonating.get("/staff").await;
    assert!(r.location().starts_with("/staff/login"), "{}", r.location());
    let r = console.get("/staff").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(r.location().starts_with("/staff/login"), "{}", r.location());
    let ended: String =
        sqlx::query_scalar("select detail from activity where customer_id = $1 and kind = 'impersonation_ended'")
            .bind(alice)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(ended.contains("disabled"), "{ended}");
    assert_eq!(
        count(&app, "impersonated_request").await,
        0,
        "the POST was not let through"
    );

    // The right password fails like a wrong one.
    let fresh = app.client();
    fresh.get("/staff/login").await;
    let r = fresh
        .post_form("/staff/login", &[("username", "sam"), ("password", STAFF_PASSWORD)])
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text("#login-error").contains("Unknown username or wrong password."));

    // Staff search shows the account, marked disabled.
    let r = other.get("/staff?q=sa").await;
    let rows = r.texts("#staff-members tbody tr");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0].contains("sam") && rows[0].contains("disabled"), "{rows:?}");
    let r = other.get("/staff?q=olg").await;
    assert!(!r.text("#staff-members tbody tr").contains("disabled"));

    // Enabled again: a new sign-in works; the old sessions stay ended.
    let (ok, out) = berth(&url, &["staff", "enable", "sam"]);
    assert!(ok && out.contains("enabled staff sam"), "{out}");
    let r = fresh
        .post_form("/staff/login", &[("username", "sam"), ("password", STAFF_PASSWORD)])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(console.get("/staff").await.status, StatusCode::SEE_OTHER);
    let r = other.get("/staff?q=sa").await;
    assert!(!r.text("#staff-members tbody tr").contains("disabled"));
}
