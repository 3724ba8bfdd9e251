//! The FTP service (`BERTH_FTP_LISTEN`): a real FTP client (`suppaftp`) logs in to Berth's
//! service, run here as `berth serve` runs it (and once as `berth serve` itself), on a
//! free port of 127.0.0.1.
//!
//! Passive data connections take a random free port of 20000-29999 (the service retries on
//! a port in use), so tests running at once share the range without meeting.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use berth::config::FtpConfig;
use berth::ftp::service::{self, Service, Settings};
use berth::state::{FtpTls, WebConfig};
use reqwest::StatusCode;
use suppaftp::tokio::{AsyncFtpStream, AsyncRustlsConnector, AsyncRustlsFtpStream, ImplAsyncFtpStream};
use suppaftp::types::FileType;
use suppaftp::{FtpError, FtpResult};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

use super::{FTP_PASSWORD, add_site, create_ftp};
use crate::helpers::*;

const PASSIVE_PORTS: std::ops::RangeInclusive<u16> = 20000..=29999;
const NEW_PASSWORD: &str = "a brand new ftp password";

fn config() -> FtpConfig {
    FtpConfig {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        passive_ports: PASSIVE_PORTS,
        public_address: None,
        tls_cert: None,
        tls_key: None,
        require_tls: false,
    }
}

/// A running FTP service; stopped with [`Ftp::stop`] (or left to the end of the test).
pub struct Ftp {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Ftp {
    /// Serves FTP for `app` on `listener`, as `berth serve` does.
    pub async fn start(app: &TestApp, listener: TcpListener, settings: Settings) -> Self {
        Self::start_checking(app, listener, settings, service::RECHECK).await
    }

    /// With open sessions checking their user every `recheck` between commands.
    pub async fn start_checking(app: &TestApp, listener: TcpListener, settings: Settings, recheck: Duration) -> Self {
        let addr = listener.local_addr().unwrap();
        let service = Arc::new(
            Service::new(
                app.pool.clone(),
                app.state.hasher.clone(),
                app.state.clock.clone(),
                app.state.platform.data.clone(),
                settings,
            )
            .recheck_every(recheck),
        );
        service.check().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = service.spawn(
            listener,
            async move {
                let _ = stopped.await;
            },
            Duration::from_secs(2),
        );
        Self {
            addr,
            stop: Some(stop),
            task,
        }
    }

    /// Tells the service to stop (as SIGTERM does), without waiting.
    pub fn signal_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Stops the service and waits for it to end.
    pub async fn stop(mut self) {
        self.signal_stop();
        tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .expect("the FTP service stops within its drain time")
            .unwrap();
    }

    pub async fn connect(&self) -> AsyncFtpStream {
        AsyncFtpStream::connect(self.addr).await.unwrap()
    }

    /// A logged-in session in binary mode.
    pub async fn login(&self, username: &str, password: &str) -> FtpResult<AsyncFtpStream> {
        let mut ftp = self.connect().await;
        ftp.login(username, password).await?;
        ftp.transfer_type(FileType::Binary).await?;
        Ok(ftp)
    }
}

/// A listener on a free port, and the pages' FTP settings for it.
async fn bind(settings: &Settings) -> (TcpListener, WebConfig) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let access = service::access(settings, listener.local_addr().unwrap(), None);
    let web = WebConfig {
        ftp: Some(access),
        ..WebConfig::new(None)
    };
    (listener, web)
}

/// A Berth whose pages know its FTP service, and that service.
pub async fn spawn_with_ftp(settings: Settings) -> (TestApp, Ftp) {
    let (listener, web) = bind(&settings).await;
    let app = TestApp::spawn_with(web).await;
    let ftp = Ftp::start(&app, listener, settings).await;
    (app, ftp)
}

/// Creates an FTP user through the form; answers its id.
pub async fn ftp_user(
    app: &TestApp,
    client: &Client,
    username: &str,
    place: (Option<i64>, Option<i64>),
    root: &str,
    kind: &str,
) -> i64 {
    let site = place.0.map(|s| s.to_string()).unwrap_or_default();
    let environment = place.1.map(|e| e.to_string()).unwrap_or_default();
    create_ftp(
        app,
        client,
        &[
            ("name", "a user"),
            ("username", username),
            ("password", FTP_PASSWORD),
            ("relative_root", root),
            ("type", kind),
            ("site_id", &site),
            ("environment_id", &environment),
        ],
    )
    .await
}

async fn put(
    ftp: &mut ImplAsyncFtpStream<impl suppaftp::tokio::TokioTlsStream + Send>,
    name: &str,
    body: &[u8],
) -> FtpResult<u64> {
    let mut body = body;
    ftp.put_file(name, &mut body).await
}

async fn get(
    ftp: &mut ImplAsyncFtpStream<impl suppaftp::tokio::TokioTlsStream + Send>,
    name: &str,
) -> FtpResult<Vec<u8>> {
    let mut stream = ftp.retr_as_stream(name).await?;
    let mut body = Vec::new();
    stream.read_to_end(&mut body).await.map_err(FtpError::ConnectionError)?;
    stream.finish().await?;
    Ok(body)
}

