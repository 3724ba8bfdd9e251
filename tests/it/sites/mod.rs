//! The site page and the customer's controls on the development driver (no engine): the
//! engine's state, the driver, the files folders and the logs on the page, refreshed as
//! fragments; start, stop and restart as jobs that run in the order asked, once each;
//! delete with its hostname typed, its files kept 7 days then removed; staff's restore;
//! and nobody else's site reachable. The same on a real engine: `engine/controls.rs`.

pub mod api;
pub mod browser;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use berth::engine::EngineResult;
use berth::identity::CustomerId;
use berth::provisioning::run_once;
use berth::sites::model::SiteId;
use reqwest::StatusCode;

use crate::helpers::*;
use crate::provisioning::insert_site_with_job;

/// The development driver, recording every call ("ensure", "start", "stop", "restart",
/// "remove") in order, and failing the calls named in `failures` that many times.
#[derive(Clone, Default)]
pub struct Recorder {
    pub calls: Arc<Mutex<Vec<String>>>,
    pub failures: Arc<Mutex<HashMap<&'static str, usize>>>,
}

impl Recorder {
    fn call(&self, what: &'static str) -> EngineResult<()> {
        self.calls.lock().unwrap().push(what.to_owned());
        let mut failures = self.failures.lock().unwrap();
        match failures.get_mut(what) {
            Some(left) if *left > 0 => {
                *left -= 1;
                Err(format!("the engine would not {what} it"))
            }
            _ => Ok(()),
        }
    }

    /// The calls so far, without the provisioning's `ensure`.
    pub fn actions(&self) -> Vec<String> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| *c != "ensure")
            .cloned()
            .collect()
    }

    pub fn fail(&self, what: &'static str, times: usize) {
        self.failures.lock().unwrap().insert(what, times);
    }

    /// The development driver, recording its calls here.
    pub fn driver(&self) -> FakeDriver {
        let (ensures, actions) = (self.clone(), self.clone());
        FakeDriver::new()
            .on_ensure(move |_| {
                let called = ensures.call("ensure");
                async move { called }
            })
            .on_action(move |what| actions.call(what))
    }
}

/// A Berth on the recording driver.
pub async fn recorded() -> (TestApp, Recorder) {
    let recorder = Recorder::default();
    let app = TestApp::spawn_on(
        platform_with(recorder.driver()),
        berth::state::WebConfig::new(None),
        berth::web::serve::ServeLimits::default(),
    )
    .await;
    (app, recorder)
}

/// Runs every due step on the app's platform (as its worker would); returns how many ran.
pub async fn drain(app: &TestApp) -> usize {
    let mut ran = 0;
    while run_once(&app.pool, &app.state.platform, "test-worker").await.unwrap() {
        ran += 1;
        assert!(ran < 1000, "the worker does not stop");
    }
    ran
}

/// A site of `customer`'s at `hostname` (with `www.` as an alias and DNS records), set up.
pub async fn active_site(app: &TestApp, customer: CustomerId, hostname: &str) -> SiteId {
    let alias = format!("www.{hostname}");
    let site = insert_site_with_job(app, customer, hostname, &[&alias], true).await;
    drain(app).await;
    assert_eq!(site_status(app, site).await, "active");
    site
}

