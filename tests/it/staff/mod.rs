//! The staff console: a separate sign-in, customer and staff sessions kept apart, search,
//! the customer page, roles and cancellations (support-write only), and PIN checks with
//! their lockout, all in the customer's audit log.

pub mod browser;
pub mod hardening;
pub mod impersonation;

use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn staff_and_customer_sessions_never_mix() {
    let app = TestApp::spawn().await;
    let (customer, _) = app.signed_in_client("alice").await;
    // A customer session never reaches the console.
    let r = customer.get("/staff").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(r.location().starts_with("/staff/login"), "{}", r.location());
    // Customer credentials do not sign in to the console.
    customer.get("/staff/login").await;
    let r = customer
        .post_form("/staff/login", &[("username", "alice"), ("password", PASSWORD)])
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text("#login-error").contains("Unknown username or wrong password."));

    // A staff session reaches no customer page.
    let staff = app.staff_client("sam", false).await;
    assert_eq!(staff.get("/staff").await.status, StatusCode::OK);
    for path in ["/", "/account", "/keys", "/settings"] {
        let r = staff.get(path).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(r.location(), "/staff", "{path}: back to the console");
    }
    // Signing in as a customer in the staff session ends the staff sign-in, and back.
    let r = staff.sign_in("alice", PASSWORD).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(staff.get("/").await.status, StatusCode::OK);
    assert_eq!(staff.get("/staff").await.status, StatusCode::SEE_OTHER);
    staff.get("/staff/login").await;
    staff
        .post_form("/staff/login", &[("username", "sam"), ("password", STAFF_PASSWORD)])
        .await;
    app.staff_second_step(&staff, "sam").await;
    assert_eq!(staff.get("/staff").await.status, StatusCode::OK);
    assert_eq!(staff.get("/").await.status, StatusCode::SEE_OTHER);
    // Signing out ends it.
    let r = staff.post_form("/staff/logout", &[]).await;
    assert_eq!(r.location(), "/staff/login");
    assert_eq!(staff.get("/staff").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn staff_sign_ins_are_throttled_like_customers() {
    let app = TestApp::spawn().await;
    app.create_staff("sam", true).await;
    let client = app.client();
    client.get("/staff/login").await;
    let mut statuses = Vec::new();
    for _ in 0..7 {
        let r = client
            .post_form("/staff/login", &[("username", "sam"), ("password", "wrong password!")])
            .await;
        statuses.push(r.status);
    }
    assert!(statuses.contains(&StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
    // While throttled, even the right password waits.
    let r = client
        .post_form("/staff/login", &[("username", "sam"), ("password", STAFF_PASSWORD)])
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
}

/// The wait the form tells: "Too many failed sign-ins. Wait N seconds, then try again."
fn told_wait(r: &Resp) -> i64 {
    let message = r.text("#login-error");
    message
        .strip_prefix("Too many failed sign-ins. Wait ")
        .and_then(|rest| rest.strip_suffix(" seconds, then try again."))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no wait told in {message:?}"))
}

/// Issue 17: staff sign in through the customers' core, so a staff failure is recorded (in
/// the staff log: staff have no Activity) and a locked staff form tells the wait, as the
/// customer form does.
#[tokio::test]
async fn staff_sign_in_failures_are_recorded_and_told_the_wait() {
    use berth::audit::staff::{StaffEvent, recent};
    let app = TestApp::spawn().await;
    app.create_staff("sam", true).await;
    let sam: i64 = app.scalar("select id from staff where username = 'sam'").await;
    let client = app.client();
    client.get("/staff/login").await;
    let staff_login = |username: &'static str, password: &'static str| {
        let client = client.clone();
        async move {
            client
                .post_form("/staff/login", &[("username", username), ("password", password)])
                .await
        }
    };
    for _ in 0..5 {
        let r = staff_login("SAM", "wrong password!").await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.text("#login-error"), "Unknown username or wrong password.");
    }
    // Locked: the right password waits too, and the form says for how long.
    let r = staff_login("sam", STAFF_PASSWORD).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!((1..=2).contains(&told_wait(&r)), "{}", r.text("#login-error"));
    // The customer form tells a locked customer the same way.
    app.create_customer("alice").await;
    let customer = app.client();
    for _ in 0..5 {
        customer.sign_in("alice", "wrong password!").await;
    }
    let r = customer.sign_in("alice", PASSWORD).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!((1..=2).contains(&told_wait(&r)), "{}", r.text("#login-error"));
    // A name that is no staff member's is recorded too.
    assert_eq!(
        staff_login("admin", "guess").await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    let log = recent(&app.pool, 100).await.unwrap();
    let of = |kind: StaffEvent, staff: Option<i64>| {
        log.iter()
            .filter(|e| e.kind == kind && e.staff_id == staff)
            .collect::<Vec<_>>()
    };
    let failed = of(StaffEvent::SignInFailed, Some(sam));
    assert_eq!(failed.len(), 5, "{log:#?}");
    assert!(
        failed.iter().all(|e| e.username == "sam"
            && e.detail == "wrong password"
            && e.address == Some("127.0.0.1".parse().unwrap())),
        "{failed:#?}"
    );
    let locked = of(StaffEvent::SignInLocked, Some(sam));
    assert_eq!(locked.len(), 1, "{log:#?}");
    assert!(locked[0].detail.contains("refused for 1 s"), "{:?}", locked[0].detail);
    let unknown = of(StaffEvent::SignInFailed, None);
    assert_eq!(unknown.len(), 1, "{log:#?}");
    assert_eq!(unknown[0].username, "admin");
    assert!(of(StaffEvent::SignIn, Some(sam)).is_empty());
    // No customer's Activity got any of it: only alice's five failures and her lock.
    let activity: i64 = app.scalar("select count(*) from activity").await;
    assert_eq!(activity, 6);

    // Past the wait, the right password signs in; the sign-in and the sign-out are logged.
    app.advance(std::time::Duration::from_secs(3));
    let r = staff_login("sam", STAFF_PASSWORD).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    app.staff_second_step(&client, "sam").await;
    assert_eq!(client.get("/staff").await.status, StatusCode::OK);
    client.post_form("/staff/logout", &[]).await;
    let log = recent(&app.pool, 100).await.unwrap();
    assert_eq!(log[0].kind, StaffEvent::SignOut, "{log:#?}");
    assert_eq!(log[1].kind, StaffEvent::SignIn, "{log:#?}");
    assert!(log[..2].iter().all(|e| e.staff_id == Some(sam) && e.username == "sam"));
}

#[tokio::test]
async fn search_and_the_customer_page() {
    let app = TestApp::spawn().await;
    let alice = app.create_customer("alice").await;
    app.create_customer("alfred").await;
    app.create_customer("bob").await;
    let staff = app.staff_client("sam", false).await;
    let names = |r: &Resp| r.texts("#customers td:nth-child(2)");
    assert_eq!(names(&staff.get("/staff?q=al").await), ["alfred", "alice"]);
    assert_eq!(names(&staff.get("/staff?q=bob%40example").await), ["bob"]);
    assert_eq!(names(&staff.get(&format!("/staff?q={alice}")).await), ["alice"]);
    assert!(
        names(&staff.get("/staff?q=%25").await).is_empty(),
        "% is not a wildcard"
    );
    let page = staff.get(&format!("/staff/customers/{alice}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.text("#customer-id"), alice.to_string());
    assert!(
        page.text("#audit").contains("Nothing yet."),
        "a customer who never signed in"
    );
    assert_eq!(staff.get("/staff/customers/99999").await.status, StatusCode::NOT_FOUND);
    assert_eq!(staff.get("/staff/customers/x").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn roles_and_cancellations_need_support_write() {
    let app = TestApp::spawn().await;
    let (customer, alice) = app.signed_in_client("alice").await;
    customer.get("/account/cancel").await;
    customer.post_form("/account/cancel", &[("reason", "Moving on")]).await;
    let request: i64 = app.scalar("select id from cancellation_requests").await;

    let reader = app.staff_client("reader", false).await;
    reader.get(&format!("/staff/customers/{alice}")).await;
    let r = reader
        .post_form(
            &format!("/staff/customers/{alice}/roles"),
            &[("role", "beta"), ("granted", "true")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = reader
        .post_form(
            &format!("/staff/customers/{alice}/cancellations/{request}/complete"),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let beta: i64 = app
        .scalar("select count(*) from customer_roles cr join roles r on r.id = cr.role_id where r.name = 'beta'")
        .await;
    assert_eq!(beta, 0);

    let writer = app.staff_client("writer", true).await;
    let page = writer.get(&format!("/staff/customers/{alice}")).await;
    assert!(page.body.contains("Grant beta"));
    let r = writer
        .post_form(
            &format!("/staff/customers/{alice}/roles"),
            &[("role", "beta"), ("granted", "true")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let account = customer.get("/account").await;
    assert!(account.text("#account-roles").contains("beta"));
    writer
        .post_form(
            &format!("/staff/customers/{alice}/roles"),
            &[("role", "beta"), ("granted", "false")],
        )
        .await;
    assert!(!customer.get("/account").await.text("#account-roles").contains("beta"));
    let r = writer
        .post_form(
            &format!("/staff/customers/{alice}/roles"),
            &[("role", "emperor"), ("granted", "true")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    let r = writer
        .post_form(
            &format!("/staff/customers/{alice}/cancellations/{request}/complete"),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let status: String = app.scalar("select status from customers").await;
    assert_eq!(status, "cancelled");
    // The customer sees who did what.
    let actors: Vec<(String, String)> =
        sqlx::query_as("select kind, actor from activity where actor like 'Support%' order by id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        actors,
        [
            ("role_granted".into(), "Support (writer)".into()),
            ("role_revoked".into(), "Support (writer)".into()),
            ("cancellation_completed".into(), "Support (writer)".into())
        ]
    );
}

#[tokio::test]
async fn pin_checks_say_only_match_and_lock_after_five_misses() {
    let app = TestApp::spawn().await;
    let alice = app.create_customer("alice").await;
    set_pin(&app, alice, "246810").await;
    let staff = app.staff_client("sam", false).await;
    staff.get(&format!("/staff/customers/{alice}")).await;
    let check = |pin: &'static str| {
        let staff = staff.clone();
        async move {
            let r = staff
                .post_form(&format!("/staff/customers/{alice}/pin"), &[("pin", pin)])
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            r.text("#pin-result")
        }
    };
    assert_eq!(check("246810").await, "Match: the PIN is right.");
    for _ in 0..5 {
        assert_eq!(check("111111").await, "No match.");
    }
    // Locked now: even the right PIN is not checked.
    assert!(check("246810").await.starts_with("Locked"));
    let kinds: Vec<String> = sqlx::query_scalar("select kind from activity where kind like 'pin_check%' order by id")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(kinds.len(), 7, "every check is recorded");
    assert_eq!(kinds.last().unwrap(), "pin_check_locked");
    // Fifteen minutes later, checks work again.
    sqlx::query("update activity set at = at - interval '16 minutes' where kind like 'pin_check%'")
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query("update secret_attempts set last_attempt = last_attempt - interval '16 minutes'")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(check("246810").await, "Match: the PIN is right.");
    // The page never shows the PIN or its hash.
    let page = staff.get(&format!("/staff/customers/{alice}")).await;
    assert!(!page.body.contains("246810") && !page.body.contains("$argon2"));
}

#[tokio::test]
async fn staff_publish_notices_with_the_command_lines_rules() {
    let app = TestApp::spawn().await;
    let (customer, alice) = app.signed_in_client("alice").await;
    let reader = app.staff_client("reader", false).await;
    reader.get("/staff/notices").await;
    let fields = [
        ("type", "outage"),
        ("severity", "critical"),
        ("title", "Paris is down"),
        ("body", "We are on it."),
        ("customer", ""),
    ];
    assert_eq!(
        reader.post_form("/staff/notices", &fields).await.status,
        StatusCode::FORBIDDEN
    );

    let writer = app.staff_client("writer", true).await;
    writer.get("/staff/notices").await;
    for (field, value, message) in [
        ("type", "gossip", "Choose one of"),
        ("severity", "apocalyptic", "info, warning or critical"),
        ("title", "", "1 to 200 characters"),
        ("customer", "nobody", "no customer with that username"),
    ] {
        let mut bad = fields.to_vec();
        bad.retain(|(k, _)| *k != field);
        bad.push((field, value));
        let r = writer.post_form("/staff/notices", &bad).await;
        assert_field_error(&r, field, message);
    }
    let none: i64 = app.scalar("select count(*) from notices").await;
    assert_eq!(none, 0);
    // The form says before publishing where a notice without a customer goes.
    let form = writer.get("/staff/notices").await;
    assert!(
        form.text("#notice-audience")
            .contains("the notice goes to every customer")
    );
    // Sent with no customer, it comes back to be confirmed, what was typed kept: nothing
    // is published yet.
    let r = writer.post_form("/staff/notices", &fields).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(
        r.text("#notice-every")
            .starts_with("No customer is chosen: this notice goes to every customer."),
        "{}",
        r.body
    );
    assert_eq!(r.text_attr("#notice-every input[name=every_customer]", "value"), "yes");
    assert_eq!(r.text("#notice-every button"), "Publish to every customer");
    assert_eq!(r.text_attr("#notice-title", "value"), "Paris is down");
    let none: i64 = app.scalar("select count(*) from notices").await;
    assert_eq!(none, 0, "not published before the confirmation");
    let mut every = fields.to_vec();
    every.push(("every_customer", "yes"));
    let r = writer.post_form("/staff/notices", &every).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = writer.get("/staff/notices").await;
    assert!(
        page.text("#toasts").contains("published to every customer."),
        "{}",
        page.body
    );
    let mut own = fields.to_vec();
    own.retain(|(k, _)| *k != "customer");
    own.push(("customer", "alice"));
    // One customer chosen: published at once, the message names them.
    let r = writer.post_form("/staff/notices", &own).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = writer.get("/staff/notices").await;
    assert!(page.text("#toasts").contains("published to alice."), "{}", page.body);
    let rows: Vec<(Option<i64>, String)> = sqlx::query_as("select customer_id, title from notices order by id")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        rows,
        [(None, "Paris is down".into()), (Some(alice.0), "Paris is down".into())]
    );
    assert_eq!(customer.get("/notices").await.texts(".notice-title").len(), 2);
}
