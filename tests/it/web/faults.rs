//! Faults: a database restarted under load or gone for a while, two tabs on one draft,
//! hundreds of concurrent saves, dates at the edges, and a Berth killed with -9. The
//! restart and outage tests run against a PostgreSQL cluster of their own, so restarting
//! it does not disturb the other tests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use berth::app;
use berth::db::EmbeddedPostgres;
use berth::password::Hasher;
use berth::state::AppState;
use berth::state::WebConfig;
use reqwest::StatusCode;
use sqlx::PgPool;

use crate::helpers::*;

/// A Berth serving a database in a cluster of its own, with the pools `berth serve`
/// builds: the short-timeout web pool for requests, the workers' pool for the worker.
struct OwnCluster {
    pg: Option<EmbeddedPostgres>,
    dir: std::path::PathBuf,
    base: String,
    /// The workers' pool (also used here to look at the data).
    pool: PgPool,
    hasher: Hasher,
}

impl OwnCluster {
    async fn start(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("berth-faults-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let data = dir.join("postgres");
        let pg = tokio::task::spawn_blocking(move || EmbeddedPostgres::start(&data))
            .await
            .unwrap()
            .expect("the fault tests' own cluster starts");
        berth::db::ensure_database(pg.connect_options("postgres"))
            .await
            .unwrap();
        let options = pg.connect_options("berth");
        let pool = berth::db::pool(options.clone()).await.unwrap();
        berth::db::migrate(&pool).await.unwrap();
        let hasher = Hasher::new(2).unwrap();
        let web = berth::db::web_pool(options);
        let state = AppState {
            pool: web.clone(),
            hasher: hasher.clone(),
            web: Arc::new(WebConfig::new(None)),
            clock: berth::clock::Clock::real(),
            platform: Arc::new(crate::helpers::dev_platform()),
            sealer: Default::default(),
            changes: berth::db::changes::Changes::start(web),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = app(state);
        tokio::spawn(async move {
            axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
                .await
                .unwrap();
        });
        Self {
            pg: Some(pg),
            dir,
            base: format!("http://{addr}"),
            pool,
            hasher,
        }
    }

    fn pg(&self) -> &EmbeddedPostgres {
        self.pg.as_ref().expect("the cluster runs")
    }

    async fn restart(&self) {
        let started = Instant::now();
        // `restart` blocks on pg_ctl; the runtime keeps serving meanwhile.
        tokio::task::block_in_place(|| self.pg().restart().expect("pg_ctl restart"));
        eprintln!("pg_ctl restart took {:?}", started.elapsed());
    }

    async fn stop(&mut self) {
        let pg = self.pg.take().expect("the cluster runs");
        tokio::task::spawn_blocking(move || pg.stop()).await.unwrap();
    }

    async fn start_again(&mut self) {
        let data = self.dir.join("postgres");
        let pg = tokio::task::spawn_blocking(move || EmbeddedPostgres::start(&data))
            .await
            .unwrap()
            .unwrap();
        self.pg = Some(pg);
    }

    async fn signed_in_client(&self, username: &str) -> Client {
        let hash = self.hasher.hash(PASSWORD).await.unwrap();
        let mut conn = self.pool.acquire().await.unwrap();
        berth::identity::customer::create(
            &mut conn,
            &username.parse().unwrap(),
            &format!("{username}@example.com").parse().unwrap(),
            &"".parse().unwrap(),
            &hash,
        )
        .await
        .unwrap();
        let client = Client::new(&self.base);
        assert_eq!(client.sign_in(username, PASSWORD).await.status, StatusCode::SEE_OTHER);
        client
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        if let Some(pg) = &self.pg {
            pg.stop();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Posts until the answer is not 503 (what a user does when the database is restarting);
/// a 500 fails the test at once.
async fn post_through_outage(client: &Client, path: &str, fields: &[(&str, &str)]) -> Resp {
    for _ in 0..50 {
        let r = client.post_form(path, fields).await;
        assert_ne!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{path}: {}", r.body);
        if r.status != StatusCode::SERVICE_UNAVAILABLE {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{path} stayed unavailable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restart_under_load_gives_no_500_and_work_resumes_within_2_s() {
    let cluster = OwnCluster::start("restart").await;
    let client = cluster.signed_in_client("alice").await;
    crate::wizard::fill_wizard(&client, "shop.example.com", "web1").await;
    let review = client.get("/wizard/review").await;
    let token = review.text_attr(r#"input[name="draft_token"]"#, "value");
    let revision = review.text_attr(r#"input[name="revision"]"#, "value");
    let worker = berth::provisioning::spawn(cluster.pool.clone(), Arc::new(crate::helpers::dev_platform()));

    // Load: four "users" reloading pages while the database restarts.
    let stop = Arc::new(AtomicBool::new(false));
    let statuses = Arc::new(std::sync::Mutex::new(Vec::<(StatusCode, String)>::new()));
    let mut load = Vec::new();
    for i in 0..4 {
        let (client, stop, statuses) = (client.clone(), stop.clone(), statuses.clone());
        load.push(tokio::spawn(async move {
            let pages = ["/", "/settings", "/sites", "/notices"];
            while !stop.load(Ordering::Relaxed) {
                let r = client.get(pages[i]).await;
                statuses.lock().unwrap().push((r.status, r.body));
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    cluster.restart().await;

    // Work queued right after the restart: Create the reviewed site (a 503 while the
    // database is still coming back is retried, as a user would).
    let queued = Instant::now();
    let r = post_through_outage(
        &client,
        "/wizard/review",
        &[("draft_token", &token), ("revision", &revision), ("nav", "create")],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let site: i64 = r.location().trim_start_matches("/sites/").parse().unwrap();
    let mut status = String::new();
    while queued.elapsed() < Duration::from_secs(2) {
        status = sqlx::query_scalar("select status from provisioning_jobs where site_id = $1")
            .bind(site)
            .fetch_one(&cluster.pool)
            .await
            .unwrap();
        if status == "done" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, "done", "the job ran to its end within 2 s of being queued");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    worker.abort();

    let statuses = std::mem::take(&mut *statuses.lock().unwrap());
    let count = |s: StatusCode| statuses.iter().filter(|(st, _)| *st == s).count();
    eprintln!(
        "{} page loads: {} ok, {} unavailable (503, the restart's gap)",
        statuses.len(),
        count(StatusCode::OK),
        count(StatusCode::SERVICE_UNAVAILABLE)
    );
    for (status, body) in statuses.iter() {
        assert!(
            *status == StatusCode::OK || *status == StatusCode::SERVICE_UNAVAILABLE,
            "{status}: {body}"
        );
    }
    assert!(count(StatusCode::OK) > 20, "the load really ran");
    // After the restart pages answer again.
    assert_eq!(client.get("/").await.status, StatusCode::OK);
}

/// `/readyz` with its timing: (status, body, how long it took).
async fn readyz(client: &Client) -> (StatusCode, String, Duration) {
    let started = Instant::now();
    let r = client.get("/readyz").await;
    (r.status, r.body, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_database_within_a_second_and_pages_answer_503_meanwhile() {
    let mut cluster = OwnCluster::start("outage").await;
    let client = cluster.signed_in_client("bob").await;
    let probe = Client::new(&cluster.base);
    let (status, body, _) = readyz(&probe).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ready"));

    // A restart with no traffic: the pool's connections all died; the first probe after
    // it is ready at once, not after using them up.
    tokio::time::sleep(Duration::from_millis(400)).await;
    cluster.restart().await;
    let (status, body, took) = readyz(&probe).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "ready"),
        "right after the restart"
    );
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert_eq!(client.get("/").await.status, StatusCode::OK);

    // The database gone: readiness says so in plain words within a second, and pages
    // answer a clear 503 (never a 500) without waiting long.
    cluster.stop().await;
    let (status, body, took) = readyz(&probe).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body, "database unreachable", "plain text, not the error page");
    assert!(took < Duration::from_secs(1), "{took:?}");
    // Signing in needs a new session, which cannot be saved now: 503 too.
    let r = Client::new(&cluster.base).get("/login").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    for path in ["/", "/settings"] {
        let started = Instant::now();
        let r = client.get(path).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{path}: {}", r.body);
        assert!(r.body.contains("unavailable right now"), "{path}: {}", r.body);
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{path}: {:?}",
            started.elapsed()
        );
    }

    // Back: ready within a second of the database.
    cluster.start_again().await;
    let back = Instant::now();
    loop {
        let (status, _, _) = readyz(&probe).await;
        if status == StatusCode::OK {
            break;
        }
        assert!(back.elapsed() < Duration::from_secs(1), "ready again within 1 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(client.get("/").await.status, StatusCode::OK);
}

#[tokio::test]
async fn expired_session_cleanup_keeps_running_after_a_database_error() {
    let pool = fresh_database().await;
    let cleanup = berth::web::session_store::spawn_cleanup(pool.clone(), Duration::from_millis(100));
    let expired = |id: &'static str| {
        sqlx::query("insert into tower_sessions.session (id, data, expiry_date) values ($1, '\\x80', now() - interval '1 hour')")
            .bind(id)
            .execute(&pool)
    };
    // A round fails (the table is away), then the next ones must still run.
    sqlx::query("alter table tower_sessions.session rename to session_away")
        .execute(&pool)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(350)).await;
    sqlx::query("alter table tower_sessions.session_away rename to session")
        .execute(&pool)
        .await
        .unwrap();
    expired("expired-after-the-error").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let left: i64 = sqlx::query_scalar("select count(*) from tower_sessions.session")
            .fetch_one(&pool)
            .await
            .unwrap();
        if left == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the cleanup stopped after the error");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!cleanup.is_finished());
    cleanup.abort();
}

/// How many parallel settings saves the contention test makes.
const PARALLEL_SAVES: usize = 600;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_settings_saves_in_different_orders_never_answer_500() {
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("carol").await;
    client.get("/settings").await;
    let forward: Vec<(&str, &str)> = vec![
        ("settings[time_zone]", "Europe/Berlin"),
        ("settings[date_format]", "eu"),
        ("settings[landing_page]", "settings"),
        ("settings[notice_digest]", "weekly"),
        ("settings[items_per_page]", "50"),
        ("settings[invoice_reference]", "PO-1"),
    ];
    let backward: Vec<(&str, &str)> = forward.iter().rev().copied().collect();
    let r = client.post_form("/settings", &forward).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);

    let started = Instant::now();
    let mut saves = tokio::task::JoinSet::new();
    for i in 0..PARALLEL_SAVES {
        let client = client.clone();
        let fields = if i % 2 == 0 { forward.clone() } else { backward.clone() };
        saves.spawn(async move { client.post_form("/settings", &fields).await });
    }
    let mut outcomes = std::collections::BTreeMap::<u16, usize>::new();
    let mut failure = None;
    while let Some(r) = saves.join_next().await {
        let r = r.unwrap();
        *outcomes.entry(r.status.as_u16()).or_default() += 1;
        if r.status.is_server_error() {
            failure.get_or_insert(r.body);
        }
    }
    eprintln!("{PARALLEL_SAVES} saves in {:?}: {outcomes:?}", started.elapsed());
    assert_eq!(
        outcomes.get(&303).copied().unwrap_or(0),
        PARALLEL_SAVES,
        "every save succeeds: {outcomes:?} {failure:?}"
    );
    let deadlocks: i64 = app
        .scalar("select deadlocks from pg_stat_database where datname = current_database()")
        .await;
    assert_eq!(deadlocks, 0);
}

/// The hidden fields a wizard page was shown with.
fn shown_with(page: &Resp) -> (String, String) {
    (
        page.text_attr(r#"input[name="revision"]"#, "value"),
        page.text_attr(r#"input[name="base"]"#, "value"),
    )
}

async fn stored_site_name(app: &TestApp, customer: berth::identity::CustomerId) -> String {
    sqlx::query_scalar("select data->>'site_name' from wizard_drafts where customer_id = $1")
        .bind(customer)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_step_saved_from_an_older_draft_is_told_what_changed_not_overwritten() {
    let app = TestApp::spawn().await;
    let (laptop, dave) = app.signed_in_client("dave").await;
    let phone = app.client();
    assert_eq!(phone.sign_in("dave", PASSWORD).await.status, StatusCode::SEE_OTHER);

    // Both open the first step of the same (new) draft.
    let (rev_l, base_l) = shown_with(&laptop.get("/wizard/site").await);
    let (rev_p, base_p) = shown_with(&phone.get("/wizard/site").await);
    let r = laptop
        .post_form(
            "/wizard/site",
            &[
                ("revision", &rev_l),
                ("base", &base_l),
                ("site_name", "Laptop shop"),
                ("site_hostname", "laptop.example.com"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    // The phone saves from the page it opened before: told, not overwritten.
    let r = phone
        .post_form(
            "/wizard/site",
            &[
                ("revision", &rev_p),
                ("base", &base_p),
                ("site_name", "Phone shop"),
                ("site_hostname", "phone.example.com"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    let message = r.text("#draft-conflict");
    assert!(message.contains("changed in another tab or device"), "{message}");
    assert!(
        message.contains("“Laptop shop”") && message.contains("“laptop.example.com”"),
        "{message}"
    );
    assert_eq!(
        r.text_attr("#wiz-site_name", "value"),
        "Phone shop",
        "the phone's values stay in its form"
    );
    assert_eq!(stored_site_name(&app, dave).await, "Laptop shop");
    // Saving again from the page that told it replaces the other edit knowingly.
    let (rev, base) = shown_with(&r);
    let r = phone
        .post_form(
            "/wizard/site",
            &[
                ("revision", &rev),
                ("base", &base),
                ("site_name", "Phone shop"),
                ("site_hostname", "phone.example.com"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(stored_site_name(&app, dave).await, "Phone shop");

    // Another step saved meanwhile is no conflict: the laptop's older page of the site
    // step still saves, since nobody changed that step after it was shown.
    let (rev_site, base_site) = shown_with(&laptop.get("/wizard/site").await);
    let container = phone.get("/wizard/container").await;
    let (rev_c, base_c) = shown_with(&container);
    let r = phone
        .post_form(
            "/wizard/container",
            &[
                ("revision", &rev_c),
                ("base", &base_c),
                ("container_name", "web1"),
                ("container_type", "lamp"),
                ("container_os_id", "debian-12"),
                ("container_size", "small"),
                ("container_disk_space", "20"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let r = laptop
        .post_form(
            "/wizard/site",
            &[
                ("revision", &rev_site),
                ("base", &base_site),
                ("site_name", "Shop"),
                ("site_hostname", "phone.example.com"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let container_name: String =
        sqlx::query_scalar("select data->>'container_name' from wizard_drafts where customer_id = $1")
            .bind(dave)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        (stored_site_name(&app, dave).await.as_str(), container_name.as_str()),
        ("Shop", "web1")
    );
}

#[tokio::test]
async fn two_tabs_saving_one_step_at_once_never_lose_an_edit_silently() {
    let app = TestApp::spawn().await;
    let (one, erin) = app.signed_in_client("erin").await;
    let two = app.client();
    assert_eq!(two.sign_in("erin", PASSWORD).await.status, StatusCode::SEE_OTHER);
    for round in 0..30 {
        let (rev_1, base_1) = shown_with(&one.get("/wizard/site").await);
        let (rev_2, base_2) = shown_with(&two.get("/wizard/site").await);
        let (name_1, name_2) = (format!("One {round}"), format!("Two {round}"));
        let fields_1 = [
            ("revision", rev_1.as_str()),
            ("base", &base_1),
            ("site_name", &name_1),
            ("site_hostname", "one.example.com"),
        ];
        let fields_2 = [
            ("revision", rev_2.as_str()),
            ("base", &base_2),
            ("site_name", &name_2),
            ("site_hostname", "two.example.com"),
        ];
        let (a, b) = tokio::join!(
            one.post_form("/wizard/site", &fields_1),
            two.post_form("/wizard/site", &fields_2)
        );
        let stored = stored_site_name(&app, erin).await;
        // Exactly one is saved; the other is told (409), and what is stored is the saved one.
        match (a.status, b.status) {
            (StatusCode::SEE_OTHER, StatusCode::CONFLICT) => assert_eq!(stored, name_1, "round {round}"),
            (StatusCode::CONFLICT, StatusCode::SEE_OTHER) => assert_eq!(stored, name_2, "round {round}"),
            other => panic!("round {round}: {other:?} (stored {stored}): {} / {}", a.body, b.body),
        }
    }
}

#[tokio::test]
async fn create_refuses_a_draft_changed_since_its_review() {
    let app = TestApp::spawn().await;
    let (reviewer, frank) = app.signed_in_client("frank").await;
    let editor = app.client();
    assert_eq!(editor.sign_in("frank", PASSWORD).await.status, StatusCode::SEE_OTHER);
    crate::wizard::fill_wizard(&reviewer, "first.example.com", "web1").await;
    let review = reviewer.get("/wizard/review").await;
    let token = review.text_attr(r#"input[name="draft_token"]"#, "value");
    let revision = review.text_attr(r#"input[name="revision"]"#, "value");
    assert_eq!(review.text("#review-hostname"), "first.example.com");

    // Meanwhile another tab changes the hostname (the draft stays complete).
    let (rev, base) = shown_with(&editor.get("/wizard/site").await);
    let r = editor
        .post_form(
            "/wizard/site",
            &[
                ("revision", &rev),
                ("base", &base),
                ("site_name", "My shop"),
                ("site_hostname", "second.example.com"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);

    let r = reviewer
        .post_form(
            "/wizard/review",
            &[("draft_token", &token), ("revision", &revision), ("nav", "create")],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.text("#draft-conflict"), "The draft changed; review it again.");
    assert_eq!(
        r.text("#review-hostname"),
        "second.example.com",
        "the new draft is shown for review"
    );
    let sites: i64 = app.scalar("select count(*) from sites").await;
    assert_eq!(sites, 0, "nothing was created from the older review");
    assert!(stored_site_name(&app, frank).await == "My shop");

    // Create from the new review builds what it shows.
    let revision = r.text_attr(r#"input[name="revision"]"#, "value");
    let r = reviewer
        .post_form(
            "/wizard/review",
            &[("draft_token", &token), ("revision", &revision), ("nav", "create")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let hostname: String = app.scalar("select hostname from sites").await;
    assert_eq!(hostname, "second.example.com");
}

#[tokio::test]
async fn a_date_beyond_9999_in_the_customers_zone_is_a_field_error_not_a_500() {
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("gina").await;
    client.get("/settings").await;
    let r = client
        .post_form("/settings", &[("settings[time_zone]", "America/New_York")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    for since in ["9999-12-31T23:59", "1969-12-31T12:00"] {
        let r = client.get(&format!("/notices?since={since}")).await;
        assert_field_error(&r, "since", "Enter a date from 1970 to 9999.");
    }
    let r = client.get("/notices?since=9999-12-31T18:00").await;
    assert_eq!(r.status, StatusCode::OK, "the last minutes of 9999 in UTC are fine");
    let r = client.get("/notices?since=1970-01-01T00:00").await;
    assert_eq!(r.status, StatusCode::OK);
}

/// A running `berth serve`, killed if the test ends without stopping it.
struct Berth(std::process::Child);

impl Drop for Berth {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `berth serve` with the embedded default under `data`; returns it and its address.
fn spawn_berth(data: &std::path::Path) -> (Berth, String) {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("serve")
        .env_remove("DATABASE_URL")
        .env("BERTH_DATA", data)
        .env("BERTH_LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut berth = Berth(child);
    let stdout = berth.0.stdout.take().unwrap();
    let mut lines = std::io::BufReader::new(stdout).lines();
    let base = loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("berth exited: {:?}", berth.0.try_wait()))
            .unwrap();
        if let Some(rest) = line.strip_prefix("Berth is serving on ") {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    // Keep reading so that Berth never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (berth, base)
}

fn postmaster_pid(data: &std::path::Path) -> Option<i32> {
    std::fs::read_to_string(data.join("postgres/postmaster.pid"))
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

fn alive(pid: i32) -> bool {
    // A zombie (ended, not reaped) does not count.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.rsplit_once(')').is_some_and(|(_, r)| r.trim_start().starts_with('Z')))
        .unwrap_or(false)
}

/// When the test fails half-way: stops a cluster left running (fast shutdown) and removes
/// the folder, so that no server outlives the test.
struct LeftBehind(std::path::PathBuf);

impl Drop for LeftBehind {
    fn drop(&mut self) {
        if let Some(pid) = postmaster_pid(&self.0)
            && alive(pid)
        {
            // SAFETY: SIGINT asks a postmaster for a fast shutdown.
            unsafe { libc::kill(pid, libc::SIGINT) };
            let deadline = Instant::now() + Duration::from_secs(10);
            while alive(pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn assert_ready(base: &str) {
    let r = Client::new(base).get("/readyz").await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "ready"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_embedded_berth_restarts_at_once_and_sigterm_stops_its_cluster() {
    let data = std::env::temp_dir().join(format!("berth-faults-{}-kill", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data).unwrap();
    let _cleanup = LeftBehind(data.clone());
    let kill = |berth: &mut Berth, signal| {
        // SAFETY: signalling our own child.
        assert_eq!(unsafe { libc::kill(berth.0.id() as i32, signal) }, 0);
        berth.0.wait().unwrap()
    };

    let (mut berth, base) = tokio::task::block_in_place(|| spawn_berth(&data));
    assert_ready(&base).await;
    let first = postmaster_pid(&data).expect("the embedded cluster runs");

    // A full crash: Berth and the postmaster killed together; an immediate restart waits
    // for the old server to go and starts a new one.
    kill(&mut berth, libc::SIGKILL);
    // SAFETY: the postmaster our Berth started.
    unsafe { libc::kill(first, libc::SIGKILL) };
    let (mut berth, base) = tokio::task::block_in_place(|| spawn_berth(&data));
    assert_ready(&base).await;
    let second = postmaster_pid(&data).expect("a new cluster runs");
    assert_ne!(second, first);

    // kill -9 of Berth alone: the cluster outlives it; an immediate restart adopts it.
    kill(&mut berth, libc::SIGKILL);
    assert!(alive(second));
    let (mut berth, base) = tokio::task::block_in_place(|| spawn_berth(&data));
    assert_ready(&base).await;
    assert_eq!(postmaster_pid(&data), Some(second), "adopted, not started twice");

    // SIGTERM: Berth stops the cluster it adopted; no postmaster is left.
    let status = kill(&mut berth, libc::SIGTERM);
    assert!(status.success(), "{status:?}");
    assert_eq!(postmaster_pid(&data), None, "postmaster.pid is gone");
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(second) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!alive(second), "the postmaster is gone");
}

#[tokio::test]
async fn an_ftp_user_edited_in_two_tabs_keeps_the_first_edit_and_tells_the_second() {
    let app = TestApp::spawn().await;
    let (one, hana) = app.signed_in_client("hana").await;
    let two = app.client();
    assert_eq!(two.sign_in("hana", PASSWORD).await.status, StatusCode::SEE_OTHER);
    let (site, envs) = crate::ftp::add_site(&app, hana, "shop", &["production"]).await;
    let (site, env) = (site.to_string(), envs[0].to_string());
    let form = |name: &'static str, root: &'static str| {
        vec![
            ("name", name),
            ("username", "designer"),
            ("password", ""),
            ("relative_root", root),
            ("type", "read-write"),
            ("site_id", site.as_str()),
            ("environment_id", env.as_str()),
        ]
    };
    let mut created = form("Web designer", "public_html");
    created[2].1 = "a long enough ftp password";
    let id = crate::ftp::create_ftp(&app, &one, &created).await;
    let path = format!("/ftp-users/{id}");
    let version_1 = one.get(&path).await.text_attr(r#"input[name="version"]"#, "value");
    let version_2 = two.get(&path).await.text_attr(r#"input[name="version"]"#, "value");

    let mut fields = form("Lead designer", "public_html");
    fields.push(("version", &version_1));
    let r = one.post_form(&path, &fields).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    // The second tab changes the folder on the form it opened before, with the old name.
    let mut fields = form("Web designer", "www");
    fields.push(("version", &version_2));
    let r = two.post_form(&path, &fields).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(r.body.contains("changed in another tab or device"), "{}", r.body);
    let (name, root): (String, String) = sqlx::query_as("select name, relative_root from ftp_users where id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!((name.as_str(), root.as_str()), ("Lead designer", "public_html"));
    // From the page shown now, the change goes through.
    let version = two.get(&path).await.text_attr(r#"input[name="version"]"#, "value");
    fields.pop();
    fields.push(("version", &version));
    assert_eq!(two.post_form(&path, &fields).await.status, StatusCode::SEE_OTHER);
}
