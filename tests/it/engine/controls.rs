//! The customer's controls on a real engine: stop, start, restart and delete do what they
//! say to the container (inspected), the site page's live state is the engine's, and a
//! deleted site's files stay until its last step runs (made due here instead of waiting 7
//! days).

use std::time::Duration;

use berth::sites::model::SiteId;
use reqwest::StatusCode;

use super::{EngineApp, fetch};
use crate::helpers::{Client, TestApp};

/// How long an action may take on the engine (the test image stops in about a second).
const ACTED_WITHIN: Duration = Duration::from_secs(30);

/// Creates a site through the wizard pages with `client`; returns it.
async fn create_site(client: &Client, hostname: &str) -> SiteId {
    crate::wizard::fill_wizard(client, hostname, "web").await;
    let review = client.get("/wizard/review").await;
    let token = review.text_attr(r#"input[name="draft_token"]"#, "value");
    let created = client
        .post_form("/wizard/review", &[("draft_token", &token), ("nav", "create")])
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    created.location().rsplit('/').next().unwrap().parse().unwrap()
}

/// Waits until the site's jobs have nothing left to run now (a deletion's removal of the
/// files waits for its day); panics with the steps when one failed or it takes too long.
async fn settled(app: &TestApp, site: SiteId) {
    let deadline = tokio::time::Instant::now() + ACTED_WITHIN;
    loop {
        let (left, failed): (i64, i64) = sqlx::query_as(
            "select count(*) filter (where s.status = 'pending' and (s.name <> 'purge_files' or s.next_attempt_at <= now())),
                    count(*) filter (where s.status = 'failed')
             from job_steps s join provisioning_jobs j on j.id = s.job_id where j.site_id = $1",
        )
        .bind(site)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        if left == 0 && failed == 0 {
            return;
        }
        if failed > 0 || tokio::time::Instant::now() > deadline {
            let steps: Vec<(String, String, String, Option<String>)> = sqlx::query_as(
                "select j.kind, s.name, s.status, s.last_error from job_steps s join provisioning_jobs j on j.id = s.job_id
                 where j.site_id = $1 order by j.id, s.position",
            )
            .bind(site)
            .fetch_all(&app.pool)
            .await
            .unwrap();
            panic!("site {site}'s jobs did not finish: {steps:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Posts an action from the site page and waits until the engine has done it.
async fn act(engine: &EngineApp, client: &Client, site: SiteId, action: &str, fields: &[(&str, &str)]) {
    client.get(&format!("/sites/{site}")).await;
    let r = client.post_form(&format!("/sites/{site}/{action}"), fields).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{action}: {}", r.body);
    settled(engine, site).await;
}

/// (running, StartedAt) as the engine inspects the container.
async fn running(engine: &EngineApp, site: SiteId) -> (bool, String) {
    let state = engine.inspect(site).await.state.unwrap();
    (state.running.unwrap_or(false), state.started_at.unwrap_or_default())
}

/// The state the site page shows (its `data-state`), and its live fragment's.
async fn shown(client: &Client, site: SiteId) -> (String, String) {
    let page = client.get(&format!("/sites/{site}")).await;
    let fragment = client.get_htmx(&format!("/sites/{site}/state")).await;
    let state = page.text_attr("#site-state", "data-state");
    assert_eq!(
        fragment.text_attr("#site-state", "data-state"),
        state,
        "the page and its fragment agree"
    );
    (state, page.text("#engine-state"))
}

#[tokio::test]
async fn stop_start_restart_and_delete_do_what_they_say_on_the_engine() {
    let Some(mut engine) = EngineApp::spawn().await else {
        return;
    };
    engine.start_worker();
    let (client, _) = engine.signed_in_client("alice").await;
    let site = create_site(&client, "shop.example.com").await;
    engine.provisioned(site).await;

    // Running, as the page says, with its preview address and the driver named.
    let (is_running, started) = running(&engine, site).await;
    assert!(is_running);
    assert_eq!(shown(&client, site).await, ("running".to_owned(), "Running".to_owned()));
    let preview = engine.preview(site).await;
    assert!(fetch(&format!("{preview}/")).await.contains("shop.example.com"));
    let page = client.get(&format!("/sites/{site}")).await;
    assert_eq!(page.text("#engine-driver"), "docker");
    assert_eq!(page.text_attr("#site-preview a", "href"), format!("{preview}/"));
    // The container's output (busybox httpd -v logs each answer), on the page and alone.
    let logs = client.get_htmx(&format!("/sites/{site}/logs")).await;
    assert!(logs.text("#log-lines").contains("response:200"), "{}", logs.body);

    // Stop: not running, shown as stopped as asked (not failed), no preview.
    act(&engine, &client, site, "stop", &[]).await;
    assert!(!running(&engine, site).await.0, "the engine stopped it");
    assert_eq!(shown(&client, site).await, ("stopped".to_owned(), "Stopped".to_owned()));
    let page = client.get(&format!("/sites/{site}")).await;
    assert_eq!(page.text("#state-reason"), "Stopped as asked.");
    assert!(page.texts("#site-preview").is_empty());

    // Start: running again, serving.
    act(&engine, &client, site, "start", &[]).await;
    let (is_running, restarted) = running(&engine, site).await;
    assert!(is_running);
    assert_ne!(restarted, started);
    assert_eq!(shown(&client, site).await.0, "running");
    let preview = engine.preview(site).await;
    assert!(fetch(&format!("{preview}/")).await.contains("shop.example.com"));

    // Restart: a new StartedAt.
    act(&engine, &client, site, "restart", &[]).await;
    let (is_running, after_restart) = running(&engine, site).await;
    assert!(is_running);
    assert_ne!(after_restart, restarted, "restart started it anew");
    assert_eq!(shown(&client, site).await.0, "running");

    // Stopped behind Berth's back (as a crash would leave it): failed, with the engine's
    // exit code; Start brings it back.
    let options = bollard::query_parameters::StopContainerOptionsBuilder::new()
        .t(1)
        .build();
    engine
        .docker
        .stop_container(&berth::engine::container_name(site.0), Some(options))
        .await
        .unwrap();
    assert_eq!(shown(&client, site).await, ("failed".to_owned(), "Failed".to_owned()));
    let page = client.get(&format!("/sites/{site}")).await;
    assert!(
        page.text("#state-reason").contains("exit code"),
        "{}",
        page.text("#state-reason")
    );
    act(&engine, &client, site, "start", &[]).await;
    assert!(running(&engine, site).await.0);

    // Delete: the container goes, its address back to the pool, its DNS records removed;
    // its files stay.
    let address: String = sqlx::query_scalar("select host(address) from containers where site_id = $1")
        .bind(site)
        .fetch_one(&engine.pool)
        .await
        .unwrap();
    let records: i64 = sqlx::query_scalar("select count(*) from dns_records where site_id = $1")
        .bind(site)
        .fetch_one(&engine.pool)
        .await
        .unwrap();
    assert_eq!(records, 2);
    let folder = engine.platform.data.join("sites").join(site.to_string());
    act(&engine, &client, site, "delete", &[("hostname", "shop.example.com")]).await;
    let gone = engine
        .docker
        .inspect_container(&berth::engine::container_name(site.0), None)
        .await;
    assert!(
        matches!(
            &gone,
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. })
        ),
        "the container is removed: {gone:?}"
    );
    let held: Option<i64> = sqlx::query_scalar("select customer_id from ip_pool where address = $1::inet")
        .bind(&address)
        .fetch_one(&engine.pool)
        .await
        .unwrap();
    assert_eq!(held, None, "{address} is free in the pool");
    let records: i64 = sqlx::query_scalar("select count(*) from dns_records where site_id = $1")
        .bind(site)
        .fetch_one(&engine.pool)
        .await
        .unwrap();
    assert_eq!(records, 0);
    assert!(folder.join("production").join("index.html").exists(), "the files stay");
    assert_eq!(shown(&client, site).await, ("deleted".to_owned(), "Deleted".to_owned()));

    // Its last step, due 7 days later, made due now: the files go.
    sqlx::query(
        "update job_steps set next_attempt_at = now() where name = 'purge_files'
           and job_id in (select id from provisioning_jobs where site_id = $1)",
    )
    .bind(site)
    .execute(&engine.pool)
    .await
    .unwrap();
    settled(&engine, site).await;
    assert!(!folder.exists(), "the files are removed");
    let removed: bool = sqlx::query_scalar("select files_removed_at is not null from sites where id = $1")
        .bind(site)
        .fetch_one(&engine.pool)
        .await
        .unwrap();
    assert!(removed);

    engine.clean_up().await;
}
