//! The FTP service inside `berth serve` (DESIGN §8): `libunftp` speaks FTP and explicit
//! FTPS, `unftp-sbe-fs` keeps the files; Berth decides who logs in ([`login`]) and where
//! they may go ([`storage`]).
//!
//! Berth accepts each control connection itself and hands it to a `libunftp` server of its
//! own ([`libunftp::Server::service`]). That server's authenticator and storage back end then
//! belong to that one connection, and Berth keeps a duplicate of its socket, so that it can
//! end the session: when the FTP user is deleted or changed in the panel (noticed at the
//! session's next command that touches files, and within [`RECHECK`] whatever it does), and
//! when `berth serve` stops (idle sessions at once, transfers within the drain time).

mod login;
mod storage;

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::{Context, bail};
use libunftp::options::{FtpsRequired, SiteMd5};
use libunftp::{Server, ServerBuilder};
use sqlx::PgPool;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use crate::clock::Clock;
use crate::config::FtpConfig;
use crate::ftp::model::{self, FtpLogin};
use crate::password::Hasher;
use crate::state::{FtpAccess, FtpTls};
use login::{FtpAccount, Login};
use storage::Confined;

/// What clients read on connecting.
const GREETING: &str = "Berth FTP service ready";
/// Seconds a session may stay idle before it is closed.
const IDLE_SECS: u64 = 600;
/// How often an open session checks that its FTP user is still as it logged in, besides at
/// every command that touches files.
pub const RECHECK: Duration = Duration::from_secs(15);
/// Control connections served at once; more are told to come back later.
const MAX_SESSIONS: usize = 512;

/// The FTP settings, checked.
#[derive(Debug, Clone)]
pub struct Settings {
    pub passive_ports: RangeInclusive<u16>,
    /// The IPv4 address or host name announced for passive connections.
    pub public_address: Option<String>,
    /// Explicit FTPS: the PEM certificate chain and key, read again for every connection
    /// (a renewed certificate is used without a restart).
    pub tls: Option<(PathBuf, PathBuf)>,
    pub require_tls: bool,
}

impl Settings {
    pub fn new(config: &FtpConfig) -> anyhow::Result<Self> {
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
            (None, None) => None,
            _ => bail!("BERTH_FTP_TLS_CERT and BERTH_FTP_TLS_KEY go together: set both, or neither"),
        };
        if config.require_tls && tls.is_none() {
            bail!("BERTH_FTP_REQUIRE_TLS=true needs BERTH_FTP_TLS_CERT and BERTH_FTP_TLS_KEY");
        }
        let public_address = config
            .public_address
            .as_deref()
            .map(str::trim)
            .filter(|a| !a.is_empty());
        if let Some(address) = public_address {
            let ipv6 = address.parse::<IpAddr>().is_ok_and(|ip| ip.is_ipv6());
            let name_like = address
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'));
            if ipv6 || !name_like {
                bail!(
                    "BERTH_FTP_PUBLIC_ADDRESS: give an IPv4 address or a host name ({address:?} is neither); \
                     passive mode announces IPv4 (clients on IPv6 use EPSV, which needs none)"
                );
            }
        }
        Ok(Self {
            passive_ports: config.passive_ports.clone(),
            public_address: public_address.map(str::to_owned),
            tls,
            require_tls: config.require_tls,
        })
    }

    pub fn tls(&self) -> FtpTls {
        match (&self.tls, self.require_tls) {
            (None, _) => FtpTls::Off,
            (Some(_), false) => FtpTls::Offered,
            (Some(_), true) => FtpTls::Required,
        }
    }
}

/// Where the pages tell FTP users to connect: the public address if one is set, else the
/// address listened on (unless it is every address, when the panel's own host is the best
/// guess), and the port listened on.
pub fn access(settings: &Settings, local: SocketAddr, public_url: Option<&str>) -> FtpAccess {
    let panel_host = public_url.and_then(|url| {
        let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
        let authority = rest.split('/').next().unwrap_or(rest);
        let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
        let host = match authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(v6),
            None => authority.split(':').next().unwrap_or(authority),
        };
        (!host.is_empty()).then(|| host.to_owned())
    });
    let host = settings
        .public_address
        .clone()
        .or_else(|| (!local.ip().is_unspecified()).then(|| local.ip().to_string()))
        .or(panel_host)
        .unwrap_or_else(|| "localhost".to_owned());
    FtpAccess {
        host,
        port: local.port(),
        tls: settings.tls(),
    }
}

