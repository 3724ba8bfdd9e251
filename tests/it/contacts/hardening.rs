//! Issue 13, webhooks: no server-side request forgery (local, private and reserved
//! addresses refused when a webhook is added and again when it is sent, through names that
//! resolve to them too; no redirects followed; only coarse errors shown), webhook URLs kept
//! out of Activity and the staff audit log, and fair deliveries (one customer's stalled
//! receivers do not delay another's notice; at most ten webhooks per customer).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use berth::delivery::{DeliveryConfig, PER_CUSTOMER, run_once};
use serde_json::json;

use crate::api::Fixture;
use crate::delivery::{Receiver, contact, delivery_row, loopback, method, publish_outage};
use crate::helpers::{TestApp, assert_field_error};

/// Hosts that are this machine or a private, link-local or reserved network.
const LOCAL_URLS: [&str; 9] = [
    "https://127.0.0.1/hook",
    "https://[::1]/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://localhost/hook",
    "https://api.localhost:8443/hook",
    "https://169.254.169.254/latest/meta-data/",
    "https://10.0.0.1/hook",
    "https://192.168.1.1/hook",
    "https://127.1/hook",
];

/// A receiver that accepts connections and never answers. Answers the most connections it
/// had open at once (a connection ends when Berth gives up and closes it), and its URL.
async fn stalled_receiver() -> (Arc<AtomicUsize>, String) {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let most = Arc::new(AtomicUsize::new(0));
    let open = Arc::new(AtomicUsize::new(0));
    let max = most.clone();
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            let now = open.fetch_add(1, Ordering::SeqCst) + 1;
            max.fetch_max(now, Ordering::SeqCst);
            let open = open.clone();
            tokio::spawn(async move {
                // Read the request and whatever follows, never answer, until Berth hangs up.
                let mut buf = [0u8; 4096];
                while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
                open.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    (most, url)
}

fn config(allow: &[sqlx::types::ipnetwork::IpNetwork]) -> DeliveryConfig {
    DeliveryConfig::new(None, "berth@berth.example")
        .unwrap()
        .allow_webhooks_to(allow)
        .unwrap()
}

#[tokio::test]
async fn webhooks_to_local_or_private_hosts_are_refused_when_added_on_the_page() {
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("alice").await;
    client.get("/contacts").await;
    let r = client.post_form("/contacts", &[("name", "Ops")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let contact: i64 = app.scalar("select max(id) from contacts").await;
    let path = format!("/contacts/{contact}/methods");
    for url in LOCAL_URLS {
        for htmx in [false, true] {
            let fields = [("method_id", "webhook"), ("options[url]", url)];
            let r = if htmx {
                client.post_htmx(&path, &fields).await
            } else {
                client.post_form(&path, &fields).await
            };
            assert_field_error(&r, "options[url]", "public host");
        }
    }
    let methods: i64 = app.scalar("select count(*) from contact_methods").await;
    assert_eq!(methods, 0, "nothing was written");
    // A public host is still fine.
    let r = client
        .post_form(
            &path,
            &[
                ("method_id", "webhook"),
                ("options[url]", "https://hooks.example.com/berth"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
}

#[tokio::test]
async fn webhooks_to_local_or_private_hosts_are_refused_when_added_over_the_api() {
    let fx = Fixture::new().await;
    let contact = fx
        .ok("createContact", json!({"customerId": fx.alice.0, "name": "Ops"}))
        .await["id"]
        .as_i64()
        .unwrap();
    for url in LOCAL_URLS {
        let (status, body) = fx
            .call_with(
                &fx.alice_key,
                "createContactMethod",
                json!({"contactId": contact, "methodId": "webhook", "options": {"url": url}}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {body}");
        let message = body["error"]["fields"]["options.url"].as_str().unwrap_or_default();
        assert!(message.contains("public host"), "{url}: {body}");
    }
    let methods: i64 = fx.app.scalar("select count(*) from contact_methods").await;
    assert_eq!(methods, 0);
}

#[tokio::test]
async fn a_name_or_address_that_reaches_loopback_is_refused_at_send_time_unless_allowed() {
    let app = TestApp::spawn().await;
    let alice = app.create_customer("alice").await;
    let (receiver, hook_url) = Receiver::start().await;
    let port = hook_url
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let ops = contact(&app, alice, "Ops").await;
    // Stored as they might have been before the check on creation, or by a name that
    // resolves to loopback (`localhost`), which no check on creation can see.
    let by_name = method(
        &app,
        alice,
        ops,
        "webhook",
        json!({"url": format!("http://localhost:{port}/hook")}),
    )
    .await;
    let literal = method(&app, alice, ops, "webhook", json!({"url": hook_url})).await;
    let mapped = method(
        &app,
        alice,
        ops,
        "webhook",
        json!({"url": format!("http://[::ffff:127.0.0.1]:{port}/hook")}),
    )
    .await;
    publish_outage(&app, Some(alice), "Not to loopback").await;

    assert_eq!(run_once(&app.pool, &config(&[])).await.unwrap(), 3);
    assert_eq!(
        receiver.hits.load(Ordering::SeqCst),
        0,
        "no request reached the receiver"
    );
    for m in [by_name, literal, mapped] {
        let row = delivery_row(&app, m).await;
        assert_eq!(row.last_error.as_deref(), Some("address not allowed"), "{row:?}");
        assert!(!row.sent);
    }
    // A literal address never becomes allowed by itself: it fails for good.
    assert_eq!(delivery_row(&app, literal).await.status, "failed");
    let client = app.client();
    client.sign_in("alice", crate::helpers::PASSWORD).await;
    let page = client.get("/notices").await;
    assert!(page.body.contains("address not allowed"), "{}", page.body);

    // The operator's allow list lets exactly those networks through.
    assert_eq!(
        delivery_row(&app, by_name).await.status,
        "pending",
        "a name may be pointed elsewhere later"
    );
    let second = publish_outage(&app, Some(alice), "Allowed now").await;
    run_once(&app.pool, &config(&loopback())).await.unwrap();
    let sent: Vec<i64> = sqlx::query_scalar(
        "select contact_method_id from deliveries where notice_id = $1 and status = 'sent' order by contact_method_id",
    )
    .bind(second.0)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert!(sent.contains(&literal) && sent.contains(&mapped), "{sent:?}");
    assert!(receiver.accepted().len() >= 2);
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let app = TestApp::spawn().await;
    let alice = app.create_customer("alice").await;
    let (receiver, hook_url) = Receiver::start().await;
    // A receiver that redirects to the other one (which would accept the post).
    let router = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let to = hook_url.clone();
            async move { (StatusCode::TEMPORARY_REDIRECT, [(axum::http::header::LOCATION, to)]) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let redirecting = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let ops = contact(&app, alice, "Ops").await;
    let m = method(&app, alice, ops, "webhook", json!({"url": redirecting})).await;
    publish_outage(&app, Some(alice), "Redirected").await;

    assert_eq!(run_once(&app.pool, &config(&loopback())).await.unwrap(), 1);
    assert_eq!(receiver.hits.load(Ordering::SeqCst), 0, "the redirect was not followed");
    let row = delivery_row(&app, m).await;
    assert_eq!(row.last_error.as_deref(), Some("receiver answered 307"));
    assert!(!row.sent);
}

#[tokio::test]
async fn the_customer_sees_a_coarse_reason_never_socket_or_tls_detail() {
    let app = TestApp::spawn().await;
    let alice = app.create_customer("alice").await;
    let (failing, failing_url) = Receiver::start().await;
    failing.fail_next.store(usize::MAX, Ordering::SeqCst);
    let (_plain, plain_url) = Receiver::start().await;
    let (_stalled, stalled_url) = stalled_receiver().await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let ops = contact(&app, alice, "Ops").await;
    let cases = [
        // Nothing listens: "connection refused" on main.
        (format!("http://{closed}/hook"), "could not connect"),
        // TLS to a plain HTTP server: a TLS error on main.
        (plain_url.replace("http://", "https://"), "could not connect"),
        (failing_url, "receiver answered 500"),
        (stalled_url, "timed out"),
    ];
    let mut methods = Vec::new();
    for (url, _) in &cases {
        methods.push(method(&app, alice, ops, "webhook", json!({"url": url})).await);
    }
    publish_outage(&app, Some(alice), "Coarse").await;
    assert_eq!(run_once(&app.pool, &config(&loopback())).await.unwrap(), cases.len());
    for ((url, expected), m) in cases.iter().zip(methods) {
        let row = delivery_row(&app, m).await;
        assert_eq!(row.last_error.as_deref(), Some(*expected), "{url}");
    }
    let client = app.client();
    client.sign_in("alice", crate::helpers::PASSWORD).await;
    let page = client.get("/notices").await;
    for (_, expected) in &cases {
        assert!(page.body.contains(expected), "{expected}: {}", page.body);
    }
    let lower = page.body.to_lowercase();
    for detail in [
        "refused",
        "tls",
        "handshake",
        "os error",
        "certificate",
        "connection",
        "127.0.0.1",
    ] {
        assert!(!lower.contains(detail), "{detail} shown: {}", page.body);
    }
}

#[tokio::test]
async fn webhook_urls_are_kept_out_of_activity_and_the_staff_audit_log() {
    let app = TestApp::spawn().await;
    let (client, alice) = app.signed_in_client("alice").await;
    client.get("/contacts").await;
    client.post_form("/contacts", &[("name", "Ops")]).await;
    let contact: i64 = app.scalar("select max(id) from contacts").await;
    let secret_url = "https://hooks.example.com/services/T000/B000/s3cr3tpath?token=t0k3n";
    let r = client
        .post_form(
            &format!("/contacts/{contact}/methods"),
            &[("method_id", "webhook"), ("options[url]", secret_url)],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let method: i64 = app.scalar("select max(id) from contact_methods").await;
    let r = client
        .post_form(
            &format!("/contact-methods/{method}/notices"),
            &[("notice_type_id", "outage"), ("options[min_severity]", "warning")],
        )
        .await;
    assert!(r.status.is_redirection() || r.status.is_success(), "{}", r.body);
    let subscription: i64 = app.scalar("select max(id) from contact_method_notices").await;
    let r = client
        .post_form(&format!("/contact-method-notices/{subscription}/delete"), &[])
        .await;
    assert!(r.status.is_redirection() || r.status.is_success(), "{}", r.body);
    let r = client
        .post_form(&format!("/contact-methods/{method}/delete"), &[])
        .await;
    assert!(r.status.is_redirection() || r.status.is_success(), "{}", r.body);

    let details: Vec<(String, String)> =
        sqlx::query_as("select kind, detail from activity where customer_id = $1 and kind like 'contact%' order by id")
            .bind(alice)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    let kinds: Vec<&str> = details.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "contact_created",
            "contact_method_added",
            "contact_subscribed",
            "contact_unsubscribed",
            "contact_method_deleted"
        ]
    );
    for (kind, detail) in &details[1..] {
        assert!(detail.contains("webhook https://hooks.example.com"), "{kind}: {detail}");
        for secret in ["s3cr3t", "t0k3n", "/services"] {
            assert!(!detail.contains(secret), "{kind}: {detail}");
        }
    }
    let activity = client.get("/activity").await;
    assert!(activity.body.contains("https://hooks.example.com"), "{}", activity.body);
    assert!(!activity.body.contains("s3cr3t"), "{}", activity.body);
    let staff = app.staff_client("sam", false).await;
    let audit = staff.get(&format!("/staff/customers/{}", alice.0)).await;
    assert_eq!(audit.status, StatusCode::OK);
    assert!(audit.body.contains("https://hooks.example.com"), "{}", audit.body);
    assert!(
        !audit.body.contains("s3cr3t") && !audit.body.contains("t0k3n"),
        "{}",
        audit.body
    );

    // Over the API too.
    let key = crate::api::key(&app, alice, berth::identity::key::KeyType::Standard)
        .await
        .1;
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/api/Customer/createContactMethod", app.base))
        .bearer_auth(&key)
        .json(&json!({"contactId": contact, "methodId": "webhook", "options": {"url": secret_url}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let leaked: i64 = app
        .scalar("select count(*) from activity where detail like '%s3cr3t%' or detail like '%t0k3n%'")
        .await;
    assert_eq!(leaked, 0);
}

#[tokio::test]
async fn a_customer_has_at_most_ten_webhooks() {
    let fx = Fixture::new().await;
    let contact = fx
        .ok("createContact", json!({"customerId": fx.alice.0, "name": "Ops"}))
        .await["id"]
        .as_i64()
        .unwrap();
    let hook = |i: usize| json!({"contactId": contact, "methodId": "webhook", "options": {"url": format!("https://hooks.example.com/{i}")}});
    for i in 0..10 {
        fx.ok("createContactMethod", hook(i)).await;
    }
    let (status, body) = fx.call_with(&fx.alice_key, "createContactMethod", hook(10)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let message = body["error"]["fields"]["options.url"].as_str().unwrap();
    assert!(message.contains("10 webhooks"), "{message}");
    // Other methods are not limited by it.
    fx.ok(
        "createContactMethod",
        json!({"contactId": contact, "methodId": "email", "options": {"address": "ops@example.com"}}),
    )
    .await;

    // The page says the same, on the field.
    let client = fx.app.client();
    client.sign_in("alice", crate::helpers::PASSWORD).await;
    client.get("/contacts").await;
    let r = client
        .post_form(
            &format!("/contacts/{contact}/methods"),
            &[
                ("method_id", "webhook"),
                ("options[url]", "https://hooks.example.com/page"),
            ],
        )
        .await;
    assert_field_error(&r, "options[url]", "10 webhooks");
    let webhooks: i64 = fx
        .app
        .scalar("select count(*) from contact_methods where method_id = 'webhook'")
        .await;
    assert_eq!(webhooks, 10);

    // Another customer has their own ten.
    let (_, bobs) = fx
        .call_with(
            &fx.bob_key,
            "createContact",
            json!({"customerId": fx.bob.0, "name": "Ops"}),
        )
        .await;
    let bobs = &bobs["result"];
    let (status, body) = fx
        .call_with(
            &fx.bob_key,
            "createContactMethod",
            json!({"contactId": bobs["id"], "methodId": "webhook", "options": {"url": "https://hooks.example.com/bob"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_claim_takes_a_few_of_each_customer_round_by_round() {
    let app = TestApp::spawn().await;
    let alice = app.create_customer("alice").await;
    let bob = app.create_customer("bob").await;
    let a = contact(&app, alice, "Ops").await;
    for i in 0..30 {
        method(
            &app,
            alice,
            a,
            "webhook",
            json!({"url": format!("https://a{i}.example.com/")}),
        )
        .await;
    }
    let b = contact(&app, bob, "Ops").await;
    method(&app, bob, b, "webhook", json!({"url": "https://b.example.com/"})).await;
    publish_outage(&app, Some(alice), "Alice first").await;
    publish_outage(&app, Some(bob), "Bob second").await;

    let claimed = berth::delivery::model::claim(&app.pool, 10, false, 150, 8, PER_CUSTOMER)
        .await
        .unwrap();
    let of = |c: berth::identity::CustomerId| claimed.iter().filter(|d| d.customer_id == c.0).count();
    assert_eq!((of(alice), of(bob)), (PER_CUSTOMER as usize, 1));
    // Alice's in flight count against her next claim, in any worker.
    let again = berth::delivery::model::claim(&app.pool, 10, false, 150, 8, PER_CUSTOMER)
        .await
        .unwrap();
    assert!(again.is_empty(), "{} claimed", again.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_stalled_webhooks_of_one_customer_do_not_delay_anothers_notice() {
    let app = TestApp::spawn().await;
    let alice = app.create_customer("alice").await;
    let bob = app.create_customer("bob").await;
    let (stalled, stalled_url) = stalled_receiver().await;
    let (fast, fast_url) = Receiver::start().await;
    let a = contact(&app, alice, "Ops").await;
    for i in 0..30 {
        method(
            &app,
            alice,
            a,
            "webhook",
            json!({"url": format!("{stalled_url}?n={i}")}),
        )
        .await;
    }
    let b = contact(&app, bob, "Ops").await;
    method(&app, bob, b, "webhook", json!({"url": fast_url})).await;
    // Alice's 30 deliveries are older, so on main they went first.
    publish_outage(&app, Some(alice), "Alice's outage").await;
    publish_outage(&app, Some(bob), "Bob's outage").await;

    let mut config = config(&loopback());
    config.poll = Duration::from_millis(50);
    let started = Instant::now();
    let worker = berth::delivery::spawn(app.pool.clone(), Arc::new(config));
    while fast.accepted().is_empty() && started.elapsed() < Duration::from_secs(40) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = started.elapsed();
    // Before Alice's first attempts time out (5 s), her receiver has had her share at once.
    tokio::time::sleep(Duration::from_secs(3).saturating_sub(started.elapsed())).await;
    let held = stalled.load(Ordering::SeqCst);
    // Long enough for those to time out and the next ones to start.
    tokio::time::sleep(Duration::from_secs(8).saturating_sub(started.elapsed())).await;
    worker.abort();
    assert_eq!(fast.accepted().len(), 1, "Bob's notice arrived");
    assert!(took < Duration::from_secs(5), "Bob's notice took {took:?}");
    let attempted: i64 = sqlx::query_scalar("select count(*) from deliveries where customer_id = $1 and attempts > 0")
        .bind(alice)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(attempted > PER_CUSTOMER, "Alice's deliveries went on: {attempted}");
    assert_eq!(
        held, PER_CUSTOMER as usize,
        "the most of Alice's deliveries in flight at once"
    );
}

#[tokio::test]
async fn the_migration_cuts_webhook_urls_already_in_activity() {
    let app = TestApp::spawn().await;
    let alice = app.create_customer("alice").await;
    let old = [
        (
            "contact_method_added",
            "Ops: webhook https://hooks.slack.com/services/T0/B0/s3cr3t?token=t0k3n",
            "Ops: webhook https://hooks.slack.com",
        ),
        (
            "contact_subscribed",
            "Ops: webhook https://[2606:4700::1]:8443/s3cr3t subscribed to outage from info",
            "Ops: webhook https://[2606:4700::1] subscribed to outage from info",
        ),
        (
            "contact_method_deleted",
            "Ops: email ops@example.com",
            "Ops: email ops@example.com",
        ),
    ];
    for (kind, detail, _) in old {
        sqlx::query("insert into activity (customer_id, actor, kind, detail) values ($1, 'alice', $2, $3)")
            .bind(alice)
            .bind(kind)
            .bind(detail)
            .execute(&app.pool)
            .await
            .unwrap();
    }
    // The migration's statement, as written in its file (the migration itself ran before
    // these rows existed).
    let file = include_str!("../../../migrations/20261130000004_webhook_hardening.sql");
    let start = file.find("update activity").unwrap();
    let statement = &file[start..start + file[start..].find(';').unwrap()];
    sqlx::query(statement).execute(&app.pool).await.unwrap();
    let now: Vec<String> =
        sqlx::query_scalar("select detail from activity where customer_id = $1 and kind like 'contact%' order by id")
            .bind(alice)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    let expected: Vec<&str> = old.iter().map(|(_, _, after)| *after).collect();
    assert_eq!(now, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_requests_cannot_pass_the_webhook_limit_together() {
    let fx = Fixture::new().await;
    let contact = fx
        .ok("createContact", json!({"customerId": fx.alice.0, "name": "Ops"}))
        .await["id"]
        .as_i64()
        .unwrap();
    let calls = (0..16).map(|i| {
        fx.call_with(
            &fx.alice_key,
            "createContactMethod",
            json!({"contactId": contact, "methodId": "webhook", "options": {"url": format!("https://hooks.example.com/{i}")}}),
        )
    });
    let answers = futures_util::future::join_all(calls).await;
    let created = answers.iter().filter(|(status, _)| *status == StatusCode::OK).count();
    let refused = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::UNPROCESSABLE_ENTITY)
        .count();
    assert_eq!((created, refused), (10, 6), "{answers:?}");
    let webhooks: i64 = fx.app.scalar("select count(*) from contact_methods").await;
    assert_eq!(webhooks, 10);
}
