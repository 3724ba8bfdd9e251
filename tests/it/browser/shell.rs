//! The shell in a real browser: every customer page (the list is checked against the GET
//! routes in `src/`, so a new page cannot be forgotten) fits a 390 px phone without
//! sideways scrolling, and axe-core (vendored in `vendor/`, see `vendor/README.md`) finds no
//! serious or critical violation at 1280 and 390 px; Back and Forward after in-place
//! steps show whole pages; Enter advances the wizard.

use serde_json::{Value as Json, json};

use super::{Browser, Tools};
use crate::helpers::{PASSWORD, TestApp};
use crate::provisioning::insert_site_with_job;

const AXE: &str = include_str!("vendor/axe.min.js");

/// GET routes that are not pages a customer sees in the shell.
const NOT_PAGES: &[&str] = &[
    "/static/{hash}/{name}",
    "/favicon.ico",
    "/apple-touch-icon.png",
    "/readyz",
    "/healthz",
    "/logout",
    "/wizard",
    "/sites/{id}/logs",
    "/sites/{id}/progress",
    "/sites/{id}/state",
    "/sites/{id}/zone",
    "/sites/{id}/records",
    "/dns-records/{id}/edit",
    "/ftp-users/{id}/edit",
    "/api/openapi.json",
    "/api/{*rest}",
    "/staff",
    "/staff/customers/{id}",
    "/staff/login",
    "/staff/notices",
    "/staff/keys",
    "/login",
];

/// Pages axe-core does not judge yet: the vendored Swagger UI of `/api/docs` has serious
/// findings in its own markup (nested-interactive, and low-contrast version stamps). Open
/// work: a server-rendered reference from the same OpenAPI document. The page is still
/// checked for overflow.
const AXE_NOT_YET: &[&str] = &["/api/docs"];

/// Every `.route("PATH", get(…))` in `src/`.
fn get_routes() -> Vec<String> {
    let mut routes = Vec::new();
    let mut files = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for chunk in text.split(".route(\"").skip(1) {
            let Some((route, rest)) = chunk.split_once('"') else {
                continue;
            };
            let call = rest.split(".route(").next().unwrap_or("");
            if call.contains("get(") {
                routes.push(route.to_owned());
            }
        }
    }
    routes
}

/// Whether the page fits the window's width, and axe-core's serious or critical findings.
async fn check(browser: &Browser, path: &str, width: u32) -> Vec<String> {
    let mut problems = Vec::new();
    let widths = browser
        .js("return [document.documentElement.scrollWidth, window.innerWidth];")
        .await;
    if widths[0].as_i64() > widths[1].as_i64() {
        problems.push(format!("{path} at {width} px is {} px wide", widths[0]));
    }
    if AXE_NOT_YET.contains(&path) {
        return problems;
    }
    browser.js(&format!("{AXE}\nreturn true;")).await;
    let result: Json = browser
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { resultTypes: ['violations'] })
               .then(r => done(r.violations
                 .filter(v => v.impact === 'serious' || v.impact === 'critical')
                 .map(v => v.id + ' (' + v.impact + '): ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | '))))
               .catch(e => done(['axe failed: ' + e]));",
            vec![],
        )
        .await
        .expect("axe runs");
    for v in result.as_array().into_iter().flatten() {
        problems.push(format!("{path} at {width} px: {}", v.as_str().unwrap_or_default()));
    }
    problems
}

