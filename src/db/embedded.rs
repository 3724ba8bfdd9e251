//! The embedded default: a private PostgreSQL cluster that Berth creates, starts and stops
//! itself from the machine's server binaries, listening only on a Unix socket.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};
use sqlx::postgres::PgConnectOptions;

/// The database Berth uses inside its private cluster.
pub const DATABASE: &str = "berth";
const SUPERUSER: &str = "postgres";
const PORT: u16 = 5432;
/// Unix socket paths are limited to about 100 bytes (`sun_path` is 108 with the file name).
const MAX_SOCKET_DIR: usize = 90;

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
        if !pg.is_running() {
            pg.pg_ctl_start()?;
            pg.started_here = true;
        }
        Ok(pg)
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

    /// Stops the cluster if this process started it (fast shutdown: sessions are ended,
    /// committed data is safe).
    pub fn stop(&self) {
        if !self.started_here {
            return;
        }
        let status = self
            .command("pg_ctl")
            .arg("stop")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "fast", "-w", "-s"])
            .status();
        let _ = fs::remove_dir(&self.socket_dir);
        match status {
            Ok(s) if s.success() => tracing::info!("embedded PostgreSQL stopped"),
            Ok(s) => tracing::warn!(%s, "pg_ctl stop failed"),
            Err(err) => tracing::warn!(%err, "pg_ctl stop could not run"),
        }
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

    fn is_running(&self) -> bool {
        self.command("pg_ctl")
            .arg("status")
            .arg("-D")
            .arg(&self.data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
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