/// What every FTP connection shares.
pub struct Service {
    pool: PgPool,
    hasher: Hasher,
    clock: Clock,
    /// `BERTH_DATA`: environments' files under `sites/`, customers' under `customers/`.
    data: PathBuf,
    settings: Settings,
    /// How often an open session checks its FTP user between commands ([`RECHECK`]).
    recheck: Duration,
}

impl Service {
    pub fn new(pool: PgPool, hasher: Hasher, clock: Clock, data: PathBuf, settings: Settings) -> Self {
        Self {
            pool,
            hasher,
            clock,
            data,
            settings,
            recheck: RECHECK,
        }
    }

    /// Checks open sessions' users every `every` instead of every [`RECHECK`].
    pub fn recheck_every(mut self, every: Duration) -> Self {
        self.recheck = every;
        self
    }

    /// Builds one server as every connection will, so that a certificate or key that cannot
    /// be read stops `berth serve` at its start rather than failing each connection.
    pub fn check(self: &Arc<Self>) -> anyhow::Result<()> {
        let probe = Arc::new(Session::probe());
        self.server_for(probe)
            .map(drop)
            .context("the FTP service cannot start (BERTH_FTP_TLS_CERT and BERTH_FTP_TLS_KEY must name PEM files)")
    }

    /// The `libunftp` server of one connection.
    fn server_for(self: &Arc<Self>, session: Arc<Session>) -> anyhow::Result<Server<Confined, FtpAccount>> {
        let login = Arc::new(Login::new(self.clone(), session.clone()));
        let service = self.clone();
        let storage = Box::new(move || Confined::new(service.clone(), session.clone()));
        let mut builder = ServerBuilder::<Confined, FtpAccount>::with_user_detail_provider(storage, login.clone())
            .authenticator(login)
            .greeting(GREETING)
            .passive_ports(self.settings.passive_ports.clone())
            .idle_session_timeout(IDLE_SECS)
            // Hashing whole files on request costs the server, not the client.
            .sitemd5(SiteMd5::None);
        if let Some(host) = &self.settings.public_address {
            builder = builder.passive_host(host.as_str());
        }
        if let Some((cert, key)) = &self.settings.tls {
            builder = builder.ftps(cert.clone(), key.clone());
            if self.settings.require_tls {
                builder = builder.ftps_required(FtpsRequired::All, FtpsRequired::All);
            }
        }
        builder.build().map_err(|err| anyhow::anyhow!("{err}"))
    }

    /// Serves FTP on `listener` until `stop` resolves; then stops accepting, ends idle
    /// sessions at once and the others when their transfer ends, or after `drain`.
    pub fn spawn(
        self: Arc<Self>,
        listener: TcpListener,
        stop: impl Future<Output = ()> + Send + 'static,
        drain: Duration,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(self.run(listener, stop, drain))
    }

