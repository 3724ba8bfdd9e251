//! Browser test of the onboarding wizard in headless Chromium (the plumbing is in
//! [`crate::browser`]): every step through htmx, a 422 shown inline at the container step,
//! "Back" keeping what was typed, the review, "Create the site" and the site page whose
//! progress block htmx polls until the provisioning worker has finished the job.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use fantoccini::Locator;
use serde_json::{Value as Json, json};
use tokio::task::JoinHandle;

use crate::browser::{Browser, Tools};
use crate::helpers::{PASSWORD, TestApp};

/// How long the site page may take to show the finished job (the worker idles 500 ms
/// between polls, the page polls every second).
const PROVISIONING_TIMEOUT: Duration = Duration::from_secs(20);

const SITE_NAME: &str = "Bücher Shop";
const HOSTNAME: &str = "bücher-shop.example";
const ALIAS: &str = "www.bücher-shop.example";
const CONTAINER: &str = "shop-web";

const NEXT: &str = r#"#main form button[name="nav"][value="next"]"#;
const BACK: &str = r#"#main form button[name="nav"][value="back"]"#;
const CREATE: &str = r#"#main form button[name="nav"][value="create"]"#;

/// Set in the page before htmx requests; still there afterwards only if htmx swapped a
/// fragment instead of the browser loading a new page.
const MARKER: &str = "window.__berth_marker = 42;";

/// Stops the provisioning worker when the test ends, also when it panics.
struct Worker(JoinHandle<()>);

