//! Delivery (issue 6) end to end, against a local SMTP sink and a local webhook receiver
//! started here: the email arrives, the webhook's signature verifies, a failing receiver is
//! retried and then failed for good, email waits without a relay, SMS and phone wait for a
//! gateway, and two workers deliver every message once.

pub mod faults;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use berth::delivery::{DeliveryConfig, MAX_ATTEMPTS, run_once};
use berth::identity::CustomerId;
use berth::notices::model::{Draft, NoticeId, publish};

use crate::helpers::TestApp;
use crate::smtp_sink::SmtpSink;

// ---------------------------------------------------------------------------------------
// A webhook receiver that records each request and can fail the first ones.

#[derive(Debug, Clone)]
pub struct Hook {
    pub headers: HeaderMap,
    pub body: Bytes,
}

#[derive(Clone, Default)]
pub struct Receiver {
    /// Requests answered 200.
    pub accepted: Arc<Mutex<Vec<Hook>>>,
    /// Every request, answered or failed.
    pub hits: Arc<AtomicUsize>,
    /// How many more requests to answer 500.
    pub fail_next: Arc<AtomicUsize>,
}

impl Receiver {
    /// Listens on a free local port; returns the receiver and its URL.
    pub async fn start() -> (Self, String) {
        let receiver = Receiver::default();
        let router = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        (receiver, url)
    }

