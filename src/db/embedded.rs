//! The embedded default: a private PostgreSQL cluster that Berth creates, starts and stops
//! itself from the machine's server binaries, listening only on a Unix socket.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sqlx::postgres::PgConnectOptions;

/// The database Berth uses inside its private cluster.
pub const DATABASE: &str = "berth";
const SUPERUSER: &str = "postgres";
const PORT: u16 = 5432;
/// Unix socket paths are limited to about 100 bytes (`sun_path` is 108 with the file name).
const MAX_SOCKET_DIR: usize = 90;
/// How long a start waits for a postmaster left by a crash to go (or to accept connections).
const STALE_WAIT: Duration = Duration::from_secs(20);

/// What `postmaster.pid` says about the cluster's server process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Postmaster {
    /// No `postmaster.pid`: stopped cleanly.
    None,
    /// Its process is gone: PostgreSQL itself removes such a stale file when it starts
    /// (after checking that no old server process still uses the shared memory).
    Gone(i32),
    /// Its process has ended but not been reaped by its parent: it will never serve again,
    /// yet PostgreSQL takes it for a running server and refuses to start.
    Zombie(i32),
    /// Its process still runs: it may be serving, starting, or going down after a crash.
    Running(i32),
}

/// A running private cluster. Call [`EmbeddedPostgres::stop`] to shut it down cleanly.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    bindir: PathBuf,
    data: PathBuf,
    socket_dir: PathBuf,
    run_as: Option<(u32, u32)>,
    started_here: bool,
}

impl EmbeddedPostgres {
    /// Creates the cluster under `data` when it does not exist yet, and starts it unless it
    /// already runs. `data` is the cluster's own folder (e.g. `./data/postgres`).
    pub fn start(data: &Path) -> anyhow::Result<Self> {
        let bindir = find_bindir()?;
        fs::create_dir_all(data).with_context(|| format!("cannot create the data folder {}", data.display()))?;
        let data = data
            .canonicalize()
            .with_context(|| format!("cannot resolve {}", data.display()))?;
        let run_as = if unsafe { libc::geteuid() } == 0 {
            Some(postgres_user()?)
        } else {
            None
        };
        if let Some((uid, gid)) = run_as {
            check_traversable(&data, uid, gid)?;
            chown(&data, uid, gid)?;
        }
        fs::set_permissions(&data, fs::Permissions::from_mode(0o700))?;
        let socket_dir = socket_dir_for(&data)?;
        if let Some((uid, gid)) = run_as {
            chown(&socket_dir, uid, gid)?;
        }

        let mut pg = Self {
            bindir,
            data,
            socket_dir,
            run_as,
            started_here: false,
        };
        if !pg.data.join("PG_VERSION").exists() {
            pg.initdb()?;
        }
        pg.start_or_adopt()?;
        Ok(pg)
    }