/// The names in a folder's listing.
async fn names(ftp: &mut AsyncFtpStream, path: Option<&str>) -> FtpResult<Vec<String>> {
    let mut names = ftp.nlst(path).await?;
    names.sort();
    Ok(names)
}

fn site_folder(app: &TestApp, site: i64, environment: &str) -> PathBuf {
    app.state
        .platform
        .data
        .join("sites")
        .join(site.to_string())
        .join(environment)
}

/// Every file and link under `root`, with its content (a link: its target).
fn snapshot(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut seen = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let what = if meta.is_symlink() {
                format!("-> {}", std::fs::read_link(&path).unwrap().display())
            } else if meta.is_dir() {
                stack.push(path.clone());
                "dir".to_owned()
            } else {
                String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned()
            };
            seen.insert(path, what);
        }
    }
    seen
}

async fn activity(app: &TestApp, kind: &str) -> i64 {
    sqlx::query_scalar("select count(*) from activity where kind = $1")
        .bind(kind)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_ftp_user_uploads_into_its_environment_folder() {
    let (app, ftp) = spawn_with_ftp(Settings::new(&config()).unwrap()).await;
    let (client, alice) = app.signed_in_client("alice").await;
    let (site, envs) = add_site(&app, alice, "shop", &["production", "staging"]).await;
    ftp_user(&app, &client, "deployer", (Some(site), Some(envs[1])), "", "read-write").await;

    let mut session = ftp.login("deployer", FTP_PASSWORD).await.unwrap();
    assert_eq!(session.pwd().await.unwrap(), "/");
    // The environment's folder, made at the first login as provisioning makes it.
    assert_eq!(names(&mut session, None).await.unwrap(), ["index.html"]);
    let index = String::from_utf8(get(&mut session, "index.html").await.unwrap()).unwrap();
    assert!(index.contains("staging environment of shop.example.com"), "{index}");

    put(&mut session, "hello.txt", b"uploaded over FTP\n").await.unwrap();
    let folder = site_folder(&app, site, "staging");
    assert_eq!(std::fs::read(folder.join("hello.txt")).unwrap(), b"uploaded over FTP\n");
    assert_eq!(get(&mut session, "hello.txt").await.unwrap(), b"uploaded over FTP\n");
    session.mkdir("img").await.unwrap();
    session.cwd("img").await.unwrap();
    assert_eq!(session.pwd().await.unwrap(), "/img");
    put(&mut session, "logo.svg", b"<svg/>").await.unwrap();
    session.cdup().await.unwrap();
    session.rename("img/logo.svg", "logo.svg").await.unwrap();
    session.rmdir("img").await.unwrap();
    session.rm("hello.txt").await.unwrap();
    let mut left: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, ["index.html", "logo.svg"]);
    assert!(
        !site_folder(&app, site, "production").join("logo.svg").exists(),
        "only its own environment"
    );
    session.quit().await.unwrap();

    // A relative root is a folder inside the environment, made when missing; a user placed
    // on a site alone lands in its production environment.
    ftp_user(
        &app,
        &client,
        "uploader",
        (Some(site), Some(envs[0])),
        "public_html/up",
        "read-write",
    )
    .await;
    let mut session = ftp.login("uploader", FTP_PASSWORD).await.unwrap();
    put(&mut session, "a.txt", b"a").await.unwrap();
    assert_eq!(
        std::fs::read(site_folder(&app, site, "production").join("public_html/up/a.txt")).unwrap(),
        b"a"
    );
    ftp_user(&app, &client, "siteonly", (Some(site), None), "", "read-write").await;
    let mut session = ftp.login("siteonly", FTP_PASSWORD).await.unwrap();
    assert_eq!(names(&mut session, None).await.unwrap(), ["index.html", "public_html"]);
    let (other, _) = add_site(&app, alice, "blog", &["blue", "green"]).await;
    ftp_user(&app, &client, "bloguser", (Some(other), None), "", "read-write").await;
    let mut session = ftp.login("bloguser", FTP_PASSWORD).await.unwrap();
    put(&mut session, "b.txt", b"b").await.unwrap();
    assert!(
        site_folder(&app, other, "blue").join("b.txt").exists(),
        "no production: the oldest environment"
    );
    // With no site: the customer's own folder, BERTH_DATA/customers/<id>/.
    ftp_user(&app, &client, "backup", (None, None), "", "read-write").await;
    let mut session = ftp.login("backup", FTP_PASSWORD).await.unwrap();
    assert!(names(&mut session, None).await.unwrap().is_empty());
    put(&mut session, "dump.sql", b"--").await.unwrap();
    let own = app.state.platform.data.join("customers").join(alice.to_string());
    assert_eq!(std::fs::read(own.join("dump.sql")).unwrap(), b"--");
    ftp.stop().await;
}

