//! Where a session may go: `unftp-sbe-fs` opened at the FTP user's home, behind Berth's
//! checks.
//!
//! Confinement has two layers. Every path a client gives is read here first: lexically,
//! relative to the home, `..` may not climb above it, and no name may be one that reads as
//! `.` or `..` once Unicode look-alikes are folded (NFKC: `．．`, `‥`) or once `\` or a
//! look-alike of `/` is taken as a separator, nor hold a control character. Then the file
//! system back end works through a directory handle opened at the home (`cap-std`), which
//! resolves every path, symbolic links included, inside that directory and refuses any that
//! would leave it (an absolute link, or one climbing out). So a link someone placed in the
//! folder leads nowhere outside it.
//!
//! Before each operation the session checks that its FTP user is still as it logged in
//! (ending the session when not); a read-only user may not write, rename, delete or make or
//! remove folders.

use std::ffi::OsStr;
use std::fmt::Debug;
use std::path::{Component, Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_trait::async_trait;
use unftp_core::storage::{ErrorKind, FEATURE_RESTART, Fileinfo, Result, StorageBackend};
use unftp_sbe_fs::{Filesystem, Meta};
use unicode_normalization::UnicodeNormalization;

use super::login::FtpAccount;
use super::{Service, Session, TransferGuard};

/// The storage of one session; empty until its user logs in.
pub(crate) struct Confined {
    service: Arc<Service>,
    session: Arc<Session>,
    inner: Option<Filesystem>,
}

impl Debug for Confined {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Confined")
            .field("session", &self.session.number)
            .finish_non_exhaustive()
    }
}

/// Whether a name, once look-alikes are folded, is or holds a `.` or `..` step.
fn looks_like_a_step(name: &str) -> bool {
    let folded: String = name.nfkc().collect();
    folded.split(['/', '\\']).any(|piece| piece == ".." || piece == ".")
}

/// The path `raw` names inside the home, as `/a/b`; refused when it climbs above the home or
/// has a name no file here may have.
pub(crate) fn confine(raw: &Path) -> Result<PathBuf> {
    let mut parts: Vec<&OsStr> = Vec::new();
    for component in raw.components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::Prefix(_) => return Err(ErrorKind::PermissionDenied.into()),
            Component::ParentDir => {
                if parts.pop().is_none() {
                    return Err(ErrorKind::PermissionDenied.into());
                }
            }
            Component::Normal(name) => {
                let name_text = name.to_str().ok_or(ErrorKind::FileNameNotAllowedError)?;
                if name_text.chars().any(char::is_control) || looks_like_a_step(name_text) {
                    return Err(ErrorKind::FileNameNotAllowedError.into());
                }
                parts.push(name);
            }
        }
    }
    let mut path = PathBuf::from("/");
    path.extend(parts);
    Ok(path)
}

impl Confined {
    pub fn new(service: Arc<Service>, session: Arc<Session>) -> Self {
        Self {
            service,
            session,
            inner: None,
        }
    }

    /// The back end, once the FTP user is checked to be still as it logged in.
    async fn admit(&self) -> Result<&Filesystem> {
        self.session.still_holds(&self.service.pool).await?;
        self.inner.as_ref().ok_or_else(|| ErrorKind::PermissionDenied.into())
    }

    /// The back end for a change; refused to a read-only user.
    async fn admit_write(&self, user: &FtpAccount) -> Result<&Filesystem> {
        let inner = self.admit().await?;
        if user.read_only() {
            return Err(ErrorKind::PermissionDenied.into());
        }
        Ok(inner)
    }
}

/// A download's reader: the transfer counts as in progress until it is dropped.
struct Tracked {
    inner: Box<dyn tokio::io::AsyncRead + Send + Sync + Unpin>,
    _transfer: TransferGuard,
}

impl tokio::io::AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

#[async_trait]
impl StorageBackend<FtpAccount> for Confined {
    type Metadata = Meta;

    /// Opens the user's home: the base folder, then the relative root inside it (made when
    /// missing), both through `cap-std`, so a link on the way cannot lead outside the base.
    fn enter(&mut self, user: &FtpAccount) -> std::io::Result<()> {
        let mut inner = Filesystem::new(&user.base)?;
        let root = user.login.relative_root.as_str();
        if !root.is_empty() {
            let base = cap_std::fs::Dir::open_ambient_dir(&user.base, cap_std::ambient_authority())?;
            base.create_dir_all(root)?;
            // `user.home` is the base joined with the root: the back end opens the root
            // through its handle of the base.
            StorageBackend::<FtpAccount>::enter(&mut inner, user)?;
        }
        if self.session.login.set(user.login.clone()).is_err() {
            return Err(std::io::Error::other("this session has logged in already"));
        }
        self.inner = Some(inner);
        Ok(())
    }

