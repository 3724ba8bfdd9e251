//! Small helpers the tests are built from: `TestApp::spawn`, `signed_in_client`,
//! `post_form`, `post_htmx`, `assert_field_error`. CSRF stays enforced: the client sends the
//! token the page gave it, the way a browser does.

use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use berth::app;
use berth::db::EmbeddedPostgres;
use berth::identity::customer::DisplayName;
use berth::identity::{CustomerId, Email, Username};
use berth::password::Hasher;
pub use berth::security::model::Account as SecondFactorAccount;
use berth::state::AppState;
use berth::state::WebConfig;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use scraper::{Html, Selector};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, PgPool};

pub const PASSWORD: &str = "correct horse battery";
pub const STAFF_PASSWORD: &str = "staff password for tests";

/// Where the test databases live: `DATABASE_URL`'s server, or a private cluster started
/// for this run (the embedded-default mechanism) and stopped when the run ends.
struct Cluster {
    admin: PgConnectOptions,
    embedded: Option<EmbeddedPostgres>,
    dir: Option<std::path::PathBuf>,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();
static TEMPLATE: tokio::sync::Mutex<bool> = tokio::sync::Mutex::const_new(false);
static COUNTER: AtomicUsize = AtomicUsize::new(0);
static PASSWORD_HASH: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
static STAFF_PASSWORD_HASH: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
/// Every database of a run is named `berth_test_<pid>_…`, so that runs sharing one
/// `DATABASE_URL` server never touch each other's, and a run can drop all of its own.
const PREFIX: &str = "berth_test_";
/// The first key of the session advisory lock a run holds on a shared server for its whole
/// life (the second is its pid): a run whose lock is free has died, and its databases may go.
const RUN_LOCK: i32 = 0x4265_7274;

fn run_prefix() -> String {
    format!("{PREFIX}{}_", std::process::id())
}

fn template_db() -> String {
    format!("{}template", run_prefix())
}

/// The end of the run on a shared server: `stop_cluster` asks the janitor thread (which owns
/// the admin connection and its runtime) to drop this run's databases, and waits for it.
/// Only a futex mutex and condvar cross over: at `atexit` the main thread's thread-locals are
/// gone already, so no runtime is started there.
#[derive(Clone, Copy, PartialEq)]
enum Phase {
    Running,
    Cleanup,
    Done,
}

static JANITOR: (Mutex<Phase>, std::sync::Condvar) = (Mutex::new(Phase::Running), std::sync::Condvar::new());

extern "C" fn stop_cluster() {
    if let Some(cluster) = CLUSTER.get() {
        if let Some(pg) = &cluster.embedded {
            // Deleted next: nothing to checkpoint.
            pg.stop_to_discard();
        }
        if let Some(dir) = &cluster.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        if cluster.embedded.is_none() {
            let (phase, changed) = &JANITOR;
            let mut phase = phase.lock().unwrap_or_else(|e| e.into_inner());
            *phase = Phase::Cleanup;
            changed.notify_all();
            // Bounded, so that an unreachable server cannot hang the end of the run.
            let _ = changed.wait_timeout_while(phase, std::time::Duration::from_secs(30), |p| *p != Phase::Done);
        }
    }
}

/// Holds the run's advisory lock, drops the databases of runs that died, tells `ready` it
/// holds the lock, then waits for the end of the run and drops this run's databases.
fn janitor(admin: PgConnectOptions, ready: std::sync::mpsc::Sender<()>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("janitor runtime");
    runtime.block_on(async move {
        let mut conn = admin.database("postgres").connect().await.expect("admin connection");
        let pid = std::process::id() as i32;
        sqlx::query("select pg_advisory_lock($1, $2)")
            .bind(RUN_LOCK)
            .bind(pid)
            .execute(&mut conn)
            .await
            .expect("the run's advisory lock");
        drop_stale(&mut conn).await;
        let _ = ready.send(());
        {
            let (phase, changed) = &JANITOR;
            let phase = phase.lock().unwrap_or_else(|e| e.into_inner());
            let _unused = changed.wait_while(phase, |p| *p == Phase::Running);
        }
        // Tests may still hold connections: force ends them.
        for name in databases(&mut conn).await {
            if name.starts_with(&run_prefix()) {
                let _ = sqlx::query(&format!("drop database if exists {name} with (force)"))
                    .execute(&mut conn)
                    .await;
            }
        }
        let (phase, changed) = &JANITOR;
        *phase.lock().unwrap_or_else(|e| e.into_inner()) = Phase::Done;
        changed.notify_all();
    });
}

async fn databases(conn: &mut sqlx::PgConnection) -> Vec<String> {
    sqlx::query_scalar("select datname from pg_database")
        .fetch_all(conn)
        .await
        .unwrap_or_default()
}

/// Drops `berth_test_<pid>_…` databases whose run holds no lock: it was killed before its
/// end. Our own pid is included: we hold that lock (taking it again succeeds), so what carries
/// our pid now is a dead earlier run's. Without `force`, so a database in use is left alone.
async fn drop_stale(conn: &mut sqlx::PgConnection) {
    for name in databases(conn).await {
        let Some(other) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split_once('_'))
            .and_then(|(pid, _)| pid.parse::<i32>().ok())
        else {
            continue;
        };
        let free: bool = sqlx::query_scalar("select pg_try_advisory_lock($1, $2)")
            .bind(RUN_LOCK)
            .bind(other)
            .fetch_one(&mut *conn)
            .await
            .unwrap_or(false);
        if free {
            let _ = sqlx::query(&format!("drop database if exists {name}"))
                .execute(&mut *conn)
                .await;
            let _ = sqlx::query("select pg_advisory_unlock($1, $2)")
                .bind(RUN_LOCK)
                .bind(other)
                .execute(&mut *conn)
                .await;
        }
    }
}