    /// Starts the cluster, or adopts the one a crashed Berth left running. Either way this
    /// process owns it from now on and stops it in [`EmbeddedPostgres::stop`].
    ///
    /// `pg_ctl status` is not trusted: right after a crash it reports a postmaster that is
    /// still going down (or not yet reaped) as running, and connecting then fails. So a
    /// running postmaster is adopted only once it accepts a real connection; until then
    /// (at most [`STALE_WAIT`]) we wait for it to go, and a `postmaster.pid` whose process
    /// is gone is removed before starting.
    fn start_or_adopt(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + STALE_WAIT;
        loop {
            match self.postmaster() {
                Postmaster::None | Postmaster::Gone(_) => break,
                Postmaster::Zombie(pid) => {
                    // Its server processes end when they see it gone; give them a moment.
                    std::thread::sleep(Duration::from_millis(500));
                    if self.postmaster() == Postmaster::Zombie(pid) {
                        // Both of its lock files name it; PostgreSQL would take either for
                        // a live server's.
                        tracing::warn!(pid, "removing the lock files of an ended PostgreSQL");
                        let socket_lock = self.socket_dir.join(format!(".s.PGSQL.{PORT}.lock"));
                        if fs::read_to_string(&socket_lock)
                            .is_ok_and(|t| t.lines().next().map(str::trim) == Some(&*pid.to_string()))
                        {
                            let _ = fs::remove_file(&socket_lock);
                        }
                        let _ = fs::remove_file(self.data.join("postmaster.pid"));
                    }
                }
                Postmaster::Running(pid) => {
                    if self.accepts_connections() {
                        tracing::info!(pid, "adopted the embedded PostgreSQL left running by an earlier Berth");
                        self.started_here = true;
                        return Ok(());
                    }
                    if Instant::now() >= deadline {
                        bail!(
                            "the embedded PostgreSQL (process {pid}, {}) runs but does not accept \
                             connections after {} s: stop it (`pg_ctl stop -D {}`) and start Berth again",
                            self.data.display(),
                            STALE_WAIT.as_secs(),
                            self.data.display()
                        );
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
        self.pg_ctl_start()?;
        self.started_here = true;
        Ok(())
    }

    /// The server process named in `postmaster.pid`, and whether it still runs.
    fn postmaster(&self) -> Postmaster {
        let Ok(text) = fs::read_to_string(self.data.join("postmaster.pid")) else {
            return Postmaster::None;
        };
        let Some(pid) = text.lines().next().and_then(|l| l.trim().parse::<i32>().ok()) else {
            // Being written by a postmaster that is starting right now.
            return Postmaster::Running(0);
        };
        if pid <= 0 {
            return Postmaster::Running(0);
        }
        match process_state(pid) {
            Process::Running => Postmaster::Running(pid),
            Process::Zombie => Postmaster::Zombie(pid),
            Process::Gone => Postmaster::Gone(pid),
        }
    }

    /// Whether the server accepts a real connection on its socket now (`pg_isready`; where
    /// it is not installed next to the server, whether the socket takes a connection).
    fn accepts_connections(&self) -> bool {
        if !self.bindir.join("pg_isready").is_file() {
            let socket = self.socket_dir.join(format!(".s.PGSQL.{PORT}"));
            return std::os::unix::net::UnixStream::connect(socket).is_ok();
        }
        self.command("pg_isready")
            .arg("-q")
            .arg("-h")
            .arg(&self.socket_dir)
            .args(["-p", &PORT.to_string(), "-U", SUPERUSER, "-d", "postgres", "-t", "2"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    /// Connection options for `database` in this cluster, over its Unix socket.
    pub fn connect_options(&self, database: &str) -> PgConnectOptions {
        PgConnectOptions::new()
            .socket(&self.socket_dir)
            .port(PORT)
            .username(SUPERUSER)
            .database(database)
    }

    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// Stops the cluster if this process started or adopted it (fast shutdown: sessions are
    /// ended, committed data is safe).
    pub fn stop(&self) {
        self.stop_with("fast");
    }

    /// Stops a cluster that is about to be deleted (a test run's): immediate shutdown, with
    /// no checkpoint; what was not checkpointed is lost.
    pub fn stop_to_discard(&self) {
        self.stop_with("immediate");
    }

    fn stop_with(&self, mode: &str) {
        if !self.started_here {
            return;
        }
        let status = self
            .command("pg_ctl")
            .arg("stop")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", mode, "-w", "-s"])
            .status();
        let _ = fs::remove_dir(&self.socket_dir);
        match status {
            Ok(s) if s.success() => tracing::info!("embedded PostgreSQL stopped"),
            Ok(s) => tracing::warn!(%s, "pg_ctl stop failed"),
            Err(err) => tracing::warn!(%err, "pg_ctl stop could not run"),
        }
    }

    /// Restarts the server (fast shutdown, then start with the same options): what an
    /// operator's `pg_ctl restart` does; the fault tests do it under load.
    pub fn restart(&self) -> anyhow::Result<()> {
        let out = self
            .command("pg_ctl")
            .arg("restart")
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(self.data.join("server.log"))
            .args(["-m", "fast", "-w", "-s"])
            .stdin(Stdio::null())
            .output()
            .context("pg_ctl could not run")?;
        if !out.status.success() {
            bail!("pg_ctl restart failed: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(())
    }

    fn initdb(&self) -> anyhow::Result<()> {
        tracing::info!(data = %self.data.display(), "creating the embedded PostgreSQL cluster");
        let out = self
            .command("initdb")
            .arg("-D")
            .arg(&self.data)
            .args(["-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"])
            .stdin(Stdio::null())
            .output()
            .context("initdb could not run")?;
        if !out.status.success() {
            bail!(
                "initdb failed for {}: {}",
                self.data.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }

    fn pg_ctl_start(&self) -> anyhow::Result<()> {
        let options = format!(
            "-c listen_addresses='' -c unix_socket_directories='{}' -c port={PORT} \
             -c max_connections=200 -c shared_buffers=128MB -c fsync=on",
            self.socket_dir.display()
        );
        let log = self.data.join("server.log");
        let out = self
            .command("pg_ctl")
            .arg("start")
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", "60", "-s", "-o"])
            .arg(options)
            .stdin(Stdio::null())
            .output()
            .context("pg_ctl could not run")?;
        if !out.status.success() {
            let tail = fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().rev().take(5).collect();
            bail!(
                "the embedded PostgreSQL did not start ({}): {} {}",
                self.data.display(),
                String::from_utf8_lossy(&out.stderr).trim(),
                tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
            );
        }
        tracing::info!(socket = %self.socket_dir.display(), "embedded PostgreSQL started");
        Ok(())
    }

    /// A command for one of the server binaries, run as the `postgres` user when we are
    /// root (PostgreSQL refuses to run as root), in its own process group so that a Ctrl-C
    /// in the terminal reaches Berth, which then stops the cluster in order.
    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bindir.join(program));
        cmd.process_group(0);
        cmd.env_remove("PGDATA");
        if let Some((uid, gid)) = self.run_as {
            cmd.uid(uid).gid(gid).current_dir("/");
        }
        cmd
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Process {
    Running,
    /// Ended, not yet reaped by its parent.
    Zombie,
    Gone,
}

fn process_state(pid: i32) -> Process {
    // SAFETY: signal 0 only checks that the process exists and may be signalled.
    let exists =
        unsafe { libc::kill(pid, 0) } == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    if !exists {
        return Process::Gone;
    }
    // The state is the field after the parenthesised command name: `123 (postgres) Z …`.
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat)
            if stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])) =>
        {
            Process::Zombie
        }
        _ => Process::Running,
    }
}

/// Where the server binaries are: `pg_config --bindir`, then `PATH`, then the Debian layout.
fn find_bindir() -> anyhow::Result<PathBuf> {
    let has_server = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if has_server(&dir) {
            return Ok(dir);
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if has_server(&dir) {
                // Follow links such as /usr/local/bin/initdb -> /usr/lib/postgresql/15/bin.
                let real = dir.join("initdb").canonicalize().ok();
                return Ok(real.and_then(|p| p.parent().map(Path::to_path_buf)).unwrap_or(dir));
            }
        }
    }
    let mut debian: Vec<PathBuf> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| has_server(p))
        .collect();
    debian.sort_by_key(|p| version_of(p));
    if let Some(dir) = debian.pop() {
        return Ok(dir);
    }
    bail!(
        "no PostgreSQL server binaries found (looked at `pg_config --bindir`, PATH and \
         /usr/lib/postgresql/*/bin): install them (Debian: `apt-get install postgresql`) \
         or set DATABASE_URL to an existing database"
    )
}

fn version_of(bindir: &Path) -> u32 {
    bindir
        .parent()
        .and_then(Path::file_name)
        .and_then(OsStr::to_str)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn postgres_user() -> anyhow::Result<(u32, u32)> {
    let name = c"postgres";
    // SAFETY: getpwnam returns a pointer into static storage or null; we copy out at once.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        bail!(
            "Berth runs as root, and PostgreSQL refuses to run as root, but there is no \
             `postgres` system user to run it as: install PostgreSQL from your distribution, \
             run Berth as another user, or set DATABASE_URL"
        );
    }
    // SAFETY: checked non-null above.
    let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
    Ok((uid, gid))
}

/// The `postgres` user must be able to reach the data folder: every parent must be
/// searchable by it (a checkout under `/root` is not).
fn check_traversable(data: &Path, uid: u32, gid: u32) -> anyhow::Result<()> {
    for dir in data.ancestors().skip(1) {
        let meta = fs::metadata(dir)?;
        let mode = meta.mode();
        let ok = if meta.uid() == uid {
            mode & 0o100 != 0
        } else if meta.gid() == gid {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        };
        if !ok {
            bail!(
                "the data folder {} is not reachable by the `postgres` user, because {} is \
                 not searchable by it: set BERTH_DATA to a folder outside it (e.g. \
                 /var/lib/berth) or run `chmod o+x {}`",
                data.display(),
                dir.display(),
                dir.display()
            );
        }
    }
    Ok(())
}

/// A short runtime folder for the socket, one per data folder, so two clusters never meet.
fn socket_dir_for(data: &Path) -> anyhow::Result<PathBuf> {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(data.as_os_str().as_encoded_bytes());
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    let dir = base.join(format!("berth-pg-{}", &hex::encode(digest)[..12]));
    if dir.as_os_str().len() > MAX_SOCKET_DIR {
        bail!(
            "the socket folder {} is too long for a Unix socket (at most {MAX_SOCKET_DIR} \
             bytes): set TMPDIR to a shorter folder",
            dir.display()
        );
    }
    fs::create_dir_all(&dir)?;
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
    Ok(dir)
}

fn chown(path: &Path, uid: u32, gid: u32) -> anyhow::Result<()> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
        .with_context(|| format!("cannot give {} to the postgres user", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ended_unreaped_process_is_not_taken_for_a_running_one() {
        assert_eq!(process_state(std::process::id() as i32), Process::Running);
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        let deadline = Instant::now() + Duration::from_secs(5);
        while process_state(pid) == Process::Running && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(process_state(pid), Process::Zombie, "ended, not yet waited for");
        child.wait().unwrap();
        assert_eq!(process_state(pid), Process::Gone);
    }
}
