//! Browser test of notices in headless Chromium (the plumbing is in [`crate::browser`]):
//! the navigation counts the notices not acknowledged; acknowledging one through htmx
//! marks it in place and the count drops, without a page load; a reload agrees.

use std::time::Instant;

use berth::notices::model::{Draft, publish, types};
use serde_json::json;

use crate::browser::Tools;
use crate::helpers::{PASSWORD, TestApp};

#[tokio::test]
async fn acknowledging_notices_in_a_real_browser() {
    let Some(tools) = Tools::find_or_skip() else { return };
    let started = Instant::now();
    let app = TestApp::spawn().await;
    let me = app.create_customer("notice-reader").await;
    let catalogue = types(&app.pool).await.unwrap();
    let mut tx = app.pool.begin().await.unwrap();
    let global = Draft::parse(
        &catalogue,
        "maintenance",
        "info",
        "Maintenance on Sunday",
        "From 02:00 UTC.",
    )
    .unwrap();
    let global = publish(&mut tx, None, &global).await.unwrap();
    let own = Draft::parse(
        &catalogue,
        "billing",
        "warning",
        "Your invoice is due",
        "Please pay.\nThank you.",
    )
    .unwrap();
    let own = publish(&mut tx, Some(me), &own).await.unwrap();
    tx.commit().await.unwrap();

    let browser = tools.start(&app.base).await;
    browser.sign_in("notice-reader", PASSWORD).await;
    browser.wait_for_path("/").await;
    browser.wait_for_text("#nav-notices-count", "2").await;
    browser.goto("/notices").await;
    browser.wait_for_path("/notices").await;
    browser.wait_for_js("typeof htmx", json!("object")).await;
    browser.js("window.__berth_marker = 42;").await;

    browser
        .click(&format!("#notice-{own} form[action$='/ack'] button"))
        .await;
    browser
        .wait_for_text(&format!("#notice-{own} .acknowledged"), "Acknowledged")
        .await;
    browser.wait_for_text("#nav-notices-count", "1").await;
    browser.wait_for_text("#toasts .toast", "Notice acknowledged.").await;
    assert_eq!(
        browser.js("return window.__berth_marker;").await,
        json!(42),
        "no page load"
    );
    assert_eq!(
        browser
            .js(&format!(
                "return document.querySelectorAll('#notice-{global} form').length;"
            ))
            .await,
        json!(1),
        "the other notice still waits"
    );

    browser.dismiss_toasts().await;
    browser
        .click(&format!("#notice-{global} form[action$='/ack'] button"))
        .await;
    browser
        .wait_for_text(&format!("#notice-{global} .acknowledged"), "Acknowledged")
        .await;
    browser
        .wait_for_js(
            "document.querySelector('#nav-notices-count').textContent.trim()",
            json!(""),
        )
        .await;
    assert_eq!(
        browser.js("return window.__berth_marker;").await,
        json!(42),
        "no page load"
    );

    browser.reload().await;
    browser.wait_for_path("/notices").await;
    assert_eq!(
        browser
            .js("return document.querySelectorAll('.notice .acknowledged').length;")
            .await,
        json!(2)
    );
    assert_eq!(
        browser
            .js("return document.querySelector('#nav-notices-count').textContent.trim();")
            .await,
        json!("")
    );
    let acknowledged: i64 = app.scalar("select count(*) from notice_acknowledgements").await;
    assert_eq!(acknowledged, 2);
    browser.close().await;
    eprintln!("browser test took {:.1?}", started.elapsed());
}