fn cluster() -> &'static Cluster {
    CLUSTER.get_or_init(|| {
        if let Ok(url) = std::env::var("DATABASE_URL") {
            let admin = PgConnectOptions::from_str(&url).expect("DATABASE_URL is a PostgreSQL URL");
            let (ready, started) = std::sync::mpsc::channel();
            let options = admin.clone();
            std::thread::spawn(move || janitor(options, ready));
            started.recv().expect("the janitor thread takes the run's lock");
            // SAFETY: registering a plain extern "C" function; it runs once at process exit.
            unsafe { libc::atexit(stop_cluster) };
            return Cluster {
                admin,
                embedded: None,
                dir: None,
            };
        }
        let dir = std::env::temp_dir().join(format!("berth-test-{}", std::process::id()));
        let pg = EmbeddedPostgres::start(&dir.join("postgres")).expect("the test PostgreSQL cluster starts");
        without_durability(&pg);
        // SAFETY: registering a plain extern "C" function; it runs once at process exit.
        unsafe { libc::atexit(stop_cluster) };
        Cluster {
            admin: pg.connect_options("postgres"),
            embedded: Some(pg),
            dir: Some(dir),
        }
    })
}

/// The run's own cluster is thrown away at the end of the run: it need not survive a crash,
/// so commits do not wait for the disk (the clusters the fault tests restart are their own).
fn without_durability(pg: &EmbeddedPostgres) {
    let admin = pg.connect_options("postgres");
    // On a thread of its own, as the caller may be inside a runtime.
    let set = move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let mut conn = admin.connect().await.expect("admin connection");
            for setting in [
                "alter system set fsync = off",
                "alter system set synchronous_commit = off",
                "alter system set full_page_writes = off",
                "select pg_reload_conf()",
            ] {
                sqlx::query(setting).execute(&mut conn).await.expect(setting);
            }
        });
    };
    std::thread::spawn(set)
        .join()
        .expect("the test cluster's settings apply");
}