#[tokio::test]
async fn every_page_fits_a_phone_and_passes_axe_at_both_sizes() {
    let Some(tools) = Tools::find_or_skip() else { return };
    let app = TestApp::spawn().await;
    let alice = app.create_customer("shell-user").await;
    let site = insert_site_with_job(&app, alice, "shell.example.com", &[], true).await;
    let key: i64 = sqlx::query_scalar(
        "insert into api_keys (customer_id, name, type, prefix, secret_hash)
         values ($1, 'deploy', 'standard', 'abcd1234', decode(repeat('ab', 32), 'hex')) returning id",
    )
    .bind(alice)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let pages: Vec<(&str, String)> = vec![
        ("/", "/".into()),
        ("/account", "/account".into()),
        ("/account/cancel", "/account/cancel".into()),
        ("/activity", "/activity".into()),
        ("/addresses", "/addresses".into()),
        ("/api/docs", "/api/docs".into()),
        ("/bandwidth", "/bandwidth".into()),
        ("/contacts", "/contacts".into()),
        ("/ftp-users", "/ftp-users".into()),
        ("/ftp-users/{id}", "/ftp-users/999999".into()),
        ("/keys", "/keys".into()),
        ("/keys/{id}", format!("/keys/{key}")),
        ("/notices", "/notices".into()),
        ("/settings", "/settings".into()),
        ("/sites", "/sites".into()),
        ("/sites/{id}", format!("/sites/{site}")),
        ("/wizard/{step}", "/wizard/site".into()),
        ("/wizard/review", "/wizard/review".into()),
    ];
    for route in get_routes() {
        assert!(
            NOT_PAGES.contains(&route.as_str()) || pages.iter().any(|(r, _)| *r == route),
            "the GET route {route} is neither checked here nor listed in NOT_PAGES"
        );
    }

    let browser = tools.start(&app.base).await;
    browser.sign_in("shell-user", PASSWORD).await;
    browser.wait_for_path("/").await;
    let mut problems = Vec::new();
    for (width, height) in [(1280, 900), (390, 844)] {
        browser
            .client
            .set_window_size(width, height)
            .await
            .expect("window size");
        for (_, path) in &pages {
            browser.goto(path).await;
            browser.wait_for_js("document.readyState", json!("complete")).await;
            problems.extend(check(&browser, path, width).await);
        }
    }
    browser.close().await;
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test]
async fn enter_advances_the_wizard_and_back_and_forward_show_whole_pages() {
    let Some(tools) = Tools::find_or_skip() else { return };
    let app = TestApp::spawn().await;
    app.create_customer("wizard-user").await;
    let browser = tools.start(&app.base).await;
    browser.sign_in("wizard-user", PASSWORD).await;
    browser.wait_for_path("/").await;
    browser.goto("/wizard/site").await;
    browser.wait_for_js("typeof htmx", json!("object")).await;
    browser.fill("#wiz-site_name", "shop").await;
    // Enter in a field presses the form's first button: Next, not Back.
    browser.fill("#wiz-site_hostname", "shop.example.com\n").await;
    browser.wait_for_path("/wizard/container").await;
    // Focus is in the new content, not at the top of the page.
    browser
        .wait_for_js(
            "document.querySelector('#main').contains(document.activeElement)",
            json!(true),
        )
        .await;
    // Enter on step 2 goes on as well (its first button is Next, though Back is shown first).
    let first = browser
        .js("return document.querySelector('#main form button[type=submit]').value;")
        .await;
    assert_eq!(first, json!("next"));

    // Back and Forward: whole pages, with the navigation, never the content alone.
    let whole = "document.querySelectorAll('nav[aria-label=Main]').length === 1 && document.querySelectorAll('#main').length === 1";
    browser.client.back().await.expect("back");
    browser.wait_for_path("/wizard/site").await;
    browser.wait_for_js(whole, json!(true)).await;
    browser.client.forward().await.expect("forward");
    browser.wait_for_path("/wizard/container").await;
    browser.wait_for_js(whole, json!(true)).await;

    // A filter pushes its URL; Back shows the whole unfiltered page.
    browser.goto("/keys").await;
    browser.wait_for_js("typeof htmx", json!("object")).await;
    browser.click(".filter button").await;
    browser.wait_for_js("location.search.length > 0", json!(true)).await;
    browser.client.back().await.expect("back");
    browser.wait_for_js("location.search", json!("")).await;
    browser.wait_for_js(whole, json!(true)).await;
    browser.close().await;
}