#[tokio::test]
async fn wrong_passwords_are_refused_counted_and_locked_not_recorded_each() {
    let (app, ftp) = spawn_with_ftp(Settings::new(&config()).unwrap()).await;
    let (client, alice) = app.signed_in_client("alice").await;
    ftp_user(&app, &client, "deployer", (None, None), "", "read-write").await;

    for (user, password) in [
        ("deployer", "wrong password for it"),
        ("nobody", FTP_PASSWORD),
        ("deployer", ""),
        ("DEPLOYER", "still the wrong one"),
    ] {
        let mut session = ftp.connect().await;
        let refused = session.login(user, password).await.unwrap_err();
        assert!(refused.to_string().contains("530"), "{user}: {refused}");
        assert!(session.pwd().await.is_err(), "not logged in");
    }
    // Failures are counted on the username (and the address), not written one by one.
    let failures: i32 = app
        .scalar("select failures from signin_throttle where key = 'ftp:deployer'")
        .await;
    assert_eq!(failures, 3);
    assert_eq!(
        app.scalar::<i64>("select count(*) from activity where kind like 'ftp_login%' or kind like 'sign_in_%'")
            .await,
        0
    );
    // The fifth failure locks the username for a while: recorded once.
    for _ in 0..2 {
        assert!(ftp.login("deployer", "wrong password again").await.is_err());
    }
    assert_eq!(activity(&app, "ftp_login_locked").await, 1);
    let locked = ftp.login("deployer", FTP_PASSWORD).await;
    assert!(
        locked.is_err(),
        "refused unseen during the delay, right password or not"
    );
    app.advance(Duration::from_secs(3));
    let mut session = ftp.login("deployer", FTP_PASSWORD).await.unwrap();
    session.noop().await.unwrap();
    assert_eq!(activity(&app, "ftp_login_locked").await, 1);

    // The first login from an address is recorded in the customer's Activity; the next from
    // it is not; after 30 days without it, the address is new again.
    assert_eq!(activity(&app, "ftp_login_new_address").await, 1);
    let (actor, address, detail): (String, String, String) = sqlx::query_as(
        "select actor, host(address), detail from activity where kind = 'ftp_login_new_address' and customer_id = $1",
    )
    .bind(alice)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!((actor.as_str(), address.as_str()), ("FTP user deployer", "127.0.0.1"));
    assert!(detail.contains("plain FTP"), "{detail}");
    ftp.login("deployer", FTP_PASSWORD).await.unwrap();
    assert_eq!(activity(&app, "ftp_login_new_address").await, 1);
    let activity_page = client.get("/activity").await;
    assert!(activity_page.body.contains("FTP login from a new address"));
    assert!(activity_page.body.contains("FTP logins locked"));
    app.advance(Duration::from_secs(31 * 24 * 3600));
    ftp.login("deployer", FTP_PASSWORD).await.unwrap();
    assert_eq!(activity(&app, "ftp_login_new_address").await, 2);

    // A cancelled customer's users log in no more, and their open sessions end.
    let mut open = ftp.login("deployer", FTP_PASSWORD).await.unwrap();
    sqlx::query("update customers set status = 'cancelled' where id = $1")
        .bind(alice)
        .execute(&app.pool)
        .await
        .unwrap();
    assert!(ftp.login("deployer", FTP_PASSWORD).await.is_err());
    assert!(open.list(None).await.is_err());
    assert!(open.noop().await.is_err(), "the session ended");
    ftp.stop().await;
}

#[tokio::test]
async fn another_customers_user_sees_nothing_of_this_ones_files() {
    let (app, ftp) = spawn_with_ftp(Settings::new(&config()).unwrap()).await;
    let (alice_client, alice) = app.signed_in_client("alice").await;
    let (site, envs) = add_site(&app, alice, "shop", &["production"]).await;
    ftp_user(
        &app,
        &alice_client,
        "alice-ftp",
        (Some(site), Some(envs[0])),
        "",
        "read-write",
    )
    .await;
    let mut alice_session = ftp.login("alice-ftp", FTP_PASSWORD).await.unwrap();
    put(&mut alice_session, "private.txt", b"alice's").await.unwrap();

    let (bob_client, bob) = app.signed_in_client("bob").await;
    let (bob_site, bob_envs) = add_site(&app, bob, "bobsite", &["production"]).await;
    ftp_user(&app, &bob_client, "bob-ftp", (None, None), "", "read-write").await;
    ftp_user(
        &app,
        &bob_client,
        "bob-site",
        (Some(bob_site), Some(bob_envs[0])),
        "",
        "read-write",
    )
    .await;
    let before = snapshot(&site_folder(&app, site, "production"));
    for bob_user in ["bob-ftp", "bob-site"] {
        let mut bob_session = ftp.login(bob_user, FTP_PASSWORD).await.unwrap();
        let listed = names(&mut bob_session, None).await.unwrap();
        assert!(!listed.iter().any(|n| n.contains("private")), "{listed:?}");
        let alice_path = format!("sites/{site}/production/private.txt");
        for path in [
            alice_path.clone(),
            format!("/{alice_path}"),
            format!("../../{alice_path}"),
            format!("../../../{alice_path}"),
            format!("../../../../sites/{site}/production/private.txt"),
            format!("../{site}/production/private.txt"),
        ] {
            assert!(get(&mut bob_session, &path).await.is_err(), "{bob_user} read {path}");
            assert!(
                put(&mut bob_session, &path, b"bob's").await.is_err(),
                "{bob_user} wrote {path}"
            );
        }
        for path in ["/sites", "../../sites", "../..", "/customers", "../customers"] {
            assert!(bob_session.cwd(path).await.is_err(), "{bob_user} went to {path}");
            assert_eq!(bob_session.pwd().await.unwrap(), "/");
        }
        // Alice's username with Bob's password (the same one here) is Alice's login, and
        // Bob's session never becomes it.
        assert!(bob_session.login("alice-ftp", FTP_PASSWORD).await.is_err());
    }
    assert_eq!(snapshot(&site_folder(&app, site, "production")), before);
    assert_eq!(get(&mut alice_session, "private.txt").await.unwrap(), b"alice's");
    ftp.stop().await;
}