impl Drop for Worker {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The visible text of the first element matching `css`, trimmed.
/// Found anew on each try: a block the page refreshes (the job's progress) may be replaced
/// between finding it and reading it.
async fn text(browser: &Browser, css: &str) -> String {
    let client = &browser.client;
    browser
        .eventually(&format!("the text of {css}"), async || {
            let element = client.find(Locator::Css(css)).await?;
            Ok(Some(element.text().await?.trim().to_owned()))
        })
        .await
}

/// The attribute `name` of the first element matching `css`, found anew on each try like
/// [`text`] (the progress block is replaced while the job runs).
async fn attr(browser: &Browser, css: &str, name: &str) -> Option<String> {
    let client = &browser.client;
    browser
        .eventually(&format!("attribute {name} of {css}"), async || {
            let element = client.find(Locator::Css(css)).await?;
            Ok(Some(element.attr(name).await?))
        })
        .await
}

/// Chooses the option `value` of the `<select>` `css` the way a user does (again from the
/// start if a swap replaced it meanwhile), until the select shows it.
async fn select(browser: &Browser, css: &str, value: &str) {
    let client = &browser.client;
    browser
        .eventually(&format!("choosing {value:?} in {css}"), async || {
            let element = match client.find(Locator::Css(css)).await {
                Ok(element) => element,
                Err(e) if e.is_no_such_element() => return Ok(None),
                Err(e) => return Err(e),
            };
            element.select_by_value(value).await?;
            Ok((element.prop("value").await?.as_deref() == Some(value)).then_some(()))
        })
        .await;
}

/// Asserts the page was not reloaded since [`MARKER`] was set: htmx swapped a fragment.
async fn assert_not_reloaded(browser: &Browser, when: &str) {
    assert_eq!(
        browser.js("return window.__berth_marker;").await,
        json!(42),
        "{when}: htmx must swap #main, not load a new page\n{}",
        browser.describe().await
    );
    assert_eq!(
        browser
            .js("return [document.querySelectorAll('#main').length, document.querySelectorAll('header').length];")
            .await,
        json!([1, 1]),
        "{when}: the fragment, not a whole page, goes into #main"
    );
}

/// The wizard step the step indicator marks as the current one.
async fn current_step(browser: &Browser) -> String {
    text(browser, r#".wizard-steps li[aria-current="step"]"#).await
}

#[tokio::test]
async fn wizard_creates_a_site_in_a_real_browser() {
    let Some(tools) = Tools::find_or_skip() else { return };
    let started = Instant::now();
    let app = TestApp::spawn().await;
    let customer = app.create_customer("wizard-user").await;
    let browser = tools.start(&app.base).await;

    browser.sign_in("wizard-user", PASSWORD).await;
    browser.wait_for_path("/").await;
    browser.wait_for_text("#signed-in-as", "wizard-user").await;

    // Step 1, the site: /wizard resumes at the first unfinished step.
    browser.goto("/wizard").await;
    browser.wait_for_path("/wizard/site").await;
    browser.wait_for_js("typeof htmx", json!("object")).await;
    assert_eq!(current_step(&browser).await, "Site");
    browser.js(MARKER).await;
    browser.fill("#wiz-site_name", SITE_NAME).await;
    browser.fill("#wiz-site_hostname", HOSTNAME).await;
    browser.click(NEXT).await;

    // Step 2, the container: an OS not offered for the type and too small a disk are
    // refused inline (422 swapped into #main), with what was typed kept.
    browser.wait_for("#wiz-container_name").await;
    browser.wait_for_path("/wizard/container").await;
    assert_eq!(current_step(&browser).await, "Container");
    assert_not_reloaded(&browser, "site step → container step").await;
    browser.fill("#wiz-container_name", CONTAINER).await;
    select(&browser, "#wiz-container_type", "static").await;
    select(&browser, "#wiz-container_os_id", "debian-12").await;
    select(&browser, "#wiz-container_size", "small").await;
    browser.fill("#wiz-container_disk_space", "5").await;
    browser.click(NEXT).await;

    let os_error = text(&browser, "#wiz-container_os_id-error").await;
    assert!(
        os_error.contains("Not offered for this container type") && os_error.contains("Debian 13"),
        "OS message: {os_error:?}"
    );
    let disk_error = text(&browser, "#wiz-container_disk_space-error").await;
    assert!(disk_error.contains("10 to 50 GiB"), "disk message: {disk_error:?}");
    for (field, error) in [
        ("#wiz-container_os_id", "wiz-container_os_id-error"),
        ("#wiz-container_disk_space", "wiz-container_disk_space-error"),
    ] {
        browser.wait_for_attr(field, "aria-invalid", "true").await;
        let described = attr(&browser, field, "aria-describedby").await.unwrap_or_default();
        assert!(
            described.split_whitespace().any(|id| id == error),
            "{field} aria-describedby: {described:?}"
        );
    }
    for valid in ["#wiz-container_name", "#wiz-container_type", "#wiz-container_size"] {
        assert_eq!(attr(&browser, valid, "aria-invalid").await, None, "{valid} is valid");
    }
    for message in ["#wiz-container_os_id-error", "#wiz-container_disk_space-error"] {
        assert!(
            browser.wait_for(message).await.is_displayed().await.unwrap(),
            "{message} is visible"
        );
    }
    for (field, typed) in [
        ("#wiz-container_name", CONTAINER),
        ("#wiz-container_type", "static"),
        ("#wiz-container_os_id", "debian-12"),
        ("#wiz-container_size", "small"),
        ("#wiz-container_disk_space", "5"),
    ] {
        assert_eq!(browser.value(field).await, typed, "{field} keeps what was typed");
    }
    assert_not_reloaded(&browser, "container step refused").await;
    assert_eq!(browser.path().await, "/wizard/container");
    browser
        .wait_for_js(
            "document.activeElement && document.activeElement.id",
            json!("wiz-container_os_id"),
        )
        .await;

    // Back to the site step: it shows what was typed there.
    browser.click(BACK).await;
    browser.wait_for("#wiz-site_name").await;
    browser.wait_for_path("/wizard/site").await;
    assert_eq!(current_step(&browser).await, "Site");
    assert_not_reloaded(&browser, "container step → back to the site step").await;
    assert_eq!(browser.value("#wiz-site_name").await, SITE_NAME);
    assert_eq!(browser.value("#wiz-site_hostname").await, HOSTNAME);

    // Forward again: the container step still has what was typed before it was refused.
    browser.click(NEXT).await;
    browser.wait_for("#wiz-container_name").await;
    browser.wait_for_path("/wizard/container").await;
    assert_not_reloaded(&browser, "site step → container step again").await;
    for (field, typed) in [
        ("#wiz-container_name", CONTAINER),
        ("#wiz-container_type", "static"),
        ("#wiz-container_os_id", "debian-12"),
        ("#wiz-container_size", "small"),
        ("#wiz-container_disk_space", "5"),
    ] {
        assert_eq!(browser.value(field).await, typed, "{field} kept after going back");
    }
    assert!(
        browser
            .client
            .find_all(Locator::Css("#main .field-error"))
            .await
            .unwrap()
            .is_empty(),
        "a step opened again shows no old messages"
    );
    select(&browser, "#wiz-container_os_id", "debian-13").await;
    browser.fill("#wiz-container_disk_space", "20").await;
    browser.click(NEXT).await;

    // Step 3, the environments: production is there already.
    browser.wait_for("#wiz-env-0").await;
    browser.wait_for_path("/wizard/environments").await;
    assert_eq!(current_step(&browser).await, "Environments");
    assert_not_reloaded(&browser, "container step → environments step").await;
    assert_eq!(browser.value("#wiz-env-0").await, "production");
    assert_eq!(browser.value("#wiz-env-1").await, "");
    browser.fill("#wiz-env-1", "staging").await;
    browser.fill("#wiz-alias-0", ALIAS).await;
    browser.click(NEXT).await;

    // Step 4, the review, with the hostnames in Unicode.
    browser.wait_for("#review").await;
    browser.wait_for_path("/wizard/review").await;
    assert_eq!(current_step(&browser).await, "Review");
    assert_not_reloaded(&browser, "environments step → review").await;
    assert_eq!(text(&browser, "#review-site").await, SITE_NAME);
    assert_eq!(text(&browser, "#review-hostname").await, HOSTNAME);
    assert_eq!(text(&browser, "#review-environments").await, "production, staging");
    assert_eq!(text(&browser, "#review-aliases").await, ALIAS);
    let container = text(&browser, "#review-container").await;
    assert!(
        container.starts_with(&format!(
            "{CONTAINER}: Static files (nginx) on Debian 13 (trixie), Small"
        )) && container.ends_with("20 GiB disk"),
        "review of the container: {container:?}"
    );
    let dns = browser
        .js("return Array.from(document.querySelectorAll('#review-dns tbody tr td:first-child')).map(td => td.innerText.trim());")
        .await;
    assert_eq!(dns, json!([HOSTNAME, ALIAS]), "planned DNS records");

    // Create: HX-Redirect loads the site page (a full page load).
    browser.click(CREATE).await;
    let client = &browser.client;
    let path = browser
        .eventually("the site page", async || {
            let here = client.current_url().await?;
            let state = client.execute("return document.readyState", vec![]).await?;
            let on_site = here
                .path()
                .strip_prefix("/sites/")
                .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()));
            Ok((on_site && state == json!("complete")).then(|| here.path().to_owned()))
        })
        .await;
    let site: i64 = sqlx::query_scalar("select id from sites where customer_id = $1")
        .bind(customer)
        .fetch_one(&app.pool)
        .await
        .expect("exactly one site was created");
    assert_eq!(path, format!("/sites/{site}"));
    assert_eq!(
        browser.js("return window.__berth_marker === undefined;").await,
        json!(true),
        "HX-Redirect loads the site page in full"
    );
    let drafts: i64 = app.scalar("select count(*) from wizard_drafts").await;
    assert_eq!(drafts, 0, "the draft is gone once the site exists");

