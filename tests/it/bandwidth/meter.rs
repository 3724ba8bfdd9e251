//! The meter with a driver that returns scripted counters: deltas into hourly samples (the
//! rollups, the page and currentBillableBandwidth follow), resets, stopped containers and an
//! engine that does not answer; and two meters on one database counting every byte once.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth::bandwidth::meter::{self, Delta, Outcome};
use berth::engine::{EngineResult, Traffic};
use berth::identity::CustomerId;
use berth::sites::model::SiteId;

use super::consistent;
use crate::helpers::{FakeDriver, TestApp, dev_platform, platform_with};
use crate::provisioning::insert_site_with_job;

/// The development driver, but `traffic` answers what `answer` says for the site, after a
/// moment that is never the same: readings of two meters overlap, and the one that asked
/// first may answer last.
fn scripted(answer: impl Fn(i64) -> EngineResult<Option<Traffic>> + Send + Sync + 'static) -> FakeDriver {
    FakeDriver::new().on_traffic(move |site| {
        let answer = answer(site);
        let takes = rand::Rng::gen_range(&mut rand::thread_rng(), 0..6);
        async move {
            tokio::time::sleep(Duration::from_millis(takes)).await;
            answer
        }
    })
}

fn traffic(received: u64, sent: u64, run: Option<&str>) -> Traffic {
    Traffic {
        received,
        sent,
        run: run.map(str::to_owned),
    }
}

/// A site whose provisioning is done (its container active), as the wizard and the worker
/// leave it.
async fn active_site(app: &TestApp, customer: CustomerId, hostname: &str) -> SiteId {
    let site = insert_site_with_job(app, customer, hostname, &[], false).await;
    let platform = dev_platform();
    while berth::provisioning::run_once(&app.pool, &platform, "test-worker")
        .await
        .unwrap()
    {}
    let status: String = app
        .scalar(&format!("select status from containers where site_id = {site}"))
        .await;
    assert_eq!(status, "active");
    site
}