#[tokio::test]
async fn every_escape_attempt_fails() {
    let (app, ftp) = spawn_with_ftp(Settings::new(&config()).unwrap()).await;
    let (client, alice) = app.signed_in_client("alice").await;
    let (site, envs) = add_site(&app, alice, "shop", &["production", "staging"]).await;
    ftp_user(
        &app,
        &client,
        "confined",
        (Some(site), Some(envs[0])),
        "web",
        "read-write",
    )
    .await;
    // The first login makes the folders.
    let mut session = ftp.login("confined", FTP_PASSWORD).await.unwrap();
    session.mkdir("sub").await.unwrap();
    put(&mut session, "sub/ok.txt", b"inside").await.unwrap();
    session.quit().await.unwrap();

    let data = app.state.platform.data.clone();
    let production = site_folder(&app, site, "production");
    let home = production.join("web");
    let staging = site_folder(&app, site, "staging");
    std::fs::create_dir_all(&staging).unwrap();
    std::fs::write(production.join("secret.txt"), "SECRET one level up").unwrap();
    std::fs::write(staging.join("secret.txt"), "SECRET in staging").unwrap();
    let outside = data.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), "SECRET outside").unwrap();
    // Links someone else placed in the folder (the site's own code, say).
    let link = |target: &Path, name: &str| std::os::unix::fs::symlink(target, home.join(name)).unwrap();
    link(Path::new("/etc"), "abs-etc");
    link(&outside, "abs-out");
    link(&production.join("secret.txt"), "abs-secret");
    link(Path::new(".."), "up");
    link(Path::new("../../staging"), "up2");
    link(Path::new("sub/ok.txt"), "inside-link");
    let before = snapshot(&data);

    let mut session = ftp.login("confined", FTP_PASSWORD).await.unwrap();
    // A link that stays inside works: the checks below are not refusing everything.
    assert_eq!(get(&mut session, "inside-link").await.unwrap(), b"inside");

    let reads = [
        "../secret.txt",
        "/../secret.txt",
        "sub/../../secret.txt",
        "../../staging/secret.txt",
        "../../../outside/secret.txt",
        "/etc/passwd",
        "../../../../../../../../etc/passwd",
        "..%2fsecret.txt",
        "%2e%2e/secret.txt",
        "%2e%2e%2fsecret.txt",
        "..\\secret.txt",
        "\u{ff0e}\u{ff0e}/secret.txt",
        "\u{2025}/secret.txt",
        "\u{fe52}\u{fe52}/secret.txt",
        "\u{ff0e}\u{ff0e}\u{ff0f}secret.txt",
        "abs-etc/passwd",
        "abs-out/secret.txt",
        "abs-secret",
        "up/secret.txt",
        "up2/secret.txt",
        "up/web/../secret.txt",
    ];
    for path in reads {
        let got = get(&mut session, path).await;
        assert!(got.is_err(), "read {path}: {:?}", got.map(String::from_utf8));
        // A link in the home has a size and a time of its own (its target's name is its
        // content), but through it nothing outside is reached.
        if path != "abs-secret" {
            assert!(session.size(path).await.is_err(), "size of {path}");
            assert!(session.mdtm(path).await.is_err(), "mdtm of {path}");
        }
    }
    for path in [
        "..",
        "/..",
        "../..",
        "sub/../..",
        "up",
        "up2",
        "abs-etc",
        "abs-out",
        "\u{ff0e}\u{ff0e}",
        "\u{2025}",
    ] {
        assert!(session.cwd(path).await.is_err(), "cwd {path}");
        assert_eq!(session.pwd().await.unwrap(), "/", "after cwd {path}");
        let listed = session.list(Some(path)).await;
        assert!(
            listed.as_ref().is_err() || listed.as_ref().unwrap().is_empty(),
            "list {path}: {listed:?}"
        );
    }
    assert!(session.cdup().await.is_err() || session.pwd().await.unwrap() == "/");
    assert!(
        !names(&mut session, None)
            .await
            .unwrap()
            .iter()
            .any(|n| n.ends_with("secret.txt")),
        "the home's listing is the home's"
    );
    for path in [
        "../written.txt",
        "/../written.txt",
        "up/written.txt",
        "up2/written.txt",
        "abs-out/written.txt",
        "abs-secret",
        "\u{ff0e}\u{ff0e}/written.txt",
        "..\\written.txt",
    ] {
        assert!(put(&mut session, path, b"escaped").await.is_err(), "wrote {path}");
    }
    for path in ["../newdir", "up/newdir", "abs-out/newdir", "up2/newdir"] {
        assert!(session.mkdir(path).await.is_err(), "made {path}");
    }
    for to in ["../moved.txt", "up/moved.txt", "abs-out/moved.txt", "up2/moved.txt"] {
        assert!(session.rename("sub/ok.txt", to).await.is_err(), "moved to {to}");
    }
    for from in ["../secret.txt", "up/secret.txt", "up2/secret.txt"] {
        assert!(session.rename(from, "stolen.txt").await.is_err(), "moved {from} in");
    }
    for path in ["../secret.txt", "up/secret.txt", "up2/secret.txt", "abs-out/secret.txt"] {
        assert!(session.rm(path).await.is_err(), "deleted {path}");
    }
    for path in ["..", "../../staging", "up", "abs-out", "/"] {
        assert!(session.rmdir(path).await.is_err(), "removed {path}");
    }
    assert_eq!(snapshot(&data), before, "nothing changed anywhere");
    assert_eq!(get(&mut session, "sub/ok.txt").await.unwrap(), b"inside");

    // A relative root that someone turned into a link out of the folder leads nowhere.
    std::fs::create_dir_all(outside.join("trap")).unwrap();
    std::os::unix::fs::symlink(outside.join("trap"), production.join("trapped")).unwrap();
    ftp_user(
        &app,
        &client,
        "trapped",
        (Some(site), Some(envs[0])),
        "trapped",
        "read-write",
    )
    .await;
    assert!(
        ftp.login("trapped", FTP_PASSWORD).await.is_err(),
        "no home outside the folder: the login fails"
    );
    // The same with a relative link to another environment of the site.
    std::os::unix::fs::symlink("../staging", production.join("sideways")).unwrap();
    ftp_user(
        &app,
        &client,
        "sideways",
        (Some(site), Some(envs[0])),
        "sideways",
        "read-write",
    )
    .await;
    assert!(ftp.login("sideways", FTP_PASSWORD).await.is_err());
    assert_eq!(
        std::fs::read_to_string(staging.join("secret.txt")).unwrap(),
        "SECRET in staging"
    );
    assert!(std::fs::read_dir(outside.join("trap")).unwrap().next().is_none());
    ftp.stop().await;
}

