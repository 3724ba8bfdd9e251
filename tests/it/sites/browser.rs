//! The site page's controls in headless Chromium (the plumbing is in [`crate::browser`]):
//! Stop through htmx, its job's progress followed until done, the live state block
//! refreshing itself every 5 seconds with no reload, the logs refreshed in place, and a
//! deletion refused inline for a wrong hostname, then done.

use std::time::{Duration, Instant};

use serde_json::json;

use super::{active_site, drain};
use crate::browser::{MARKER, Tools, assert_not_reloaded, count, text, toast};
use crate::helpers::{PASSWORD, TestApp};

#[tokio::test]
async fn the_site_controls_in_a_real_browser() {
    let Some(tools) = Tools::find_or_skip() else { return };
    let started = Instant::now();
    let app = TestApp::spawn().await;
    let customer = app.create_customer("site-user").await;
    let site = active_site(&app, customer, "shop.example.com").await;
    let browser = tools.start(&app.base).await;

    browser.sign_in("site-user", PASSWORD).await;
    browser.wait_for_path("/").await;
    browser.goto(&format!("/sites/{site}")).await;
    browser.wait_for_js("typeof htmx", json!("object")).await;
    browser.js(MARKER).await;
    assert_eq!(text(&browser, "#engine-state").await, "No container");
    assert_eq!(text(&browser, "#engine-driver").await, "development");

    // Stop, through htmx: the job shows, and follows itself until done.
    browser.click("#site-controls form[action$='/stop'] button").await;
    toast(&browser, "Stop requested").await;
    browser.wait_for_text("#progress h2", "Stop: pending").await;
    browser
        .wait_for_text("#desired-state", "You asked for it to be stopped.")
        .await;
    drain(&app).await;
    browser.wait_for_text("#progress h2", "Stop: done").await;
    assert_not_reloaded(&browser, "stop").await;

    // The live block refreshes itself: a change made elsewhere shows within 5 seconds.
    sqlx::query("update containers set desired_state = 'running' where site_id = $1")
        .bind(site)
        .execute(&app.pool)
        .await
        .unwrap();
    let client = &browser;
    browser
        .eventually_within(Duration::from_secs(8), "the state block to refresh", async || {
            Ok((count(client, "#desired-state").await == 0).then_some(()))
        })
        .await;
    assert_not_reloaded(&browser, "the state's refresh").await;

    // The logs, refreshed in place.
    browser.click("#logs-refresh").await;
    browser.wait_for_text("#logs-note", "development driver").await;
    assert_not_reloaded(&browser, "the logs' refresh").await;

    // Delete: a wrong hostname is refused beside the field, then the right one deletes.
    browser.click("#delete-site summary").await;
    browser.fill("#delete-hostname", "shop.example.org").await;
    browser.click("#delete-site button[type='submit']").await;
    browser
        .wait_for_text("#delete-hostname-error", "type shop.example.com")
        .await;
    assert_eq!(
        browser.js("return document.activeElement.id;").await,
        json!("delete-hostname"),
        "focus moves to the field in error"
    );
    browser.fill("#delete-hostname", "shop.example.com").await;
    browser.click("#delete-site button[type='submit']").await;
    toast(&browser, "Site deleted").await;
    browser.wait_for_text("#files-until", "support can restore").await;
    assert_eq!(count(&browser, "#site-controls").await, 0);
    assert_eq!(count(&browser, "#delete-site").await, 0);
    assert_not_reloaded(&browser, "delete").await;
    let status: String = app.scalar(&format!("select status from sites where id = {site}")).await;
    assert_eq!(status, "deleted");

    browser.close().await;
    eprintln!("browser_sites: {:?}", started.elapsed());
}
