//! Browser test of the API reference (`/api/docs`) in headless Chromium: the vendored
//! Swagger UI runs under Berth's content security policy, reads `/api/openapi.json` and
//! shows every method of the Customer API.

use std::time::Instant;

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
    browser.wait_for_text(".swagger-ui .title", "Berth Customer API").await;
    browser.wait_for(".opblock").await;
    assert_eq!(
        count(&browser, ".opblock").await,
        SEED_METHODS.len() + BERTH_METHODS.len()
    );
    for method in ["getKeys", "CP_Wizard", "listContacts", "deleteSite"] {
        let path = text(&browser, &format!(r#".opblock[id$="-{method}"] .opblock-summary-path"#)).await;
        assert_eq!(path.replace('\u{200b}', ""), format!("/api/Customer/{method}"));
    }
    // The security scheme is offered (Authorize).
    browser.wait_for(".swagger-ui .authorize").await;

    browser.close().await;
    eprintln!("browser_api: {:?}", started.elapsed());
}