#[tokio::test]
async fn a_read_only_user_reads_and_cannot_write_rename_or_delete() {
    let (app, ftp) = spawn_with_ftp(Settings::new(&config()).unwrap()).await;
    let (client, alice) = app.signed_in_client("alice").await;
    let (site, envs) = add_site(&app, alice, "shop", &["production"]).await;
    ftp_user(&app, &client, "writer", (Some(site), Some(envs[0])), "", "read-write").await;
    let mut writer = ftp.login("writer", FTP_PASSWORD).await.unwrap();
    writer.mkdir("dir").await.unwrap();
    put(&mut writer, "file.txt", b"original").await.unwrap();
    writer.quit().await.unwrap();

    ftp_user(&app, &client, "reader", (Some(site), Some(envs[0])), "", "read-only").await;
    let folder = site_folder(&app, site, "production");
    let before = snapshot(&folder);
    let mut reader = ftp.login("reader", FTP_PASSWORD).await.unwrap();
    assert_eq!(
        names(&mut reader, None).await.unwrap(),
        ["dir", "file.txt", "index.html"]
    );
    assert_eq!(get(&mut reader, "file.txt").await.unwrap(), b"original");
    reader.cwd("dir").await.unwrap();
    reader.cdup().await.unwrap();
    assert!(put(&mut reader, "new.txt", b"x").await.is_err(), "STOR");
    assert!(put(&mut reader, "file.txt", b"overwritten").await.is_err(), "STOR over");
    let mut more: &[u8] = b"appended";
    assert!(reader.append_file("file.txt", &mut more).await.is_err(), "APPE");
    assert!(reader.mkdir("newdir").await.is_err(), "MKD");
    assert!(reader.rmdir("dir").await.is_err(), "RMD");
    assert!(reader.rm("file.txt").await.is_err(), "DELE");
    assert!(reader.rename("file.txt", "renamed.txt").await.is_err(), "RNFR/RNTO");
    assert_eq!(snapshot(&folder), before);
    // Refusals do not end the session.
    assert_eq!(get(&mut reader, "file.txt").await.unwrap(), b"original");
    ftp.stop().await;
}

