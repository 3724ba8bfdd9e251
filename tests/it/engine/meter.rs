//! The meter on a real engine: traffic fetched through the preview address is in
//! currentBillableBandwidth by the next reading, once; after a restart (counters from zero)
//! the new traffic counts again, and nothing twice.

use std::time::{Duration, Instant};

use berth::identity::{CustomerId, KeyType};
use berth::sites::model::SiteId;
use serde_json::Value;

use super::{EngineApp, create_site, fetch};

/// The meter's interval in this test.
const INTERVAL: Duration = Duration::from_secs(1);
/// How long after a fetch its bytes may take to show: the next reading comes within one
/// interval of the last, plus the meter's look for due sites (a quarter interval), plus the
/// engine's answer and the API call.
const SHOWN_WITHIN: Duration = Duration::from_secs(3);
const FILE_BYTES: usize = 1_000_000;

/// (bytes in, bytes out) of the site in currentBillableBandwidth.
async fn billable(engine: &EngineApp, (customer, key): (CustomerId, &str), site: SiteId) -> (i64, i64) {
    let response = reqwest::Client::new()
        .post(format!("{}/api/Customer/currentBillableBandwidth", engine.base))
        .bearer_auth(key)
        .json(&serde_json::json!({ "customerId": customer.0 }))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    let sites = body["result"]["sites"].as_array().unwrap();
    let row = sites
        .iter()
        .find(|s| s["siteId"] == site.0)
        .unwrap_or_else(|| panic!("site {site} in {body}"));
    (row["bytesIn"].as_i64().unwrap(), row["bytesOut"].as_i64().unwrap())
}

/// Waits until the site's bytes out in currentBillableBandwidth reach `at_least`; how long
/// that took, and the figures then.
async fn shown(engine: &EngineApp, key: (CustomerId, &str), site: SiteId, at_least: i64) -> (Duration, (i64, i64)) {
    let started = Instant::now();
    loop {
        let figures = billable(engine, key, site).await;
        if figures.1 >= at_least {
            return (started.elapsed(), figures);
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "site {site}: {figures:?}, waiting for {at_least} bytes out"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn traffic_through_the_preview_address_is_billable_by_the_next_reading() {
    let Some(mut engine) = EngineApp::spawn().await else {
        return;
    };
    engine.start_worker();
    let site = create_site(&engine, "alice", "metered.example.com", "web").await;
    engine.provisioned(site).await;
    let customer: CustomerId = sqlx::query_scalar("select customer_id from sites where id = $1")
        .bind(site)
        .fetch_one(&engine.pool)
        .await
        .unwrap();
    let (_, secret) = crate::api::key(&engine, customer, KeyType::Standard).await;
    let key = (customer, secret.as_str());
    let big: String = (0..FILE_BYTES).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    let folder = engine.platform.data.join(format!("sites/{site}/production"));
    std::fs::write(folder.join("big.txt"), &big).unwrap();
    let preview = engine.preview(site).await;
    // The server answers before the meter starts: that traffic is in the first reading.
    fetch(&format!("{preview}/")).await;

    let meter = berth::bandwidth::meter::spawn(engine.pool.clone(), engine.platform.clone(), INTERVAL);
    let first_reading = Instant::now();
    loop {
        let read: Option<time::OffsetDateTime> =
            sqlx::query_scalar("select read_at from meter_readings where site_id = $1")
                .bind(site)
                .fetch_optional(&engine.pool)
                .await
                .unwrap()
                .flatten();
        if read.is_some() {
            break;
        }
        assert!(
            first_reading.elapsed() < Duration::from_secs(30),
            "the meter reads the container"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (in_before, out_before) = billable(&engine, key, site).await;
    assert!(out_before > 0, "the first page's bytes are in the first reading");

    assert_eq!(fetch(&format!("{preview}/big.txt")).await.len(), FILE_BYTES);
    let (took, (bytes_in, bytes_out)) = shown(&engine, key, site, out_before + FILE_BYTES as i64).await;
    eprintln!(
        "one fetch of {FILE_BYTES} bytes: {sent_total} bytes out, billable after {took:?}",
        sent_total = bytes_out - out_before
    );
    assert!(took <= SHOWN_WITHIN, "shown after {took:?}");
    // Sent by the container: the file, with its headers and the packets' own; counted once.
    let sent = bytes_out - out_before;
    assert!(
        sent < FILE_BYTES as i64 * 13 / 10,
        "{sent} bytes out for one fetch of {FILE_BYTES}"
    );
    // Received by it: the request, and the acknowledgements of what it sent.
    assert!(bytes_in > in_before, "{in_before} -> {bytes_in}");

    // A restart: the counters start again from zero, so the next reading is below the last
    // one; what is fetched after it counts, and what was counted before stays.
    engine
        .docker
        .restart_container(&berth::engine::container_name(site.0), None)
        .await
        .unwrap();
    let preview = engine.preview(site).await;
    assert_eq!(fetch(&format!("{preview}/big.txt")).await.len(), FILE_BYTES);
    let (took, (_, after_restart)) = shown(&engine, key, site, bytes_out + FILE_BYTES as i64).await;
    eprintln!(
        "after the restart: {} bytes out, billable after {took:?}",
        after_restart - bytes_out
    );
    assert!(took <= SHOWN_WITHIN, "shown after {took:?}");
    let sent = after_restart - bytes_out;
    assert!(
        sent < FILE_BYTES as i64 * 13 / 10,
        "{sent} bytes out after the restart, for one fetch of {FILE_BYTES}"
    );
    // Still so a few readings later: nothing is counted twice.
    tokio::time::sleep(INTERVAL * 3).await;
    let (_, settled) = billable(&engine, key, site).await;
    assert!(settled - after_restart < 50_000, "{after_restart} -> {settled}");

    meter.abort();
    engine.clean_up().await;
}
