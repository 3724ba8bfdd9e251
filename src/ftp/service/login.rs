//! Who may log in over FTP, and where they land.
//!
//! A login is checked as a sign-in is: counted in advance per username (`ftp:<name>`) and
//! per client address (the address counter is the one the sign-in form uses) by the sign-in
//! throttle, refused unseen while either is in its delay, the password compared against the
//! FTP user's Argon2 hash (or a dummy one for an unknown name) through the hasher and its
//! semaphore, and refused for a user of a cancelled customer. Failures are counted there and
//! logged, not written to Activity one row each; the customer's Activity gets one row when
//! the failures lock the username, and one for the first successful login from an address.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use unftp_core::auth::{
    AuthenticationError, Authenticator, ChannelEncryptionState, Credentials, Principal, UserDetail, UserDetailError,
    UserDetailProvider,
};

use super::{Service, Session};
use crate::audit;
use crate::auth::model::{self as throttle, Attempt, KNOWN_ADDRESS_DAYS, Keys};
use crate::engine::files::Files;
use crate::ftp::model::{self, FtpLogin, FtpType};
use crate::identity::{CustomerId, UsernameKey, Who, username};

/// The folder of a customer's FTP users placed on no site: `BERTH_DATA/customers/<id>/`.
pub fn customer_folder(data: &Path, customer: CustomerId) -> PathBuf {
    data.join("customers").join(customer.to_string())
}

/// The FTP user of a logged-in session, and its folder: `base` is the environment's (or the
/// customer's) folder, `home` that folder with the user's relative root, where the session
/// is confined.
pub(crate) struct FtpAccount {
    pub login: FtpLogin,
    pub base: PathBuf,
    pub home: PathBuf,
}

impl FtpAccount {
    pub fn read_only(&self) -> bool {
        self.login.kind == FtpType::ReadOnly
    }
}

// Never the password hash: `libunftp` and `unftp-sbe-fs` log users with `Debug`.
impl std::fmt::Debug for FtpAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FtpAccount")
            .field("id", &self.login.id)
            .field("username", &self.login.username)
            .field("type", &self.login.kind)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Display for FtpAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.login.username)
    }
}

impl UserDetail for FtpAccount {
    fn home(&self) -> Option<&Path> {
        Some(&self.home)
    }
}

/// The throttle's counters of an FTP login.
fn keys(username: &UsernameKey, ip: IpAddr) -> Keys {
    Keys {
        account: format!("ftp:{username}"),
        address: throttle::address_key(ip),
    }
}

/// A login that passed the password check, waiting for `libunftp` to ask for its user.
struct Verified {
    login: FtpLogin,
    ip: IpAddr,
    tls: bool,
}

/// The authenticator and user provider of one connection.
pub(crate) struct Login {
    service: Arc<Service>,
    session: Arc<Session>,
    verified: Mutex<Option<Verified>>,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login").field("session", &self.session.number).finish()
    }
}

/// Why a login was refused.
enum Refused {
    /// The username or the address is in its delay.
    Throttled,
    /// Unknown name, wrong password, or a cancelled customer: one answer.
    Failed,
    Internal(anyhow::Error),
}

impl From<sqlx::Error> for Refused {
    fn from(err: sqlx::Error) -> Self {
        Self::Internal(err.into())
    }
}

impl Login {
    pub fn new(service: Arc<Service>, session: Arc<Session>) -> Self {
        Self {
            service,
            session,
            verified: Mutex::new(None),
        }
    }

    async fn check(&self, username: &str, password: &str, ip: IpAddr) -> Result<FtpLogin, Refused> {
        let service = &self.service;
        let key = UsernameKey::new(username);
        let keys = keys(&key, ip);
        let now = service.clock.now();
        let attempt = throttle::begin(&service.pool, &keys, None, now).await?;
        let Attempt::Allowed {
            account_delay,
            address_delay,
            past_lock,
        } = attempt
        else {
            tracing::warn!(user = %key, %ip, "FTP login refused: too many failures");
            return Err(Refused::Throttled);
        };
        // FTP usernames are ASCII: a look-alike of one is no one's.
        let found = match username::new_ascii(username) {
            Some(name) => model::login(&service.pool, name.as_str()).await?,
            None => None,
        };
        let verified = service
            .hasher
            .verify(found.as_ref().map(|f| f.password_hash.as_str()), password)
            .await
            .map_err(Refused::Internal)?;
        match found {
            Some(login) if verified && login.active => {
                if !past_lock {
                    throttle::clear(&service.pool, &keys.account).await?;
                }
                throttle::release(&service.pool, &keys.address).await?;
                Ok(login)
            }
            found => {
                // Counted already by `begin`.
                tracing::warn!(user = %key, %ip, "failed FTP login");
                if address_delay > 0 {
                    tracing::warn!(%ip, address_delay, "logins from this address locked");
                }
                // The failure that reaches the threshold starts the lock: recorded once.
                if account_delay == 1
                    && let Some(login) = &found
                {
                    tracing::warn!(user = %key, "FTP logins locked");
                    let who = Who::new(login.customer_id, audit::BY_ANONYMOUS, Some(ip));
                    let detail = format!(
                        "{}: further FTP logins refused for a while after repeated wrong passwords",
                        login.username
                    );
                    audit::record(&service.pool, &who, "ftp_login_locked", &detail).await?;
                }
                Err(Refused::Failed)
            }
        }
    }