/// (bytes in, bytes out) of the site's samples, all hours.
async fn metered(app: &TestApp, site: SiteId) -> (i64, i64) {
    sqlx::query_as(
        "select coalesce(sum(bytes_in), 0)::bigint, coalesce(sum(bytes_out), 0)::bigint from bandwidth_samples
         where site_id = $1",
    )
    .bind(site)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

/// (received, sent) of the site's last reading.
async fn reading(app: &TestApp, site: SiteId) -> (i64, i64) {
    sqlx::query_as("select received, sent from meter_readings where site_id = $1")
        .bind(site)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn readings_become_hourly_samples_with_resets_stops_and_failures_counted_once() {
    let app = TestApp::spawn().await;
    let (client, alice) = app.signed_in_client("alice").await;
    let site = active_site(&app, alice, "metered.example.com").await;
    // What the engine answers, one reading after another.
    let script: VecDeque<EngineResult<Option<Traffic>>> = VecDeque::from([
        Ok(Some(traffic(100, 1_000, Some("a@1")))), // first reading: all of it
        Ok(Some(traffic(100, 1_000, Some("a@1")))), // the same again: nothing
        Ok(Some(traffic(150, 1_500, Some("a@1")))), // +50, +500
        Ok(None),                                   // stopped: nothing, the reading stays
        Ok(Some(traffic(30, 300, Some("a@2")))),    // restarted: below, all new
        Err("the container engine is not reachable".to_owned()), // nothing, the reading stays
        Ok(Some(traffic(90, 900, Some("a@3")))),    // restarted again, higher: all new
        Ok(Some(traffic(100, 1_000, None))),        // no run said: +10, +100
        Ok(Some(traffic(5, 50, None))),             // below: all new
    ]);
    let script = Arc::new(Mutex::new(script));
    let answers = script.clone();
    let platform = platform_with(scripted(move |_| {
        answers.lock().unwrap().pop_front().expect("the script has an answer")
    }));
    let mut outcomes = Vec::new();
    for _ in 0..9 {
        let once = meter::run_once(&app.pool, &platform, Duration::ZERO).await.unwrap();
        assert_eq!(once.len(), 1, "one site is due: {once:?}");
        outcomes.extend(once);
    }
    let read = |received, sent, reset| Outcome::Read(Delta { received, sent, reset });
    assert_eq!(
        outcomes,
        [
            read(100, 1_000, false),
            read(0, 0, false),
            read(50, 500, false),
            Outcome::NotRunning,
            read(30, 300, true),
            Outcome::EngineFailed("the container engine is not reachable".to_owned()),
            read(90, 900, true),
            read(10, 100, false),
            read(5, 50, true),
        ]
    );
    assert!(script.lock().unwrap().is_empty());
    let (bytes_in, bytes_out) = (100 + 50 + 30 + 90 + 10 + 5, 1_000 + 500 + 300 + 900 + 100 + 50);
    assert_eq!(metered(&app, site).await, (bytes_in, bytes_out));
    assert_eq!(reading(&app, site).await, (5, 50));
    // All in this hour's one sample; the rollups agree.
    let hours: i64 = app.scalar("select count(*) from bandwidth_samples").await;
    assert_eq!(hours, 1);
    consistent(&app).await;

    // The page and currentBillableBandwidth show it: received is in to the site, sent out.
    let usage = berth::bandwidth::ops::billable(&app.pool, alice).await.unwrap().usage;
    assert_eq!((usage.bytes_in, usage.bytes_out), (bytes_in, bytes_out));
    let page = client.get("/bandwidth").await;
    let row = format!(r#"#bandwidth-sites tr[data-site="{site}"] td"#);
    let cells = page.texts(&row);
    assert_eq!(
        cells[1..],
        [
            berth::bandwidth::human(bytes_in),
            berth::bandwidth::human(bytes_out),
            berth::bandwidth::human(bytes_in + bytes_out)
        ]
    );

    // Read less than an interval ago: not due.
    assert!(
        meter::run_once(&app.pool, &platform, Duration::from_secs(3600))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn only_sites_with_an_active_container_are_read_and_another_customers_traffic_stays_theirs() {
    let app = TestApp::spawn().await;
    let alice = app.create_customer("alice").await;
    let bob = app.create_customer("bob").await;
    let alices = active_site(&app, alice, "alice.example.com").await;
    let bobs = active_site(&app, bob, "bob.example.com").await;
    // Still provisioning: no container yet.
    let pending = insert_site_with_job(&app, alice, "pending.example.com", &[], false).await;
    let asked = Arc::new(Mutex::new(Vec::new()));
    let seen = asked.clone();
    let platform = platform_with(scripted(move |site| {
        seen.lock().unwrap().push(site);
        Ok(Some(traffic(site as u64 % 1000 + 1, 10, None)))
    }));
    let outcomes = meter::run_once(&app.pool, &platform, Duration::ZERO).await.unwrap();
    assert_eq!(outcomes.len(), 2);
    let mut asked = asked.lock().unwrap().clone();
    asked.sort();
    assert_eq!(asked, [alices.0, bobs.0]);
    assert!(!asked.contains(&pending.0));
    let owners: Vec<(SiteId, CustomerId)> =
        sqlx::query_as("select site_id, customer_id from bandwidth_samples order by site_id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(owners, [(alices, alice), (bobs, bob)]);
    let alice_usage = berth::bandwidth::ops::billable(&app.pool, alice).await.unwrap().usage;
    assert_eq!(alice_usage.bytes_in, (alices.0 as u64 % 1000 + 1) as i64);
    consistent(&app).await;
    // A deleted site takes its reading with it.
    sqlx::query("delete from sites where id = $1")
        .bind(bobs)
        .execute(&app.pool)
        .await
        .unwrap();
    let readings: i64 = app.scalar("select count(*) from meter_readings").await;
    assert_eq!(readings, 1);
}

/// Two Berths on one database read the same containers at the same time, again and again,
/// while the traffic keeps growing: every byte the engine counted up to the last reading is
/// in the samples exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_meters_on_one_database_count_every_byte_once() {
    let app = TestApp::spawn().await;
    let alice = app.create_customer("alice").await;
    let mut sites = Vec::new();
    for n in 0..3 {
        sites.push(active_site(&app, alice, &format!("s{n}.example.com")).await);
    }
    // Each container's counters grow at every look, whoever looks.
    let counters: Arc<HashMap<i64, (AtomicU64, AtomicU64)>> = Arc::new(
        sites
            .iter()
            .map(|s| (s.0, (AtomicU64::new(0), AtomicU64::new(0))))
            .collect(),
    );
    let calls = Arc::new(AtomicUsize::new(0));
    let driver = |counters: Arc<HashMap<i64, (AtomicU64, AtomicU64)>>, calls: Arc<AtomicUsize>| {
        Arc::new(platform_with(scripted(move |site| {
            calls.fetch_add(1, Ordering::SeqCst);
            let (received, sent) = &counters[&site];
            let received = received.fetch_add(1_000 + site as u64 % 7, Ordering::SeqCst) + 1_000 + site as u64 % 7;
            let sent = sent.fetch_add(10_000, Ordering::SeqCst) + 10_000;
            Ok(Some(traffic(received, sent, Some("one run"))))
        })))
    };
    let other = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect(&app.database_url().await)
        .await
        .unwrap();
    let meters = [
        (app.pool.clone(), driver(counters.clone(), calls.clone())),
        (other, driver(counters.clone(), calls.clone())),
    ];
    let mut running = Vec::new();
    for (pool, platform) in meters {
        running.push(tokio::spawn(async move {
            let (mut read, mut skipped, mut resets) = (0, 0, 0);
            for _ in 0..40 {
                for outcome in meter::run_once(&pool, &platform, Duration::ZERO).await.unwrap() {
                    match outcome {
                        Outcome::Read(delta) => {
                            read += 1;
                            // The counters only grow: a reading that looks like a reset
                            // came from an older look committed after a newer one.
                            resets += usize::from(delta.reset);
                        }
                        Outcome::NotDue => skipped += 1,
                        other => panic!("{other:?}"),
                    }
                }
            }
            (read, skipped, resets)
        }));
    }
    let mut reads = Vec::new();
    for meter in running {
        reads.push(meter.await.unwrap());
    }
    assert!(
        reads.iter().all(|(read, _, _)| *read > 0),
        "both meters read: {reads:?}"
    );
    assert!(
        reads.iter().map(|(_, skipped, _)| skipped).sum::<usize>() > 0,
        "the meters met on a site at least once: {reads:?}"
    );
    for site in &sites {
        let (received, sent) = reading(&app, *site).await;
        assert_eq!(
            metered(&app, *site).await,
            (received, sent),
            "site {site}: the samples hold the last reading's counters exactly"
        );
        let (engine_received, engine_sent) = &counters[&site.0];
        assert!(received as u64 <= engine_received.load(Ordering::SeqCst));
        assert!(sent as u64 <= engine_sent.load(Ordering::SeqCst));
        assert!(received > 0);
    }
    assert!(
        reads.iter().all(|(_, _, resets)| *resets == 0),
        "no reading went back: {reads:?}"
    );
    consistent(&app).await;
    assert!(calls.load(Ordering::SeqCst) >= 3);
}

/// The meter as `berth serve` runs it: on the job runner, every interval, until stopped.
#[tokio::test]
async fn the_meter_reads_every_interval_and_stops_in_order() {
    let app = TestApp::spawn().await;
    let alice = app.create_customer("alice").await;
    let site = active_site(&app, alice, "ticking.example.com").await;
    let looks = Arc::new(AtomicU64::new(0));
    let count = looks.clone();
    let platform = Arc::new(platform_with(scripted(move |_| {
        let n = count.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(Some(traffic(n * 10, n * 100, None)))
    })));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let started = tokio::time::Instant::now();
    let worker = meter::spawn_until(
        app.pool.clone(),
        platform,
        Duration::from_secs(1),
        async move {
            let _ = stopped.await;
        },
        Duration::from_secs(2),
    );
    while looks.load(Ordering::SeqCst) < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the meter reads again each interval"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "not more often than each interval: three looks in {:?}",
        started.elapsed()
    );
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(5), worker)
        .await
        .expect("the meter stops")
        .unwrap();
    let n = looks.load(Ordering::SeqCst) as i64;
    assert_eq!(metered(&app, site).await, (n * 10, n * 100));
}
