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

/// The navigation's count as the page shows it (0 when no badge).
async fn shown_count(client: &Client) -> i64 {
    let page = client.get("/account").await;
    assert_eq!(page.status, StatusCode::OK);
    page.text("#nav-notices-count").parse().unwrap_or(0)
}

/// What the count should be, counted the slow way the counter replaces.
async fn counted(app: &TestApp, customer: CustomerId) -> i64 {
    sqlx::query_scalar(
        "select count(*) from notices n where (n.customer_id = $1 or n.customer_id is null)
           and not exists (select 1 from notice_acknowledgements a where a.customer_id = $1 and a.notice_id = n.id)",
    )
    .bind(customer)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn the_unread_count_follows_publish_acknowledge_delete_and_new_customers() {
    let app = TestApp::spawn().await;
    let (alice_client, alice) = app.signed_in_client("alice").await;
    let (bob_client, bob) = app.signed_in_client("bob").await;
    let check = |expected_alice: i64, expected_bob: i64| {
        let (app, alice_client, bob_client) = (&app, &alice_client, &bob_client);
        async move {
            assert_eq!(shown_count(alice_client).await, expected_alice, "alice");
            assert_eq!(counted(app, alice).await, expected_alice, "alice, counted");
            assert_eq!(shown_count(bob_client).await, expected_bob, "bob");
            assert_eq!(counted(app, bob).await, expected_bob, "bob, counted");
        }
    };
    check(0, 0).await;
    let global = notice(&app, None, "maintenance", "info", "For everyone", "").await;
    check(1, 1).await;
    let own = notice(&app, Some(alice), "billing", "warning", "For alice", "").await;
    check(2, 1).await;
    // Acknowledged by one customer: only theirs goes down; again changes nothing.
    for _ in 0..2 {
        alice_client.get("/notices").await;
        let r = alice_client.post_form(&format!("/notices/{global}/ack"), &[]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        check(1, 1).await;
    }
    // A customer created after a global notice has it to read.
    let (carol_client, carol) = app.signed_in_client("carol").await;
    assert_eq!(shown_count(&carol_client).await, 1);
    assert_eq!(counted(&app, carol).await, 1);
    // A deleted notice leaves the counts of those who had not read it, and of those who had.
    sqlx::query("delete from notices where id = $1")
        .bind(global)
        .execute(&app.pool)
        .await
        .unwrap();
    check(1, 0).await;
    assert_eq!(shown_count(&carol_client).await, 0);
    sqlx::query("delete from notices where id = $1")
        .bind(own)
        .execute(&app.pool)
        .await
        .unwrap();
    check(0, 0).await;
    // A notice keeps its audience.
    let bobs = notice(&app, Some(bob), "billing", "info", "For bob", "").await;
    let moved = sqlx::query("update notices set customer_id = $1 where id = $2")
        .bind(alice)
        .bind(bobs)
        .execute(&app.pool)
        .await;
    assert!(moved.is_err(), "a notice cannot be moved to another customer");
    check(0, 1).await;
}

#[tokio::test]
async fn notices_are_listed_a_page_at_a_time() {
    let app = TestApp::spawn().await;
    let (client, alice) = app.signed_in_client("alice").await;
    sqlx::query("insert into customer_settings (customer_id, key, value) values ($1, 'items_per_page', '10')")
        .bind(alice)
        .execute(&app.pool)
        .await
        .unwrap();
    for n in 1..=12 {
        let to = if n % 2 == 0 { Some(alice) } else { None };
        notice(&app, to, "maintenance", "info", &format!("Notice {n:02}"), "").await;
    }
    let first = client.get("/notices").await;
    let titles = first.texts(".notice-title");
    assert_eq!(titles.len(), 10);
    assert_eq!(titles[0], "Notice 12");
    assert_eq!(titles[9], "Notice 03");
    let pages = r#"nav[aria-label="Notice pages"] a"#;
    assert_eq!(first.text_attr(pages, "href"), "/notices?page=2");
    let second = client.get("/notices?page=2").await;
    assert_eq!(second.texts(".notice-title"), ["Notice 02", "Notice 01"]);
    assert_eq!(second.text_attr(pages, "href"), "/notices?page=1");
    assert!(!second.body.contains("page=3"));
    // The filter is kept across pages.
    let filtered = client.get("/notices?since=1&page=2").await;
    assert_eq!(filtered.texts(".notice-title"), ["Notice 02", "Notice 01"]);
    assert_eq!(filtered.text_attr(pages, "href"), "/notices?since=1&page=1");
}
