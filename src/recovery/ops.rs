//! Recovery's operations: asking for a password reset link, setting a new password with it,
//! and offering and using the undo of an email change. The one place recovery decides
//! anything; the pages (`mod.rs`) only translate input and these errors.
//!
//! A reset link is asked for by **username**: it is unique, and it is what the sign-in form
//! asks for; an email address may belong to several accounts, and would make the answer
//! depend on how many. The link goes to the account's email address. The answer is the same
//! whether or not the account exists, and so is the work done before it: the throttle, one
//! lookup; the email is sent after the answer, so the relay's time shows in neither.
//!
//! Setting the new password does not sign in: the customer goes to `/login`, where a
//! second factor, when one is enrolled, is asked for as at every sign-in.

use std::net::IpAddr;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use time::Duration;

use crate::audit::{self, BY_CUSTOMER};
use crate::auth::model::{self as throttle, Keys};
use crate::clock::Clock;
use crate::identity::sessions::{self, Owner};
use crate::identity::{CustomerId, UsernameKey, Who};
use crate::password::{Hasher, NewPassword};
use crate::recovery::model;
use crate::state::{AppState, Mailer, WebConfig};
use crate::validation::FieldErrors;

/// How long a reset link works.
pub const RESET_VALID: Duration = Duration::minutes(30);
/// How long an email change can be undone.
pub const UNDO_VALID: Duration = Duration::hours(72);

/// What sending the links needs: the relay, the public address, the time.
#[derive(Clone)]
pub struct Links {
    web: Arc<WebConfig>,
    clock: Clock,
}

impl Links {
    pub fn of(state: &AppState) -> Self {
        Self {
            web: state.web.clone(),
            clock: state.clock.clone(),
        }
    }

    /// `path` on Berth's public address (BERTH_PUBLIC_URL). Without one, the path alone,
    /// to open on whatever address the customer reaches Berth at: a link built from the
    /// request's `Host` header would let anyone send an account's owner a link to their own
    /// server.
    fn url(&self, path: &str) -> String {
        match &self.web.public_origin {
            Some(origin) => format!("{origin}{path}"),
            None => format!("{path}\n(open this path on the address you use for Berth)"),
        }
    }

    /// An email to send once the change that made it is committed.
    fn mail(&self, to: &str, subject: &str, body: String) -> Mail {
        Mail {
            mailer: self.web.mail.clone(),
            to: to.to_owned(),
            subject: subject.to_owned(),
            body,
        }
    }
}

/// An email carrying a link, not sent yet.
#[must_use = "the email must be sent after the change is committed"]
pub struct Mail {
    mailer: Option<Arc<dyn Mailer>>,
    to: String,
    subject: String,
    body: String,
}

impl Mail {
    /// Sends it in the background: the answer does not wait for the relay (nor tells by its
    /// time whether an email was sent). A failure is logged; the customer can ask again.
    pub fn send(self) {
        let Some(mailer) = self.mailer else {
            tracing::warn!(
                subject = self.subject,
                "no SMTP relay configured (BERTH_SMTP_URL): email not sent"
            );
            return;
        };
        tokio::spawn(async move {
            if let Err(err) = mailer.send(&self.to, &self.subject, &self.body).await {
                tracing::warn!(subject = self.subject, "email not sent: {err:#}");
            }
        });
    }
}

#[derive(Debug)]
pub enum RecoveryError {
    /// Too many reset requests for this account or from this address: wait this long.
    TooMany {
        wait_secs: i64,
    },
    /// The link is unknown, used or expired.
    LinkInvalid,
    Invalid(FieldErrors),
    Internal(anyhow::Error),
}

impl From<sqlx::Error> for RecoveryError {
    fn from(err: sqlx::Error) -> Self {
        Self::Internal(err.into())
    }
}

impl From<anyhow::Error> for RecoveryError {
    fn from(err: anyhow::Error) -> Self {
        Self::Internal(err)
    }
}

/// A new link's token (256 random bits, in hex) and the hash that is stored.
fn new_token() -> (String, String) {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = hex::encode(bytes);
    let hash = token_hash(&token);
    (token, hash)
}

/// What is stored of a token, and looked up by.
fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.trim().as_bytes()))
}

/// Asks for a reset link for `username`, from `ip`: throttled per account and per client
/// address (each request counts, found or not, 5 in 15 minutes before delays start, as
/// failed sign-ins); when the name is an account's, a link valid 30 minutes goes to its
/// email address and the request is in its Activity. The same `Ok` either way.
pub async fn request_reset(db: &sqlx::PgPool, links: &Links, ip: IpAddr, username: &str) -> Result<(), RecoveryError> {
    let username = UsernameKey::new(username);
    let keys = Keys {
        account: format!("reset:user:{username}"),
        address: format!("reset:{}", throttle::address_key(ip)),
    };
    let now = links.clock.now();
    for key in [&keys.address, &keys.account] {
        if throttle::reserve(db, key, now).await?.is_none() {
            let wait_secs = throttle::wait_secs(db, &keys, now).await?.unwrap_or(1);
            tracing::warn!(%username, %ip, wait_secs, "password reset refused: too many requests");
            return Err(RecoveryError::TooMany { wait_secs });
        }
    }
    let Some(account) = model::account(db, &username).await? else {
        tracing::info!(%username, %ip, "password reset asked for an unknown name");
        return Ok(());
    };
    let (token, hash) = new_token();
    let mut tx = db.begin().await?;
    model::create_reset(&mut *tx, account.id, &hash, now, now + RESET_VALID).await?;
    let who = Who::new(account.id, BY_CUSTOMER, Some(ip));
    let detail = format!("a link was emailed to {}", account.email);
    audit::record(&mut *tx, &who, "password_reset_requested", &detail).await?;
    tx.commit().await?;
    let body = format!(
        "Someone (hopefully you) asked to set a new password for the Berth account \"{username}\".\n\n\
         To set one, open this link within 30 minutes; it works once:\n\n{}\n\n\
         If you did not ask for this, ignore this email: your password stays as it is.\n",
        links.url(&format!("/password-reset?token={token}")),
    );
    links.mail(&account.email, "Set a new Berth password", body).send();
    Ok(())
}

