//! The shell in a real browser: every page, the customer's, the staff console's and those
//! seen signed out (the lists are checked against the GET routes in `src/`, so a new page
//! cannot be forgotten), fits a 390 px phone without sideways scrolling, axe-core (vendored
//! in `vendor/`, see `vendor/README.md`) finds no serious or critical violation, and the
//! browser logs no error (console, script or failed load), at 1280 and 390 px; Back and
//! Forward after in-place steps show whole pages; Enter advances the wizard.

use serde_json::{Value as Json, json};

use super::{Browser, Tools};
use crate::helpers::{PASSWORD, STAFF_PASSWORD, SecondFactorAccount, TestApp};
use crate::provisioning::insert_site_with_job;

const AXE: &str = include_str!("vendor/axe.min.js");

/// GET routes that are not pages: assets, probes, fragments htmx loads into a page, and
/// addresses that only redirect.
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
];

/// Pages seen signed out: (route, path).
const PUBLIC_PAGES: &[(&str, &str)] = &[
    ("/login", "/login"),
    ("/password-reset", "/password-reset"),
    // Without a token (or with a used one): the page that says the link no longer works.
    ("/email-undo", "/email-undo"),
    ("/staff/login", "/staff/login"),
    ("/api/docs", "/api/docs"),
];

/// The customer's pages: (route, path); `{site}` and `{key}` stand for the test's site and
/// API key.
const CUSTOMER_PAGES: &[(&str, &str)] = &[
    ("/", "/"),
    ("/account", "/account"),
    ("/account/cancel", "/account/cancel"),
    ("/account/security", "/account/security"),
    ("/account/security/passkeys", "/account/security/passkeys"),
    (
        "/account/security/passkeys/confirm",
        "/account/security/passkeys/confirm?next=/keys",
    ),
    ("/activity", "/activity"),
    ("/addresses", "/addresses"),
    ("/bandwidth", "/bandwidth"),
    ("/contacts", "/contacts"),
    ("/ftp-users", "/ftp-users"),
    // An FTP user that is not there: the not-found page in the shell.
    ("/ftp-users/{id}", "/ftp-users/999999"),
    ("/keys", "/keys"),
    ("/keys/{id}", "/keys/{key}"),
    ("/notices", "/notices"),
    ("/settings", "/settings"),
    ("/sites", "/sites"),
    ("/sites/{id}", "/sites/{site}"),
    ("/wizard/{step}", "/wizard/site"),
    ("/wizard/review", "/wizard/review"),
];

/// The staff console's pages: (route, path); `{customer}` stands for the test's customer.
const STAFF_PAGES: &[(&str, &str)] = &[
    ("/staff", "/staff"),
    ("/staff/customers/{id}", "/staff/customers/{customer}"),
    ("/staff/notices", "/staff/notices"),
    ("/staff/keys", "/staff/keys"),
    ("/staff/security", "/staff/security"),
    ("/staff/sessions", "/staff/sessions"),
];

/// Pages checked on the way to others: the second step of the staff member's sign-in.
const ON_THE_WAY: &[&str] = &["/login/second-factor"];

/// Pages that answer a 4xx on purpose: the browser logs that status as an error, which is
/// expected there and only there.
const ANSWER_4XX: &[&str] = &["/ftp-users/999999", "/email-undo"];

/// Every `.route("PATH", get(…))` and `.route(CONST, get(…))` in `src/` (a constant's value
/// is looked up as `const CONST: &str = "…"` in the same file).
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
        // Routers of unit tests are not the app's.
        let text = text.split("#[cfg(test)]").next().unwrap_or_default();
        for chunk in text.split(".route(").skip(1) {
            // Up to the end of the router's function at most.
            let call = chunk.split("\n}").next().unwrap_or("");
            if !call.contains("get(") {
                continue;
            }
            let call = call.trim_start();
            let route = if let Some(literal) = call.strip_prefix('"') {
                literal.split('"').next().map(str::to_owned)
            } else {
                let name: String = call
                    .chars()
                    .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                    .collect();
                (!name.is_empty())
                    .then(|| text.split(&format!("const {name}: &str = \"")).nth(1))
                    .flatten()
                    .and_then(|rest| rest.split('"').next())
                    .map(str::to_owned)
            };
            if let Some(route) = route {
                routes.push(route);
            }
        }
    }
    routes
}

#[test]
fn every_get_route_is_a_checked_page_or_listed_as_none() {
    let routes = get_routes();
    assert!(
        routes.iter().any(|r| r == "/account/security/passkeys"),
        "routes named by a constant are found"
    );
    for route in routes {
        let checked = [PUBLIC_PAGES, CUSTOMER_PAGES, STAFF_PAGES]
            .iter()
            .any(|pages| pages.iter().any(|(r, _)| *r == route));
        assert!(
            checked || ON_THE_WAY.contains(&route.as_str()) || NOT_PAGES.contains(&route.as_str()),
            "the GET route {route} is neither checked by the browser sweep nor listed in NOT_PAGES"
        );
    }
}

