//! Impersonation: staff look at a customer's pages with a reason; a banner on every page;
//! read-only with `support`, refused on every route that changes state (the list of routes
//! is read from the routers' source, so a new route cannot be forgotten); `support-write`
//! may act (with the customer's powers only: never the `role: internal` choices) but never
//! changes password, PIN or email; session ids change at start and end; a time limit; all in the customer's Activity.

use std::time::Duration;

use berth::identity::CustomerId;
use berth::state::WebConfig;
use reqwest::StatusCode;

use crate::helpers::*;

async fn impersonate(staff: &Client, customer: CustomerId, reason: &str) -> Resp {
    staff.get(&format!("/staff/customers/{customer}")).await;
    staff
        .post_form(
            &format!("/staff/customers/{customer}/impersonate"),
            &[("reason", reason)],
        )
        .await
}

/// Every POST route of the customer's pages, read from the routers in `src/`: each
/// `.route("PATH", …post(…)…)` outside the sign-in and staff routes.
fn customer_post_routes() -> Vec<String> {
    let mut routes = Vec::new();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![src];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for chunk in text.split(".route(\"").skip(1) {
            let Some((route, rest)) = chunk.split_once('"') else {
                continue;
            };
            let methods = rest.split(".route(").next().unwrap_or("");
            let methods = methods.split(")\n").next().unwrap_or(methods);
            if methods.contains("post(") {
                routes.push(route.to_owned());
            }
        }
    }
    // The signed-out pages (sign-in and its second step, password reset, email-change undo) are anyone's.
    let signed_out = |r: &str| {
        r.starts_with("/login") || r == "/logout" || r.starts_with("/password-reset") || r.starts_with("/email-undo")
    };
    routes.retain(|r| !r.starts_with("/staff") && !signed_out(r));
    routes.sort();
    routes
}