#[tokio::test]
async fn a_password_change_and_a_deletion_take_effect_at_once() {
    let (app, ftp) = spawn_with_ftp(Settings::new(&config()).unwrap()).await;
    let (client, _) = app.signed_in_client("alice").await;
    let id = ftp_user(&app, &client, "deployer", (None, None), "", "read-write").await;
    let mut before_change = ftp.login("deployer", FTP_PASSWORD).await.unwrap();
    names(&mut before_change, None).await.unwrap();

    client.get(&format!("/ftp-users/{id}")).await;
    let changed = client
        .post_form(&format!("/ftp-users/{id}"), &[("password", NEW_PASSWORD)])
        .await;
    assert_eq!(changed.status, StatusCode::SEE_OTHER, "{}", changed.body);
    // The next login takes the new password, and the old one no more.
    assert!(ftp.login("deployer", FTP_PASSWORD).await.is_err());
    let mut open = ftp.login("deployer", NEW_PASSWORD).await.unwrap();
    put(&mut open, "a.txt", b"a").await.unwrap();
    // A session opened with the old password ends at its next command.
    assert!(names(&mut before_change, None).await.is_err());
    assert!(before_change.noop().await.is_err(), "that session is closed");

    // Deleted in the panel: no login, and the open session ends at its next command.
    client.get("/ftp-users").await;
    let deleted = client.post_form(&format!("/ftp-users/{id}/delete"), &[]).await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER, "{}", deleted.body);
    assert!(ftp.login("deployer", NEW_PASSWORD).await.is_err());
    let next = get(&mut open, "a.txt").await;
    assert!(next.is_err(), "{next:?}");
    assert!(open.noop().await.is_err(), "the session is closed");
    ftp.stop().await;
}

#[tokio::test]
async fn an_idle_session_of_a_deleted_user_ends_without_another_command() {
    let settings = Settings::new(&config()).unwrap();
    let (listener, web) = bind(&settings).await;
    let app = TestApp::spawn_with(web).await;
    let ftp = Ftp::start_checking(&app, listener, settings, Duration::from_millis(300)).await;
    let (client, _) = app.signed_in_client("alice").await;
    let id = ftp_user(&app, &client, "deployer", (None, None), "", "read-write").await;
    let mut idle = ftp.login("deployer", FTP_PASSWORD).await.unwrap();
    // Commands that touch no file keep a valid session open across checks.
    tokio::time::sleep(Duration::from_millis(700)).await;
    idle.noop().await.unwrap();
    assert_eq!(idle.pwd().await.unwrap(), "/");
    client.get("/ftp-users").await;
    let deleted = client.post_form(&format!("/ftp-users/{id}/delete"), &[]).await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(idle.noop().await.is_err(), "ended by the check, not by a command");
    ftp.stop().await;
}

#[tokio::test]
async fn a_stop_ends_open_sessions_and_closes_the_port() {
    let (app, ftp) = spawn_with_ftp(Settings::new(&config()).unwrap()).await;
    let (client, _) = app.signed_in_client("alice").await;
    ftp_user(&app, &client, "deployer", (None, None), "", "read-write").await;
    let mut idle = ftp.login("deployer", FTP_PASSWORD).await.unwrap();
    idle.noop().await.unwrap();
    let addr = ftp.addr;
    let started = std::time::Instant::now();
    ftp.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "an idle session ends at once"
    );
    assert!(idle.noop().await.is_err());
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer listening"
    );

    // An upload in progress is given the drain time to finish; then its session ends.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut ftp = Ftp::start(&app, listener, Settings::new(&config()).unwrap()).await;
    let mut busy = ftp.login("deployer", FTP_PASSWORD).await.unwrap();
    let mut idle = ftp.login("deployer", FTP_PASSWORD).await.unwrap();
    let mut upload = busy.put_with_stream("big.bin").await.unwrap();
    use tokio::io::AsyncWriteExt;
    upload.write_all(&[1u8; 64 * 1024]).await.unwrap();
    ftp.signal_stop();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(idle.noop().await.is_err(), "the idle session ended at once");
    upload.write_all(&[2u8; 64 * 1024]).await.unwrap();
    upload.finish().await.unwrap();
    let customer: i64 = app
        .scalar("select customer_id from ftp_users where username = 'deployer'")
        .await;
    let written = std::fs::read(
        app.state
            .platform
            .data
            .join("customers")
            .join(customer.to_string())
            .join("big.bin"),
    )
    .unwrap();
    assert_eq!(written.len(), 128 * 1024, "the transfer finished");
    ftp.stop().await;
    assert!(busy.noop().await.is_err(), "then its session ended too");
}

/// A self-signed certificate for `localhost`, as PEM files in a folder of its own.
fn self_signed(dir: &Path) -> (PathBuf, PathBuf, Vec<u8>) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    (cert, key, certified.cert.der().to_vec())
}

/// An FTPS session (AUTH TLS, then PROT P) trusting `der` alone.
async fn secure_login(ftp: &Ftp, der: &[u8], username: &str, password: &str) -> FtpResult<AsyncRustlsFtpStream> {
    use suppaftp::tokio_rustls::rustls;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(der.to_vec()))
        .unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = AsyncRustlsConnector::from(suppaftp::tokio_rustls::TlsConnector::from(Arc::new(config)));
    let mut session = AsyncRustlsFtpStream::connect(ftp.addr)
        .await?
        .into_secure(connector, "localhost")
        .await?;
    session.login(username, password).await?;
    session.transfer_type(FileType::Binary).await?;
    Ok(session)
}

