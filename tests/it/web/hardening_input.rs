//! Issue 13, bad input and fair use: control characters refused by the form and JSON
//! extractors and in query strings; JSON arguments only as an object, in plain words;
//! bandwidth sums that cannot overflow; refusals that keep keep-alive connections; the
//! per-customer address quota; slow clients and the connection cap; and a deterministic
//! fuzz of every page form and every API method (no 5xx, nothing written).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use berth::identity::key::KeyType;
use berth::state::WebConfig;
use berth::web::serve::ServeLimits;
use reqwest::StatusCode;
use scraper::{Html, Selector};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::api::{Fixture, key};
use crate::helpers::*;
use crate::provisioning::insert_site_with_job;

/// Words of Rust that must never reach a client: type names serde puts in its messages.
fn rust_words(message: &str) -> Option<&'static str> {
    const WORDS: [&str; 16] = [
        "i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "usize", "isize", "f64", "struct ", "sequence", "a map",
        "Option", "Vec<",
    ];
    WORDS.into_iter().find(|w| {
        message.match_indices(w).any(|(at, _)| {
            let before = message[..at].chars().next_back();
            let after = message[at + w.len()..].chars().next();
            !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
        })
    })
}

// ---------------------------------------------------------------------------------------
// Control characters

#[tokio::test]
async fn nul_in_a_form_field_is_a_422_naming_the_field_not_a_500() {
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("alice").await;

    client.get("/account/cancel").await;
    let r = client.post_form("/account/cancel", &[("reason", "Moving out\0")]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.body.contains("reason") && r.body.contains("NUL"), "{}", r.body);

    let page = client.get("/keys").await;
    let token = page.text_attr(r#"input[name="form_token"]"#, "value");
    let r = client
        .post_form(
            "/keys",
            &[
                ("name", "deploy"),
                ("type", "standard"),
                ("form_token", &format!("{token}\0")),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.body.contains("form_token"), "{}", r.body);

    client.get("/wizard/site").await;
    let r = client
        .post_form(
            "/wizard/site",
            &[("site_name", "My\0shop"), ("site_hostname", "shop.example.com")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.body.contains("site_name"), "{}", r.body);

    // Other control characters too, and tab or newline in a one-line field.
    client.get("/wizard/site").await;
    let r = client
        .post_form(
            "/wizard/site",
            &[("site_name", "My\tshop"), ("site_hostname", "shop.example.com")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    // htmx gets the same answer.
    let r = client.post_htmx("/account/cancel", &[("reason", "bell\u{7}")]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);

    // A multi-line field keeps its line breaks and tabs.
    client.get("/account/cancel").await;
    let r = client
        .post_form(
            "/account/cancel",
            &[("reason", "Moving out.\r\n\tThanks for everything.")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);

    let keys: i64 = app.scalar("select count(*) from api_keys").await;
    let sites: i64 = app.scalar("select count(*) from sites").await;
    assert_eq!((keys, sites), (0, 0));
}

#[tokio::test]
async fn control_characters_in_query_strings_are_refused_not_a_500() {
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("alice").await;
    for path in [
        "/notices?since=%00",
        "/notices?since=2026-01-01%00",
        "/keys?type=%00",
        "/ftp?site=%00",
        "/activity?page=%00",
        "/sites?page=%FF",
        "/login?next=%00",
        "/login?next=/%00/evil.example",
        "/keys/check?name=%00",
    ] {
        let r = client.get(path).await;
        assert!(
            r.status.is_client_error(),
            "{path}: {} {}",
            r.status,
            &r.body[..r.body.len().min(300)]
        );
    }
    let r = client.get("/notices?since=%00").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("since"), "{}", r.body);
}

#[tokio::test]
async fn nul_in_an_api_argument_is_invalid_arguments_naming_it() {
    let fx = Fixture::new().await;
    let before = fx.snapshot().await;
    let (status, body) = fx
        .call_with(
            &fx.alice_key,
            "createContact",
            json!({"customerId": fx.alice.0, "name": "Ops\u{0}"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["type"], "InvalidArguments");
    assert!(
        body["error"]["fields"]["name"].as_str().unwrap().contains("NUL"),
        "{body}"
    );

    let (status, body) = fx
        .call_with(
            &fx.alice_key,
            "requestCancellation",
            json!({"id": fx.alice.0, "reason": "line\u{1b}[31m"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"]["fields"]["reason"].is_string(), "{body}");

    // Nested: an option of a contact method, by its path.
    let (status, body) = fx
        .call_with(
            &fx.alice_key,
            "createContactMethod",
            json!({"customerId": fx.alice.0, "contactId": 1, "methodId": "email", "options": {"address": "a@b.example\u{0}"}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"]["fields"]["options.address"].is_string(), "{body}");
    assert_eq!(fx.snapshot().await, before);
}

// ---------------------------------------------------------------------------------------
// JSON: an object only, plain words

#[tokio::test]
async fn positional_arguments_in_an_array_are_refused() {
    let fx = Fixture::new().await;
    let (_, keys) = fx.call_with(&fx.alice_key, "getKeys", json!({"id": fx.alice.0})).await;
    let key_id = keys["result"][0]["id"].as_i64().unwrap();
    let before = fx.snapshot().await;
    for args in [
        json!([key_id, "10.1.2.3", 16]),
        json!([fx.alice.0]),
        json!("x"),
        json!(1),
        json!(null),
    ] {
        let (status, body) = fx.call_with(&fx.alice_key, "createKeyACL", args.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{args}: {body}");
        let message = body["error"]["fields"]["arguments"].as_str().unwrap();
        assert!(message.contains("JSON object"), "{message}");
        assert_eq!(rust_words(message), None, "{message}");
    }
    let (status, _) = fx.call_with(&fx.alice_key, "getUsername", json!([fx.alice.0])).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let acls: i64 = fx.app.scalar("select count(*) from api_key_acls").await;
    assert_eq!(acls, 0);
    assert_eq!(fx.snapshot().await, before);
}

#[tokio::test]
async fn argument_errors_are_in_plain_words_without_rust_type_names() {
    let fx = Fixture::new().await;
    let id = fx.alice.0;
    let cases = [
        ("getUsername", json!({"id": "one"}), "id"),
        ("getUsername", json!({"id": -1.5}), "id"),
        ("getUsername", json!({"id": 1e30}), "id"),
        ("getUsername", json!({"id": [1]}), "id"),
        ("getUsername", json!({"id": {"a": 1}}), "id"),
        ("getUsername", json!({"id": null}), "id"),
        ("getUsername", json!({}), "id"),
        ("getUsername", json!({"id": id, "extra": 1}), "extra"),
        ("createContact", json!({"customerId": id, "name": 5}), "name"),
        ("createContact", json!({"customerId": id, "name": ["a"]}), "name"),
        ("createKey", json!({"id": id, "name": "k", "type": 7}), "type"),
        ("setSettings", json!({"id": id, "settings": []}), "settings"),
        ("setSettings", json!({"id": id, "settings": "x"}), "settings"),
        ("addIpAddress", json!({"id": id, "family": true}), "family"),
        ("updateKeyACL", json!({"id": 1, "cidr": "x"}), "cidr"),
        (
            "createFTPUser",
            json!({"customerId": id, "name": "n", "username": "u", "password": 1}),
            "password",
        ),
    ];
    for (method, args, field) in cases {
        let (status, body) = fx.call_with(&fx.alice_key, method, args.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{method} {args}: {body}");
        let fields = body["error"]["fields"].as_object().unwrap();
        assert!(
            fields.keys().any(|k| k == field || k.starts_with(&format!("{field}."))),
            "{method} {args}: {body}"
        );
        for text in fields.values().chain([&body["error"]["message"]]) {
            let text = text.as_str().unwrap();
            assert_eq!(rust_words(text), None, "{method} {args}: {text}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Bandwidth

#[tokio::test]
async fn bandwidth_sums_beyond_64_bits_show_instead_of_panicking() {
    let fx = Fixture::new().await;
    let app = &fx.app;
    let client = app.client();
    client.sign_in("alice", PASSWORD).await;
    // Stored before the import refused impossible counts: three sites near the top of
    // bigint each, so every sum overflows 64 bits.
    let now = time::OffsetDateTime::now_utc();
    let month = time::Date::from_calendar_date(now.year(), now.month(), 1).unwrap();
    for (n, host) in ["a.example.com", "b.example.com", "c.example.com"]
        .into_iter()
        .enumerate()
    {
        let site = insert_site_with_job(app, fx.alice, host, &[], false).await;
        sqlx::query(
            "insert into bandwidth_site_months (site_id, month, customer_id, bytes_in, bytes_out)
             values ($1, $2, $3, 4000000000000000000, 4000000000000000000)",
        )
        .bind(site)
        .bind(month)
        .bind(fx.alice)
        .execute(&app.pool)
        .await
        .unwrap();
        sqlx::query(
            "insert into bandwidth_customer_days (customer_id, day, bytes_in, bytes_out)
             values ($1, $2, 4000000000000000000, 4000000000000000000)",
        )
        .bind(fx.alice)
        .bind(month + time::Duration::days(n as i64))
        .execute(&app.pool)
        .await
        .unwrap();
    }
    for path in ["/", "/bandwidth"] {
        let r = client.get(path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
    }
    let result = fx
        .ok("currentBillableBandwidth", json!({"customerId": fx.alice.0}))
        .await;
    assert_eq!(result["total"], i64::MAX, "{result}");
    assert_eq!(result["bytesIn"], i64::MAX, "{result}");
}

#[tokio::test]
async fn the_import_refuses_hourly_counts_no_link_reaches_by_line_number() {
    let most = berth::bandwidth::import::MAX_BYTES_PER_HOUR;
    assert_eq!(most, 1_000_000_000_000_000);
    let text = format!(
        "site,hour,bytes_in,bytes_out\n1,2026-11-01T00:00:00Z,{most},{most}\n1,2026-11-01T01:00:00Z,{},0\n1,2026-11-01T02:00:00Z,0,{}\n",
        most + 1,
        i64::MAX
    );
    let errors = berth::bandwidth::import::parse(&text).unwrap_err();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].starts_with("line 3: bytes_in"), "{errors:?}");
    assert!(errors[1].starts_with("line 4: bytes_out"), "{errors:?}");
    // The database holds the same line for samples written any other way.
    let app = TestApp::spawn().await;
    let alice = app.create_customer("alice").await;
    let site = insert_site_with_job(&app, alice, "shop.example.com", &[], false).await;
    let refused = sqlx::query(
        "insert into bandwidth_samples (customer_id, site_id, hour, bytes_in, bytes_out)
         values ($1, $2, '2026-11-01T00:00:00Z', $3, 0)",
    )
    .bind(alice)
    .bind(site)
    .bind(most + 1)
    .execute(&app.pool)
    .await;
    assert!(refused.is_err());
}

// ---------------------------------------------------------------------------------------
// Refusals on keep-alive connections

/// One HTTP/1.1 response read from `stream`: its status, or `None` when the connection
/// closed or broke first.
async fn read_response(stream: &mut TcpStream) -> Option<u16> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte)).await {
            Ok(Ok(1)) => head.push(byte[0]),
            _ => return None,
        }
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await.ok()?;
    Some(status)
}

/// Sends the headers of an API call, waits, then the body, as Python `requests` may.
async fn call_in_two_parts(stream: &mut TcpStream, secret: &str, body: &str) -> std::io::Result<()> {
    let head = format!(
        "POST /api/Customer/getKeys HTTP/1.1\r\nHost: berth\r\nAuthorization: Bearer {secret}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.flush().await?;
    tokio::time::sleep(Duration::from_millis(5)).await;
    stream.write_all(body.as_bytes()).await?;
    stream.flush().await
}

#[tokio::test]
async fn a_refused_call_waits_for_the_body_and_keeps_the_connection() {
    let app = TestApp::spawn().await;
    let alice = app.create_customer("alice").await;
    let (_, secret) = key(&app, alice, KeyType::Standard).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    let body = format!(r#"{{"id": {}}}"#, alice.0);
    // An unknown key: nothing is answered before the body arrives.
    let head = format!(
        "POST /api/Customer/getKeys HTTP/1.1\r\nHost: berth\r\nAuthorization: Bearer berth_unknown\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut early = [0u8; 1];
    let answered_early = tokio::time::timeout(Duration::from_millis(300), stream.read(&mut early)).await;
    assert!(answered_early.is_err(), "answered before the body was sent");
    stream.write_all(body.as_bytes()).await.unwrap();
    assert_eq!(read_response(&mut stream).await, Some(401));
    // The same connection serves the next call.
    call_in_two_parts(&mut stream, &secret, &body).await.unwrap();
    assert_eq!(read_response(&mut stream).await, Some(200));
    // A body over the limit is drained and answered 413 on a connection that stays.
    let big = format!(r#"{{"id": 1, "pad": "{}"}}"#, "x".repeat(100 * 1024));
    call_in_two_parts(&mut stream, &secret, &big).await.unwrap();
    assert_eq!(read_response(&mut stream).await, Some(413));
    call_in_two_parts(&mut stream, &secret, &body).await.unwrap();
    assert_eq!(read_response(&mut stream).await, Some(200));
}

#[tokio::test]
async fn a_rate_limited_loop_on_one_connection_gets_200_or_429_every_time() {
    let mut web = WebConfig::new(None);
    web.api_rate_per_second = 2;
    web.api_burst = 5;
    let app = TestApp::spawn_with(web).await;
    let alice = app.create_customer("alice").await;
    let (_, secret) = key(&app, alice, KeyType::Standard).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let body = format!(r#"{{"id": {}}}"#, alice.0);
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    let mut seen = BTreeMap::new();
    for call in 0..120 {
        let sent = call_in_two_parts(&mut stream, &secret, &body).await;
        let status = match sent {
            Ok(()) => read_response(&mut stream).await,
            Err(_) => None,
        };
        let status = status.unwrap_or_else(|| panic!("call {call}: the connection broke ({seen:?})"));
        *seen.entry(status).or_insert(0) += 1;
    }
    assert_eq!(seen.keys().copied().collect::<Vec<_>>(), [200, 429], "{seen:?}");
}

// ---------------------------------------------------------------------------------------
// Address quota

async fn api_add(fx: &Fixture, family: &str) -> (StatusCode, Value) {
    fx.call_with(
        &fx.alice_key,
        "addIpAddress",
        json!({"id": fx.alice.0, "family": family}),
    )
    .await
}

#[tokio::test]
async fn parallel_api_calls_never_pass_the_address_quota() {
    let fx = Fixture::new().await;
    let calls = (0..30).map(|_| api_add(&fx, "ipv4"));
    let answers = futures_util::future::join_all(calls).await;
    let ok = answers.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert_eq!(ok, 16, "{answers:?}");
    for (status, body) in answers.iter().filter(|(s, _)| *s != StatusCode::OK) {
        assert_eq!(*status, StatusCode::CONFLICT, "{body}");
        assert_eq!(
            body["error"]["message"],
            "You hold 16 of your 16 IPv4 addresses; free one first, or ask support for a larger quota."
        );
    }
    let held: i64 = fx
        .app
        .scalar(&format!(
            "select count(*) from ip_pool where customer_id = {}",
            fx.alice.0
        ))
        .await;
    assert_eq!(held, 16);
    // Each family has its own quota.
    assert_eq!(api_add(&fx, "ipv6").await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_page_refuses_an_address_over_the_quota_with_the_quota_in_the_message() {
    let app = TestApp::spawn().await;
    let (client, alice) = app.signed_in_client("alice").await;
    sqlx::query("update customers set ipv6_quota = 2 where id = $1")
        .bind(alice)
        .execute(&app.pool)
        .await
        .unwrap();
    client.get("/addresses").await;
    for _ in 0..2 {
        let r = client.post_form("/addresses", &[("family", "ipv6")]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    }
    let r = client.post_form("/addresses", &[("family", "ipv6")]).await;
    assert!(r.status.is_client_error(), "{}", r.status);
    assert!(r.body.contains("You hold 2 of your 2 IPv6 addresses"), "{}", r.body);
    let page = client.get("/addresses").await;
    assert!(
        page.text("#address-quota")
            .contains("You hold 0 of your 16 IPv4 and 2 of your 2 IPv6 addresses"),
        "{}",
        page.body
    );
    let held: i64 = app
        .scalar(&format!("select count(*) from ip_pool where customer_id = {}", alice.0))
        .await;
    assert_eq!(held, 2);

    // Parallel posts of the form: never more than the quota.
    client.get("/addresses").await;
    let posts = (0..12).map(|_| client.post_form("/addresses", &[("family", "ipv4")]));
    let answers = futures_util::future::join_all(posts).await;
    let taken = answers.iter().filter(|r| r.status == StatusCode::SEE_OTHER).count();
    assert_eq!(taken, 12, "every post within the quota of 16 succeeds");
    sqlx::query("update customers set ipv4_quota = 15 where id = $1")
        .bind(alice)
        .execute(&app.pool)
        .await
        .unwrap();
    let posts = (0..12).map(|_| client.post_form("/addresses", &[("family", "ipv4")]));
    let answers = futures_util::future::join_all(posts).await;
    let taken = answers.iter().filter(|r| r.status == StatusCode::SEE_OTHER).count();
    assert_eq!(
        taken,
        3,
        "only up to the quota of 15: {:?}",
        answers
            .iter()
            .map(|r| (r.status, r.body.chars().take(300).collect::<String>()))
            .collect::<Vec<_>>()
    );
    for refused in answers.iter().filter(|r| r.status != StatusCode::SEE_OTHER) {
        assert!(
            refused.body.contains("You hold 15 of your 15 IPv4 addresses"),
            "{}",
            refused.body
        );
    }
    let held: i64 = app
        .scalar(&format!(
            "select count(*) from ip_pool where customer_id = {} and family(address) = 4",
            alice.0
        ))
        .await;
    assert_eq!(held, 15);
}

#[tokio::test]
async fn staff_with_support_write_set_the_quota_and_it_is_audited() {
    let fx = Fixture::new().await;
    let app = &fx.app;
    let reader = app.staff_client("reader", false).await;
    let page = reader.get(&format!("/staff/customers/{}", fx.alice.0)).await;
    let held: i64 = app
        .scalar(&format!(
            "select count(*) from ip_pool where customer_id = {} and family(address) = 4",
            fx.alice.0
        ))
        .await;
    assert_eq!(
        page.text("#address-quota"),
        format!("Holds {held} of 16 IPv4 and 0 of 16 IPv6 addresses of the pool."),
        "{}",
        page.body
    );
    let r = reader
        .post_form(
            &format!("/staff/customers/{}/address-quota", fx.alice.0),
            &[("ipv4_quota", "1"), ("ipv6_quota", "1")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let writer = app.staff_client("writer", true).await;
    writer.get(&format!("/staff/customers/{}", fx.alice.0)).await;
    let bad = writer
        .post_form(
            &format!("/staff/customers/{}/address-quota", fx.alice.0),
            &[("ipv4_quota", "-1"), ("ipv6_quota", "99999999999999999999")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    let r = writer
        .post_form(
            &format!("/staff/customers/{}/address-quota", fx.alice.0),
            &[("ipv4_quota", "1"), ("ipv6_quota", "20")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = writer.get(&format!("/staff/customers/{}", fx.alice.0)).await;
    assert!(
        page.body.contains(r#"data-kind="address_quota_changed""#),
        "{}",
        page.body
    );
    let by: String = app
        .scalar("select actor from activity where kind = 'address_quota_changed'")
        .await;
    assert!(by.contains("writer"), "{by}");

    assert_eq!(api_add(&fx, "ipv4").await.0, StatusCode::OK);
    let (status, body) = api_add(&fx, "ipv4").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("You hold 1 of your 1 IPv4")
    );
    // Another customer's page: not found, nothing changed.
    let r = writer
        .post_form(
            "/staff/customers/999999/address-quota",
            &[("ipv4_quota", "5"), ("ipv6_quota", "5")],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

// ---------------------------------------------------------------------------------------
// Connections

#[tokio::test]
async fn half_open_connections_do_not_hold_the_server_and_are_closed_after_the_timeout() {
    let limits = ServeLimits {
        header_read_timeout: Duration::from_secs(1),
        ..ServeLimits::default()
    };
    let app = TestApp::spawn_limited(WebConfig::new(None), limits).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut slow = Vec::new();
    for _ in 0..260 {
        let mut s = TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: berth\r\nX-Slow: ")
            .await
            .unwrap();
        slow.push(s);
    }
    let started = Instant::now();
    let r = reqwest::Client::new()
        .get(format!("{}/healthz", app.base))
        .timeout(Duration::from_secs(3))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        started.elapsed() < Duration::from_millis(800),
        "{:?}",
        started.elapsed()
    );

    tokio::time::sleep(Duration::from_millis(1500)).await;
    for (n, s) in slow.iter_mut().enumerate() {
        let mut buf = [0u8; 256];
        let closed = tokio::time::timeout(Duration::from_secs(2), async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return true,
                    Ok(_) => continue, // a 408 or similar before the close
                }
            }
        })
        .await;
        assert_eq!(closed, Ok(true), "slow connection {n} is still open");
    }
}

#[tokio::test]
async fn connections_over_the_cap_wait_for_a_free_slot() {
    let limits = ServeLimits {
        header_read_timeout: Duration::from_secs(1),
        max_connections: 4,
        ..ServeLimits::default()
    };
    let app = TestApp::spawn_limited(WebConfig::new(None), limits).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut slow = Vec::new();
    for _ in 0..4 {
        let mut s = TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
        slow.push(s);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let r = reqwest::Client::new()
        .get(format!("{}/healthz", app.base))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Served only once the header timeout closed one of the four.
    assert!(
        started.elapsed() >= Duration::from_millis(700),
        "{:?}",
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------------
// Fuzz: every form, every method

/// Every table's rows but the sessions' (signing in and loading pages changes those), to
/// compare before and after the fuzz.
async fn checksum(app: &TestApp) -> BTreeMap<String, String> {
    let tables: Vec<String> = sqlx::query_scalar(
        "select table_name::text from information_schema.tables
         where table_schema = 'public' and table_type = 'BASE TABLE' and table_name not like '%session%'
           and table_name <> '_sqlx_migrations' order by 1",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let mut all = BTreeMap::new();
    for table in tables {
        let sum: Option<String> = sqlx::query_scalar(&format!(
            "select md5(string_agg((to_jsonb(t) - 'last_used_at' - 'last_used_address')::text, ',' order by t::text)) from {table} t"
        ))
        .fetch_one(&app.pool)
        .await
        .unwrap();
        all.insert(table, sum.unwrap_or_default());
    }
    all
}

/// The POST routes of the pages, by pattern; `the_post_route_list_is_the_routers` keeps it
/// equal to the routes the page routers declare, and the fuzz posts to each of them.
const POST_ROUTES: [&str; 73] = [
    "/account/cancel",
    "/account/email",
    "/account/name",
    "/account/password",
    "/account/pin",
    "/account/security/passkeys/confirm/finish",
    "/account/security/passkeys/confirm/options",
    "/account/security/passkeys/finish",
    "/account/security/passkeys/options",
    "/account/security/passkeys/{id}/delete",
    "/account/security/passkeys/{id}/rename",
    "/account/security/recovery-codes",
    "/account/security/totp",
    "/account/security/totp/confirm",
    "/account/security/totp/off",
    "/account/sessions/others/sign-out",
    "/account/sessions/{id}/sign-out",
    "/acls/{id}",
    "/acls/{id}/delete",
    "/addresses",
    "/addresses/{address}/free",
    "/addresses/{address}/reverse",
    "/contact-method-notices/{id}/delete",
    "/contact-methods/{id}/delete",
    "/contact-methods/{id}/notices",
    "/contact-methods/{id}/secret/dismiss",
    "/contacts",
    "/contacts/{id}/delete",
    "/contacts/{id}/methods",
    "/dns-records/{id}",
    "/dns-records/{id}/delete",
    "/email-undo",
    "/ftp-users",
    "/ftp-users/{id}",
    "/ftp-users/{id}/delete",
    "/keys",
    "/keys/{id}/acls",
    "/keys/{id}/revoke",
    "/login",
    "/login/passkey/finish",
    "/login/passkey/options",
    "/login/second-factor",
    "/login/second-factor/passkey/finish",
    "/login/second-factor/passkey/options",
    "/logout",
    "/notices/{id}/ack",
    "/dashboard/notices/{id}/ack",
    "/password-reset",
    "/password-reset/new",
    "/settings",
    "/sites/{id}/records",
    "/sites/{id}/verify",
    "/sites/{id}/{action}",
    "/staff/customers/{id}/address-quota",
    "/staff/customers/{id}/cancellations/{request}/complete",
    "/staff/customers/{id}/impersonate",
    "/staff/customers/{id}/pin",
    "/staff/customers/{id}/roles",
    "/staff/customers/{id}/sites/{site}/restore",
    "/staff/impersonation/end",
    "/staff/keys",
    "/staff/keys/{id}/revoke",
    "/staff/login",
    "/staff/logout",
    "/staff/notices",
    "/staff/security/recovery-codes",
    "/staff/security/totp",
    "/staff/security/totp/confirm",
    "/staff/sessions/others/sign-out",
    "/staff/sessions/{id}/sign-out",
    "/wizard/reset",
    "/wizard/review",
    "/wizard/{step}",
];

/// The routes with `post(` that the areas' page routers (`src/<area>/*.rs`, apart from the
/// API's `api.rs`) declare.
fn declared_post_routes() -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files = std::fs::read_dir(&src)
        .unwrap()
        .filter_map(|area| std::fs::read_dir(area.unwrap().path()).ok())
        .flatten()
        .map(|file| file.unwrap().path())
        .filter(|file| file.extension().is_some_and(|e| e == "rs") && !file.ends_with("api.rs"));
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for (at, _) in text.match_indices(".route(") {
            let rest = &text[at + ".route(".len()..];
            let mut depth = 1;
            let end = rest
                .char_indices()
                .find(|(_, c)| {
                    depth += i32::from(*c == '(') - i32::from(*c == ')');
                    depth == 0
                })
                .map_or(rest.len(), |(i, _)| i);
            let call = &rest[..end];
            let Some(path) = call.split('"').nth(1) else {
                continue;
            };
            if call.contains("post(") && path.starts_with('/') {
                found.insert(path.to_owned());
            }
        }
    }
    found
}

#[test]
fn the_post_route_list_is_the_routers() {
    let listed: BTreeSet<String> = POST_ROUTES.iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(declared_post_routes(), listed);
}

/// A form's action as a route pattern: numbers and addresses become `{…}`.
fn pattern(action: &str) -> String {
    if action.starts_with("/staff/customers/") && action.contains("/cancellations/") {
        return "/staff/customers/{id}/cancellations/{request}/complete".to_owned();
    }
    if action.starts_with("/staff/customers/") && action.ends_with("/restore") {
        return "/staff/customers/{id}/sites/{site}/restore".to_owned();
    }
    let parts: Vec<String> = action
        .split('?')
        .next()
        .unwrap_or("")
        .split('/')
        .enumerate()
        .map(|(i, part)| {
            if part.parse::<i64>().is_ok() {
                "{id}".to_owned()
            } else if part.parse::<std::net::IpAddr>().is_ok() {
                "{address}".to_owned()
            } else if i == 2 && action.starts_with("/wizard/") && !["reset", "review"].contains(&part) {
                "{step}".to_owned()
            } else if i == 3 && action.starts_with("/sites/") {
                "{action}".to_owned()
            } else {
                part.to_owned()
            }
        })
        .collect();
    parts.join("/")
}

/// The post forms of a page: (action, fields with their default values).
fn forms(body: &str) -> Vec<(String, Vec<(String, String)>)> {
    let doc = Html::parse_document(body);
    let form_sel = Selector::parse(r#"form[method="post"]"#).unwrap();
    let field_sel = Selector::parse("input[name], textarea[name], select[name]").unwrap();
    let option_sel = Selector::parse("option").unwrap();
    doc.select(&form_sel)
        .map(|form| {
            let action = form.value().attr("action").unwrap_or("").to_owned();
            let fields = form
                .select(&field_sel)
                .map(|f| {
                    let name = f.value().attr("name").unwrap().to_owned();
                    let value = match f.value().name() {
                        "textarea" => f.text().collect(),
                        "select" => f
                            .select(&option_sel)
                            .next()
                            .and_then(|o| o.value().attr("value"))
                            .unwrap_or("")
                            .to_owned(),
                        _ => f.value().attr("value").unwrap_or("").to_owned(),
                    };
                    (name, value)
                })
                .collect();
            (action, fields)
        })
        .collect()
}

/// A form to fuzz: whether staff sees it, the page it is on, its action and its fields.
type FoundForm = (bool, String, String, Vec<(String, String)>);

/// Text that is bad in any field, raw (already URL-encoded) so it can hold invalid UTF-8.
fn bad_form_values() -> Vec<String> {
    vec![
        "x%00y".to_owned(),
        "%00".to_owned(),
        "%1B%5B31m".to_owned(),
        "%FF%FE".to_owned(),
        "ab%C3%28cd".to_owned(),
        "x".repeat(1024 * 1024),
        "-1%00".to_owned(),
        "99999999999999999999999999999999%00".to_owned(),
    ]
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Signs in Alice with something in every area, so that every form the pages have shows.
async fn populated(app: &TestApp) -> Client {
    let (client, alice) = app.signed_in_client("alice").await;
    let (key_id, _) = key(app, alice, KeyType::Standard).await;
    sqlx::query("insert into api_key_acls (key_id, customer_id, network) values ($1, $2, '10.0.0.0/8')")
        .bind(key_id)
        .bind(alice)
        .execute(&app.pool)
        .await
        .unwrap();
    insert_site_with_job(app, alice, "shop.example.com", &[], false).await;
    client.get("/addresses").await;
    client.post_form("/addresses", &[("family", "ipv4")]).await;
    client.get("/contacts").await;
    client.post_form("/contacts", &[("name", "Ops")]).await;
    sqlx::query(
        "insert into notices (customer_id, notice_type_id, severity, title, body)
         values ($1, 'billing', 'info', 'Hello', 'Body')",
    )
    .bind(alice)
    .execute(&app.pool)
    .await
    .unwrap();
    client
}

#[tokio::test]
async fn every_page_form_refuses_bad_input_without_a_5xx_or_a_write() {
    let app = TestApp::spawn().await;
    let client = populated(&app).await;
    let staff = app.staff_client("writer", true).await;

    // Crawl the pages (links from the layout and their links, once), collecting forms.
    let alice_id: i64 = app.scalar("select id from customers where username = 'alice'").await;
    let mut to_visit: Vec<(bool, String)> = vec![
        (false, "/".to_owned()),
        (false, "/wizard/site".to_owned()),
        (false, "/account/cancel".to_owned()),
        (true, "/staff".to_owned()),
        (true, format!("/staff/customers/{alice_id}")),
        (true, "/staff/notices".to_owned()),
    ];
    let mut visited = BTreeSet::new();
    let mut found: Vec<FoundForm> = Vec::new();
    while let Some((as_staff, path)) = to_visit.pop() {
        if visited.len() > 80 || !visited.insert((as_staff, path.clone())) {
            continue;
        }
        let who = if as_staff { &staff } else { &client };
        let r = who.get(&path).await;
        if r.status != StatusCode::OK {
            continue;
        }
        for (action, fields) in forms(&r.body) {
            found.push((as_staff, path.clone(), action, fields));
        }
        let links = Selector::parse("a[href]").unwrap();
        for href in r.html().select(&links).filter_map(|a| a.value().attr("href")) {
            if href.starts_with('/')
                && !href.starts_with("/static")
                && !href.starts_with("/api")
                && href.starts_with("/staff") == as_staff
            {
                to_visit.push((as_staff, href.to_owned()));
            }
        }
    }
    let patterns: BTreeSet<String> = found.iter().map(|(_, _, a, _)| pattern(a)).collect();
    for p in &patterns {
        assert!(
            POST_ROUTES.contains(&p.as_str()),
            "a form posts to {p}, which the list does not have"
        );
    }
    assert!(patterns.len() >= 20, "only {patterns:?} found");

    let before = checksum(&app).await;
    let started = Instant::now();
    let mut posts = 0;
    // Every route, found on a page or not, with a bad field the handler does not know, on
    // objects that do not exist (a handler that reads no form acts on its path alone). The
    // sign-outs are left out: they read no form and end the session the fuzz uses, or (sign
    // out everywhere else) every other one, which moves the account's auth version on; so is
    // starting a TOTP enrolment (`…/totp`), which reads no form and stores a new secret.
    let mut targets = found.clone();
    for route in POST_ROUTES.into_iter().filter(|r| {
        !r.ends_with("logout")
            && !r.ends_with("impersonation/end")
            && !r.ends_with("others/sign-out")
            && !r.ends_with("/totp")
    }) {
        let action = route
            .replace("{id}", "999999")
            .replace("{request}", "999999")
            .replace("{address}", "203.0.113.250")
            .replace("{step}", "site")
            .replace("{site}", "999999")
            .replace("{action}", "stop");
        let staff_route = route.starts_with("/staff");
        targets.push((
            staff_route,
            "(none)".to_owned(),
            action.clone(),
            vec![
                ("csrf_token".to_owned(), String::new()),
                ("x".to_owned(), String::new()),
            ],
        ));
    }
    for (as_staff, page, action, fields) in &targets {
        if action.ends_with("logout") || action.ends_with("impersonation/end") || action.ends_with("/totp") {
            continue;
        }
        let who = if *as_staff { &staff } else { &client };
        for (target, _) in fields.iter().filter(|(n, _)| n != "csrf_token") {
            for bad in bad_form_values() {
                // The page again, for a fresh token and form token.
                let token = who.token().await;
                let body: Vec<String> = fields
                    .iter()
                    .map(|(name, value)| {
                        let value = if name == "csrf_token" {
                            urlencode(&token)
                        } else if name == target {
                            bad.clone()
                        } else {
                            urlencode(value)
                        };
                        format!("{}={value}", urlencode(name))
                    })
                    .collect();
                let r = who
                    .http
                    .post(format!("{}{action}", who.base))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body.join("&"))
                    .send()
                    .await;
                posts += 1;
                let Ok(r) = r else {
                    // A body over the drain limit may be cut off; that is not a 5xx.
                    assert!(bad.len() > 1024 * 1024 - 1, "{action} {target}: connection error");
                    continue;
                };
                let status = r.status();
                assert!(
                    !status.is_server_error(),
                    "{action} ({page}) {target}={}: {status}",
                    &bad[..bad.len().min(40)]
                );
            }
        }
    }
    assert_eq!(checksum(&app).await, before, "a refused form wrote something");
    eprintln!(
        "form fuzz: {posts} posts to {} forms of {} routes",
        targets.len(),
        patterns.len()
    );
    assert!(posts > 100, "{posts}");
    assert!(started.elapsed() < Duration::from_secs(50), "{:?}", started.elapsed());
}

/// Values of every kind that no argument accepts.
fn bad_json_values() -> Vec<Value> {
    vec![
        json!("x\u{0}y"),
        json!("\u{1b}[31m"),
        Value::String("x".repeat(1024 * 1024)),
        json!(-1),
        json!(-9223372036854775808i64),
        json!(18446744073709551615u64),
        json!(1e300),
        json!(true),
        json!([1, "x"]),
        json!({"a": {"b": "\u{0}"}}),
    ]
}

#[tokio::test]
async fn every_api_method_refuses_bad_arguments_without_a_5xx_or_a_write() {
    let fx = Fixture::new().await;
    let doc = fx.document().await;
    let schemas = doc["components"]["schemas"].clone();
    let resolve = |schema: &Value| -> Value {
        match schema["$ref"].as_str() {
            Some(r) => schemas[r.trim_start_matches("#/components/schemas/")].clone(),
            None => schema.clone(),
        }
    };
    let before = fx.snapshot().await;
    let everything_before = checksum(&fx.app).await;
    let started = Instant::now();
    let mut calls = 0;
    let paths = doc["paths"].as_object().unwrap();
    assert_eq!(
        paths.len(),
        crate::api::SEED_METHODS.len() + crate::api::BERTH_METHODS.len()
    );
    for (path, item) in paths {
        let method = path.rsplit('/').next().unwrap();
        let schema = resolve(&item["post"]["requestBody"]["content"]["application/json"]["schema"]);
        let properties: Vec<String> = schema["properties"]
            .as_object()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        // Whole bodies that are not an object of arguments.
        let raw_bodies: Vec<(&[u8], StatusCode)> = vec![
            (b"[1, \"10.1.2.3\", 16]", StatusCode::UNPROCESSABLE_ENTITY),
            (b"\"x\"", StatusCode::UNPROCESSABLE_ENTITY),
            (b"{\"id\": \"\xff\xfe\"}", StatusCode::BAD_REQUEST),
            (b"{\"id\": 1", StatusCode::BAD_REQUEST),
            (b"\x00", StatusCode::BAD_REQUEST),
        ];
        for (raw, expected) in raw_bodies {
            let r = fx
                .http
                .post(format!("{}{path}", fx.app.base))
                .bearer_auth(&fx.alice_key)
                .header("content-type", "application/json")
                .body(raw)
                .send()
                .await
                .unwrap();
            calls += 1;
            assert_eq!(r.status(), expected, "{method} {}", String::from_utf8_lossy(raw));
        }
        for property in &properties {
            for bad in bad_json_values() {
                // The other arguments as Alice would pass them, where the name says.
                let mut args = serde_json::Map::new();
                for other in &properties {
                    let value = if other == property {
                        bad.clone()
                    } else if other == "id" || other == "customerId" {
                        json!(fx.alice.0)
                    } else {
                        continue;
                    };
                    args.insert(other.clone(), value);
                }
                let (status, body) = fx.call_with(&fx.alice_key, method, Value::Object(args.clone())).await;
                calls += 1;
                assert!(!status.is_server_error(), "{method} {property}: {status} {body}");
                assert!(status.is_client_error(), "{method} {property}={bad}: {status} {body}");
                let message = body["error"]["message"].as_str().unwrap_or("");
                assert_eq!(rust_words(message), None, "{method} {property}: {message}");
            }
        }
    }
    assert_eq!(fx.snapshot().await, before, "a refused call changed Alice's data");
    assert_eq!(
        checksum(&fx.app).await,
        everything_before,
        "a refused call wrote something"
    );
    eprintln!("API fuzz: {calls} calls");
    assert!(calls > 300, "{calls}");
    assert!(started.elapsed() < Duration::from_secs(50), "{:?}", started.elapsed());
}