/// A number for each path parameter: ids of the customer's own objects are not needed, as
/// the refusal comes before anything is looked up.
fn concrete(route: &str) -> String {
    route
        .split('/')
        .map(|part| {
            if part.starts_with('{') {
                if part == "{address}" { "192.0.2.10" } else { "1" }.to_owned()
            } else {
                part.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// What a customer owns, as text, to compare before and after.
async fn everything(app: &TestApp) -> String {
    let tables: Vec<String> = sqlx::query_scalar(
        "select table_name from information_schema.columns
         where table_schema = 'public' and column_name = 'customer_id' order by table_name",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let mut out = String::new();
    for table in tables {
        if table == "activity" {
            continue;
        }
        let rows: Vec<String> = sqlx::query_scalar(&format!("select t::text from {table} t order by 1"))
            .fetch_all(&app.pool)
            .await
            .unwrap();
        out.push_str(&format!("{table}: {rows:?}\n"));
    }
    let customers: Vec<String> = sqlx::query_scalar("select c::text from customers c order by 1")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    out.push_str(&format!("customers: {customers:?}\n"));
    out
}

#[tokio::test]
async fn read_only_impersonation_changes_nothing_on_any_route() {
    let app = TestApp::spawn().await;
    let (customer, alice) = app.signed_in_client("alice").await;
    // Something to refuse changes to.
    customer.get("/keys").await;
    let token = customer
        .get("/keys")
        .await
        .text_attr(r#"input[name="form_token"]"#, "value");
    customer
        .post_form(
            "/keys",
            &[("name", "deploy"), ("type", "standard"), ("form_token", &token)],
        )
        .await;
    let routes = customer_post_routes();
    for expected in [
        "/keys",
        "/keys/{id}/revoke",
        "/account/password",
        "/settings",
        "/addresses",
        "/ftp-users",
    ] {
        assert!(
            routes.iter().any(|r| r == expected),
            "{expected} not found in {routes:?}"
        );
    }
    assert!(routes.len() >= 20, "{routes:?}");

    let staff = app.staff_client("reader", false).await;
    let r = impersonate(&staff, alice, "Customer asked why their key fails").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    staff.get("/").await;
    let before = everything(&app).await;
    for route in &routes {
        let path = concrete(route);
        let fields = [("name", "x"), ("type", "standard"), ("family", "ipv4"), ("reason", "x")];
        let r = staff.post_form(&path, &fields).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.body);
        assert!(r.body.contains("read-only"), "{path}");
        let r = staff.post_htmx(&path, &fields).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(everything(&app).await, before);
}

#[tokio::test]
async fn the_banner_is_on_every_customer_page() {
    let app = TestApp::spawn().await;
    let alice = app.create_customer("alice").await;
    let staff = app.staff_client("sam", false).await;
    impersonate(&staff, alice, "Checking the dashboard with the customer").await;
    let home = staff.get("/").await;
    assert_eq!(home.status, StatusCode::OK, "{}", home.body);
    let mut pages: Vec<String> = home
        .html()
        .select(&scraper::Selector::parse(r#"nav[aria-label="Main"] a"#).unwrap())
        .filter_map(|a| a.value().attr("href").map(str::to_owned))
        .collect();
    pages.extend(["/account/cancel".to_owned(), "/wizard/site".to_owned()]);
    assert!(pages.len() >= 10, "{pages:?}");
    for page in pages {
        let r = staff.get(&page).await;
        assert_eq!(r.status, StatusCode::OK, "{page}");
        let banner = r.text("#impersonation-banner");
        assert!(
            banner.contains("sam") && banner.contains("read-only"),
            "{page}: {banner}"
        );
        assert!(banner.contains("Checking the dashboard with the customer"), "{page}");
        assert!(r.body.contains(r#"action="/staff/impersonation/end""#), "{page}");
        assert_eq!(r.text("#signed-in-as"), "alice", "{page}");
    }
}

#[tokio::test]
async fn session_ids_change_and_everything_is_in_the_customers_activity() {
    let app = TestApp::spawn().await;
    let (customer, alice) = app.signed_in_client("alice").await;
    let staff = app.staff_client("writer", true).await;
    // A too short reason is refused on its field, and nothing starts.
    let r = impersonate(&staff, alice, "x").await;
    assert_field_error(&r, "reason", "3 to 500 characters");
    assert_eq!(staff.get("/").await.status, StatusCode::SEE_OTHER);

    let cookie = |r: &Resp| {
        // A sign-in also sets the known-browser cookie (berth_device).
        let set: Vec<&str> = r
            .headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let value = set
            .iter()
            .find_map(|c| c.strip_prefix("berth_session="))
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("");
        assert!(!value.is_empty(), "a session cookie is set: {set:?}");
        value.to_owned()
    };
    // The id the staff session has now: a sign-in's cookie.
    let before = app.client();
    before.get("/staff/login").await;
    before
        .post_form("/staff/login", &[("username", "writer"), ("password", STAFF_PASSWORD)])
        .await;
    let login = app.staff_second_step(&before, "writer").await;
    let signed_in = cookie(&login);
    let r = impersonate(&before, alice, "Set up a key with the customer on the phone").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let started = cookie(&r);
    assert_ne!(started, signed_in, "a new session id at the start");
    let r = before.post_form("/staff/impersonation/end", &[]).await;
    let ended = cookie(&r);
    assert_ne!(ended, started, "a new session id at the end");
    assert_ne!(ended, signed_in);

    let r = impersonate(&staff, alice, "Set up a key with the customer on the phone").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    // support-write may act as the customer, with the customer's powers only: no internal
    // key type (issue 13: impersonation never grants internal powers).
    let keys = staff.get("/keys").await;
    assert_eq!(keys.texts("#new-key-type option").len(), 2);
    let token = keys.text_attr(r#"input[name="form_token"]"#, "value");
    let r = staff
        .post_form(
            "/keys",
            &[("name", "ops"), ("type", "standard"), ("form_token", &token)],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    // …but never password, PIN or email.
    for (path, fields) in [
        (
            "/account/password",
            vec![
                ("current_password", "x"),
                ("password", "a new long password"),
                ("password_confirm", "a new long password"),
            ],
        ),
        ("/account/pin", vec![("pin", "123456"), ("current_password", "x")]),
        (
            "/account/email",
            vec![("email", "new@example.com"), ("current_password", "x")],
        ),
    ] {
        let r = staff.post_form(path, &fields).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
        assert!(r.body.contains("cannot be changed while impersonating"), "{path}");
    }
    let email: String = app.scalar("select email from customers where username = 'alice'").await;
    assert_eq!(email, "alice@example.com");

    let r = staff.post_form("/staff/impersonation/end", &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), format!("/staff/customers/{alice}"));
    assert!(
        r.header("set-cookie").starts_with("berth_session="),
        "a new session id at the end"
    );
    assert_eq!(
        staff.get("/").await.status,
        StatusCode::SEE_OTHER,
        "no customer page after the end"
    );

    // The customer sees the visit, the action and the end, with who and why.
    let activity = customer.get("/activity").await;
    let rows = activity.texts("#activity tbody tr");
    let find = |label: &str| {
        rows.iter()
            .find(|r| r.contains(label))
            .unwrap_or_else(|| panic!("no {label:?} in {rows:#?}"))
            .clone()
    };
    let started = find("Support viewed your account");
    assert!(started.contains("Support (writer)") && started.contains("Set up a key with the customer on the phone"));
    assert!(find("API key created").contains("Support (writer)"));
    assert!(
        rows.iter()
            .any(|r| r.contains("Support submitted a change") && r.contains("POST /keys")),
        "{rows:#?}"
    );
    assert!(find("Support stopped viewing your account").contains("ended by writer"));
}

#[tokio::test]
async fn an_impersonation_ends_at_its_time_limit() {
    let web = WebConfig {
        impersonation_limit: Duration::from_secs(10 * 60),
        ..WebConfig::new(None)
    };
    let app = TestApp::spawn_with(web).await;
    let alice = app.create_customer("alice").await;
    let staff = app.staff_client("sam", false).await;
    impersonate(&staff, alice, "A short look").await;
    assert_eq!(staff.get("/").await.status, StatusCode::OK);
    app.advance(Duration::from_secs(9 * 60));
    assert_eq!(staff.get("/").await.status, StatusCode::OK, "within the limit");
    app.advance(Duration::from_secs(60 + 1));
    let r = staff.get("/account").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/staff");
    let page = staff.get("/staff").await;
    assert_eq!(page.status, StatusCode::OK, "{:?}", page.headers);
    assert!(page.text("#toasts").contains("time limit"));
    let ended: String = app
        .scalar("select detail from activity where kind = 'impersonation_ended'")
        .await;
    assert!(ended.contains("time limit"), "{ended}");
}

#[tokio::test]
async fn a_staff_member_signing_out_ends_the_impersonation() {
    let app = TestApp::spawn().await;
    let alice = app.create_customer("alice").await;
    let staff = app.staff_client("sam", false).await;
    impersonate(&staff, alice, "A look").await;
    let r = staff.get("/").await;
    assert_eq!(r.status, StatusCode::OK);
    // The layout's own Sign out button.
    let r = staff.post_form("/logout", &[]).await;
    assert_eq!(r.location(), "/staff/login");
    assert_eq!(staff.get("/").await.status, StatusCode::SEE_OTHER);
    assert_eq!(staff.get("/staff").await.status, StatusCode::SEE_OTHER);
    let ended: String = app
        .scalar("select detail from activity where kind = 'impersonation_ended'")
        .await;
    assert_eq!(ended, "ended by signing out");
}