    async fn run(self: Arc<Self>, listener: TcpListener, stop: impl Future<Output = ()>, drain: Duration) {
        let sessions: Arc<Mutex<Vec<Arc<Session>>>> = Arc::default();
        let permits = Arc::new(tokio::sync::Semaphore::new(MAX_SESSIONS));
        let mut tasks = tokio::task::JoinSet::new();
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => break,
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                accepted = listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(accepted) => accepted,
                        Err(err) => {
                            // Out of file descriptors, most likely: wait rather than spin.
                            tracing::warn!(error = %err, "cannot accept an FTP connection");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    };
                    let Ok(permit) = permits.clone().try_acquire_owned() else {
                        tracing::warn!(%peer, "FTP connection refused: {MAX_SESSIONS} sessions open");
                        let mut stream = stream;
                        let _ = stream.write_all(b"421 Too many connections; try again later.\r\n").await;
                        continue;
                    };
                    let (stream, session) = match Session::new(stream, peer) {
                        Ok(pair) => pair,
                        Err(err) => {
                            tracing::warn!(%peer, error = %err, "cannot take an FTP connection");
                            continue;
                        }
                    };
                    let server = match self.server_for(session.clone()) {
                        Ok(server) => server,
                        Err(err) => {
                            tracing::error!(error = %err, "cannot serve an FTP connection");
                            continue;
                        }
                    };
                    sessions.lock().unwrap_or_else(|e| e.into_inner()).push(session.clone());
                    let sessions = sessions.clone();
                    let service = self.clone();
                    tasks.spawn(async move {
                        service.serve(server, stream, &session).await;
                        sessions
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .retain(|s| !Arc::ptr_eq(s, &session));
                        drop(permit);
                    });
                }
            }
        }
        drop(listener);
        let open = || sessions.lock().unwrap_or_else(|e| e.into_inner()).clone();
        tracing::info!(sessions = open().len(), "the FTP service stops");
        let deadline = tokio::time::Instant::now() + drain;
        // Idle sessions end at once; one whose transfer ends, a round later (its reply to
        // the transfer has gone out by then).
        let mut first = true;
        let mut was_idle = std::collections::HashSet::new();
        loop {
            for session in open() {
                let idle = session.transfers.load(Ordering::SeqCst) == 0;
                if idle && (first || was_idle.contains(&session.number)) {
                    session.end("the FTP service stops");
                } else if idle {
                    was_idle.insert(session.number);
                }
            }
            first = false;
            while tasks.try_join_next().is_some() {}
            if tasks.is_empty() || tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            while tasks.try_join_next().is_some() {}
        }
        for session in open() {
            session.end("the FTP service stopped: the drain time is over");
        }
        if tokio::time::timeout(Duration::from_secs(1), async {
            while tasks.join_next().await.is_some() {}
        })
        .await
        .is_err()
        {
            tasks.abort_all();
        }
    }

    /// Serves one control connection until it ends, checking its FTP user every
    /// `recheck` in between commands.
    async fn serve(&self, server: Server<Confined, FtpAccount>, stream: TcpStream, session: &Arc<Session>) {
        let served = server.service(stream);
        tokio::pin!(served);
        let mut recheck = tokio::time::interval(self.recheck);
        recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        recheck.tick().await;
        loop {
            tokio::select! {
                result = &mut served => {
                    if let Err(err) = result {
                        tracing::warn!(peer = %session.peer, error = %err, "FTP session failed");
                    }
                    return;
                }
                _ = recheck.tick() => {
                    let _ = session.still_holds(&self.pool).await;
                }
            }
        }
    }
}

/// One control connection.
pub(crate) struct Session {
    peer: SocketAddr,
    /// A duplicate of the connection's socket: shutting it down ends the session, whatever
    /// `libunftp` is doing with it.
    socket: Option<std::net::TcpStream>,
    /// The FTP user, once logged in, as it was then.
    login: OnceLock<FtpLogin>,
    /// Transfers in progress.
    transfers: AtomicUsize,
    ended: AtomicBool,
    number: u64,
}

impl Session {
    fn new(stream: TcpStream, peer: SocketAddr) -> std::io::Result<(TcpStream, Arc<Self>)> {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let stream = stream.into_std()?;
        let socket = stream.try_clone()?;
        let session = Self {
            peer,
            socket: Some(socket),
            number: NEXT.fetch_add(1, Ordering::Relaxed),
            ..Self::probe()
        };
        Ok((TcpStream::from_std(stream)?, Arc::new(session)))
    }

    /// A session of no connection (to build a server as a check).
    fn probe() -> Self {
        Self {
            peer: SocketAddr::from(([0, 0, 0, 0], 0)),
            socket: None,
            login: OnceLock::new(),
            transfers: AtomicUsize::new(0),
            ended: AtomicBool::new(false),
            number: 0,
        }
    }