/// Whether the page fits the window's width, axe-core's serious or critical findings, and
/// what the browser logged as an error since the page was asked for.
async fn check(browser: &Browser, path: &str, width: u32) -> Vec<String> {
    let mut problems = Vec::new();
    let widths = browser
        .js("return [document.documentElement.scrollWidth, window.innerWidth];")
        .await;
    if widths[0].as_i64() > widths[1].as_i64() {
        // The innermost elements reaching past the window's right edge, to say what to fix.
        let wide = browser
            .js(
                "const w = window.innerWidth, out = [];
                 const past = el => el.getBoundingClientRect().right > w + 1;
                 for (const el of document.querySelectorAll('body *')) {
                   if (out.length < 3 && past(el) && ![...el.children].some(past)) {
                     out.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
                       + (typeof el.className === 'string' && el.className.trim() ? '.' + el.className.trim().split(/\\s+/).join('.') : ''));
                   }
                 }
                 return out.join(', ');",
            )
            .await;
        problems.push(format!(
            "{path} at {width} px is {} px wide ({})",
            widths[0],
            wide.as_str().unwrap_or_default()
        ));
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
    let own_status = format!(
        "{} - Failed to load resource: the server responded with a status of 4",
        browser.url(path)
    );
    for error in browser.console_errors().await {
        if ANSWER_4XX.contains(&path) && error.starts_with(&own_status) {
            continue;
        }
        problems.push(format!("{path} at {width} px: console error: {error}"));
    }
    problems
}

/// Opens each of `paths` at 1280 and at 390 px wide and [`check`]s it.
async fn sweep(browser: &Browser, paths: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    for (width, height) in [(1280, 900), (390, 844)] {
        browser
            .client
            .set_window_size(width, height)
            .await
            .expect("window size");
        for path in paths {
            browser.console_errors().await;
            browser.goto(path).await;
            browser.wait_for_js("document.readyState", json!("complete")).await;
            problems.extend(check(browser, path, width).await);
        }
    }
    problems
}

#[tokio::test]
async fn every_customer_page_fits_a_phone_passes_axe_and_logs_no_error_at_both_sizes() {
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
    let paths: Vec<String> = CUSTOMER_PAGES
        .iter()
        .map(|(_, path)| {
            path.replace("{site}", &site.to_string())
                .replace("{key}", &key.to_string())
        })
        .collect();

    let browser = tools.start(&app.base).await;
    browser.sign_in("shell-user", PASSWORD).await;
    browser.wait_for_path("/").await;
    let problems = sweep(&browser, &paths).await;
    browser.close().await;
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test]
async fn every_public_and_staff_page_fits_a_phone_passes_axe_and_logs_no_error_at_both_sizes() {
    let Some(tools) = Tools::find_or_skip() else { return };
    let app = TestApp::spawn().await;
    let customer = app.create_customer("staff-shell-customer").await;
    insert_site_with_job(&app, customer, "staffshell.example.com", &[], true).await;
    let staff = app.create_staff("shell-staff", true).await;
    let browser = tools.start(&app.base).await;

    // The browser's log is read: a page that is not there is logged as an error.
    browser.console_errors().await;
    browser.goto("/no-such-page").await;
    browser.wait_for_js("document.readyState", json!("complete")).await;
    let logged = browser.console_errors().await;
    assert!(
        logged.iter().any(|e| e.contains("/no-such-page") && e.contains("404")),
        "{logged:?}"
    );

    let public: Vec<String> = PUBLIC_PAGES.iter().map(|(_, path)| (*path).to_owned()).collect();
    let mut problems = sweep(&browser, &public).await;

    // The staff member signs in; the second step is checked on the way, at both sizes.
    browser.client.set_window_size(1280, 900).await.expect("window size");
    browser.goto("/staff/login").await;
    browser.fill("#login-username", "shell-staff").await;
    browser.fill("#login-password", STAFF_PASSWORD).await;
    browser
        .click(r#"form[action="/staff/login"] button[type="submit"]"#)
        .await;
    browser.wait_for_path("/login/second-factor").await;
    problems.extend(sweep(&browser, &["/login/second-factor".to_owned()]).await);
    browser.client.set_window_size(1280, 900).await.expect("window size");
    let code = app.totp_code(SecondFactorAccount::Staff(staff)).await;
    browser.fill("#second-code", &code).await;
    browser
        .click(r#"form[action="/login/second-factor"] button[type="submit"]"#)
        .await;
    browser.wait_for_path("/staff").await;

    let paths: Vec<String> = STAFF_PAGES
        .iter()
        .map(|(_, path)| path.replace("{customer}", &customer.to_string()))
        .collect();
    problems.extend(sweep(&browser, &paths).await);
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