#[tokio::test]
async fn ftps_with_a_self_signed_certificate() {
    let (cert, key, der) = self_signed(&data_dir());
    let settings = Settings::new(&FtpConfig {
        tls_cert: Some(cert.clone()),
        tls_key: Some(key.clone()),
        require_tls: true,
        ..config()
    })
    .unwrap();
    let (app, ftp) = spawn_with_ftp(settings).await;
    let (client, alice) = app.signed_in_client("alice").await;
    let (site, envs) = add_site(&app, alice, "shop", &["production"]).await;
    let id = ftp_user(&app, &client, "secure", (Some(site), Some(envs[0])), "", "read-write").await;

    // Plain logins are refused when TLS is required.
    let mut plain = ftp.connect().await;
    assert!(plain.login("secure", FTP_PASSWORD).await.is_err());
    let mut session = secure_login(&ftp, &der, "secure", FTP_PASSWORD).await.unwrap();
    put(&mut session, "tls.txt", b"sent over TLS").await.unwrap();
    assert_eq!(get(&mut session, "tls.txt").await.unwrap(), b"sent over TLS");
    assert_eq!(
        std::fs::read(site_folder(&app, site, "production").join("tls.txt")).unwrap(),
        b"sent over TLS"
    );
    assert!(session.nlst(None).await.unwrap().contains(&"tls.txt".to_owned()));
    session.quit().await.unwrap();
    let detail: String = app
        .scalar("select detail from activity where kind = 'ftp_login_new_address'")
        .await;
    assert!(detail.contains("FTPS (TLS)"), "{detail}");
    // A wrong password over TLS is refused too.
    assert!(secure_login(&ftp, &der, "secure", "not the password").await.is_err());

    // The user's page says how to connect.
    let page = client.get(&format!("/ftp-users/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.text(".ftp-host"), "127.0.0.1");
    assert_eq!(page.text(".ftp-port"), ftp.addr.port().to_string());
    assert!(page.text(".ftp-tls").contains("only"), "{}", page.text(".ftp-tls"));
    assert_eq!(page.text(".ftp-login"), "secure");
    assert!(page.text(".ftp-folder").starts_with("shop › production"));
    assert_eq!(
        page.text(".ftp-url"),
        format!("ftpes://secure@127.0.0.1:{}/", ftp.addr.port())
    );
    ftp.stop().await;

    // Offered, not required: plain and TLS logins both work.
    let offered = Settings::new(&FtpConfig {
        tls_cert: Some(cert),
        tls_key: Some(key),
        ..config()
    })
    .unwrap();
    assert_eq!(offered.tls(), FtpTls::Offered);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ftp = Ftp::start(&app, listener, offered).await;
    ftp.login("secure", FTP_PASSWORD).await.unwrap();
    secure_login(&ftp, &der, "secure", FTP_PASSWORD).await.unwrap();
    ftp.stop().await;
}

#[tokio::test]
async fn the_users_page_shows_how_to_connect_and_only_to_its_owner() {
    let (app, ftp) = spawn_with_ftp(Settings::new(&config()).unwrap()).await;
    let (client, alice) = app.signed_in_client("alice").await;
    let (site, envs) = add_site(&app, alice, "shop", &["staging", "production"]).await;
    let env_user = ftp_user(
        &app,
        &client,
        "envuser",
        (Some(site), Some(envs[0])),
        "public_html",
        "read-write",
    )
    .await;
    let site_user = ftp_user(&app, &client, "siteuser", (Some(site), None), "", "read-only").await;
    let home_user = ftp_user(&app, &client, "homeuser", (None, None), "", "read-write").await;
    let port = ftp.addr.port().to_string();
    for (id, username, folder) in [
        (env_user, "envuser", "shop › staging › public_html"),
        (site_user, "siteuser", "shop › production"),
        (home_user, "homeuser", "your account's own folder (no site serves it)"),
    ] {
        let page = client.get(&format!("/ftp-users/{id}")).await;
        assert_eq!(page.status, StatusCode::OK);
        assert_eq!(page.text(".ftp-host"), "127.0.0.1");
        assert_eq!(page.text(".ftp-port"), port);
        assert!(page.text(".ftp-tls").starts_with("None"));
        assert_eq!(page.text(".ftp-login"), username);
        assert!(
            page.text(".ftp-folder").starts_with(folder),
            "{}",
            page.text(".ftp-folder")
        );
        assert_eq!(page.text(".ftp-url"), format!("ftp://{username}@127.0.0.1:{port}/"));
    }
    // An htmx edit on the user's own page keeps the box, with the new username.
    let page_url = format!("{}/ftp-users/{env_user}", app.base);
    client.get(&format!("/ftp-users/{env_user}")).await;
    let token = client.token().await;
    let edited = client
        .http
        .post(&page_url)
        .header("HX-Request", "true")
        .header("HX-Current-URL", &page_url)
        .header("X-CSRF-Token", token)
        .form(&[("username", "renamed")])
        .send()
        .await
        .unwrap();
    assert_eq!(edited.status(), StatusCode::OK);
    let body = edited.text().await.unwrap();
    let fragment = scraper::Html::parse_fragment(&body);
    let login = fragment
        .select(&scraper::Selector::parse(".ftp-login").unwrap())
        .next()
        .unwrap_or_else(|| panic!("no connection box in {body}"))
        .text()
        .collect::<String>();
    assert_eq!(login, "renamed");
    // The list shows no connection boxes.
    let list = client.get("/ftp-users").await;
    assert!(list.texts(".ftp-connect").is_empty());
    // Another customer's user is not found, and says nothing.
    let (bob, _) = app.signed_in_client("bob").await;
    let other = bob.get(&format!("/ftp-users/{env_user}")).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    assert!(!other.body.contains(&port));
    ftp.stop().await;

    // Without an FTP service, the page says so.
    let plain = TestApp::spawn().await;
    let (client, _) = plain.signed_in_client("carol").await;
    let id = ftp_user(&plain, &client, "carolftp", (None, None), "", "read-write").await;
    let page = client.get(&format!("/ftp-users/{id}")).await;
    assert!(page.texts(".ftp-host").is_empty());
    assert!(page.text(".ftp-off").contains("no FTP service"));
}

#[tokio::test]
async fn berth_serve_runs_the_ftp_service_and_stops_it() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("alice").await;
    ftp_user(&app, &client, "deployer", (None, None), "", "read-write").await;
    let data = data_dir();
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("serve")
        .env("DATABASE_URL", app.database_url().await)
        .env("BERTH_DATA", &data)
        .env("BERTH_LISTEN", "127.0.0.1:0")
        .env("BERTH_FTP_LISTEN", "127.0.0.1:0")
        .env("BERTH_FTP_PASSIVE_PORTS", "20000-29999")
        .env("BERTH_DRAIN_S", "2")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (found, lines) = tokio::task::spawn_blocking(move || {
        let mut lines = std::io::BufReader::new(stdout).lines();
        let addr = loop {
            let Some(Ok(line)) = lines.next() else {
                return (None, lines);
            };
            if let Some(rest) = line.strip_prefix("FTP is served on ") {
                break rest.split_whitespace().next().map(str::to_owned);
            }
        };
        (addr, lines)
    })
    .await
    .unwrap();
    std::thread::spawn(move || for _ in lines {});
    let addr: SocketAddr = found.expect("berth serve announces its FTP address").parse().unwrap();
    let mut session = AsyncFtpStream::connect(addr).await.unwrap();
    session.login("deployer", FTP_PASSWORD).await.unwrap();
    session.transfer_type(FileType::Binary).await.unwrap();
    put(&mut session, "served.txt", b"through berth serve").await.unwrap();
    let customer: i64 = app
        .scalar("select customer_id from ftp_users where username = 'deployer'")
        .await;
    assert_eq!(
        std::fs::read(data.join("customers").join(customer.to_string()).join("served.txt")).unwrap(),
        b"through berth serve"
    );
    // SIGTERM: the open session ends and berth exits within its drain time.
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "berth serve did not stop");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status}");
    assert!(session.noop().await.is_err(), "the session ended with the service");
    let _ = std::fs::remove_dir_all(&data);
}