    /// Ends the session: its control connection is closed.
    fn end(&self, why: &str) {
        if self.ended.swap(true, Ordering::SeqCst) {
            return;
        }
        let user = self.login.get().map(|l| l.username.as_str()).unwrap_or("");
        tracing::info!(session = self.number, peer = %self.peer, user, why, "FTP session ended");
        if let Some(socket) = &self.socket {
            let _ = socket.shutdown(std::net::Shutdown::Both);
        }
    }

    /// Whether the FTP user is still as it logged in; when it is not (deleted, changed in the
    /// panel, its customer cancelled), the session ends. A session not logged in holds.
    async fn still_holds(&self, pool: &PgPool) -> Result<(), unftp_core::storage::Error> {
        use unftp_core::storage::ErrorKind;
        let Some(login) = self.login.get() else {
            return Ok(());
        };
        if self.ended.load(Ordering::SeqCst) {
            return Err(ErrorKind::PermissionDenied.into());
        }
        match model::login_still_holds(pool, login).await {
            Ok(true) => Ok(()),
            Ok(false) => {
                self.end("the FTP user was deleted or changed in the panel, or its customer cancelled");
                Err(ErrorKind::PermissionDenied.into())
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot check an FTP session's user");
                Err(ErrorKind::LocalError.into())
            }
        }
    }

    /// A transfer starts; it counts until the guard is dropped (a stop waits for it).
    fn transfer(self: &Arc<Self>) -> TransferGuard {
        self.transfers.fetch_add(1, Ordering::SeqCst);
        TransferGuard(self.clone())
    }
}

pub(crate) struct TransferGuard(Arc<Session>);

impl Drop for TransferGuard {
    fn drop(&mut self) {
        self.0.transfers.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> FtpConfig {
        FtpConfig {
            listen: Some("127.0.0.1:2121".parse().unwrap()),
            passive_ports: 30000..=30099,
            public_address: None,
            tls_cert: None,
            tls_key: None,
            require_tls: false,
        }
    }

    #[test]
    fn settings_are_checked() {
        let plain = Settings::new(&config()).unwrap();
        assert_eq!(plain.tls(), FtpTls::Off);
        let require = FtpConfig {
            require_tls: true,
            ..config()
        };
        assert!(Settings::new(&require).unwrap_err().to_string().contains("needs"));
        let half = FtpConfig {
            tls_cert: Some("cert.pem".into()),
            ..config()
        };
        assert!(Settings::new(&half).is_err());
        let tls = FtpConfig {
            tls_cert: Some("cert.pem".into()),
            tls_key: Some("key.pem".into()),
            require_tls: true,
            ..config()
        };
        assert_eq!(Settings::new(&tls).unwrap().tls(), FtpTls::Required);
        for bad in ["2001:db8::1", "ftp example", "a/b"] {
            let with = FtpConfig {
                public_address: Some(bad.into()),
                ..config()
            };
            assert!(Settings::new(&with).is_err(), "{bad}");
        }
        for good in ["203.0.113.7", "ftp.example.com"] {
            let with = FtpConfig {
                public_address: Some(good.into()),
                ..config()
            };
            assert_eq!(Settings::new(&with).unwrap().public_address.as_deref(), Some(good));
        }
    }

    #[test]
    fn users_are_told_where_to_connect() {
        let plain = Settings::new(&config()).unwrap();
        let local: SocketAddr = "127.0.0.1:2121".parse().unwrap();
        assert_eq!(
            access(&plain, local, None),
            FtpAccess {
                host: "127.0.0.1".into(),
                port: 2121,
                tls: FtpTls::Off
            }
        );
        let any: SocketAddr = "0.0.0.0:21".parse().unwrap();
        assert_eq!(
            access(&plain, any, Some("https://panel.example.com/")).host,
            "panel.example.com"
        );
        assert_eq!(
            access(&plain, any, Some("http://[2001:db8::1]:8080")).host,
            "2001:db8::1"
        );
        assert_eq!(access(&plain, any, None).host, "localhost");
        let public = Settings {
            public_address: Some("ftp.example.com".into()),
            ..plain
        };
        assert_eq!(
            access(&public, any, Some("https://panel.example.com")).host,
            "ftp.example.com"
        );
    }
}