    pub fn accepted(&self) -> Vec<Hook> {
        self.accepted.lock().unwrap().clone()
    }
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    receiver.hits.fetch_add(1, Ordering::SeqCst);
    let failing = receiver
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if failing {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    receiver.accepted.lock().unwrap().push(Hook { headers, body });
    StatusCode::OK
}

/// `BERTH_WEBHOOK_ALLOW` for the local receivers here: Berth itself never posts to
/// loopback unless told to.
pub fn loopback() -> Vec<sqlx::types::ipnetwork::IpNetwork> {
    vec!["127.0.0.0/8".parse().unwrap()]
}

// ---------------------------------------------------------------------------------------
// Rows.

const SECRET: &str = "whsec_3f1c9a7e5b2d48c6a0e4f7b9d1c3e5a7";

pub async fn contact(app: &TestApp, customer: CustomerId, name: &str) -> i64 {
    sqlx::query_scalar("insert into contacts (customer_id, name) values ($1, $2) returning id")
        .bind(customer)
        .bind(name)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// A contact method subscribed to `outage` notices.
pub async fn method(app: &TestApp, customer: CustomerId, contact: i64, kind: &str, options: serde_json::Value) -> i64 {
    let secret = (kind == "webhook").then_some(SECRET);
    let id: i64 = sqlx::query_scalar(
        "insert into contact_methods (customer_id, contact_id, method_id, options, signing_secret)
         values ($1, $2, $3, $4, $5) returning id",
    )
    .bind(customer)
    .bind(contact)
    .bind(kind)
    .bind(options)
    .bind(secret)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into contact_method_notices (customer_id, contact_method_id, notice_type_id) values ($1, $2, 'outage')",
    )
    .bind(customer)
    .bind(id)
    .execute(&app.pool)
    .await
    .unwrap();
    id
}

pub async fn publish_outage(app: &TestApp, customer: Option<CustomerId>, title: &str) -> NoticeId {
    let types = berth::notices::model::types(&app.pool).await.unwrap();
    let draft = Draft::parse(
        &types,
        "outage",
        "critical",
        title,
        "The database cluster in Frankfurt is down.\nWe are on it.",
    )
    .unwrap();
    let mut tx = app.pool.begin().await.unwrap();
    let id = publish(&mut tx, customer, &draft).await.unwrap();
    tx.commit().await.unwrap();
    id
}

#[derive(Debug, sqlx::FromRow)]
pub struct Row {
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub sent: bool,
    /// Seconds until the next attempt.
    pub wait: f64,
}

pub async fn delivery_row(app: &TestApp, method: i64) -> Row {
    sqlx::query_as(
        "select status, attempts, last_error, sent_at is not null as sent,
                extract(epoch from next_attempt_at - now())::float8 as wait
         from deliveries where contact_method_id = $1",
    )
    .bind(method)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

/// Makes every pending delivery due now (instead of waiting out its back-off).
pub async fn make_due(app: &TestApp) {
    sqlx::query("update deliveries set next_attempt_at = now() where status = 'pending'")
        .execute(&app.pool)
        .await
        .unwrap();
}

fn verify(hook: &Hook) -> serde_json::Value {
    let timestamp: i64 = hook.headers["berth-timestamp"].to_str().unwrap().parse().unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!((now - timestamp).abs() < 60, "a fresh timestamp: {timestamp}");
    // Recomputed here, independently of Berth's code.
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(&hook.body);
    let expected = format!("v1={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(hook.headers["berth-signature"].to_str().unwrap(), expected);
    assert_eq!(hook.headers["content-type"].to_str().unwrap(), "application/json");
    serde_json::from_slice(&hook.body).unwrap()
}

// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn email_and_webhook_arrive_signed_and_sms_waits_for_a_gateway() {
    let app = TestApp::spawn().await;
    let alice = app.create_customer("alice").await;
    let (sink, smtp_url) = SmtpSink::start().await;
    let (receiver, hook_url) = Receiver::start().await;
    let ops = contact(&app, alice, "Ops").await;
    let email = method(
        &app,
        alice,
        ops,
        "email",
        serde_json::json!({"address": "ops@alice.example"}),
    )
    .await;
    let webhook = method(&app, alice, ops, "webhook", serde_json::json!({"url": hook_url})).await;
    let sms = method(&app, alice, ops, "sms", serde_json::json!({"number": "+4915112345678"})).await;
    let phone = method(&app, alice, ops, "phone", serde_json::json!({"number": "+4930123456"})).await;
    let notice = publish_outage(&app, Some(alice), "Frankfurt database outage").await;

    let config = DeliveryConfig::new(Some(&smtp_url), "Berth <noreply@berth.example>")
        .unwrap()
        .allow_webhooks_to(&loopback())
        .unwrap();
    assert_eq!(run_once(&app.pool, &config).await.unwrap(), 2);
    assert_eq!(run_once(&app.pool, &config).await.unwrap(), 0, "nothing is sent twice");

    let mails = sink.mails();
    assert_eq!(mails.len(), 1, "{mails:?}");
    let mail = &mails[0];
    assert!(mail.from.contains("<noreply@berth.example>"), "{}", mail.from);
    assert_eq!(mail.to.len(), 1);
    assert!(mail.to[0].contains("<ops@alice.example>"), "{:?}", mail.to);
    assert!(
        mail.data
            .contains("Subject: Frankfurt database outage [outage, critical]"),
        "{}",
        mail.data
    );
    assert!(mail.data.contains("To: ops@alice.example"), "{}", mail.data);
    assert!(mail.data.contains("Content-Type: text/plain"), "{}", mail.data);
    assert!(
        mail.data
            .contains("The database cluster in Frankfurt is down.\nWe are on it."),
        "{}",
        mail.data
    );

    let hooks = receiver.accepted();
    assert_eq!(hooks.len(), 1);
    let json = verify(&hooks[0]);
    assert_eq!(json["notice_id"], notice.0);
    assert_eq!(json["type"], "outage");
    assert_eq!(json["severity"], "critical");
    assert_eq!(json["title"], "Frankfurt database outage");
    assert_eq!(
        json["body"],
        "The database cluster in Frankfurt is down.\nWe are on it."
    );
    assert_eq!(json["customer_id"], alice.0);
    assert_eq!(json["global"], false);
    assert!(json["created_at"].as_str().unwrap().contains('T'));
    let delivery_id = json["delivery_id"].as_i64().unwrap();
    assert_eq!(
        hooks[0].headers["berth-delivery"].to_str().unwrap(),
        delivery_id.to_string()
    );

    for m in [email, webhook] {
        let row = delivery_row(&app, m).await;
        assert_eq!(
            (row.status.as_str(), row.attempts, row.sent),
            ("sent", 1, true),
            "{row:?}"
        );
        assert_eq!(row.last_error, None);
    }
    for m in [sms, phone] {
        let row = delivery_row(&app, m).await;
        assert_eq!(
            (row.status.as_str(), row.attempts, row.sent),
            ("waiting_for_gateway", 0, false)
        );
    }
    // Even when due, the worker leaves them alone.
    sqlx::query("update deliveries set next_attempt_at = now()")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(run_once(&app.pool, &config).await.unwrap(), 0);
    assert_eq!(delivery_row(&app, sms).await.status, "waiting_for_gateway");

    // The customer sees each delivery's state on the notice.
    let client = app.client();
    client.sign_in("alice", crate::helpers::PASSWORD).await;
    let page = client.get("/notices").await;
    assert!(page.body.contains("Ops by Email: sent"), "{}", page.body);
    assert!(page.body.contains("Ops by Webhook: sent"), "{}", page.body);
    assert!(page.body.contains("no SMS or phone gateway"), "{}", page.body);
}

#[tokio::test]
async fn a_global_notice_reaches_every_subscribed_customer_once() {
    let app = TestApp::spawn().await;
    let (receiver, hook_url) = Receiver::start().await;
    for name in ["alice", "bob"] {
        let customer = app.create_customer(name).await;
        let c = contact(&app, customer, "Ops").await;
        method(&app, customer, c, "webhook", serde_json::json!({"url": hook_url})).await;
    }
    publish_outage(&app, None, "Everyone: network maintenance").await;
    let config = DeliveryConfig::new(None, "berth@berth.example")
        .unwrap()
        .allow_webhooks_to(&loopback())
        .unwrap();
    assert_eq!(run_once(&app.pool, &config).await.unwrap(), 2);
    let hooks = receiver.accepted();
    assert_eq!(hooks.len(), 2);
    let mut customers: Vec<i64> = hooks
        .iter()
        .map(|h| {
            let json = verify(h);
            assert_eq!(json["global"], true);
            json["customer_id"].as_i64().unwrap()
        })
        .collect();
    customers.sort();
    customers.dedup();
    assert_eq!(customers.len(), 2);
}

#[tokio::test]
async fn a_failing_receiver_is_retried_with_back_off_until_it_answers() {
    let app = TestApp::spawn().await;
    let alice = app.create_customer("alice").await;
    let (receiver, hook_url) = Receiver::start().await;
    receiver.fail_next.store(2, Ordering::SeqCst);
    let c = contact(&app, alice, "Ops").await;
    let webhook = method(&app, alice, c, "webhook", serde_json::json!({"url": hook_url})).await;
    publish_outage(&app, Some(alice), "Retry me").await;
    let config = DeliveryConfig::new(None, "berth@berth.example")
        .unwrap()
        .allow_webhooks_to(&loopback())
        .unwrap();

    assert_eq!(run_once(&app.pool, &config).await.unwrap(), 1);
    let row = delivery_row(&app, webhook).await;
    assert_eq!((row.status.as_str(), row.attempts), ("pending", 1));
    assert_eq!(row.last_error.as_deref(), Some("receiver answered 500"));
    assert!(
        (25.0..=31.0).contains(&row.wait),
        "first back-off is 30 s: {}",
        row.wait
    );
    // Not due yet: nothing happens.
    assert_eq!(run_once(&app.pool, &config).await.unwrap(), 0);
    assert_eq!(receiver.hits.load(Ordering::SeqCst), 1);

    make_due(&app).await;
    assert_eq!(run_once(&app.pool, &config).await.unwrap(), 1);
    let row = delivery_row(&app, webhook).await;
    assert_eq!((row.status.as_str(), row.attempts), ("pending", 2));
    assert!(
        (115.0..=121.0).contains(&row.wait),
        "second back-off is 2 min: {}",
        row.wait
    );

    make_due(&app).await;
    assert_eq!(run_once(&app.pool, &config).await.unwrap(), 1);
    let row = delivery_row(&app, webhook).await;
    assert_eq!((row.status.as_str(), row.attempts, row.sent), ("sent", 3, true));
    // The last failure stays on record (as provisioning does).
    assert_eq!(row.last_error.as_deref(), Some("receiver answered 500"));
    assert_eq!(receiver.hits.load(Ordering::SeqCst), 3);
    assert_eq!(receiver.accepted().len(), 1);
    verify(&receiver.accepted()[0]);
}

#[tokio::test]
async fn after_the_last_attempt_a_delivery_has_failed() {
    let app = TestApp::spawn().await;
    let alice = app.create_customer("alice").await;
    let (receiver, hook_url) = Receiver::start().await;
    receiver.fail_next.store(usize::MAX, Ordering::SeqCst);
    let c = contact(&app, alice, "Ops").await;
    let webhook = method(&app, alice, c, "webhook", serde_json::json!({"url": hook_url})).await;
    // A receiver that is not there at all: a network error.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let gone = method(
        &app,
        alice,
        c,
        "webhook",
        serde_json::json!({"url": format!("https://{closed}/hook?token=s3cr3t-in-query")}),
    )
    .await;
    publish_outage(&app, Some(alice), "Never arrives").await;
    let config = DeliveryConfig::new(None, "berth@berth.example")
        .unwrap()
        .allow_webhooks_to(&loopback())
        .unwrap();

    for attempt in 1..=MAX_ATTEMPTS {
        make_due(&app).await;
        assert_eq!(run_once(&app.pool, &config).await.unwrap(), 2, "attempt {attempt}");
    }
    make_due(&app).await;
    assert_eq!(run_once(&app.pool, &config).await.unwrap(), 0);
    let row = delivery_row(&app, webhook).await;
    assert_eq!(
        (row.status.as_str(), row.attempts, row.sent),
        ("failed", MAX_ATTEMPTS, false)
    );
    assert_eq!(row.last_error.as_deref(), Some("receiver answered 500"));
    assert_eq!(receiver.hits.load(Ordering::SeqCst), MAX_ATTEMPTS as usize);
    let row = delivery_row(&app, gone).await;
    assert_eq!((row.status.as_str(), row.attempts), ("failed", MAX_ATTEMPTS));
    let error = row.last_error.unwrap();
    assert!(!error.contains("s3cr3t"), "no URL in the error: {error}");
    assert_eq!(error, "could not connect", "no socket or TLS detail");
}

#[tokio::test]
async fn without_a_relay_email_waits_and_says_why() {
    let app = TestApp::spawn().await;
    let alice = app.create_customer("alice").await;
    let c = contact(&app, alice, "Ops").await;
    let email = method(
        &app,
        alice,
        c,
        "email",
        serde_json::json!({"address": "ops@alice.example"}),
    )
    .await;
    publish_outage(&app, Some(alice), "Waiting for a relay").await;

    let without = DeliveryConfig::new(None, "berth@berth.example")
        .unwrap()
        .allow_webhooks_to(&loopback())
        .unwrap();
    assert_eq!(run_once(&app.pool, &without).await.unwrap(), 0);
    let row = delivery_row(&app, email).await;
    assert_eq!((row.status.as_str(), row.attempts), ("pending", 0));
    assert!(row.last_error.unwrap().contains("no SMTP relay configured"));
    assert!(
        row.wait > 30.0,
        "looked at again later, not on every poll: {}",
        row.wait
    );

    // Once a relay is configured, it goes out.
    let (sink, smtp_url) = SmtpSink::start().await;
    let with = DeliveryConfig::new(Some(&smtp_url), "berth@berth.example")
        .unwrap()
        .allow_webhooks_to(&loopback())
        .unwrap();
    make_due(&app).await;
    assert_eq!(run_once(&app.pool, &with).await.unwrap(), 1);
    assert_eq!(delivery_row(&app, email).await.status, "sent");
    assert_eq!(sink.mails().len(), 1);
}

#[tokio::test]
async fn an_interrupted_attempt_is_repeated_after_its_lease_and_the_last_one_fails() {
    let app = TestApp::spawn().await;
    let alice = app.create_customer("alice").await;
    let (receiver, hook_url) = Receiver::start().await;
    let c = contact(&app, alice, "Ops").await;
    let webhook = method(&app, alice, c, "webhook", serde_json::json!({"url": hook_url})).await;
    publish_outage(&app, Some(alice), "Interrupted").await;
    // A process claimed it (attempt 1) and stopped before recording anything.
    let claimed = berth::delivery::model::claim(&app.pool, 10, false, 300, MAX_ATTEMPTS, 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let config = DeliveryConfig::new(None, "berth@berth.example")
        .unwrap()
        .allow_webhooks_to(&loopback())
        .unwrap();
    // While the lease runs, nobody else sends it.
    assert_eq!(run_once(&app.pool, &config).await.unwrap(), 0);
    assert_eq!(receiver.hits.load(Ordering::SeqCst), 0);
    // The lease runs out: it is sent (at least once).
    make_due(&app).await;
    assert_eq!(run_once(&app.pool, &config).await.unwrap(), 1);
    let row = delivery_row(&app, webhook).await;
    assert_eq!((row.status.as_str(), row.attempts), ("sent", 2));

    // An interrupted last attempt is not repeated: the delivery fails and says so.
    sqlx::query("update deliveries set status = 'pending', attempts = $1, next_attempt_at = now()")
        .bind(MAX_ATTEMPTS)
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(run_once(&app.pool, &config).await.unwrap(), 0);
    let row = delivery_row(&app, webhook).await;
    assert_eq!(row.status, "failed");
    assert!(row.last_error.unwrap().contains("interrupted"));
    assert_eq!(receiver.hits.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_deliver_every_message_exactly_once() {
    let app = TestApp::spawn().await;
    let alice = app.create_customer("alice").await;
    let bob = app.create_customer("bob").await;
    let (sink, smtp_url) = SmtpSink::start().await;
    let (receiver, hook_url) = Receiver::start().await;
    for customer in [alice, bob] {
        let c = contact(&app, customer, "Ops").await;
        method(
            &app,
            customer,
            c,
            "email",
            serde_json::json!({"address": "ops@example.net"}),
        )
        .await;
        method(&app, customer, c, "webhook", serde_json::json!({"url": hook_url})).await;
    }
    const NOTICES: usize = 15;
    for i in 0..NOTICES {
        let customer = if i % 2 == 0 { alice } else { bob };
        publish_outage(&app, Some(customer), &format!("Notice {i}")).await;
    }
    let total: i64 = app.scalar("select count(*) from deliveries").await;
    assert_eq!(total, 2 * NOTICES as i64);

    let workers: Vec<_> = (0..2)
        .map(|_| {
            let pool = app.pool.clone();
            let mut config = DeliveryConfig::new(Some(&smtp_url), "berth@berth.example")
                .unwrap()
                .allow_webhooks_to(&loopback())
                .unwrap();
            config.batch = 3;
            tokio::spawn(async move {
                let mut sent = 0;
                loop {
                    let n = run_once(&pool, &config).await.unwrap();
                    sent += n;
                    if n > 0 {
                        continue;
                    }
                    let open: i64 = sqlx::query_scalar("select count(*) from deliveries where status = 'pending'")
                        .fetch_one(&pool)
                        .await
                        .unwrap();
                    if open == 0 {
                        return sent;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        })
        .collect();
    let mut counts = Vec::new();
    for worker in workers {
        counts.push(
            tokio::time::timeout(Duration::from_secs(60), worker)
                .await
                .expect("the workers finish")
                .unwrap(),
        );
    }
    assert_eq!(counts.iter().sum::<usize>(), 2 * NOTICES, "{counts:?}");

    let mails = sink.mails();
    assert_eq!(mails.len(), NOTICES);
    let mut subjects: HashMap<String, usize> = HashMap::new();
    for mail in &mails {
        let subject = mail
            .data
            .lines()
            .find(|l| l.starts_with("Subject: "))
            .unwrap()
            .to_owned();
        *subjects.entry(subject).or_default() += 1;
    }
    assert_eq!(subjects.len(), NOTICES, "each notice mailed once: {subjects:?}");
    let hooks = receiver.accepted();
    assert_eq!(hooks.len(), NOTICES);
    assert_eq!(receiver.hits.load(Ordering::SeqCst), NOTICES);
    let mut notices: Vec<i64> = hooks.iter().map(|h| verify(h)["notice_id"].as_i64().unwrap()).collect();
    notices.sort();
    notices.dedup();
    assert_eq!(notices.len(), NOTICES, "each notice posted once");
    let not_once: i64 = app
        .scalar("select count(*) from deliveries where status <> 'sent' or attempts <> 1")
        .await;
    assert_eq!(not_once, 0);
}