#[tokio::test]
async fn a_file_uploaded_over_ftp_is_served_by_the_sites_container() {
    let Some(mut engine) = crate::engine::EngineApp::spawn().await else {
        return;
    };
    engine.start_worker();
    let site = crate::engine::create_site(&engine, "alice", "shop.example.com", "web").await;
    engine.provisioned(site).await;
    let production: i64 = sqlx::query_scalar("select id from environments where site_id = $1 and name = 'production'")
        .bind(site)
        .fetch_one(&engine.pool)
        .await
        .unwrap();
    let client = engine.client();
    assert_eq!(client.sign_in("alice", PASSWORD).await.status, StatusCode::SEE_OTHER);
    ftp_user(
        &engine,
        &client,
        "deployer",
        (Some(site.0), Some(production)),
        "",
        "read-write",
    )
    .await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ftp = Ftp::start(&engine, listener, Settings::new(&config()).unwrap()).await;

    let mut session = ftp.login("deployer", FTP_PASSWORD).await.unwrap();
    assert!(
        names(&mut session, None)
            .await
            .unwrap()
            .contains(&"index.html".to_owned())
    );
    put(
        &mut session,
        "from-ftp.txt",
        b"uploaded over FTP, served by the container\n",
    )
    .await
    .unwrap();
    session.mkdir("css").await.unwrap();
    put(&mut session, "css/site.css", b"body { color: teal }\n")
        .await
        .unwrap();
    let preview = engine.preview(site).await;
    assert_eq!(
        crate::engine::fetch(&format!("{preview}/from-ftp.txt")).await,
        "uploaded over FTP, served by the container\n"
    );
    assert_eq!(
        crate::engine::fetch(&format!("{preview}/css/site.css")).await,
        "body { color: teal }\n"
    );
    ftp.stop().await;
    engine.clean_up().await;
}
