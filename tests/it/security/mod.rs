//! Two-factor sign-in (issue 16): enrolment on `/account/security` with the secret read
//! from the page and codes computed here from it, the sign-in's second step (wrong, reused
//! and expired codes, recovery codes once, throttling, the session cycled, the time limit),
//! turning it off, staff required to enrol, the fresh checks for impersonation and key
//! creation, and `berth staff reset-2fa`.

use std::time::Duration;

use reqwest::StatusCode;

use crate::helpers::*;

/// The secret the enrolment shows as text, as bytes (base32, in groups of four).
fn secret_on_page(r: &Resp) -> Vec<u8> {
    let text = r.text("#totp-secret").replace(' ', "");
    totp_rs::Secret::Encoded(text).to_bytes().expect("a base32 secret")
}

/// The session cookie a response sets, if any.
fn session_cookie(r: &Resp) -> Option<String> {
    r.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("berth_session="))
        .map(|c| c.split(';').next().unwrap_or("").to_owned())
}

async fn activity(app: &TestApp, customer: berth::identity::CustomerId) -> Vec<(String, String)> {
    sqlx::query_as("select kind, detail from activity where customer_id = $1 order by id")
        .bind(customer.0)
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

/// Alice signs in with her password; the second step is owed.
async fn password_step(client: &Client, username: &str) -> Resp {
    let r = client.sign_in(username, PASSWORD).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), "/login/second-factor");
    client.get("/login/second-factor").await;
    r
}