/// A fresh database with every migration applied.
pub async fn fresh_database() -> PgPool {
    let cluster = tokio::task::spawn_blocking(cluster).await.expect("cluster thread");
    {
        let mut ready = TEMPLATE.lock().await;
        if !*ready {
            let mut admin = cluster
                .admin
                .clone()
                .database("postgres")
                .connect()
                .await
                .expect("admin connection");
            let template = template_db();
            sqlx::query(&format!("create database {template}"))
                .execute(&mut admin)
                .await
                .unwrap();
            let mut conn = cluster.admin.clone().database(&template).connect().await.unwrap();
            berth::db::MIGRATOR.run(&mut conn).await.expect("migrations apply");
            drop(conn);
            *ready = true;
        }
    }
    let name = format!("{}{}", run_prefix(), COUNTER.fetch_add(1, Ordering::SeqCst));
    let mut admin = cluster
        .admin
        .clone()
        .database("postgres")
        .connect()
        .await
        .expect("admin connection");
    sqlx::query(&format!("create database {name} template {}", template_db()))
        .execute(&mut admin)
        .await
        .unwrap();
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .connect_with(cluster.admin.clone().database(&name))
        .await
        .expect("test database connection")
}

/// A folder of its own for one test's platform files (`BERTH_DATA`), under the system's
/// temporary folder; removed with the run's other folders at the next run's start.
pub fn data_dir() -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    std::env::temp_dir()
        .join(format!("berth-it-{}", std::process::id()))
        .join(n.to_string())
}

/// The development driver with a fresh files folder.
pub fn dev_platform() -> berth::engine::Platform {
    berth::engine::Platform::development(data_dir())
}

type Answer<T> = std::pin::Pin<Box<dyn std::future::Future<Output = berth::engine::EngineResult<T>> + Send>>;
type Hook<A, T> = Option<Arc<dyn Fn(A) -> Answer<T> + Send + Sync>>;

/// A driver for tests: another driver (the development driver unless [`FakeDriver::over`]),
/// with the calls a test scripts. `on_action` sees `start`, `stop`, `restart` and `remove`.
#[derive(Clone)]
pub struct FakeDriver {
    inner: Arc<dyn berth::engine::ContainerDriver>,
    ensure: Hook<berth::engine::ContainerSpec, ()>,
    action: Option<Arc<dyn Fn(&'static str) -> berth::engine::EngineResult<()> + Send + Sync>>,
    traffic: Hook<i64, Option<berth::engine::Traffic>>,
}

impl FakeDriver {
    pub fn new() -> Self {
        Self::over(berth::engine::DevelopmentDriver)
    }

    pub fn over(inner: impl berth::engine::ContainerDriver + 'static) -> Self {
        Self {
            inner: Arc::new(inner),
            ensure: None,
            action: None,
            traffic: None,
        }
    }

    pub fn on_ensure<F, Fut>(mut self, ensure: F) -> Self
    where
        F: Fn(berth::engine::ContainerSpec) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = berth::engine::EngineResult<()>> + Send + 'static,
    {
        self.ensure = Some(Arc::new(move |spec| Box::pin(ensure(spec))));
        self
    }

