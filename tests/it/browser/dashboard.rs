//! The dashboard in a real browser: a critical notice for the customer is a banner on `/`,
//! acknowledged in place (htmx swaps the banner out, no page load) while the navigation's
//! unread count drops, on a wide screen and on a phone.

use serde_json::json;

use super::{MARKER, Tools, assert_not_reloaded};
use crate::dashboard::notice;
use crate::helpers::{PASSWORD, TestApp};

#[tokio::test]
async fn a_critical_notice_is_a_banner_acknowledged_in_place_at_both_sizes() {
    let Some(tools) = Tools::find_or_skip() else { return };
    let app = TestApp::spawn().await;
    let alice = app.create_customer("banner-user").await;
    let browser = tools.start(&app.base).await;
    browser.sign_in("banner-user", PASSWORD).await;
    browser.wait_for_path("/").await;

    for (width, height) in [(1280, 900), (390, 844)] {
        let title = format!("Outage in Frankfurt, seen at {width} px");
        let id = notice(&app, Some(alice), "critical", &title).await;
        browser
            .client
            .set_window_size(width, height)
            .await
            .expect("window size");
        browser.goto("/").await;
        browser.wait_for_path("/").await;
        let banner = format!("#banner-{id}");
        browser.wait_for_text(&banner, &title).await;
        browser.wait_for(&format!("{banner}.banner-critical")).await;
        // On a phone the count sits in the closed menu: its text, not what is shown.
        assert_eq!(
            browser
                .js("return document.querySelector('#nav-notices-count').textContent.trim();")
                .await,
            json!("1"),
            "at {width} px"
        );

        browser.wait_for_js("typeof htmx", json!("object")).await;
        browser.js(MARKER).await;
        browser.click(&format!(r#"{banner} form button[type="submit"]"#)).await;
        browser.wait_until_gone(&banner).await;
        browser
            .wait_for_js(
                "document.querySelector('#nav-notices-count').textContent.trim()",
                json!(""),
            )
            .await;
        browser.wait_for_text("#toasts .toast", "Notice acknowledged.").await;
        assert_not_reloaded(&browser, &format!("acknowledging at {width} px")).await;
        browser.dismiss_toasts().await;

        let acknowledged: bool = app
            .scalar(&format!(
                "select exists(select 1 from notice_acknowledgements where customer_id = {alice} and notice_id = {id})"
            ))
            .await;
        assert!(acknowledged, "acknowledged at {width} px");
        // A reload shows no banner: it is gone for good, not only from this page.
        browser.reload().await;
        browser.wait_for_path("/").await;
        assert_eq!(super::count(&browser, &banner).await, 0, "at {width} px after a reload");
    }
    browser.close().await;
}