#[tokio::test]
async fn enrol_with_the_code_from_the_page_then_sign_in_in_two_steps_then_turn_off() {
    let app = TestApp::spawn().await;
    let (client, alice) = app.signed_in_client("alice").await;
    // The dashboard suggests it until it is on.
    assert!(client.get("/").await.body.contains("second-factor-nudge"));
    let r = client.get("/account/security").await;
    assert!(r.text("#totp-status").starts_with("Off."), "{}", r.text("#totp-status"));

    // Enrolment: a QR code drawn on the server and the secret as text.
    let r = client.post_form("/account/security/totp", &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let page = client.get("/account/security").await;
    assert_eq!(page.header("cache-control"), "no-store");
    assert!(page.body.contains("<svg"), "an inline SVG QR code");
    let secret = secret_on_page(&page);
    assert_eq!(secret.len(), 20);
    // Stored sealed: the secret's bytes are nowhere in the row.
    let sealed: Vec<u8> = app
        .scalar(&format!(
            "select sealed from totp_authenticators where customer_id = {}",
            alice.0
        ))
        .await;
    assert!(!sealed.windows(secret.len()).any(|w| w == secret.as_slice()));

    // A wrong code does not turn it on.
    let r = client
        .post_form("/account/security/totp/confirm", &[("code", "000000")])
        .await;
    if totp_code_at(&secret, app.state.clock.now()) != "000000" {
        assert_field_error(&r, "code", "not right");
        assert!(
            !app.scalar::<bool>("select exists(select 1 from totp_authenticators where confirmed_at is not null)")
                .await
        );
    }
    let code = totp_code_at(&secret, app.state.clock.now());
    let r = client
        .post_form("/account/security/totp/confirm", &[("code", &code)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.header("cache-control"), "no-store");
    let codes = r.texts(".recovery-codes code");
    assert_eq!(codes.len(), 10);
    assert!(r.text("#totp-status").starts_with("On."));
    // Only their hashes are stored.
    let stored: Vec<String> = sqlx::query_scalar("select code_hash from recovery_codes where customer_id = $1")
        .bind(alice.0)
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored.len(), 10);
    assert!(codes.iter().all(|c| !stored.iter().any(|h| h.contains(c.as_str()))));
    // Shown once: the page does not show them again.
    assert!(
        client
            .get("/account/security")
            .await
            .texts(".recovery-codes code")
            .is_empty()
    );
    assert!(!client.get("/").await.body.contains("second-factor-nudge"));

    // Signing in now takes two steps; the password alone signs in no one.
    client.post_form("/logout", &[]).await;
    let password = password_step(&client, "alice").await;
    let pending_cookie = session_cookie(&password).expect("a new session id after the password");
    let r = client.get("/").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "not signed in yet");
    assert!(r.location().starts_with("/login"));
    client.get("/login/second-factor").await;
    // The code that turned it on is used: refused, as is a wrong one.
    let r = client.post_form("/login/second-factor", &[("code", &code)]).await;
    assert_field_error(&r, "code", "not right");
    let r = client.post_form("/login/second-factor", &[("code", "12345")]).await;
    assert_field_error(&r, "code", "not right");
    let fresh = app.totp_code(SecondFactorAccount::Customer(alice)).await;
    let r = client.post_form("/login/second-factor", &[("code", &fresh)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), "/");
    let signed_in_cookie = session_cookie(&r).expect("a new session id after the second step");
    assert_ne!(signed_in_cookie, pending_cookie);
    assert_eq!(client.get("/").await.status, StatusCode::OK);
    let log = activity(&app, alice).await;
    assert!(
        log.contains(&("second_factor_enabled".to_owned(), "authenticator app".to_owned())),
        "{log:?}"
    );
    assert!(
        log.contains(&("sign_in".to_owned(), "with an authenticator code".to_owned())),
        "{log:?}"
    );
    assert_eq!(
        log.iter().filter(|(k, _)| k == "second_factor_failed").count(),
        2,
        "{log:?}"
    );

    // Turning it off needs the password and a code.
    client.get("/account/security").await;
    let code = app.totp_code(SecondFactorAccount::Customer(alice)).await;
    let r = client
        .post_form(
            "/account/security/totp/off",
            &[("current_password", "wrong password!"), ("code", &code)],
        )
        .await;
    assert_field_error(&r, "current_password", "not your current password");
    let r = client
        .post_form(
            "/account/security/totp/off",
            &[("current_password", PASSWORD), ("code", "999999")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = client
        .post_form(
            "/account/security/totp/off",
            &[("current_password", PASSWORD), ("code", &code)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(app.scalar::<i64>("select count(*) from totp_authenticators").await, 0);
    assert_eq!(app.scalar::<i64>("select count(*) from recovery_codes").await, 0);
    client.post_form("/logout", &[]).await;
    let r = client.sign_in("alice", PASSWORD).await;
    assert_eq!(r.location(), "/", "one step again");
}

#[tokio::test]
async fn codes_from_too_long_ago_are_refused_and_the_second_step_expires() {
    let app = TestApp::spawn().await;
    let alice = app.create_customer("alice").await;
    app.enrol_totp(SecondFactorAccount::Customer(alice), "alice").await;
    let secret = app.enrolling_secret(SecondFactorAccount::Customer(alice)).await;
    let client = app.client();
    password_step(&client, "alice").await;
    // A code of two steps ago (60 s) is expired.
    let old = totp_code_at(&secret, app.state.clock.now() - time::Duration::seconds(65));
    if old != totp_code_at(&secret, app.state.clock.now()) {
        let r = client.post_form("/login/second-factor", &[("code", &old)]).await;
        assert_field_error(&r, "code", "not right");
    }
    // The second step waits five minutes, then the password is asked again.
    app.advance(Duration::from_secs(6 * 60));
    let code = app.totp_code(SecondFactorAccount::Customer(alice)).await;
    let r = client.post_form("/login/second-factor", &[("code", &code)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/login");
    assert_eq!(client.get("/").await.status, StatusCode::SEE_OTHER);
    assert_eq!(client.get("/login/second-factor").await.location(), "/login");
    // Nobody's sign-in was recorded.
    assert!(!activity(&app, alice).await.iter().any(|(k, _)| k == "sign_in"));
}

#[tokio::test]
async fn recovery_codes_work_once_and_tell_how_many_remain() {
    let app = TestApp::spawn().await;
    let alice = app.create_customer("alice").await;
    let codes = app.enrol_totp(SecondFactorAccount::Customer(alice), "alice").await;
    let client = app.client();
    password_step(&client, "alice").await;
    // Typed loosely: upper case, spaces for dashes.
    let typed = codes[0].to_uppercase().replace('-', " ");
    let r = client.post_form("/login/second-factor", &[("code", &typed)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = client.get(r.location()).await;
    assert!(page.body.contains("9 are left"), "told how many remain");
    let log = activity(&app, alice).await;
    assert!(
        log.contains(&("recovery_code_used".to_owned(), "9 left".to_owned())),
        "{log:?}"
    );
    assert!(
        log.contains(&("sign_in".to_owned(), "with a recovery code (9 left)".to_owned())),
        "{log:?}"
    );
    assert!(
        client
            .get("/account/security")
            .await
            .text("#totp-status")
            .contains("9 of 10")
    );

    // The same code a second time: refused.
    client.post_form("/logout", &[]).await;
    password_step(&client, "alice").await;
    let r = client.post_form("/login/second-factor", &[("code", &codes[0])]).await;
    assert_field_error(&r, "code", "not right");
    let r = client.post_form("/login/second-factor", &[("code", &codes[1])]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);

    // New codes (after a code): the old ones stop working.
    client.get("/account/security").await;
    let code = app.totp_code(SecondFactorAccount::Customer(alice)).await;
    let r = client
        .post_form("/account/security/recovery-codes", &[("code", &code)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let fresh = r.texts(".recovery-codes code");
    assert_eq!(fresh.len(), 10);
    client.post_form("/logout", &[]).await;
    password_step(&client, "alice").await;
    let r = client.post_form("/login/second-factor", &[("code", &codes[2])]).await;
    assert_field_error(&r, "code", "not right");
    let r = client.post_form("/login/second-factor", &[("code", &fresh[0])]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn wrong_codes_are_throttled_even_before_the_right_one() {
    let app = TestApp::spawn().await;
    let alice = app.create_customer("alice").await;
    app.enrol_totp(SecondFactorAccount::Customer(alice), "alice").await;
    let secret = app.enrolling_secret(SecondFactorAccount::Customer(alice)).await;
    let client = app.client();
    password_step(&client, "alice").await;
    let now = app.state.clock.now();
    let valid: Vec<String> = (-1..=1)
        .map(|s| totp_code_at(&secret, now + time::Duration::seconds(30 * s)))
        .collect();
    let wrong: Vec<String> = (0..100_000u32)
        .map(|n| format!("{:06}", n * 7 + 13))
        .filter(|c| !valid.contains(c))
        .take(5)
        .collect();
    for code in &wrong {
        let r = client.post_form("/login/second-factor", &[("code", code)]).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let code = app.totp_code(SecondFactorAccount::Customer(alice)).await;
    let r = client.post_form("/login/second-factor", &[("code", &code)]).await;
    assert!(
        r.status == StatusCode::TOO_MANY_REQUESTS || r.status == StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        r.status
    );
    assert!(
        r.text("#second-code-error").contains("Too many wrong codes"),
        "{}",
        r.body
    );
    assert_eq!(
        client.get("/").await.status,
        StatusCode::SEE_OTHER,
        "still not signed in"
    );
    // After the wait, a right code passes (within the five minutes of the second step).
    app.advance(Duration::from_secs(60));
    client.post_form("/logout", &[]).await;
    app.advance(Duration::from_secs(5 * 60));
    password_step(&client, "alice").await;
    let code = app.totp_code(SecondFactorAccount::Customer(alice)).await;
    let r = client.post_form("/login/second-factor", &[("code", &code)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
}

#[tokio::test]
async fn staff_without_a_second_factor_can_only_enrol() {
    let app = TestApp::spawn().await;
    let (_, alice) = app.signed_in_client("alice").await;
    app.create_staff_without_2fa("newbie", true).await;
    let staff = app.client();
    staff.get("/staff/login").await;
    let r = staff
        .post_form("/staff/login", &[("username", "newbie"), ("password", STAFF_PASSWORD)])
        .await;
    assert_eq!(r.location(), "/staff/security");
    for path in ["/staff", &format!("/staff/customers/{alice}"), "/staff/keys"] {
        let r = staff.get(path).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(r.location(), "/staff/security", "{path}");
    }
    let page = staff.get("/staff/security").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("staff-enrol-first"));
    // No impersonation without a second factor.
    let r = staff
        .post_form(
            &format!("/staff/customers/{alice}/impersonate"),
            &[("reason", "Checking the account"), ("code", "123456")],
        )
        .await;
    assert_eq!(r.location(), "/staff/security");
    assert!(
        !activity(&app, alice)
            .await
            .iter()
            .any(|(k, _)| k == "impersonation_started")
    );

    // Enrolling opens the console; the staff log records it.
    staff.post_form("/staff/security/totp", &[]).await;
    let page = staff.get("/staff/security").await;
    let secret = secret_on_page(&page);
    let code = totp_code_at(&secret, app.state.clock.now());
    let r = staff
        .post_form("/staff/security/totp/confirm", &[("code", &code)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.texts(".recovery-codes code").len(), 10);
    assert!(!r.body.contains("/staff/security/totp/off"), "staff cannot turn it off");
    assert_eq!(staff.get("/staff").await.status, StatusCode::OK);
    let kinds: Vec<String> = sqlx::query_scalar("select kind from staff_activity order by id")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert!(kinds.contains(&"second_factor_enrolled".to_owned()), "{kinds:?}");
    // And the next sign-in takes both steps.
    staff.post_form("/staff/logout", &[]).await;
    staff.get("/staff/login").await;
    let r = staff
        .post_form("/staff/login", &[("username", "newbie"), ("password", STAFF_PASSWORD)])
        .await;
    assert_eq!(r.location(), "/login/second-factor");
    let r = app.staff_second_step(&staff, "newbie").await;
    assert_eq!(r.location(), "/staff");
}

#[tokio::test]
async fn impersonation_asks_for_a_fresh_code_after_fifteen_minutes() {
    let app = TestApp::spawn().await;
    let (_, alice) = app.signed_in_client("alice").await;
    app.enrol_totp(SecondFactorAccount::Customer(alice), "alice").await;
    let staff = app.staff_client("sam", false).await;
    // Staff see whether the customer has it.
    let page = staff.get(&format!("/staff/customers/{alice}")).await;
    assert_eq!(page.text("#customer-second-factor"), "On");
    assert!(!page.body.contains("impersonate-code"), "fresh: no code asked");

    app.advance(Duration::from_secs(16 * 60));
    let page = staff.get(&format!("/staff/customers/{alice}")).await;
    assert!(page.body.contains("impersonate-code"), "stale: a code is asked");
    let path = format!("/staff/customers/{alice}/impersonate");
    let r = staff.post_form(&path, &[("reason", "Customer on the phone")]).await;
    assert_field_error(&r, "code", "not right");
    assert!(
        !activity(&app, alice)
            .await
            .iter()
            .any(|(k, _)| k == "impersonation_started")
    );
    let sam: i64 = app.scalar("select id from staff where username = 'sam'").await;
    let code = app.totp_code(SecondFactorAccount::Staff(sam)).await;
    let r = staff
        .post_form(&path, &[("reason", "Customer on the phone"), ("code", &code)])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), "/");
    // Impersonating, the customer's security page shows whether it is on, never a secret,
    // and nothing there can be changed.
    let page = staff.get("/account/security").await;
    assert!(page.text("#totp-status").starts_with("On."));
    assert!(!page.body.contains("totp-secret"));
    for route in ["/account/security/totp", "/account/security/totp/off"] {
        let r = staff
            .post_form(route, &[("code", "123456"), ("current_password", PASSWORD)])
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{route}");
    }
    // Ending and starting again within 15 minutes of that check asks nothing.
    staff.post_form("/staff/impersonation/end", &[]).await;
    staff.get(&format!("/staff/customers/{alice}")).await;
    let r = staff
        .post_form(&path, &[("reason", "Customer on the phone again")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
}

#[tokio::test]
async fn creating_a_key_from_the_panel_asks_for_a_fresh_code_when_enrolled() {
    let app = TestApp::spawn().await;
    let alice = app.create_customer("alice").await;
    app.enrol_totp(SecondFactorAccount::Customer(alice), "alice").await;
    let client = app.client();
    password_step(&client, "alice").await;
    app.second_step(&client, SecondFactorAccount::Customer(alice)).await;
    let token = |r: &Resp| r.text_attr(r#"input[name="form_token"]"#, "value");
    // Just proven at sign-in: no code asked.
    let page = client.get("/keys").await;
    assert!(!page.body.contains("new-key-code"));
    let r = client
        .post_form(
            "/keys",
            &[("name", "deploy"), ("type", "standard"), ("form_token", &token(&page))],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    // 16 minutes on (the session stays, it is not idle 30): a code is asked.
    app.advance(Duration::from_secs(16 * 60));
    let page = client.get("/keys").await;
    assert!(page.body.contains("new-key-code"));
    let fields = [("name", "backup"), ("type", "standard"), ("form_token", &token(&page))];
    let r = client.post_form("/keys", &fields).await;
    assert_field_error(&r, "code", "not right");
    assert_eq!(r.text_attr("#new-key-name", "value"), "backup", "the input is kept");
    let keys = || async {
        app.scalar::<i64>(&format!(
            "select count(*) from api_keys where customer_id = {}",
            alice.0
        ))
        .await
    };
    assert_eq!(keys().await, 1);
    let code = app.totp_code(SecondFactorAccount::Customer(alice)).await;
    let page = client.get("/keys").await;
    let r = client
        .post_form(
            "/keys",
            &[
                ("name", "backup"),
                ("type", "standard"),
                ("form_token", &token(&page)),
                ("code", &code),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(keys().await, 2);
}

#[tokio::test]
async fn another_customer_never_reaches_ones_second_factor() {
    let app = TestApp::spawn().await;
    let alice = app.create_customer("alice").await;
    app.enrol_totp(SecondFactorAccount::Customer(alice), "alice").await;
    let alice_secret = app.enrolling_secret(SecondFactorAccount::Customer(alice)).await;
    let (bob, bob_id) = app.signed_in_client("bob").await;
    // Bob's page is his own: off, whatever Alice has.
    let page = bob.get("/account/security").await;
    assert!(page.text("#totp-status").starts_with("Off."));
    // Alice's code does nothing for Bob, and nothing to Alice's factor.
    let alice_code = totp_code_at(&alice_secret, app.state.clock.now());
    for (route, fields) in [
        ("/account/security/totp/confirm", vec![("code", alice_code.as_str())]),
        ("/account/security/recovery-codes", vec![("code", alice_code.as_str())]),
        (
            "/account/security/totp/off",
            vec![("code", alice_code.as_str()), ("current_password", PASSWORD)],
        ),
    ] {
        let r = bob.post_form(route, &fields).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{route}: {}", r.body);
    }
    let on: bool = app
        .scalar(&format!(
            "select confirmed_at is not null from totp_authenticators where customer_id = {}",
            alice.0
        ))
        .await;
    assert!(on);
    assert_eq!(
        app.scalar::<i64>(&format!(
            "select count(*) from recovery_codes where customer_id = {} and used_at is null",
            alice.0
        ))
        .await,
        10
    );
    assert_eq!(
        app.scalar::<i64>(&format!(
            "select count(*) from totp_authenticators where customer_id = {}",
            bob_id.0
        ))
        .await,
        0
    );
    // Alice's second step is hers: a session half signed in as Alice signs in as Alice only.
    let client = app.client();
    password_step(&client, "alice").await;
    app.second_step(&client, SecondFactorAccount::Customer(alice)).await;
    assert_eq!(client.get("/account").await.text("#account-username"), "alice");
}

#[tokio::test]
async fn reset_2fa_on_the_command_line_is_recorded_and_ends_the_sessions() {
    let app = TestApp::spawn().await;
    let staff = app.staff_client("sam", true).await;
    assert_eq!(staff.get("/staff").await.status, StatusCode::OK);
    let url = app.database_url().await;
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(args)
            .env("DATABASE_URL", &url)
            .env_remove("BERTH_SECRET_KEY")
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    };
    let missing = run(&["staff", "reset-2fa", "nobody"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no staff member nobody"));
    let out = run(&["staff", "reset-2fa", "sam"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(app.scalar::<i64>("select count(*) from totp_authenticators").await, 0);
    let (kind, detail): (String, String) =
        sqlx::query_as("select kind, detail from staff_activity order by id desc limit 1")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(kind, "second_factor_reset");
    assert!(detail.contains("reset-2fa"), "{detail}");
    // The session ended; the next sign-in leads to enrolment only.
    assert_eq!(staff.get("/staff").await.status, StatusCode::SEE_OTHER);
    staff.get("/staff/login").await;
    let r = staff
        .post_form("/staff/login", &[("username", "sam"), ("password", STAFF_PASSWORD)])
        .await;
    assert_eq!(r.location(), "/staff/security");
}

#[tokio::test]
async fn serve_refuses_to_start_with_totp_accounts_and_no_key() {
    let app = TestApp::spawn().await;
    let alice = app.create_customer("alice").await;
    app.enrol_totp(SecondFactorAccount::Customer(alice), "alice").await;
    let url = app.database_url().await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("DATABASE_URL", &url)
        .env_remove("BERTH_SECRET_KEY")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("BERTH_SECRET_KEY is not set"), "{stderr}");
    // A key that is not the one they were sealed with is refused too.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("DATABASE_URL", &url)
        .env("BERTH_SECRET_KEY", "11".repeat(32))
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("do not open"));
}

#[tokio::test]
async fn rotating_the_key_seals_every_secret_again() {
    let app = TestApp::spawn().await;
    let alice = app.create_customer("alice").await;
    // Sealed under an old key, as a deployment would have it.
    let old = berth::sealed::SecretKey::random();
    let sealer = berth::sealed::Sealer::new(Some(&old), None);
    berth::security::ops::start_enrolment(&app.pool, &sealer, SecondFactorAccount::Customer(alice), "alice")
        .await
        .unwrap();
    let before: Vec<u8> = app.scalar("select sealed from totp_authenticators").await;
    let url = app.database_url().await;
    let new = berth::sealed::SecretKey::random();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["secret-key", "rotate"])
        .env("DATABASE_URL", &url)
        .env("BERTH_SECRET_KEY", new.to_hex())
        .env("BERTH_SECRET_KEY_PREVIOUS", old.to_hex())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let after: Vec<u8> = app.scalar("select sealed from totp_authenticators").await;
    assert_ne!(before, after);
    let plain = berth::sealed::Sealer::new(Some(&new), None).open(&after).unwrap();
    assert_eq!(plain, sealer.open(&before).unwrap());
}
