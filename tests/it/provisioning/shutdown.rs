//! The provisioning worker on a stop: it claims nothing more, lets the step in flight
//! finish and commit within the drain time, and rolls back one the drain time cuts off.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, oneshot};

use super::{insert_site_with_job, step};
use crate::helpers::{FakeDriver, TestApp, platform_with};

/// Starts a worker with `driver` and `drain`, waits until the driver has begun, stops the
/// worker, and returns how long it took to stop.
async fn stop_while_creating(app: &TestApp, takes: Duration, drain: Duration) -> Duration {
    let begun = Arc::new(Notify::new());
    let signal = begun.clone();
    let driver = Arc::new(platform_with(FakeDriver::new().on_ensure(move |_| {
        let begun = signal.clone();
        async move {
            // Creates containers slowly, and says when it has begun.
            begun.notify_one();
            tokio::time::sleep(takes).await;
            Ok(())
        }
    })));
    let (stop, stopped) = oneshot::channel::<()>();
    let worker = berth::provisioning::worker::spawn_until(
        app.pool.clone(),
        driver,
        async move {
            let _ = stopped.await;
        },
        drain,
        Arc::default(),
    );
    tokio::time::timeout(Duration::from_secs(10), begun.notified())
        .await
        .expect("the worker reaches create_container");
    let asked = Instant::now();
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(10), worker)
        .await
        .expect("the worker stops")
        .expect("the worker ends normally");
    asked.elapsed()
}

#[tokio::test]
async fn a_stop_lets_the_step_in_flight_finish_and_claims_nothing_more() {
    let app = TestApp::spawn().await;
    let alice = app.create_customer("alice").await;
    let site = insert_site_with_job(&app, alice, "drain.example.com", &[], true).await;

    let took = stop_while_creating(&app, Duration::from_millis(700), Duration::from_secs(5)).await;

    assert!(took >= Duration::from_millis(400), "waited for the step: {took:?}");
    assert!(
        took < Duration::from_secs(3),
        "did not wait out the drain time: {took:?}"
    );
    let (status, attempts, _) = step(&app, site, "create_container").await;
    assert_eq!((status.as_str(), attempts), ("done", 1), "the step committed");
    let (status, attempts, _) = step(&app, site, "create_environments").await;
    assert_eq!(
        (status.as_str(), attempts),
        ("pending", 0),
        "nothing claimed after the stop"
    );
}

#[tokio::test]
async fn a_step_the_drain_time_cuts_off_rolls_back_and_runs_again_later() {
    let app = TestApp::spawn().await;
    let alice = app.create_customer("alice").await;
    let site = insert_site_with_job(&app, alice, "cut.example.com", &[], true).await;

    let took = stop_while_creating(&app, Duration::from_secs(30), Duration::from_millis(200)).await;

    assert!(
        took < Duration::from_secs(3),
        "stopped at the end of the drain time: {took:?}"
    );
    let (status, attempts, error) = step(&app, site, "create_container").await;
    assert_eq!(
        (status.as_str(), attempts, error),
        ("pending", 0, None),
        "rolled back, not counted"
    );
    // The next worker runs it.
    assert!(super::drain(&app, &crate::helpers::dev_platform()).await >= 1);
    assert_eq!(step(&app, site, "create_container").await.0, "done");
}
