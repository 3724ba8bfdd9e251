//! Notices: what a customer sees (their own and the global ones), the since filter,
//! acknowledging (a global notice per customer) with the navigation's count, publishing
//! from the command line, and the deliveries written with a notice.

pub mod api;
pub mod browser;

use std::process::Command;

use berth::identity::CustomerId;
use berth::notices::model::{Draft, NoticeId, publish, types};
use reqwest::StatusCode;

use crate::helpers::*;

async fn notice(app: &TestApp, to: Option<CustomerId>, kind: &str, severity: &str, title: &str, body: &str) -> i64 {
    let draft = Draft::parse(&types(&app.pool).await.unwrap(), kind, severity, title, body).unwrap();
    let mut tx = app.pool.begin().await.unwrap();
    let id = publish(&mut tx, to, &draft).await.unwrap();
    tx.commit().await.unwrap();
    id.0
}

async fn acks(app: &TestApp) -> Vec<(i64, i64)> {
    sqlx::query_as("select customer_id, notice_id from notice_acknowledgements order by 1, 2")
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_customer_sees_their_notices_and_the_global_ones_newest_first() {
    let app = TestApp::spawn().await;
    let (client, alice) = app.signed_in_client("alice").await;
    let bob = app.create_customer("bob").await;
    notice(
        &app,
        None,
        "maintenance",
        "info",
        "Maintenance on Sunday",
        "Line one\nLine <two>",
    )
    .await;
    notice(&app, Some(bob), "billing", "warning", "Bob's invoice", "").await;
    notice(
        &app,
        Some(alice),
        "security",
        "critical",
        "Alice: new sign-in",
        "<script>alert(1)</script>",
    )
    .await;
    let page = client.get("/notices").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        page.texts(".notice-title"),
        ["Alice: new sign-in", "Maintenance on Sunday"]
    );
    assert!(!page.body.contains("<script>alert(1)"), "the body is escaped");
    assert!(
        page.texts(".notice-body")
            .contains(&"<script>alert(1)</script>".to_owned()),
        "shown as text"
    );
    assert!(
        page.texts(".notice-body").contains(&"Line one\nLine <two>".to_owned()),
        "line breaks kept"
    );
    assert_eq!(page.texts(".notice-type"), ["Security", "Maintenance"]);
    assert_eq!(page.texts(".notice-severity"), ["critical", "info"]);
    assert_eq!(page.text("#nav-notices-count"), "2");
}