    pub fn on_action(
        mut self,
        action: impl Fn(&'static str) -> berth::engine::EngineResult<()> + Send + Sync + 'static,
    ) -> Self {
        self.action = Some(Arc::new(action));
        self
    }

    pub fn on_traffic<F, Fut>(mut self, traffic: F) -> Self
    where
        F: Fn(i64) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = berth::engine::EngineResult<Option<berth::engine::Traffic>>> + Send + 'static,
    {
        self.traffic = Some(Arc::new(move |site| Box::pin(traffic(site))));
        self
    }

    async fn act(&self, what: &'static str, site: i64) -> berth::engine::EngineResult<()> {
        match (&self.action, what) {
            (Some(action), _) => action(what),
            (None, "start") => self.inner.start(site).await,
            (None, "stop") => self.inner.stop(site).await,
            (None, "restart") => self.inner.restart(site).await,
            (None, _) => unreachable!("remove is called with its installation"),
        }
    }
}

#[async_trait::async_trait]
impl berth::engine::ContainerDriver for FakeDriver {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn needs_images(&self) -> bool {
        self.inner.needs_images()
    }
    async fn ensure_network(&self, network: &berth::engine::PoolNet) -> berth::engine::EngineResult<()> {
        self.inner.ensure_network(network).await
    }
    async fn ensure(&self, spec: &berth::engine::ContainerSpec) -> berth::engine::EngineResult<()> {
        match &self.ensure {
            Some(ensure) => ensure(spec.clone()).await,
            None => self.inner.ensure(spec).await,
        }
    }
    async fn start(&self, site: i64) -> berth::engine::EngineResult<()> {
        self.act("start", site).await
    }
    async fn stop(&self, site: i64) -> berth::engine::EngineResult<()> {
        self.act("stop", site).await
    }
    async fn restart(&self, site: i64) -> berth::engine::EngineResult<()> {
        self.act("restart", site).await
    }
    async fn remove(&self, site: i64, installation: uuid::Uuid) -> berth::engine::EngineResult<()> {
        match &self.action {
            Some(action) => action("remove"),
            None => self.inner.remove(site, installation).await,
        }
    }
    async fn observe(&self, site: i64) -> berth::engine::EngineResult<berth::engine::Observed> {
        self.inner.observe(site).await
    }
    async fn logs(&self, site: i64, lines: usize) -> berth::engine::EngineResult<Vec<String>> {
        self.inner.logs(site, lines).await
    }
    async fn traffic(&self, site: i64) -> berth::engine::EngineResult<Option<berth::engine::Traffic>> {
        match &self.traffic {
            Some(traffic) => traffic(site).await,
            None => self.inner.traffic(site).await,
        }
    }
    async fn doctor(&self, images: &[String]) -> Vec<berth::engine::Check> {
        self.inner.doctor(images).await
    }
}

/// `driver` with a fresh files folder.
pub fn platform_with(driver: impl berth::engine::ContainerDriver + 'static) -> berth::engine::Platform {
    berth::engine::Platform {
        driver: Arc::new(driver),
        ..dev_platform()
    }
}

/// A Berth serving one fresh database on a free local port.
pub struct TestApp {
    pub base: String,
    pub pool: PgPool,
    pub state: AppState,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(WebConfig::new(None)).await
    }

    pub async fn spawn_with(web: WebConfig) -> Self {
        Self::spawn_limited(web, berth::web::serve::ServeLimits::default()).await
    }

    /// Served by `berth::web::serve::serve`, as `berth serve` is, with these limits.
    pub async fn spawn_limited(web: WebConfig, limits: berth::web::serve::ServeLimits) -> Self {
        Self::spawn_on(dev_platform(), web, limits).await
    }