    /// The folder a login lands in, made when missing: the environment's (with its first
    /// page, as provisioning makes it), or the customer's.
    async fn folder(&self, login: &FtpLogin) -> Result<PathBuf, String> {
        match (login.site_id, &login.environment_name) {
            (Some(site), Some(environment)) => {
                Files::new(&self.service.data)
                    .ensure_environment(site.0, environment, login.hostname.as_deref().unwrap_or_default())
                    .await
            }
            (Some(site), None) => Err(format!("site {site} has no environment yet")),
            (None, _) => {
                let folder = customer_folder(&self.service.data, login.customer_id);
                tokio::fs::create_dir_all(&folder).await.map_err(|err| {
                    tracing::error!(folder = %folder.display(), error = %err, "cannot make a customer's FTP folder");
                    "the customer's FTP folder could not be made".to_owned()
                })?;
                Ok(folder)
            }
        }
    }

    /// Records the first login from an address in the customer's Activity.
    async fn remember(&self, verified: &Verified) -> sqlx::Result<()> {
        let service = &self.service;
        let login = &verified.login;
        let keys = keys(&UsernameKey::new(&login.username), verified.ip);
        let new = model::remember_address(
            &service.pool,
            &keys.account,
            &keys.address,
            service.clock.now(),
            KNOWN_ADDRESS_DAYS,
        )
        .await?;
        if new {
            let who = Who::new(
                login.customer_id,
                format!("FTP user {}", login.username),
                Some(verified.ip),
            );
            let over = if verified.tls { "FTPS (TLS)" } else { "plain FTP" };
            let detail = format!(
                "{} logged in over {over} from an address it had not used in the last {KNOWN_ADDRESS_DAYS} days",
                login.username
            );
            audit::record(&service.pool, &who, "ftp_login_new_address", &detail).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl Authenticator for Login {
    async fn authenticate(&self, username: &str, creds: &Credentials) -> Result<Principal, AuthenticationError> {
        let tls = creds.command_channel_security == ChannelEncryptionState::Tls;
        // `libunftp` refuses USER and PASS before TLS already when it is required; this is
        // the same rule again, where the password is checked.
        if self.service.settings.require_tls && !tls {
            tracing::warn!(ip = %creds.source_ip, "FTP login without TLS refused");
            return Err(AuthenticationError::new("TLS is required"));
        }
        let Some(password) = creds.password.as_deref() else {
            return Err(AuthenticationError::BadPassword);
        };
        match self.check(username, password, creds.source_ip).await {
            Ok(login) => {
                let principal = Principal {
                    username: login.username.clone(),
                };
                *self.verified.lock().unwrap_or_else(|e| e.into_inner()) = Some(Verified {
                    login,
                    ip: creds.source_ip,
                    tls,
                });
                Ok(principal)
            }
            Err(Refused::Throttled | Refused::Failed) => Err(AuthenticationError::BadPassword),
            Err(Refused::Internal(err)) => {
                tracing::error!(error = %err, "an FTP login could not be checked");
                Err(AuthenticationError::new("the login could not be checked"))
            }
        }
    }
}

#[async_trait]
impl UserDetailProvider for Login {
    type User = FtpAccount;

    async fn provide_user_detail(&self, principal: &Principal) -> Result<FtpAccount, UserDetailError> {
        let verified = self
            .verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .filter(|v| v.login.username == principal.username)
            .ok_or_else(|| UserDetailError::UserNotFound {
                username: principal.username.clone(),
            })?;
        let base = self.folder(&verified.login).await.map_err(|why| {
            tracing::warn!(user = verified.login.username, why, "FTP login without a folder");
            UserDetailError::Generic(why)
        })?;
        if let Err(err) = self.remember(&verified).await {
            tracing::error!(error = %err, "cannot record an FTP login");
        }
        let home = base.join(&verified.login.relative_root);
        Ok(FtpAccount {
            login: verified.login,
            base,
            home,
        })
    }
}