#[tokio::test]
async fn since_filters_by_created_or_updated() {
    let app = TestApp::spawn().await;
    let (client, alice) = app.signed_in_client("alice").await;
    let old = notice(&app, Some(alice), "billing", "info", "Old", "").await;
    let edited = notice(&app, Some(alice), "billing", "info", "Old but edited", "").await;
    notice(&app, Some(alice), "billing", "info", "New", "").await;
    sqlx::query(
        "update notices set created_at = '2026-01-01T00:00:00Z', updated_at = '2026-01-01T00:00:00Z' where id = $1",
    )
    .bind(old)
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query(
        "update notices set created_at = '2026-01-01T00:00:00Z', updated_at = '2026-06-01T00:00:00Z' where id = $1",
    )
    .bind(edited)
    .execute(&app.pool)
    .await
    .unwrap();
    let titles = |r: &Resp| r.texts(".notice-title");
    // Unix time: 2026-05-01T00:00:00Z.
    let r = client.get("/notices?since=1777593600").await;
    assert_eq!(titles(&r), ["New", "Old but edited"]);
    // A local date and time, in the customer's zone (UTC by default).
    let r = client.get("/notices?since=2026-05-01T00%3A00").await;
    assert_eq!(titles(&r), ["New", "Old but edited"]);
    assert_eq!(r.text_attr("#notices-since", "value"), "2026-05-01T00:00");
    let r = client.get("/notices?since=2026-07-01T00%3A00").await;
    assert_eq!(titles(&r), ["New"]);
    let r = client.get("/notices?since=").await;
    assert_eq!(titles(&r).len(), 3);
    for bad in ["yesterday", "2026-13-01T00%3A00", "99999999999999999999"] {
        let r = client.get(&format!("/notices?since={bad}")).await;
        assert_field_error(&r, "since", "Enter a date and time");
        let r = client.get_htmx(&format!("/notices?since={bad}")).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
}

#[tokio::test]
async fn acknowledging_updates_the_count_and_a_global_notice_is_acknowledged_per_customer() {
    let app = TestApp::spawn().await;
    let (alice_client, alice) = app.signed_in_client("alice").await;
    let (bob_client, bob) = app.signed_in_client("bob").await;
    let global = notice(&app, None, "outage", "critical", "Outage in Paris", "").await;
    let own = notice(&app, Some(alice), "billing", "info", "Invoice", "").await;
    let page = alice_client.get("/notices").await;
    assert_eq!(page.text("#nav-notices-count"), "2");

    // htmx: the notice comes back acknowledged, with the count out of band and a toast.
    let r = alice_client.post_htmx(&format!("/notices/{global}/ack"), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(
        r.text(&format!("#notice-{global} .acknowledged"))
            .starts_with("Acknowledged")
    );
    assert_eq!(r.text_attr("#nav-notices-count", "hx-swap-oob"), "true");
    assert_eq!(r.text("#nav-notices-count"), "1");
    assert!(r.text("#toasts").contains("Notice acknowledged."));
    // Again: nothing changes, still fine.
    let r = alice_client.post_htmx(&format!("/notices/{global}/ack"), &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    // Plain form: redirect-after-post.
    let r = alice_client.post_form(&format!("/notices/{own}/ack"), &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/notices");
    let page = alice_client.get("/notices").await;
    assert_eq!(page.text("#nav-notices-count"), "");
    assert!(page.texts("form[action$='/ack']").is_empty());

    // Bob still has the global notice to acknowledge.
    let page = bob_client.get("/").await;
    assert_eq!(page.text("#nav-notices-count"), "1");
    assert_eq!(acks(&app).await, [(alice.0, global), (alice.0, own)]);
    let _ = bob;
}

#[tokio::test]
async fn another_customers_notice_cannot_be_acknowledged_or_seen() {
    let app = TestApp::spawn().await;
    let (alice_client, alice) = app.signed_in_client("alice").await;
    let (bob_client, _) = app.signed_in_client("bob").await;
    let theirs = notice(&app, Some(alice), "security", "warning", "Alice only", "").await;
    bob_client.get("/notices").await;
    for path in [
        format!("/notices/{theirs}/ack"),
        "/notices/99999/ack".into(),
        "/notices/x/ack".into(),
    ] {
        assert_eq!(
            bob_client.post_form(&path, &[]).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
        assert_eq!(
            bob_client.post_htmx(&path, &[]).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    assert!(acks(&app).await.is_empty());
    assert!(!bob_client.get("/notices").await.body.contains("Alice only"));
    assert_eq!(alice_client.get("/notices").await.text("#nav-notices-count"), "1");
    let _ = alice;
}

#[tokio::test]
async fn publishing_writes_a_delivery_for_each_matching_subscription() {
    let app = TestApp::spawn().await;
    let (client, alice) = app.signed_in_client("alice").await;
    let bob = app.create_customer("bob").await;
    // Contacts, methods and subscriptions, written directly.
    let method = |customer: CustomerId, kind: &'static str, min: &'static str, notice_type: &'static str| {
        let pool = app.pool.clone();
        async move {
            let contact: i64 =
                sqlx::query_scalar("insert into contacts (customer_id, name) values ($1, $2) returning id")
                    .bind(customer)
                    .bind(format!("{kind} contact"))
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            let method: i64 = sqlx::query_scalar(
                "insert into contact_methods (customer_id, contact_id, method_id, options)
                 values ($1, $2, $3, '{}') returning id",
            )
            .bind(customer)
            .bind(contact)
            .bind(kind)
            .fetch_one(&pool)
            .await
            .unwrap();
            sqlx::query(
                "insert into contact_method_notices (customer_id, contact_method_id, notice_type_id, options)
                 values ($1, $2, $3, jsonb_build_object('min_severity', $4::text))",
            )
            .bind(customer)
            .bind(method)
            .bind(notice_type)
            .bind(min)
            .execute(&pool)
            .await
            .unwrap();
            method
        }
    };
    let email = method(alice, "email", "info", "outage").await;
    let sms = method(alice, "sms", "warning", "outage").await;
    let picky = method(alice, "webhook", "critical", "outage").await;
    let bobs = method(bob, "email", "info", "outage").await;
    method(alice, "email", "info", "billing").await;

    let deliveries = |notice: i64| {
        let pool = app.pool.clone();
        async move {
            sqlx::query_as::<_, (i64, String)>(
                "select contact_method_id, status from deliveries where notice_id = $1 order by contact_method_id",
            )
            .bind(notice)
            .fetch_all(&pool)
            .await
            .unwrap()
        }
    };
    let warning = notice(&app, Some(alice), "outage", "warning", "Slow disks", "").await;
    assert_eq!(
        deliveries(warning).await,
        [(email, "pending".into()), (sms, "waiting_for_gateway".into())]
    );
    let global = notice(&app, None, "outage", "critical", "Down", "").await;
    assert_eq!(
        deliveries(global).await,
        [
            (email, "pending".into()),
            (sms, "waiting_for_gateway".into()),
            (picky, "pending".into()),
            (bobs, "pending".into())
        ]
    );
    // The customer sees each notice's deliveries, and only their own.
    let page = client.get("/notices").await;
    let shown = page.texts(&format!("#notice-{global} li.delivery"));
    assert_eq!(shown.len(), 3, "{shown:?}");
    assert!(
        shown
            .iter()
            .any(|d| d.contains("SMS") && d.contains("no SMS or phone gateway"))
    );
    assert!(shown.iter().any(|d| d.starts_with("email contact by Email: queued")));
    let _ = NoticeId(global);
}

#[tokio::test]
async fn notice_publish_on_the_command_line() {
    let app = TestApp::spawn().await;
    let alice = app.create_customer("alice").await;
    let url = app.database_url().await;
    let body = std::env::temp_dir().join(format!("berth-notice-{}.txt", std::process::id()));
    std::fs::write(&body, "The disks are slow.\nWe are on it.\n").unwrap();
    let run = |args: Vec<String>| {
        let out = Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(["notice", "publish"])
            .args(&args)
            .env("DATABASE_URL", &url)
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
    };
    let args = |kind: &str, severity: &str, title: &str, customer: Option<&str>| {
        let mut v: Vec<String> = ["--type", kind, "--severity", severity, "--title", title, "--body-file"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        v.push(body.display().to_string());
        if let Some(c) = customer {
            v.extend(["--customer".to_owned(), c.to_owned()]);
        }
        v
    };
    let (ok, out) = run(args("outage", "warning", "Slow disks", Some("alice")));
    assert!(ok, "{out}");
    assert!(out.contains("to customer"), "{out}");
    let (ok, out) = run(args("maintenance", "info", "Sunday", None));
    assert!(ok, "{out}");
    let rows: Vec<(Option<i64>, String, String)> =
        sqlx::query_as("select customer_id, title, body from notices order by id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        rows,
        [
            (
                Some(alice.0),
                "Slow disks".into(),
                "The disks are slow.\nWe are on it.".into()
            ),
            (None, "Sunday".into(), "The disks are slow.\nWe are on it.".into())
        ]
    );
    for (bad, expected) in [
        (args("gossip", "info", "x", None), "--type"),
        (args("outage", "apocalyptic", "x", None), "--severity"),
        (args("outage", "info", "", None), "--title"),
        (args("outage", "info", "x", Some("nobody")), "no customer nobody"),
    ] {
        let (ok, out) = run(bad);
        assert!(!ok && out.contains(expected), "{expected}: {out}");
    }
    let count: i64 = app.scalar("select count(*) from notices").await;
    assert_eq!(count, 2);
    std::fs::remove_file(&body).unwrap();
}