    /// On `platform` (its driver and files folder).
    pub async fn spawn_on(
        platform: berth::engine::Platform,
        web: WebConfig,
        limits: berth::web::serve::ServeLimits,
    ) -> Self {
        let pool = fresh_database().await;
        let state = AppState {
            pool: pool.clone(),
            hasher: Hasher::new(2).unwrap(),
            web: Arc::new(web),
            // Tests move it on (`app.advance`) instead of sleeping through a timeout.
            clock: berth::clock::Clock::adjustable(),
            platform: Arc::new(platform),
            // A key of its own per test app: TOTP secrets are sealed as in production.
            sealer: berth::sealed::Sealer::new(Some(&berth::sealed::SecretKey::random()), None),
            changes: berth::db::changes::Changes::start(pool.clone()),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = app(state.clone());
        tokio::spawn(berth::web::serve::serve(
            listener,
            router,
            limits,
            std::future::pending(),
        ));
        Self {
            base: format!("http://{addr}"),
            pool,
            state,
        }
    }

    /// Moves the app's clock `by` forward: sessions, impersonations and sign-in delays age.
    pub fn advance(&self, by: std::time::Duration) {
        self.state.clock.advance(by);
    }

    /// The Argon2id hash of `password`, made once per run: every account created here gets
    /// a real hash that sign-in verifies, only not salted anew for each (Argon2 is slow on
    /// purpose, and the accounts of a run are counted in hundreds).
    async fn password_hash(&self, cell: &'static tokio::sync::OnceCell<String>, password: &str) -> String {
        cell.get_or_init(|| async { self.state.hasher.hash(password).await.unwrap() })
            .await
            .clone()
    }

    pub async fn create_customer(&self, username: &str) -> CustomerId {
        let hash = self.password_hash(&PASSWORD_HASH, PASSWORD).await;
        let mut conn = self.pool.acquire().await.unwrap();
        berth::identity::customer::create(
            &mut conn,
            &username.parse::<Username>().unwrap(),
            &format!("{username}@example.com").parse::<Email>().unwrap(),
            &"".parse::<DisplayName>().unwrap(),
            &hash,
        )
        .await
        .unwrap()
    }

    /// A staff account with `support`, and `support-write` when `write`, with a TOTP
    /// authenticator enrolled (staff must have a second factor); its id.
    pub async fn create_staff(&self, username: &str, write: bool) -> i64 {
        let id = self.create_staff_without_2fa(username, write).await;
        self.enrol_totp(SecondFactorAccount::Staff(id), username).await;
        id
    }

    /// A staff account that has not enrolled a second factor yet.
    pub async fn create_staff_without_2fa(&self, username: &str, write: bool) -> i64 {
        let hash = self.password_hash(&STAFF_PASSWORD_HASH, STAFF_PASSWORD).await;
        berth::identity::staff::create(&self.pool, &username.parse::<Username>().unwrap(), &hash, write)
            .await
            .unwrap()
            .unwrap()
    }

    /// Enrols a TOTP authenticator for `account` (as its page would, through the same
    /// operations) and returns its recovery codes.
    pub async fn enrol_totp(&self, account: SecondFactorAccount, label: &str) -> Vec<String> {
        use berth::security::ops;
        ops::start_enrolment(&self.pool, &self.state.sealer, account, label)
            .await
            .unwrap();
        let actor = match account {
            SecondFactorAccount::Customer(id) => ops::Actor::Customer(berth::identity::Who::new(id, "customer", None)),
            SecondFactorAccount::Staff(id) => ops::Actor::Staff {
                id,
                username: berth::identity::UsernameKey::new(label),
                ip: None,
            },
        };
        let code = totp_code_at(&self.enrolling_secret(account).await, self.state.clock.now());
        ops::confirm_enrolment(&self.pool, &self.state.sealer, &actor, &code, self.state.clock.now())
            .await
            .unwrap()
    }

    /// The TOTP secret stored for `account` (opened with the app's key).
    pub async fn enrolling_secret(&self, account: SecondFactorAccount) -> Vec<u8> {
        let row = berth::security::model::authenticator(&self.pool, account)
            .await
            .unwrap()
            .expect("an authenticator");
        self.state.sealer.open(&row.sealed).unwrap()
    }

    /// A TOTP code of `account` that it has not used: the current step's, after moving
    /// the app's clock past the steps used already (a code works once).
    pub async fn totp_code(&self, account: SecondFactorAccount) -> String {
        let row = berth::security::model::authenticator(&self.pool, account)
            .await
            .unwrap()
            .expect("an authenticator");
        let step = self.state.clock.now().unix_timestamp() / 30;
        if row.last_step >= step {
            self.advance(std::time::Duration::from_secs(((row.last_step - step + 1) * 30) as u64));
        }
        totp_code_at(&self.state.sealer.open(&row.sealed).unwrap(), self.state.clock.now())
    }

    /// A new staff member, signed in through /staff/login and the second step.
    pub async fn staff_client(&self, username: &str, write: bool) -> Client {
        let id = self.create_staff(username, write).await;
        let client = self.client();
        client.get("/staff/login").await;
        let r = client
            .post_form("/staff/login", &[("username", username), ("password", STAFF_PASSWORD)])
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert_eq!(r.location(), "/login/second-factor");
        let r = self.second_step(&client, SecondFactorAccount::Staff(id)).await;
        assert_eq!(r.location(), "/staff");
        client
    }

    /// The second step of staff member `username`'s sign-in on `client`.
    pub async fn staff_second_step(&self, client: &Client, username: &str) -> Resp {
        let id: i64 = sqlx::query_scalar("select id from staff where username = $1")
            .bind(username)
            .fetch_one(&self.pool)
            .await
            .unwrap();
        self.second_step(client, SecondFactorAccount::Staff(id)).await
    }

    /// The sign-in's second step for `account` on `client`, with a fresh TOTP code.
    pub async fn second_step(&self, client: &Client, account: SecondFactorAccount) -> Resp {
        client.get("/login/second-factor").await;
        let code = self.totp_code(account).await;
        let r = client.post_form("/login/second-factor", &[("code", &code)]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        r
    }

    /// A URL for this test's database, usable by the `berth` binary.
    pub async fn database_url(&self) -> String {
        let name: String = self.scalar("select current_database()").await;
        match std::env::var("DATABASE_URL") {
            Ok(url) => {
                let base = url.rsplit_once('/').map(|(b, _)| b).unwrap_or(&url);
                format!("{base}/{name}")
            }
            Err(_) => {
                let socket: String = self.scalar("select current_setting('unix_socket_directories')").await;
                format!("postgres://postgres@localhost/{name}?host={socket}")
            }
        }
    }

    /// A client of this app: before each request it waits until the app has heard of every
    /// change committed so far (`Changes::settle`), so a change a test makes in SQL shows on
    /// its next page as surely as one made through a page.
    pub fn client(&self) -> Client {
        Client {
            settle: Some(self.state.changes.clone()),
            ..Client::new(&self.base)
        }
    }

    /// A new customer, signed in through the sign-in form.
    pub async fn signed_in_client(&self, username: &str) -> (Client, CustomerId) {
        let id = self.create_customer(username).await;
        let client = self.client();
        let resp = client.sign_in(username, PASSWORD).await;
        assert_eq!(
            resp.status,
            StatusCode::SEE_OTHER,
            "sign-in of {username}: {}",
            resp.body
        );
        (client, id)
    }

    pub async fn scalar<T>(&self, sql: &str) -> T
    where
        T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + Unpin,
    {
        sqlx::query_scalar(sql).fetch_one(&self.pool).await.unwrap()
    }
}

/// A browser-like client: a cookie jar, no automatic redirects, and the CSRF token of the
/// last page it loaded.
#[derive(Clone)]
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    csrf: Arc<Mutex<Option<String>>>,
    /// The app's change listener, when the test holds the app (see `TestApp::client`).
    settle: Option<berth::db::changes::Changes>,
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Resp {
    pub fn html(&self) -> Html {
        Html::parse_document(&self.body)
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    pub fn location(&self) -> &str {
        self.header("location")
    }

    /// The text of the elements matching `selector`.
    pub fn texts(&self, selector: &str) -> Vec<String> {
        let sel = Selector::parse(selector).expect("valid selector");
        self.html()
            .select(&sel)
            .map(|e| e.text().collect::<String>().trim().to_owned())
            .collect()
    }

    /// The attribute `attr` of the first element matching `selector`.
    pub fn text_attr(&self, selector: &str, attr: &str) -> String {
        let sel = Selector::parse(selector).expect("valid selector");
        self.html()
            .select(&sel)
            .next()
            .and_then(|e| e.value().attr(attr).map(str::to_owned))
            .unwrap_or_else(|| panic!("no {selector}[{attr}] in:\n{}", self.body))
    }

    pub fn text(&self, selector: &str) -> String {
        self.texts(selector)
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no {selector} in:\n{}", self.body))
    }
}

impl Client {
    pub fn new(base: &str) -> Self {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self {
            http,
            base: base.to_owned(),
            csrf: Arc::new(Mutex::new(None)),
            settle: None,
        }
    }

    async fn settle(&self) {
        if let Some(changes) = &self.settle {
            changes.settle().await;
        }
    }

    async fn finish(&self, resp: reqwest::Response) -> Resp {
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.text().await.unwrap_or_default();
        if let Some(token) = csrf_in(&body) {
            *self.csrf.lock().unwrap() = Some(token);
        }
        Resp { status, headers, body }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.settle().await;
        let resp = self.http.get(format!("{}{path}", self.base)).send().await.unwrap();
        self.finish(resp).await
    }

    pub async fn get_htmx(&self, path: &str) -> Resp {
        self.settle().await;
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .header("HX-Request", "true")
            .send()
            .await
            .unwrap();
        self.finish(resp).await
    }

    /// The token a browser would hold: from the last page, else from `/login`.
    pub async fn token(&self) -> String {
        if let Some(token) = self.csrf.lock().unwrap().clone() {
            return token;
        }
        self.get("/login").await;
        self.csrf
            .lock()
            .unwrap()
            .clone()
            .expect("the sign-in page has a CSRF token")
    }

    /// A plain HTML form post, with the page's `csrf_token`.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Resp {
        let token = self.token().await;
        let mut all: Vec<(&str, &str)> = vec![("csrf_token", &token)];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    /// A form post without adding any token.
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> Resp {
        self.settle().await;
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .form(fields)
            .send()
            .await
            .unwrap();
        self.finish(resp).await
    }

    /// An htmx post: `HX-Request` and the token in `X-CSRF-Token`, as `hx-headers` sends it.
    pub async fn post_htmx(&self, path: &str, fields: &[(&str, &str)]) -> Resp {
        let token = self.token().await;
        self.settle().await;
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .header("HX-Request", "true")
            .header("X-CSRF-Token", token)
            .form(fields)
            .send()
            .await
            .unwrap();
        self.finish(resp).await
    }

    pub async fn sign_in(&self, username: &str, password: &str) -> Resp {
        self.get("/login").await;
        self.post_form("/login", &[("username", username), ("password", password)])
            .await
    }
}

/// The six-digit TOTP code of `secret` at `at` (RFC 6238: SHA-1, 30-second steps), computed
/// here as an authenticator app would.
pub fn totp_code_at(secret: &[u8], at: time::OffsetDateTime) -> String {
    totp_rs::TOTP::new_unchecked(totp_rs::Algorithm::SHA1, 6, 0, 30, secret.to_vec(), None, String::new())
        .generate(at.unix_timestamp() as u64)
}

fn csrf_in(body: &str) -> Option<String> {
    let doc = Html::parse_document(body);
    let sel = Selector::parse(r#"input[name="csrf_token"]"#).unwrap();
    doc.select(&sel)
        .next()
        .and_then(|e| e.value().attr("value"))
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// The field `name` is marked invalid, and the message it points to (aria-describedby)
/// contains `expected`. Returns the message.
pub fn assert_field_error(resp: &Resp, name: &str, expected: &str) -> String {
    assert_eq!(
        resp.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "expected 422 for {name}; body:\n{}",
        resp.body
    );
    let doc = resp.html();
    let sel = Selector::parse(&format!(r#"[name="{name}"][aria-invalid="true"]"#)).unwrap();
    let field = doc
        .select(&sel)
        .next()
        .unwrap_or_else(|| panic!("{name} is not marked invalid in:\n{}", resp.body));
    let described = field
        .value()
        .attr("aria-describedby")
        .unwrap_or_else(|| panic!("{name} has no aria-describedby"));
    let message: String = described
        .split_whitespace()
        .filter(|id| id.ends_with("-error"))
        .filter_map(|id| doc.select(&Selector::parse(&format!("#{id}")).unwrap()).next())
        .map(|e| e.text().collect::<String>())
        .collect();
    assert!(
        message.contains(expected),
        "{name}: expected a message containing {expected:?}, got {message:?}"
    );
    message
}

/// Gives the customer a PIN (its Argon2 hash, as the account page stores it).
pub async fn set_pin(app: &TestApp, customer: CustomerId, pin: &str) {
    let hash = app.state.hasher.hash(pin).await.unwrap();
    sqlx::query("update customers set pin_hash = $2 where id = $1")
        .bind(customer)
        .bind(hash)
        .execute(&app.pool)
        .await
        .unwrap();
}
