//! Sign-in hardening (issue 13): one canonical username for throttle, lookup and
//! uniqueness; IPv6 throttled by /64; a known browser or address passes an account's lock;
//! X-Forwarded-For entries with ports; HSTS and Permissions-Policy.

use berth::state::WebConfig;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use crate::helpers::*;

/// Berth behind a proxy on 127.0.0.1 whose `X-Forwarded-For` it believes.
fn behind_proxy() -> WebConfig {
    let mut web = WebConfig::new(None);
    web.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    web
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

/// Signs in on `path` (`/login` or `/staff/login`) as a browser behind the proxy at the
/// client address `xff` would: the page first (for its CSRF token), then the form.
async fn sign_in_from(client: &Client, path: &str, xff: &str, username: &str, password: &str) -> Answer {
    let page = client.get(path).await;
    let token = page.text_attr(r#"input[name="csrf_token"]"#, "value");
    post_sign_in(client, path, xff, &token, username, password).await
}

async fn post_sign_in(client: &Client, path: &str, xff: &str, token: &str, username: &str, password: &str) -> Answer {
    let resp = client
        .http
        .post(format!("{}{path}", client.base))
        .header("x-forwarded-for", xff)
        .form(&[("csrf_token", token), ("username", username), ("password", password)])
        .send()
        .await
        .unwrap();
    Answer {
        status: resp.status(),
        headers: resp.headers().clone(),
        body: resp.text().await.unwrap_or_default(),
    }
}

async fn failures_on(app: &TestApp, key: &str) -> i32 {
    sqlx::query_scalar("select coalesce((select failures from signin_throttle where key = $1), 0)")
        .bind(key)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

// --- One canonical username -------------------------------------------------------------

#[tokio::test]
async fn unicode_variants_of_a_username_count_on_its_throttle_and_cannot_pass_its_lock() {
    let app = TestApp::spawn_with(behind_proxy()).await;
    app.create_customer("iris").await;
    app.create_customer("kate").await;
    app.create_customer("sam").await;
    let client = app.client();
    // One wrong password per look-alike, each from its own address (so only the account
    // counter can add them up).
    let cases: [(&str, &[&str]); 3] = [
        ("iris", &["İris", "IRIS", "ｉｒｉｓ", "İRİS", "iris"]),
        ("kate", &["\u{212a}ate", "KATE", "\u{212a}ATE", "Kate", "kate"]),
        ("sam", &["\u{017f}am", "SAM", "\u{017f}AM", "Sam", "sam"]),
    ];
    for (n, (name, variants)) in cases.iter().enumerate() {
        for (i, variant) in variants.iter().enumerate() {
            let xff = format!("198.51.100.{}", n * 10 + i + 1);
            let r = sign_in_from(&client, "/login", &xff, variant, "a wrong guess here").await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{variant}: {}", r.body);
        }
        assert_eq!(failures_on(&app, &format!("user:{name}")).await, 5, "{name}");
        // Locked now, for every spelling, the right password too.
        for variant in variants.iter() {
            let r = sign_in_from(&client, "/login", "203.0.113.99", variant, PASSWORD).await;
            assert_eq!(
                r.status,
                StatusCode::TOO_MANY_REQUESTS,
                "{variant} reached locked {name}"
            );
        }
    }
    let throttled: Vec<String> =
        sqlx::query_scalar("select key from signin_throttle where key like 'user:%' order by key")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        throttled,
        ["user:iris", "user:kate", "user:sam"],
        "one counter per account"
    );
}

#[tokio::test]
async fn a_variant_signs_in_to_the_one_account_it_names_when_not_locked() {
    let app = TestApp::spawn().await;
    app.create_customer("Iris").await;
    let stored: String = app.scalar("select username from customers").await;
    assert_eq!(stored, "iris", "stored in its canonical form");
    for variant in ["İris", "IRIS", "ｉｒｉｓ"] {
        assert_eq!(
            app.client().sign_in(variant, PASSWORD).await.status,
            StatusCode::SEE_OTHER,
            "{variant}"
        );
    }
    // Creating a look-alike of a taken name is refused by the same rule.
    assert!("İRIS".parse::<berth::identity::Username>().is_err());
    let mut conn = app.pool.acquire().await.unwrap();
    let again = berth::identity::customer::create(
        &mut conn,
        &"IRIS".parse().unwrap(),
        &"other@example.com".parse().unwrap(),
        &"".parse().unwrap(),
        "x",
    )
    .await;
    assert!(again.is_err(), "IRIS is iris, taken");
}

#[tokio::test]
async fn staff_usernames_share_the_normalisation() {
    let app = TestApp::spawn_with(behind_proxy()).await;
    app.create_staff("sam", false).await;
    let client = app.client();
    for (i, variant) in ["\u{017f}am", "SAM", "\u{017f}AM", "Sam", "sam"].iter().enumerate() {
        let r = sign_in_from(
            &client,
            "/staff/login",
            &format!("198.51.100.{}", i + 1),
            variant,
            "wrong guess!",
        )
        .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{variant}");
    }
    assert_eq!(failures_on(&app, "staff:sam").await, 5);
    let r = sign_in_from(&client, "/staff/login", "203.0.113.99", "ſam", STAFF_PASSWORD).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
}

// --- Atomic counting --------------------------------------------------------------------

/// 25 guesses at once, each from its own address (so only the account counter stands in
/// their way): at most the five before the lock have their password compared.
#[tokio::test]
async fn simultaneous_guesses_from_many_addresses_cannot_outrun_the_account_throttle() {
    let app = TestApp::spawn_with(behind_proxy()).await;
    app.create_customer("alice").await;
    app.create_staff("sam", false).await;
    for (path, username) in [("/login", "alice"), ("/staff/login", "sam")] {
        let mut ready = Vec::new();
        for i in 0..25 {
            let client = app.client();
            let page = client.get(path).await;
            let token = page.text_attr(r#"input[name="csrf_token"]"#, "value");
            ready.push((client, token, format!("2001:db8:{i}::1")));
        }
        let guesses = ready.iter().enumerate().map(|(i, (client, token, xff))| async move {
            post_sign_in(client, path, xff, token, username, &format!("guess number {i}"))
                .await
                .status
        });
        let statuses = futures_util::future::join_all(guesses).await;
        let checked = statuses
            .iter()
            .filter(|s| **s == StatusCode::UNPROCESSABLE_ENTITY)
            .count();
        let refused = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
        assert_eq!(checked + refused, 25, "{path}: {statuses:?}");
        assert!(checked <= 5, "{path}: {checked} guesses were compared: {statuses:?}");
    }
    let failed: i64 = app
        .scalar("select count(*) from activity where kind = 'sign_in_failed'")
        .await;
    assert!(failed <= 5, "{failed}");
}

// --- IPv6 by /64 ------------------------------------------------------------------------

#[tokio::test]
async fn ipv6_clients_are_throttled_by_their_slash_64() {
    let app = TestApp::spawn_with(behind_proxy()).await;
    app.create_customer("alice").await;
    let client = app.client();
    for i in 1..=20 {
        let xff = format!("2001:db8:1:2::{i:x}");
        let r = sign_in_from(&client, "/login", &xff, &format!("stranger{i}"), "whatever it is").await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{xff}");
    }
    // A 21st address of the same /64 waits, even with a right password.
    let r = sign_in_from(&client, "/login", "2001:db8:1:2:dead:beef:0:1", "alice", PASSWORD).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    // The neighbouring /64 is someone else.
    let r = sign_in_from(&client, "/login", "2001:db8:1:3::1", "alice", PASSWORD).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn an_ipv4_mapped_client_is_throttled_as_its_ipv4_address() {
    let app = TestApp::spawn_with(behind_proxy()).await;
    app.create_customer("alice").await;
    let client = app.client();
    for i in 0..20 {
        let r = sign_in_from(
            &client,
            "/login",
            "::ffff:203.0.113.5",
            &format!("stranger{i}"),
            "whatever",
        )
        .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let r = sign_in_from(&client, "/login", "203.0.113.5", "alice", PASSWORD).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
}

// --- A known browser or address passes the account's lock -------------------------------

/// Five wrong passwords from five addresses lock the account; the test then makes that
/// lock minutes long (as a longer attack would) so that what follows does not race it.
async fn lock_from_attackers(app: &TestApp, path: &str, username: &str, key: &str) {
    let attacker = app.client();
    for i in 1..=5 {
        let r = sign_in_from(&attacker, path, &format!("203.0.113.{i}"), username, "attacker's guess").await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    sqlx::query("update signin_throttle set failures = 12, last_failure = now() where key = $1")
        .bind(key)
        .execute(&app.pool)
        .await
        .unwrap();
}

fn sets_device_cookie(headers: &HeaderMap) -> bool {
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|c| c.starts_with("berth_device=") && c.contains("HttpOnly") && c.contains("Max-Age=7776000"))
}

#[tokio::test]
async fn the_owner_signs_in_from_a_known_browser_or_address_while_attackers_keep_the_account_locked() {
    let app = TestApp::spawn_with(behind_proxy()).await;
    app.create_customer("alice").await;
    let laptop = app.client();
    let first = sign_in_from(&laptop, "/login", "198.51.100.7", "alice", PASSWORD).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.body);
    assert!(sets_device_cookie(&first.headers), "{:?}", first.headers);
    laptop.get("/").await;
    assert_eq!(laptop.post_form("/logout", &[]).await.status, StatusCode::SEE_OTHER);
    let stored: String = app.scalar("select value from signin_known where kind = 'device'").await;
    assert_eq!(stored.len(), 64, "only the token's SHA-256 is kept");

    lock_from_attackers(&app, "/login", "alice", "user:alice").await;

    // An unknown browser at an unknown address waits, right password or not.
    let stranger = app.client();
    let r = sign_in_from(&stranger, "/login", "192.0.2.44", "alice", PASSWORD).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    // The owner's browser, now at another address, is let through to the password...
    let r = sign_in_from(&laptop, "/login", "192.0.2.55", "alice", "not my password").await;
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a wrong password still fails"
    );
    let r = sign_in_from(&laptop, "/login", "192.0.2.55", "alice", PASSWORD).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(laptop.get("/").await.status, StatusCode::OK);
    // ...and so is a new browser at the address the owner signed in from before.
    let phone = app.client();
    let r = sign_in_from(&phone, "/login", "198.51.100.7", "alice", PASSWORD).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    // The owner's sign-ins did not lift the lock for everyone else.
    let r = sign_in_from(&stranger, "/login", "192.0.2.44", "alice", PASSWORD).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    // A device cookie of another account's is worth nothing here.
    app.create_customer("bob").await;
    let r = sign_in_from(&laptop, "/login", "192.0.2.56", "bob", PASSWORD).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    lock_from_attackers(&app, "/login", "bob", "user:bob").await;
    let fresh = app.client();
    assert_eq!(
        sign_in_from(&fresh, "/login", "192.0.2.57", "bob", PASSWORD)
            .await
            .status,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn a_known_browser_stops_being_known_after_its_time() {
    let app = TestApp::spawn_with(behind_proxy()).await;
    app.create_customer("alice").await;
    let laptop = app.client();
    assert_eq!(
        sign_in_from(&laptop, "/login", "198.51.100.7", "alice", PASSWORD)
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    laptop.get("/").await;
    laptop.post_form("/logout", &[]).await;
    sqlx::query("update signin_known set last_success = now() - interval '91 days'")
        .execute(&app.pool)
        .await
        .unwrap();
    lock_from_attackers(&app, "/login", "alice", "user:alice").await;
    let r = sign_in_from(&laptop, "/login", "198.51.100.7", "alice", PASSWORD).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn staff_sign_in_passes_its_lock_from_a_known_browser_too() {
    let app = TestApp::spawn_with(behind_proxy()).await;
    app.create_staff("sam", false).await;
    let desk = app.client();
    let r = sign_in_from(&desk, "/staff/login", "198.51.100.7", "sam", STAFF_PASSWORD).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    // The device cookie comes with the sign-in's last step (the second factor).
    let r = app.staff_second_step(&desk, "sam").await;
    assert!(sets_device_cookie(&r.headers));
    desk.get("/staff").await;
    assert_eq!(desk.post_form("/staff/logout", &[]).await.status, StatusCode::SEE_OTHER);

    lock_from_attackers(&app, "/staff/login", "sam", "staff:sam").await;
    let stranger = app.client();
    let r = sign_in_from(&stranger, "/staff/login", "192.0.2.44", "sam", STAFF_PASSWORD).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    let r = sign_in_from(&desk, "/staff/login", "192.0.2.55", "sam", STAFF_PASSWORD).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
}

// --- X-Forwarded-For forms --------------------------------------------------------------

#[tokio::test]
async fn forwarded_addresses_with_ports_are_the_clients_and_unknown_is_never_the_proxy() {
    let app = TestApp::spawn_with(behind_proxy()).await;
    app.create_customer("alice").await;
    for (xff, expected) in [
        ("203.0.113.9:5678", "203.0.113.9"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("198.51.100.1, [2001:db8::2]", "2001:db8::2"),
        ("unknown", "0.0.0.0"),
    ] {
        let client = app.client();
        let r = sign_in_from(&client, "/login", xff, "alice", PASSWORD).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{xff}: {}", r.body);
        let address: String = app
            .scalar("select host(address) from activity where kind = 'sign_in' order by id desc limit 1")
            .await;
        assert_eq!(address, expected, "{xff}");
    }
}

// --- Headers ----------------------------------------------------------------------------

#[tokio::test]
async fn hsts_is_sent_only_when_berth_is_reached_over_https() {
    let plain = TestApp::spawn().await;
    let r = plain.client().get("/login").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("strict-transport-security"), "", "no HSTS over plain HTTP");

    let https = TestApp::spawn_with(WebConfig::new(Some("https://panel.example.com"))).await;
    for path in ["/login", "/no-such-page", "/healthz"] {
        let r = https.client().get(path).await;
        assert_eq!(
            r.header("strict-transport-security"),
            "max-age=63072000; includeSubDomains",
            "{path}"
        );
    }
}

#[tokio::test]
async fn permissions_policy_turns_off_what_berth_does_not_use() {
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("alice").await;
    for path in ["/login", "/", "/keys"] {
        let r = client.get(path).await;
        let policy = r.header("permissions-policy");
        for off in [
            "camera=()",
            "microphone=()",
            "geolocation=()",
            "payment=()",
            "usb=()",
            "clipboard-read=()",
        ] {
            assert!(policy.split(", ").any(|p| p == off), "{path}: {off} in {policy:?}");
        }
        // The copy button of a new key's secret writes to the clipboard.
        assert!(policy.contains("clipboard-write=(self)"), "{policy}");
    }
}
