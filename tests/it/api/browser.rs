//! Browser test of the API reference (`/api/docs`) in headless Chromium: the page rendered
//! on the server lists every method of the Customer API, its schema links lead to the
//! schemas, and the browser logs no error. (Overflow at 390 px and axe-core: the sweep in
//! `browser::shell`.)

use std::time::Instant;

use serde_json::json;

use crate::api::{BERTH_METHODS, SEED_METHODS};
use crate::browser::{Tools, count, text};
use crate::helpers::TestApp;

#[tokio::test]
async fn the_api_reference_renders_every_method() {
    let Some(tools) = Tools::find_or_skip() else { return };
    let started = Instant::now();
    let app = TestApp::spawn().await;
    let browser = tools.start(&app.base).await;

    browser.goto("/api/docs").await;
    browser.wait_for_text("h1", "Berth Customer API").await;
    assert_eq!(
        count(&browser, "article.api-operation").await,
        SEED_METHODS.len() + BERTH_METHODS.len()
    );
    for method in ["getKeys", "CP_Wizard", "listContacts", "deleteSite"] {
        let path = text(&browser, &format!("#op-{method} .api-path")).await;
        assert_eq!(path, format!("/api/Customer/{method}"));
    }
    // How to authorise is said.
    browser.wait_for_text(".api-auth", "Authorization: Bearer").await;
    // The index leads to a method, and the method's request schema to its description.
    browser.click(r##"#api-contents a[href="#op-createKey"]"##).await;
    browser.wait_for_js("location.hash", json!("#op-createKey")).await;
    browser.click(r##"#op-createKey a[href^="#schema-"]"##).await;
    browser
        .wait_for_js("location.hash.startsWith('#schema-')", json!(true))
        .await;
    let errors = browser.console_errors().await;
    assert!(errors.is_empty(), "{errors:?}");

    browser.close().await;
    eprintln!("browser_api: {:?}", started.elapsed());
}