pub async fn site_status(app: &TestApp, site: SiteId) -> String {
    sqlx::query_scalar("select status from sites where id = $1")
        .bind(site)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// (kind, status) of every job of the site, oldest first.
pub async fn jobs(app: &TestApp, site: SiteId) -> Vec<(String, String)> {
    sqlx::query_as("select kind, status from provisioning_jobs where site_id = $1 order by id")
        .bind(site)
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

async fn desired(app: &TestApp, site: SiteId) -> String {
    sqlx::query_scalar("select desired_state from containers where site_id = $1")
        .bind(site)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// (kind, actor) of the customer's Activity about sites, oldest first.
async fn site_activity(app: &TestApp, customer: CustomerId) -> Vec<(String, String)> {
    sqlx::query_as("select kind, actor from activity where customer_id = $1 and kind like 'site%' order by id")
        .bind(customer)
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

/// Everything a control could change about the site, to compare before and after a
/// request that must change nothing.
pub async fn everything(app: &TestApp, site: SiteId) -> String {
    let mut all = String::new();
    for sql in [
        "select to_jsonb(s)::text from sites s where id = $1",
        "select to_jsonb(c)::text from containers c where site_id = $1 order by id",
        "select to_jsonb(j)::text from provisioning_jobs j where site_id = $1 order by id",
        "select to_jsonb(s)::text from job_steps s join provisioning_jobs j on j.id = s.job_id where j.site_id = $1
         order by s.id",
        "select to_jsonb(d)::text from dns_records d where site_id = $1 order by id",
        "select to_jsonb(h)::text from hostnames h where site_id = $1 order by hostname",
        "select to_jsonb(p)::text from ip_pool p where container_id in (select id from containers where site_id = $1)",
        "select to_jsonb(a)::text from activity a where customer_id = (select customer_id from sites where id = $1)
         order by id",
    ] {
        let rows: Vec<String> = sqlx::query_scalar(sql).bind(site).fetch_all(&app.pool).await.unwrap();
        all.push_str(&rows.join("\n"));
        all.push('\n');
    }
    all
}

#[tokio::test]
async fn the_site_page_shows_the_engines_state_the_driver_the_files_and_the_controls() {
    let app = TestApp::spawn().await;
    let (client, alice) = app.signed_in_client("alice").await;
    let site = active_site(&app, alice, "shop.example.com").await;

    let r = client.get(&format!("/sites/{site}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text("#engine-driver"), "development");
    assert_eq!(r.text("#engine-state"), "No container");
    assert_eq!(r.text_attr("#site-state", "data-state"), "not-run");
    assert!(
        r.text("#state-reason").contains("runs no containers"),
        "{}",
        r.text("#state-reason")
    );
    // Refreshed live: the block polls its fragment every 5 seconds.
    assert_eq!(r.text_attr("#site-state", "hx-get"), format!("/sites/{site}/state"));
    assert_eq!(r.text_attr("#site-state", "hx-trigger"), "every 5s");
    assert!(
        r.texts("#site-preview").is_empty(),
        "no preview without a published port"
    );
    // The files folders, and where the container sees them.
    let files = r.texts("#site-files tbody tr");
    let folder = app.state.platform.data.join("sites").join(site.to_string());
    assert_eq!(files.len(), 2, "{files:?}");
    let production = files.iter().find(|f| f.starts_with("production")).unwrap();
    assert!(
        production.contains(&folder.join("production").display().to_string()),
        "{production}"
    );
    assert!(production.contains("/var/www/html"), "{production}");
    let staging = files.iter().find(|f| f.starts_with("staging")).unwrap();
    assert!(staging.contains("/srv/environments/staging") && !staging.contains("/var/www/html"));
    assert!(folder.join("production").join("index.html").exists());
    // The controls that make sense now (it is meant to run: no Start), and the logs.
    let offered = |r: &Resp, action: &str| r.body.contains(&format!(r#"action="/sites/{site}/{action}""#));
    for action in ["stop", "restart", "delete"] {
        assert!(offered(&r, action), "{action}");
    }
    assert!(!offered(&r, "start"), "Start while it is meant to run");
    assert!(r.text("#logs-note").contains("development driver runs no container"));
    assert_eq!(r.text_attr("#logs-refresh", "hx-get"), format!("/sites/{site}/logs"));
    assert_eq!(r.text("#job-status"), "done");
    // Done: folded into the page's history, under its heading.
    assert_eq!(r.text("#job-history summary #job-status"), "done");
    // The header: the site's own address, and where its zones are delegated.
    assert!(r.text_attr("#site-open", "href").starts_with("http://"));
    assert!(
        r.text("#dns-nameservers").contains("ns1.berth.invalid"),
        "{}",
        r.text("#dns-nameservers")
    );

    // The fragments: alone for htmx, the whole page without JavaScript.
    let fragment = client.get_htmx(&format!("/sites/{site}/state")).await;
    assert_eq!(fragment.status, StatusCode::OK);
    assert!(
        fragment.body.trim_start().starts_with("<div id=\"site-state\""),
        "{}",
        fragment.body
    );
    assert!(!fragment.body.contains("<html"));
    assert!(fragment.body.contains("No container"));
    let plain = client.get(&format!("/sites/{site}/state")).await;
    assert_eq!(plain.status, StatusCode::OK);
    assert!(plain.body.contains("<html") && plain.body.contains("id=\"site-controls\""));
    assert!(plain.header("vary").to_ascii_lowercase().contains("hx-request"));
    let logs = client.get_htmx(&format!("/sites/{site}/logs")).await;
    assert!(
        logs.body.trim_start().starts_with("<section id=\"logs\""),
        "{}",
        logs.body
    );
    assert!(!logs.body.contains("<html"));
    let plain = client.get(&format!("/sites/{site}/logs")).await;
    assert!(plain.body.contains("<html") && plain.body.contains("id=\"logs\""));

    // A site still being set up has no start, stop or restart yet, and refuses them.
    let other = insert_site_with_job(&app, alice, "new.example.com", &[], false).await;
    let r = client.get(&format!("/sites/{other}")).await;
    assert_eq!(r.text("#engine-state"), "Being set up");
    assert!(r.texts("#site-controls").is_empty());
    let before = everything(&app, other).await;
    let r = client.post_form(&format!("/sites/{other}/stop"), &[]).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(r.body.contains("still being set up"));
    assert_eq!(everything(&app, other).await, before);
}

#[tokio::test]
async fn start_stop_and_restart_are_jobs_run_in_the_order_asked_once_each() {
    let (app, recorder) = recorded().await;
    let (client, alice) = app.signed_in_client("alice").await;
    let site = active_site(&app, alice, "shop.example.com").await;
    client.get(&format!("/sites/{site}")).await;

    // Stop: a job, not an engine call; what was asked is recorded.
    let r = client.post_form(&format!("/sites/{site}/stop"), &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), format!("/sites/{site}"));
    assert!(recorder.actions().is_empty(), "no engine call inside the request");
    assert_eq!(desired(&app, site).await, "stopped");
    let page = client.get(&format!("/sites/{site}")).await;
    assert!(page.text("#toasts").contains("Stop requested"));
    assert_eq!(page.text("#desired-state"), "You asked for it to be stopped.");
    let offers = |action: &str| page.body.contains(&format!(r#"action="/sites/{site}/{action}""#));
    assert!(
        offers("start") && !offers("stop") && !offers("restart"),
        "Start alone, once it is to stop"
    );
    assert_eq!(page.text("#progress h2"), "Stop: pending");
    assert!(page.texts("#job-history").is_empty(), "a job at work is not folded");
    assert_eq!(page.text_attr("#progress", "hx-trigger"), "every 1s");
    // Asked again while it waits: the same job.
    let r = client.post_htmx(&format!("/sites/{site}/stop"), &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("asked for already"), "{}", r.body);
    // Then start and restart, queued behind it.
    client.post_form(&format!("/sites/{site}/start"), &[]).await;
    client.post_form(&format!("/sites/{site}/restart"), &[]).await;
    assert_eq!(desired(&app, site).await, "running");
    let kinds: Vec<String> = jobs(&app, site).await.into_iter().map(|(k, _)| k).collect();
    assert_eq!(kinds, ["provision", "stop", "start", "restart"]);
    let page = client.get(&format!("/sites/{site}")).await;
    assert_eq!(page.text("#progress h2"), "Stop: pending", "the job at work first");
    assert_eq!(page.text("#job-then"), "Then: Start, Restart.");
    assert_eq!(
        site_activity(&app, alice).await,
        [
            ("site_stop_requested".to_owned(), "customer".to_owned()),
            ("site_start_requested".to_owned(), "customer".to_owned()),
            ("site_restart_requested".to_owned(), "customer".to_owned()),
        ]
    );

    // The stop fails once: it is retried with back-off, and nothing after it runs before it.
    recorder.fail("stop", 1);
    assert!(run_once(&app.pool, &app.state.platform, "w").await.unwrap());
    assert!(
        !run_once(&app.pool, &app.state.platform, "w").await.unwrap(),
        "the start is due but waits for the stop"
    );
    assert_eq!(recorder.actions(), ["stop"]);
    let page = client.get(&format!("/sites/{site}")).await;
    assert!(page.text(".step-error").contains("the engine would not stop it"));
    sqlx::query("update job_steps set next_attempt_at = now() where status = 'pending'")
        .execute(&app.pool)
        .await
        .unwrap();
    drain(&app).await;
    assert_eq!(recorder.actions(), ["stop", "stop", "start", "restart"]);
    let statuses: Vec<String> = jobs(&app, site).await.into_iter().map(|(_, s)| s).collect();
    assert_eq!(statuses, ["done"; 4]);
    let page = client.get(&format!("/sites/{site}")).await;
    assert_eq!(page.text("#progress h2"), "Restart: done");
    assert!(page.texts("#progress[hx-trigger]").is_empty(), "done: no more polling");

    // Several workers at once (as several Berth processes): each action once, in order.
    for action in ["stop", "start", "restart", "stop"] {
        client.post_form(&format!("/sites/{site}/{action}"), &[]).await;
    }
    let workers: Vec<_> = (0..4)
        .map(|n| {
            let (pool, platform) = (app.pool.clone(), app.state.platform.clone());
            tokio::spawn(async move {
                let name = format!("worker-{n}");
                for _ in 0..40 {
                    if !run_once(&pool, &platform, &name).await.unwrap() {
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    assert_eq!(
        recorder.actions()[4..],
        ["stop", "start", "restart", "stop"],
        "{:?}",
        recorder.actions()
    );
    assert_eq!(desired(&app, site).await, "stopped");
    let attempts: i64 = app.scalar("select count(*) from job_attempts").await;
    assert_eq!(attempts, 5 + 4 + 4, "one attempt per step, and the stop's failed one");
}

#[tokio::test]
async fn another_customers_site_is_not_found_and_unknown_actions_are_refused() {
    let app = TestApp::spawn().await;
    let (alice_client, alice) = app.signed_in_client("alice").await;
    let (bob, _) = app.signed_in_client("bob").await;
    let site = active_site(&app, alice, "shop.example.com").await;
    let before = everything(&app, site).await;

    bob.get("/sites").await;
    for path in ["", "/state", "/logs", "/progress", "/zone"] {
        let r = bob.get(&format!("/sites/{site}{path}")).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        let r = bob.get_htmx(&format!("/sites/{site}{path}")).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "htmx {path}");
    }
    for action in ["start", "stop", "restart", "explode"] {
        let r = bob.post_form(&format!("/sites/{site}/{action}"), &[]).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{action}");
    }
    let r = bob
        .post_form(&format!("/sites/{site}/delete"), &[("hostname", "shop.example.com")])
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(everything(&app, site).await, before, "Bob changed nothing");

    // Alice's own site and a word that is no action: 422, saying which there are.
    alice_client.get(&format!("/sites/{site}")).await;
    for action in ["explode", "START", "purge"] {
        let r = alice_client.post_form(&format!("/sites/{site}/{action}"), &[]).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{action}: {}", r.body);
        assert!(r.body.contains("no such action"), "{}", r.body);
    }
    let r = alice_client.post_htmx(&format!("/sites/{site}/explode"), &[]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("toast"), "htmx gets a toast: {}", r.body);
    // A site that does not exist at all.
    let r = alice_client.post_form("/sites/999999/stop", &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(everything(&app, site).await, before, "nothing was queued");
}

#[tokio::test]
async fn deleting_needs_the_hostname_frees_everything_and_keeps_the_files_seven_days() {
    let (app, recorder) = recorded().await;
    let (client, alice) = app.signed_in_client("alice").await;
    let site = active_site(&app, alice, "xn--bcher-kva.example").await;
    let address: String = app
        .scalar(&format!("select host(address) from containers where site_id = {site}"))
        .await;
    let records: i64 = app
        .scalar(&format!(
            "select count(*) from dns_records where site_id = {site} and value is not null"
        ))
        .await;
    assert_eq!(records, 2);
    let folder = app.state.platform.data.join("sites").join(site.to_string());
    std::fs::write(folder.join("production").join("mine.html"), "the customer's").unwrap();
    let page = client.get(&format!("/sites/{site}")).await;
    // The confirmation names the site and what goes with it: its two DNS records.
    assert_eq!(
        page.text("details#delete-site.confirm summary"),
        "Delete site “bücher.example”"
    );
    assert!(
        page.text("#delete-site .consequence").starts_with(
            "Deleting removes the container and its 2 DNS records, and gives its address back to the pool."
        ),
        "{}",
        page.text("#delete-site .consequence")
    );

    // The wrong hostname, or none: 422 on the field, what was typed kept, nothing changed.
    let before = everything(&app, site).await;
    for (typed, message) in [
        (
            "shop.example.com",
            "That is not this site's hostname; type bücher.example",
        ),
        ("", "Type the site's hostname, bücher.example, to delete it."),
        ("www.bücher.example", "not this site's hostname"),
    ] {
        let r = client
            .post_form(&format!("/sites/{site}/delete"), &[("hostname", typed)])
            .await;
        assert_field_error(&r, "hostname", message);
        assert_eq!(r.text_attr("#delete-hostname", "value"), typed);
        assert!(
            r.html()
                .select(&scraper::Selector::parse("details#delete-site[open]").unwrap())
                .next()
                .is_some()
        );
        let r = client
            .post_htmx(&format!("/sites/{site}/delete"), &[("hostname", typed)])
            .await;
        assert_field_error(&r, "hostname", message);
    }
    assert_eq!(everything(&app, site).await, before);

    // Typed in punycode and capitals: deleted. Shown as deleted at once, its controls gone.
    let r = client
        .post_form(
            &format!("/sites/{site}/delete"),
            &[("hostname", " XN--BCHER-KVA.example ")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(recorder.actions().is_empty(), "no engine call inside the request");
    assert_eq!(site_status(&app, site).await, "deleted");
    let page = client.get(&format!("/sites/{site}")).await;
    assert!(page.text("#toasts").contains("Site deleted. Its files are kept until"));
    assert_eq!(page.text("#site-status"), "deleted");
    assert_eq!(page.text("#engine-state"), "Deleted");
    assert!(
        page.texts("#site-state[hx-get]").is_empty(),
        "a deleted site is not polled"
    );
    assert!(page.texts("#site-controls").is_empty() && page.texts("#delete-site").is_empty());
    assert!(page.texts("#logs").is_empty());
    assert!(page.text("#files-until").contains("support can restore"));
    assert_eq!(
        site_activity(&app, alice).await,
        [("site_deleted".to_owned(), "customer".to_owned())]
    );
    let detail: String = app
        .scalar("select detail from activity where kind = 'site_deleted'")
        .await;
    assert_eq!(detail, "bücher.example");
    for action in ["start", "stop", "restart"] {
        let r = client.post_form(&format!("/sites/{site}/{action}"), &[]).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{action}");
    }
    let r = client
        .post_form(&format!("/sites/{site}/delete"), &[("hostname", "bücher.example")])
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.body.contains("deleted already"));

    // The job: the container, the address, the DNS records; the files stay.
    drain(&app).await;
    assert_eq!(recorder.actions(), ["remove"]);
    let held: Option<i64> = app
        .scalar(&format!("select customer_id from ip_pool where address = '{address}'"))
        .await;
    assert_eq!(held, None, "{address} went back to the pool");
    let container_address: Option<String> = app
        .scalar(&format!("select host(address) from containers where site_id = {site}"))
        .await;
    assert_eq!(container_address, None);
    let records: i64 = app
        .scalar(&format!("select count(*) from dns_records where site_id = {site}"))
        .await;
    assert_eq!(records, 0);
    assert_eq!(
        std::fs::read_to_string(folder.join("production").join("mine.html")).unwrap(),
        "the customer's"
    );
    let days: f64 = app
        .scalar(&format!(
            "select extract(epoch from s.next_attempt_at - now())::float8 / 86400 from job_steps s
             join provisioning_jobs j on j.id = s.job_id where j.site_id = {site} and s.name = 'purge_files'"
        ))
        .await;
    assert!((6.99..=7.0).contains(&days), "{days}");
    assert_eq!(jobs(&app, site).await[1], ("delete".to_owned(), "running".to_owned()));
    let page = client.get(&format!("/sites/{site}")).await;
    assert!(page.text("[data-step=purge_files]").contains("scheduled for"));
    assert!(
        page.texts("#progress[hx-trigger]").is_empty(),
        "nothing to poll for 7 days"
    );
    // The hostnames stay reserved to the site meanwhile.
    let taken: i64 = app
        .scalar(&format!("select count(*) from hostnames where site_id = {site}"))
        .await;
    assert_eq!(taken, 2);

    // Seven days later (made due here): the files go, and the hostnames are free again.
    sqlx::query("update job_steps set next_attempt_at = now() where name = 'purge_files'")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(drain(&app).await, 1);
    assert!(!folder.exists(), "the files are removed");
    let taken: i64 = app
        .scalar(&format!("select count(*) from hostnames where site_id = {site}"))
        .await;
    assert_eq!(taken, 0);
    assert_eq!(jobs(&app, site).await[1], ("delete".to_owned(), "done".to_owned()));
    let page = client.get(&format!("/sites/{site}")).await;
    assert!(page.text("#files-removed").contains("were removed on"));
    assert_eq!(
        site_activity(&app, alice).await.last().unwrap(),
        &("site_files_removed".to_owned(), "Berth".to_owned())
    );
    // The site stays listed, as deleted.
    let list = client.get("/sites").await;
    assert_eq!(list.text(&format!("tr[data-site=\"{site}\"] .status")), "deleted");
}

#[tokio::test]
async fn staff_with_support_write_restore_a_deleted_site_until_its_files_go() {
    let app = TestApp::spawn().await;
    let (client, alice) = app.signed_in_client("alice").await;
    let bob = app.create_customer("bob").await;
    let site = active_site(&app, alice, "shop.example.com").await;
    let folder = app.state.platform.data.join("sites").join(site.to_string());
    std::fs::write(folder.join("production").join("index.html"), "kept").unwrap();
    client.get(&format!("/sites/{site}")).await;
    client
        .post_form(&format!("/sites/{site}/delete"), &[("hostname", "shop.example.com")])
        .await;
    let restore = format!("/staff/customers/{alice}/sites/{site}/restore");

    // Still being deleted (its container not removed yet): wait for that.
    let writer = app.staff_client("writer", true).await;
    writer.get(&format!("/staff/customers/{alice}")).await;
    let r = writer.post_form(&restore, &[]).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(r.body.contains("still being deleted"), "{}", r.body);
    drain(&app).await;

    // Read-only support sees it, with no button, and is refused.
    let reader = app.staff_client("reader", false).await;
    let page = reader.get(&format!("/staff/customers/{alice}")).await;
    assert!(
        page.text(&format!("#staff-sites tr[data-site=\"{site}\"]"))
            .contains("files removed after")
    );
    assert!(!page.body.contains(&restore));
    let before = everything(&app, site).await;
    let r = reader.post_form(&restore, &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Under another customer's page: not found.
    let page = writer.get(&format!("/staff/customers/{alice}")).await;
    assert!(page.body.contains(&restore), "the restore button");
    let r = writer
        .post_form(&format!("/staff/customers/{bob}/sites/{site}/restore"), &[])
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(everything(&app, site).await, before, "nothing changed");

    // Restored: the files' removal is cancelled, and the site is set up again.
    let r = writer.post_form(&restore, &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = writer.get(&format!("/staff/customers/{alice}")).await;
    assert!(page.text("#toasts").contains("restored"));
    let purge: String = app
        .scalar(&format!(
            "select s.status from job_steps s join provisioning_jobs j on j.id = s.job_id
             where j.site_id = {site} and s.name = 'purge_files'"
        ))
        .await;
    assert_eq!(purge, "cancelled");
    let kinds = jobs(&app, site).await;
    assert_eq!(kinds[1], ("delete".to_owned(), "done".to_owned()));
    assert_eq!(kinds[2], ("restore".to_owned(), "pending".to_owned()));
    assert_eq!(site_status(&app, site).await, "provisioning");
    drain(&app).await;
    assert_eq!(site_status(&app, site).await, "active");
    let address: Option<String> = app
        .scalar(&format!("select host(address) from containers where site_id = {site}"))
        .await;
    let address = address.expect("a new address");
    let held: i64 = app
        .scalar(&format!("select customer_id from ip_pool where address = '{address}'"))
        .await;
    assert_eq!(held, alice.0);
    let records: Vec<String> = sqlx::query_scalar("select value from dns_records where site_id = $1 order by name")
        .bind(site)
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(records, [address.clone(), address], "the DNS records are back");
    assert_eq!(
        std::fs::read_to_string(folder.join("production").join("index.html")).unwrap(),
        "kept"
    );
    // In the customer's Activity and the staff log.
    let restored: (String, String) =
        sqlx::query_as("select actor, detail from activity where kind = 'site_restored' and customer_id = $1")
            .bind(alice)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(restored, ("Support (writer)".to_owned(), "shop.example.com".to_owned()));
    let logged: (String, String) =
        sqlx::query_as("select username, detail from staff_activity where kind = 'site_restored'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(logged.0, "writer");
    assert!(logged.1.contains(&format!("site {site}")), "{}", logged.1);
    let page = client.get(&format!("/sites/{site}")).await;
    assert_eq!(page.text("#site-status"), "active");
    assert_eq!(page.text("#progress h2"), "Restore: done");
    // Not deleted: nothing to restore.
    let r = writer.post_form(&restore, &[]).await;
    assert_eq!(r.status, StatusCode::CONFLICT);

    // Deleted again and its files removed: too late.
    client.get(&format!("/sites/{site}")).await;
    client
        .post_form(&format!("/sites/{site}/delete"), &[("hostname", "shop.example.com")])
        .await;
    sqlx::query("update job_steps set next_attempt_at = now() where name = 'purge_files' and status = 'pending'")
        .execute(&app.pool)
        .await
        .unwrap();
    drain(&app).await;
    assert!(!folder.exists());
    let page = writer.get(&format!("/staff/customers/{alice}")).await;
    assert!(!page.body.contains(&restore));
    let r = writer.post_form(&restore, &[]).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.body.contains("files are removed already"), "{}", r.body);
}