    fn supported_features(&self) -> u32 {
        FEATURE_RESTART
    }

    async fn metadata<P: AsRef<Path> + Send + Debug>(&self, user: &FtpAccount, path: P) -> Result<Self::Metadata> {
        let path = confine(path.as_ref())?;
        self.admit().await?.metadata(user, path).await
    }

    async fn list<P: AsRef<Path> + Send + Debug>(
        &self,
        user: &FtpAccount,
        path: P,
    ) -> Result<Vec<Fileinfo<PathBuf, Self::Metadata>>> {
        let path = confine(path.as_ref())?;
        self.admit().await?.list(user, path).await
    }

    async fn get<P: AsRef<Path> + Send + Debug>(
        &self,
        user: &FtpAccount,
        path: P,
        start_pos: u64,
    ) -> Result<Box<dyn tokio::io::AsyncRead + Send + Sync + Unpin>> {
        let path = confine(path.as_ref())?;
        let transfer = self.session.transfer();
        let inner = self.admit().await?.get(user, path, start_pos).await?;
        Ok(Box::new(Tracked {
            inner,
            _transfer: transfer,
        }))
    }

    async fn put<P: AsRef<Path> + Send + Debug, R: tokio::io::AsyncRead + Send + Sync + Unpin + 'static>(
        &self,
        user: &FtpAccount,
        input: R,
        path: P,
        start_pos: u64,
    ) -> Result<u64> {
        let path = confine(path.as_ref())?;
        let _transfer = self.session.transfer();
        self.admit_write(user).await?.put(user, input, path, start_pos).await
    }

    async fn del<P: AsRef<Path> + Send + Debug>(&self, user: &FtpAccount, path: P) -> Result<()> {
        let path = confine(path.as_ref())?;
        self.admit_write(user).await?.del(user, path).await
    }

    async fn mkd<P: AsRef<Path> + Send + Debug>(&self, user: &FtpAccount, path: P) -> Result<()> {
        let path = confine(path.as_ref())?;
        self.admit_write(user).await?.mkd(user, path).await
    }

    async fn rename<P: AsRef<Path> + Send + Debug>(&self, user: &FtpAccount, from: P, to: P) -> Result<()> {
        let (from, to) = (confine(from.as_ref())?, confine(to.as_ref())?);
        if from == Path::new("/") || to == Path::new("/") {
            return Err(ErrorKind::PermissionDenied.into());
        }
        self.admit_write(user).await?.rename(user, from, to).await
    }

    async fn rmd<P: AsRef<Path> + Send + Debug>(&self, user: &FtpAccount, path: P) -> Result<()> {
        let path = confine(path.as_ref())?;
        if path == Path::new("/") {
            return Err(ErrorKind::PermissionDenied.into());
        }
        self.admit_write(user).await?.rmd(user, path).await
    }

    async fn cwd<P: AsRef<Path> + Send + Debug>(&self, user: &FtpAccount, path: P) -> Result<()> {
        let path = confine(path.as_ref())?;
        self.admit().await?.cwd(user, path).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn confined(raw: &str) -> std::result::Result<String, ErrorKind> {
        confine(Path::new(raw))
            .map(|p| p.to_string_lossy().into_owned())
            .map_err(|e| e.kind())
    }

    #[test]
    fn paths_stay_in_the_home() {
        for (raw, inside) in [
            ("/", "/"),
            ("", "/"),
            (".", "/"),
            ("a/b", "/a/b"),
            ("/a/./b/", "/a/b"),
            ("a/../b", "/b"),
            ("/a/b/../..", "/"),
            ("...", "/..."),
            ("..a", "/..a"),
            ("%2e%2e", "/%2e%2e"),
            ("données/été.txt", "/données/été.txt"),
        ] {
            assert_eq!(confined(raw).as_deref(), Ok(inside), "{raw:?}");
        }
        for raw in ["..", "/..", "../etc/passwd", "a/../..", "/a/../../b", "./../x"] {
            assert_eq!(confined(raw), Err(ErrorKind::PermissionDenied), "{raw:?}");
        }
        for raw in [
            "\u{ff0e}\u{ff0e}",
            "\u{ff0e}\u{ff0e}/etc",
            "\u{2025}",
            "a/\u{2025}/b",
            "..\\..\\etc",
            "a\\..",
            "\u{ff0e}\u{ff0e}\u{ff0f}etc",
            "a\u{0}b",
            "a\nb",
            "\u{fe52}\u{fe52}",
        ] {
            assert_eq!(confined(raw), Err(ErrorKind::FileNameNotAllowedError), "{raw:?}");
        }
    }
}