    // No worker runs yet: the job waits, and the page polls its progress.
    browser.wait_for_js("typeof htmx", json!("object")).await;
    assert_eq!(text(&browser, "h1").await, SITE_NAME);
    assert_eq!(text(&browser, "#site-status").await, "provisioning");
    assert_eq!(text(&browser, "#job-status").await, "pending");
    assert_eq!(attr(&browser, "#job-progress", "value").await.as_deref(), Some("0"));
    assert_eq!(
        attr(&browser, "#progress", "hx-get").await,
        Some(format!("/sites/{site}/progress")),
        "the page polls while the job is pending"
    );
    assert_eq!(text(&browser, "#site-hostname").await, HOSTNAME);
    assert_eq!(text(&browser, "#site-aliases").await, ALIAS);
    assert_eq!(text(&browser, "#container-address").await, "not allocated yet");
    browser.js(MARKER).await;

    // The worker runs the job; the polled block shows it finished, without a reload.
    let worker = Worker(berth::provisioning::spawn(app.pool.clone(), app.state.platform.clone()));
    browser
        .eventually_within(PROVISIONING_TIMEOUT, "#job-status to read done", async || {
            let status = client.find(Locator::Css("#job-status")).await?.text().await?;
            Ok((status.trim() == "done").then_some(()))
        })
        .await;
    browser
        .wait_for_js("document.getElementById('job-progress').value", json!(100))
        .await;
    assert_eq!(attr(&browser, "#job-progress", "value").await.as_deref(), Some("100"));
    let steps: Json = browser
        .js("return Array.from(document.querySelectorAll('#job-steps li')).map(li => li.dataset.status);")
        .await;
    assert_eq!(
        steps,
        json!(["done", "done", "done", "done", "done"]),
        "every step done"
    );
    assert_eq!(
        attr(&browser, "#progress", "hx-get").await,
        None,
        "polling stops once the job is done"
    );
    assert_eq!(
        browser.js("return window.__berth_marker;").await,
        json!(42),
        "the progress reached 100 by htmx polling, not by a reload"
    );