/// Whether the reset link `token` works now (for the page that shows its form).
pub async fn reset_link_works(db: &sqlx::PgPool, clock: &Clock, token: &str) -> Result<bool, RecoveryError> {
    Ok(model::reset_owner(db, &token_hash(token), clock.now()).await?.is_some())
}

/// Sets a new password with the reset link `token` (the same rules as changing it;
/// `confirm` must repeat it): every session of the account ends, every reset link of it
/// too, and the change is in its Activity. It does not sign in.
pub async fn reset_password(
    db: &sqlx::PgPool,
    hasher: &Hasher,
    clock: &Clock,
    ip: IpAddr,
    token: &str,
    password: &str,
    confirm: &str,
) -> Result<CustomerId, RecoveryError> {
    let hash_of_token = token_hash(token);
    if model::reset_owner(db, &hash_of_token, clock.now()).await?.is_none() {
        return Err(RecoveryError::LinkInvalid);
    }
    let mut invalid = FieldErrors::default();
    let new = invalid.check("password", NewPassword::parse(password));
    if new.is_some() && confirm != password {
        invalid.add("password_confirm", "The two new passwords differ.");
    }
    invalid.into_result().map_err(RecoveryError::Invalid)?;
    let Some(new) = new else {
        return Err(RecoveryError::Internal(anyhow::anyhow!(
            "password checked without a value"
        )));
    };
    let password_hash = hasher.hash(new.as_str()).await?;
    let mut tx = db.begin().await?;
    let Some(customer) = model::use_reset(&mut *tx, &hash_of_token, &password_hash, clock.now()).await? else {
        return Err(RecoveryError::LinkInvalid);
    };
    sessions::end_all_but(&mut *tx, Owner::Customer(customer), None).await?;
    let who = Who::new(customer, BY_CUSTOMER, Some(ip));
    audit::record(
        &mut *tx,
        &who,
        "password_reset",
        "with a reset link; every session was signed out",
    )
    .await?;
    tx.commit().await?;
    tracing::info!(%customer, %ip, "password reset");
    Ok(customer)
}

/// Offers the undo of an email change from `old` to `new`, in the change's transaction: a
/// link valid 72 hours, for an email to the old address, to send after the commit.
pub async fn offer_undo(
    tx: &mut sqlx::PgConnection,
    links: &Links,
    customer: CustomerId,
    old: &str,
    new: &str,
) -> sqlx::Result<Mail> {
    let (token, hash) = new_token();
    let now = links.clock.now();
    model::create_undo(&mut *tx, customer, &hash, old, new, now, now + UNDO_VALID).await?;
    let at = now
        .format(&time::format_description::well_known::Rfc2822)
        .unwrap_or_default();
    let body = format!(
        "The email address of your Berth account was changed from {old} to {new} ({at}).\n\n\
         If this was not you, undo it within 72 hours with this link; it works once, puts {old} \
         back and signs every session of the account out:\n\n{}\n\n\
         Then ask for a new password on the sign-in page (\"Forgot password?\").\n",
        links.url(&format!("/email-undo?token={token}")),
    );
    Ok(links.mail(old, "Your Berth email address was changed", body))
}

/// The change the undo link `token` would undo, while it works.
pub async fn undo_link(db: &sqlx::PgPool, clock: &Clock, token: &str) -> Result<Option<model::Undo>, RecoveryError> {
    Ok(model::undo(db, &token_hash(token), clock.now()).await?)
}

/// Undoes an email change with the link `token`: the old address is back, every session of
/// the account ends, and it is in the Activity.
pub async fn undo_email_change(
    db: &sqlx::PgPool,
    clock: &Clock,
    ip: IpAddr,
    token: &str,
) -> Result<model::Undo, RecoveryError> {
    let mut tx = db.begin().await?;
    let Some(undo) = model::use_undo(&mut *tx, &token_hash(token), clock.now()).await? else {
        return Err(RecoveryError::LinkInvalid);
    };
    sessions::end_all_but(&mut *tx, Owner::Customer(undo.customer), None).await?;
    let who = Who::new(undo.customer, BY_CUSTOMER, Some(ip));
    let detail = format!(
        "from {} back to {} with the link sent to the old address; every session was signed out",
        undo.new_email, undo.old_email
    );
    audit::record(&mut *tx, &who, "email_change_undone", &detail).await?;
    tx.commit().await?;
    Ok(undo)
}
