//! Faults around delivery and shutdown (issue 14), with real processes: no delivery is sent
//! twice across a PostgreSQL restart (a cluster of this test's own, restarted under the
//! worker) or a SIGTERM of the `berth` binary, and a stop never waits on a slow client.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use berth::db::EmbeddedPostgres;
use berth::delivery::DeliveryConfig;
use berth::password::Hasher;
use berth::state::AppState;
use berth::state::WebConfig;
use serde_json::json;
use sqlx::{ConnectOptions, PgPool};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use crate::delivery::{contact, loopback, method, publish_outage};
use crate::helpers::TestApp;

// ---------------------------------------------------------------------------------------
// A webhook receiver that counts each request by its `Berth-Delivery` header as it arrives,
// and answers only after `delay`.

#[derive(Clone)]
struct Counter {
    seen: Arc<Mutex<HashMap<String, usize>>>,
    delay: Duration,
}

impl Counter {
    async fn start(delay: Duration) -> (Self, String) {
        let counter = Counter {
            seen: Arc::default(),
            delay,
        };
        let router = axum::Router::new()
            .route("/hook", axum::routing::post(count))
            .with_state(counter.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        (counter, url)
    }

    fn requests(&self) -> usize {
        self.seen.lock().unwrap().values().sum()
    }

    fn seen(&self) -> HashMap<String, usize> {
        self.seen.lock().unwrap().clone()
    }
}

async fn count(State(counter): State<Counter>, headers: HeaderMap) -> StatusCode {
    let id = headers
        .get(berth::delivery::DELIVERY_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none")
        .to_owned();
    *counter.seen.lock().unwrap().entry(id).or_default() += 1;
    tokio::time::sleep(counter.delay).await;
    StatusCode::OK
}

/// `customers` customers with `webhooks` webhooks each to `url`, and one outage notice
/// for each customer: `customers * webhooks` deliveries.
async fn deliveries(app: &TestApp, customers: usize, webhooks: usize, url: &str) -> usize {
    for c in 0..customers {
        let customer = app.create_customer(&format!("customer{c}")).await;
        let ops = contact(app, customer, "Ops").await;
        for w in 0..webhooks {
            method(
                app,
                customer,
                ops,
                "webhook",
                json!({"url": format!("{url}?c={c}&w={w}")}),
            )
            .await;
        }
        publish_outage(app, Some(customer), "Frankfurt is down").await;
    }
    customers * webhooks
}

/// Each delivery arrived exactly once.
fn assert_once(counter: &Counter, expected: usize) {
    let seen = counter.seen();
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "deliveries that arrived more than once: {twice:?}");
    assert_eq!(seen.len(), expected, "deliveries that arrived: {seen:?}");
    assert!(!seen.contains_key("none"));
}

/// Waits until every delivery of the database is `sent`, for at most `limit`; returns the
/// statuses then.
async fn wait_all_sent(pool: &PgPool, limit: Duration) -> Vec<(String, i64)> {
    let started = Instant::now();
    loop {
        let statuses: Result<Vec<(String, i64)>, _> =
            sqlx::query_as("select status, count(*) from deliveries group by status order by status")
                .fetch_all(pool)
                .await;
        match statuses {
            Ok(statuses) if statuses.len() == 1 && statuses[0].0 == "sent" => return statuses,
            Ok(statuses) if started.elapsed() > limit => return statuses,
            Err(err) if started.elapsed() > limit => panic!("the statuses cannot be read: {err}"),
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------------------
// A database restart.

/// A PostgreSQL cluster of this test's own (not the shared one: it is restarted), removed
/// when dropped.
struct OwnCluster {
    data: std::path::PathBuf,
    pg: Option<EmbeddedPostgres>,
}

impl OwnCluster {
    async fn start() -> Self {
        let data = std::env::temp_dir().join(format!("berth-fault-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data);
        let pg = Self::start_at(data.clone()).await;
        Self { data, pg: Some(pg) }
    }

    async fn start_at(data: std::path::PathBuf) -> EmbeddedPostgres {
        tokio::task::spawn_blocking(move || {
            EmbeddedPostgres::start(&data.join("postgres")).expect("the cluster starts")
        })
        .await
        .unwrap()
    }

    fn options(&self) -> sqlx::postgres::PgConnectOptions {
        self.pg.as_ref().unwrap().connect_options("berth")
    }

    async fn stop(&mut self) {
        let pg = self.pg.take().unwrap();
        tokio::task::spawn_blocking(move || pg.stop()).await.unwrap();
    }

    async fn restart(&mut self) {
        self.pg = Some(Self::start_at(self.data.clone()).await);
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        if let Some(pg) = self.pg.take() {
            pg.stop();
        }
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_delivery_is_sent_twice_across_a_database_restart() {
    let mut cluster = OwnCluster::start().await;
    let mut admin = cluster.options().database("postgres").connect().await.unwrap();
    sqlx::query("create database berth").execute(&mut admin).await.unwrap();
    drop(admin);
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .connect_with(cluster.options())
        .await
        .unwrap();
    berth::db::MIGRATOR.run(&pool).await.unwrap();
    let app = TestApp {
        base: String::new(),
        pool: pool.clone(),
        state: AppState {
            pool: pool.clone(),
            hasher: Hasher::new(2).unwrap(),
            web: Arc::new(WebConfig::new(None)),
            clock: berth::clock::Clock::real(),
            platform: Arc::new(crate::helpers::dev_platform()),
            sealer: Default::default(),
            changes: berth::db::changes::Changes::start(pool.clone()),
        },
    };
    // Answers after 3 s: the database is down when the answers come.
    let (counter, url) = Counter::start(Duration::from_secs(3)).await;
    let expected = deliveries(&app, 4, 5, &url).await;

    let mut config = DeliveryConfig::new(None, "Berth <berth@example.com>")
        .unwrap()
        .allow_webhooks_to(&loopback())
        .unwrap();
    config.poll = Duration::from_millis(50);
    config.batch = 20;
    config.per_customer = 20;
    let worker = berth::delivery::spawn(pool.clone(), Arc::new(config));
    let started = Instant::now();
    while counter.requests() < expected && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(counter.requests(), expected, "all were sent at once");
    // Every one is now being sent; the database goes away before any answer, and comes
    // back after them.
    cluster.stop().await;
    assert!(started.elapsed() < Duration::from_millis(2_900), "stopped in time");
    tokio::time::sleep(Duration::from_secs(4).saturating_sub(started.elapsed())).await;
    cluster.restart().await;

    let statuses = wait_all_sent(&pool, Duration::from_secs(15)).await;
    worker.abort();
    assert_eq!(statuses, [("sent".to_owned(), expected as i64)]);
    assert_once(&counter, expected);
    pool.close().await;
}

// ---------------------------------------------------------------------------------------
// The `berth` binary, stopped with SIGTERM.

/// `berth serve` on a free local port against `database_url`, with loopback webhooks
/// allowed and `drain_s` of drain time; returns the process and its address.
async fn berth_serve(database_url: &str, drain_s: u64) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("serve")
        .env("DATABASE_URL", database_url)
        .env("BERTH_LISTEN", "127.0.0.1:0")
        .env("BERTH_WEBHOOK_ALLOW", "127.0.0.0/8")
        .env("BERTH_DELIVERY_POLL_MS", "50")
        .env("BERTH_DRAIN_S", drain_s.to_string())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("berth starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let addr = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(rest) = line.strip_prefix("Berth is serving on http://") {
                return rest.split_whitespace().next().unwrap().to_owned();
            }
        }
        panic!("berth ended before serving");
    })
    .await
    .expect("berth serves within 30 s");
    // Whatever it prints later is read and dropped.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, addr)
}

/// Sends SIGTERM and waits for the process to end, for at most `limit`; returns how long
/// it took.
async fn terminate(child: &mut Child, limit: Duration) -> Duration {
    let pid = child.id().expect("still running") as i32;
    let asked = Instant::now();
    // SAFETY: signalling our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = tokio::time::timeout(limit + Duration::from_secs(20), child.wait())
        .await
        .expect("berth exits within 20 s of its limit")
        .unwrap();
    let took = asked.elapsed();
    assert!(status.success(), "berth exited with {status}");
    took
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_delivery_is_sent_twice_across_a_sigterm() {
    let app = TestApp::spawn().await;
    let (counter, url) = Counter::start(Duration::from_secs(1)).await;
    let expected = deliveries(&app, 5, 4, &url).await;
    let database_url = app.database_url().await;

    let (mut berth, _) = berth_serve(&database_url, 3).await;
    let started = Instant::now();
    while counter.requests() < 4 && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(counter.requests() >= 4, "the first batch is being sent");
    // Mid-batch: deliveries are being sent, others are not claimed yet.
    let took = terminate(&mut berth, Duration::from_secs(4)).await;
    assert!(took < Duration::from_secs(4), "stopped in {took:?}");
    let before = counter.requests();
    assert!(before < expected, "the stop came mid-batch: {before} of {expected}");
    let leased: i64 = app
        .scalar("select count(*) from deliveries where status = 'pending' and leased_until > now()")
        .await;
    assert_eq!(leased, 0, "no delivery is left leased by the stopped process");

    let (mut again, _) = berth_serve(&database_url, 3).await;
    let statuses = wait_all_sent(&app.pool, Duration::from_secs(10)).await;
    terminate(&mut again, Duration::from_secs(4)).await;
    assert_eq!(statuses, [("sent".to_owned(), expected as i64)]);
    assert_once(&counter, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_the_drain_time_cuts_off_are_handed_back_due_at_once() {
    let app = TestApp::spawn().await;
    // Slower than the drain time.
    let (counter, url) = Counter::start(Duration::from_secs(4)).await;
    let expected = deliveries(&app, 2, 4, &url).await;
    let database_url = app.database_url().await;

    let (mut berth, _) = berth_serve(&database_url, 1).await;
    let started = Instant::now();
    while counter.requests() < expected && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(counter.requests(), expected, "all are being sent");
    let took = terminate(&mut berth, Duration::from_secs(2)).await;
    assert!(
        took < Duration::from_secs(2),
        "BERTH_DRAIN_S=1, yet the stop took {took:?}"
    );
    // Not left leased for a minute: due again now, saying why.
    let rows: Vec<(String, i32, Option<String>, bool, bool)> = sqlx::query_as(
        "select status, attempts, last_error, leased_until is null, next_attempt_at <= now() from deliveries",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), expected);
    for row in rows {
        assert_eq!(
            row,
            (
                "pending".to_owned(),
                1,
                Some(berth::delivery::worker::CUT_OFF.to_owned()),
                true,
                true
            )
        );
    }
    // The next process sends them again at once: they may have arrived (at least once).
    let (mut again, _) = berth_serve(&database_url, 10).await;
    let statuses = wait_all_sent(&app.pool, Duration::from_secs(10)).await;
    terminate(&mut again, Duration::from_secs(10)).await;
    assert_eq!(statuses, [("sent".to_owned(), expected as i64)]);
    assert!(counter.seen().values().all(|n| *n == 2), "{:?}", counter.seen());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_slow_or_idle_clients_exits_within_the_drain_time() {
    let app = TestApp::spawn().await;
    let database_url = app.database_url().await;
    let (mut berth, addr) = berth_serve(&database_url, 1).await;

    // Half a request's headers, then nothing.
    let mut half = TcpStream::connect(&addr).await.unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: berth\r\n")
        .await
        .unwrap();
    // A complete request, answered; the connection stays open, idle.
    let mut idle = TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: berth\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), idle.read(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert!(
        answer[..n].starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer[..n])
    );
    // Headers complete, half the body.
    let mut body = TcpStream::connect(&addr).await.unwrap();
    body.write_all(
        b"POST /login HTTP/1.1\r\nHost: berth\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nusername=",
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let took = terminate(&mut berth, Duration::from_secs(2)).await;
    assert!(
        took < Duration::from_secs(2),
        "BERTH_DRAIN_S=1, yet the stop took {took:?}"
    );
    // The clients were cut off, not left hanging.
    let mut rest = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(1), half.read_to_end(&mut rest)).await;
    assert!(ended.is_ok(), "the half-sent request's connection was closed");
}