    // When the job finishes, the page's content is fetched again in place: the site's
    // status and address show without a reload.
    browser.wait_for_text("#site-status", "active").await;
    assert_eq!(
        browser.js("return window.__berth_marker;").await,
        json!(42),
        "updated in place"
    );

    // After a reload, the rest of the page shows the active site.
    browser.reload().await;
    browser.wait_for_path(&path).await;
    assert_eq!(
        browser.js("return window.__berth_marker === undefined;").await,
        json!(true),
        "reloaded"
    );
    assert_eq!(text(&browser, "#site-status").await, "active");
    assert_eq!(text(&browser, "#job-status").await, "done");
    assert_eq!(text(&browser, "#container-name").await, format!("{CONTAINER} (active)"));
    let address = text(&browser, "#container-address").await;
    let address: IpAddr = address
        .parse()
        .unwrap_or_else(|_| panic!("the container address is filled: {address:?}"));
    let environments: Json = browser
        .js("return Array.from(document.querySelectorAll('#site-environments li')).map(li => li.innerText.trim());")
        .await;
    assert_eq!(
        environments,
        json!(["production (active)", "staging (active)"]),
        "environments"
    );
    let records = browser
        .js("return Array.from(document.querySelectorAll('#dns-records tbody tr'))
                .map(tr => Array.from(tr.cells).slice(0, 4).map(td => td.innerText.trim()));")
        .await;
    let mut records: Vec<Vec<String>> = serde_json::from_value(records).expect("rows of cells");
    records.sort();
    // Shown in Unicode (stored as punycode).
    let row = |name: &str| vec![name.to_owned(), "A".to_owned(), address.to_string(), "3600".to_owned()];
    let mut expected = vec![row(HOSTNAME), row(ALIAS)];
    expected.sort();
    assert_eq!(records, expected, "the DNS records have the container's address");

    drop(worker);
    browser.close().await;
    eprintln!("browser wizard test took {:.1?}", started.elapsed());
}
