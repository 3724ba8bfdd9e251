//! The in-process copies of what signed-in pages read (`db::changes`): used while the
//! listener hears PostgreSQL's notifications, forgotten when one names their customer or
//! everyone, never kept when a change raced the read, all forgotten when the listener's
//! connection is lost; and a change made in SQL, by another process or the API shows on
//! the next page.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use berth::db::changes::{Changes, PerCustomer};
use reqwest::StatusCode;

use crate::helpers::*;

/// Waits (up to 10 s) until the app's listener is connected.
async fn live(changes: &Changes) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !changes.is_live() {
        assert!(Instant::now() < deadline, "the change listener never connected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn notify(app: &TestApp, payload: &str) {
    sqlx::query("select pg_notify('berth_changes', $1)")
        .bind(payload)
        .execute(&app.pool)
        .await
        .unwrap();
}

/// A cache of numbers and how many times it read one.
struct Counted {
    cache: PerCustomer<i64>,
    loads: Arc<AtomicI64>,
}

impl Counted {
    fn new(changes: &Changes) -> Self {
        Self {
            cache: PerCustomer::new(changes, 100),
            loads: Arc::default(),
        }
    }

    /// The copy for `customer`, or `value` read anew.
    async fn get(&self, customer: i64, value: i64) -> i64 {
        let loads = self.loads.clone();
        self.cache
            .get_or_load(
                customer,
                |_| true,
                || async move {
                    loads.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, std::convert::Infallible>(value)
                },
            )
            .await
            .unwrap()
    }

    fn loads(&self) -> i64 {
        self.loads.load(Ordering::SeqCst)
    }
}

#[tokio::test]
async fn a_copy_is_used_until_a_notification_names_its_customer_or_everyone() {
    let app = TestApp::spawn().await;
    let changes = app.state.changes.clone();
    live(&changes).await;
    let counted = Counted::new(&changes);

    assert_eq!(counted.get(7, 1).await, 1);
    assert_eq!(counted.get(7, 2).await, 1, "the copy");
    assert_eq!(counted.loads(), 1);

    notify(&app, "8").await;
    changes.settle().await;
    assert_eq!(counted.get(7, 3).await, 1, "another customer's change leaves the copy");

    notify(&app, "7").await;
    changes.settle().await;
    assert_eq!(counted.get(7, 4).await, 4, "read anew");
    assert_eq!(counted.get(8, 5).await, 5);

    notify(&app, "*").await;
    changes.settle().await;
    assert_eq!(counted.get(7, 6).await, 6, "everyone's copies are forgotten");
    assert_eq!(counted.get(8, 7).await, 7);

    // A real change: the trigger on `customers` names the customer.
    let alice = app.create_customer("alice").await;
    assert_eq!(counted.get(alice.0, 10).await, 10);
    sqlx::query("update customers set display_name = 'Alice' where id = $1")
        .bind(alice)
        .execute(&app.pool)
        .await
        .unwrap();
    changes.settle().await;
    assert_eq!(counted.get(alice.0, 11).await, 11);
    assert_eq!(counted.loads(), 7);
}

#[tokio::test]
async fn a_read_that_a_change_overtook_is_not_kept() {
    let app = TestApp::spawn().await;
    let changes = app.state.changes.clone();
    live(&changes).await;
    let cache: PerCustomer<i64> = PerCustomer::new(&changes, 100);
    // The read sees the old value; the change commits and is heard before it returns.
    let read = cache
        .get_or_load(
            9,
            |_| true,
            || async {
                notify(&app, "9").await;
                changes.settle().await;
                Ok::<_, std::convert::Infallible>(1)
            },
        )
        .await
        .unwrap();
    assert_eq!(read, 1);
    let next = cache
        .get_or_load(9, |_| true, || async { Ok::<_, std::convert::Infallible>(2) })
        .await
        .unwrap();
    assert_eq!(next, 2, "the raced read was not kept");
}

#[tokio::test]
async fn copies_are_forgotten_when_the_listener_loses_its_connection() {
    let app = TestApp::spawn().await;
    let changes = app.state.changes.clone();
    live(&changes).await;
    let counted = Counted::new(&changes);
    assert_eq!(counted.get(5, 1).await, 1);
    assert_eq!(counted.get(5, 2).await, 1);

    let listening = "select pid from pg_stat_activity
                     where datname = current_database() and query like 'LISTEN%'";
    let before: Vec<i32> = sqlx::query_scalar(listening).fetch_all(&app.pool).await.unwrap();
    assert_eq!(before.len(), 1, "one listener: {before:?}");
    sqlx::query("select pg_terminate_backend($1)")
        .bind(before[0])
        .execute(&app.pool)
        .await
        .unwrap();
    // Connected again on a new backend; what was kept before is gone.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now: Vec<i32> = sqlx::query_scalar(listening).fetch_all(&app.pool).await.unwrap();
        if now.len() == 1 && now != before && changes.is_live() {
            break;
        }
        assert!(Instant::now() < deadline, "the listener did not connect again: {now:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(counted.get(5, 3).await, 3, "read anew after the lost connection");
    assert_eq!(counted.get(5, 4).await, 3, "and kept again");
}

#[tokio::test]
async fn a_change_made_in_sql_shows_on_the_next_page_without_waiting_for_it() {
    let app = TestApp::spawn().await;
    let alice = app.create_customer("alice").await;
    live(&app.state.changes).await;
    // A client that does not settle: the notification alone must bring the change.
    let client = Client::new(&app.base);
    assert_eq!(client.sign_in("alice", PASSWORD).await.status, StatusCode::SEE_OTHER);
    assert_eq!(client.get("/").await.text("#signed-in-as"), "alice");
    assert_eq!(client.get("/").await.text("#signed-in-as"), "alice");
    sqlx::query("update customers set display_name = 'Alice Liddell' where id = $1")
        .bind(alice)
        .execute(&app.pool)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    while client.get("/").await.text("#signed-in-as") != "Alice Liddell" {
        assert!(Instant::now() < deadline, "the new name never showed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Each table the cached views are made from, changed in SQL as a worker, another Berth or
/// an operator would: the next page shows it (the test client settles first, as the panel
/// does after its own changes).
#[tokio::test]
async fn every_table_the_cached_views_read_names_its_customer_when_it_changes() {
    let app = TestApp::spawn().await;
    let (client, alice) = app.signed_in_client("alice").await;
    let sql = |q: &'static str| {
        let pool = app.pool.clone();
        async move {
            sqlx::query(q).bind(alice).execute(&pool).await.unwrap();
        }
    };
    let page = client.get("/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.texts("#second-factor-nudge").is_empty());
    assert!(!page.texts("#first-site").is_empty());

    // customers
    sql("update customers set display_name = 'Alice Liddell' where id = $1").await;
    assert_eq!(client.get("/").await.text("#signed-in-as"), "Alice Liddell");

    // customer_settings: the settings page shows the stored value.
    let landing = r#"option value="settings" selected"#;
    assert!(!client.get("/settings").await.body.contains(landing));
    sql("insert into customer_settings (customer_id, key, value) values ($1, 'landing_page', 'settings')").await;
    assert!(client.get("/settings").await.body.contains(landing));

    // sites and containers
    let shop = crate::sites::active_site(&app, alice, "shop.example.com").await;
    let page = client.get("/").await;
    assert!(page.texts("#first-site").is_empty());
    let state = |page: &Resp| page.text_attr(&format!(r#"tr[data-site="{}"] td.status"#, shop.0), "data-state");
    assert_eq!(state(&page), "running");
    sql("update containers set desired_state = 'stopped' where customer_id = $1").await;
    assert_eq!(state(&client.get("/").await), "stopped");

    // bandwidth_customer_days
    sql(
        "insert into bandwidth_customer_days (customer_id, day, bytes_in, bytes_out)
         values ($1, (now() at time zone 'UTC')::date, 1000000000, 0)",
    )
    .await;
    assert_eq!(client.get("/").await.text("#dashboard-bandwidth"), "1.00 GB");

    // plans (everyone): the included transfer.
    sqlx::query(
        "insert into plans (size_id, price_cents, transfer_gb) select size_id, 100, 7 from containers limit 1 \
         on conflict (size_id) do update set transfer_gb = 7",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    assert_eq!(client.get("/").await.text("#allowance-included"), "7.00 GB");

    // notices (to everyone) and notice_acknowledgements
    let notice = crate::dashboard::notice(&app, None, "critical", "Core switch down").await;
    let banner = format!("#banner-{notice}");
    assert_eq!(client.get("/").await.texts(&banner).len(), 1);
    sqlx::query("insert into notice_acknowledgements (customer_id, notice_id) values ($1, $2)")
        .bind(alice)
        .bind(notice)
        .execute(&app.pool)
        .await
        .unwrap();
    assert!(client.get("/").await.texts(&banner).is_empty());

    // activity: another sign-in makes this one the previous, and a failure since is counted.
    assert!(client.get("/").await.body.contains("This is your first sign-in."));
    let other = Client::new(&app.base);
    assert_eq!(other.sign_in("alice", PASSWORD).await.status, StatusCode::SEE_OTHER);
    assert!(client.get("/").await.body.contains("Previous sign-in: "));
    other.sign_in("alice", "wrong password").await;
    assert!(
        client
            .get("/")
            .await
            .body
            .contains("1 failed sign-in attempt(s) since then")
    );

    // totp_authenticators: the nudge goes once a second factor is on.
    app.enrol_totp(SecondFactorAccount::Customer(alice), "phone").await;
    assert!(client.get("/").await.texts("#second-factor-nudge").is_empty());

    // account_sessions: the session's record deleted signs it out.
    sql("delete from account_sessions where customer_id = $1").await;
    assert_eq!(client.get("/").await.status, StatusCode::SEE_OTHER);
}
