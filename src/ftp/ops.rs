//! The FTP users' operations, the one place that decides about them: the `/ftp-users`
//! pages and the Customer API methods call these, and only translate their input and errors.

use sqlx::PgPool;

use super::model::{self, Fields, FtpName, FtpType, FtpUser, FtpUserId, FtpUsername, Placement};
use super::root::RelativeRoot;
use crate::audit;
use crate::db::{self, Tx};
use crate::identity::once::{self, FormToken};
use crate::identity::{CustomerId, Who};
use crate::password::{Hasher, NewPassword};
use crate::sites::model::{EnvironmentId, SiteId};
use crate::state::{FtpAccess, FtpTls};
use crate::validation::{Field, Invalid, Names};
use crate::web::AppError;

/// The FTP users' fields, by their form and API argument names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FtpField {
    Name,
    Username,
    Password,
    RelativeRoot,
    Type,
    Site,
    Environment,
}

impl Field for FtpField {
    fn form(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Username => "username",
            Self::Password => "password",
            Self::RelativeRoot => "relative_root",
            Self::Type => "type",
            Self::Site => "site_id",
            Self::Environment => "environment_id",
        }
    }

    fn seed(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Username => "username",
            Self::Password => "password",
            Self::RelativeRoot => "relativeRoot",
            Self::Type => "type",
            Self::Site => "siteId",
            Self::Environment => "environmentId",
        }
    }
}

/// Why an operation on FTP users was refused.
#[derive(Debug)]
pub enum FtpError {
    Invalid(Invalid<FtpField>),
    NotFound,
    /// The user was changed (in another tab, or by an API call) after the form or the call
    /// read it: nothing was saved.
    Changed,
    /// The create form was sent before with its one-time token: that one created the user.
    Repeated,
    Db(sqlx::Error),
    /// Hashing the password failed.
    Internal(anyhow::Error),
}

impl From<sqlx::Error> for FtpError {
    fn from(err: sqlx::Error) -> Self {
        Self::Db(err)
    }
}

impl FtpError {
    /// What the user is told, under the form's or the API's field names.
    pub fn into_app(self, names: Names) -> AppError {
        match self {
            Self::Invalid(invalid) => AppError::Invalid(invalid.errors(names)),
            Self::NotFound => AppError::NotFound,
            Self::Changed => AppError::Conflict(CHANGED_MEANWHILE.into()),
            Self::Repeated => AppError::Conflict(crate::web::once::REPEATED.into()),
            Self::Db(err) => err.into(),
            Self::Internal(err) => AppError::Internal(err),
        }
    }
}

pub const SITE_UNKNOWN: &str = "Choose one of your sites, or none.";
pub const ENVIRONMENT_UNKNOWN: &str = "Choose one of your environments, or none.";
pub const ENVIRONMENT_ELSEWHERE: &str = "That environment is not one of the chosen site's.";
pub const USERNAME_TAKEN: &str = "This username is taken; choose another.";
const PASSWORD_NEEDED: &str = "Choose a password of at least 12 characters.";

/// What an edit says when the user changed after its form was shown.
pub const CHANGED_MEANWHILE: &str = "This FTP user was changed in another tab or device since you opened it; nothing was saved. Reload it and make your change again.";

/// An FTP user's fields as typed. On a change a field left out (`None`) keeps its value; a
/// site or environment is its id, and empty is none.
///
/// The password is the one rule the page and the API share for "no new password": left out
/// or empty, the same. Creating needs one; a change keeps the current one. An edit form
/// cannot leave its password field out, and a password field cannot show the current one,
/// so empty there has always meant "keep it"; a call with `"password": ""` now means the
/// same, rather than a 422 the page never gives.
#[derive(Debug, Clone, Default)]
pub struct UserInput {
    pub name: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub relative_root: Option<String>,
    pub kind: Option<String>,
    pub site: Option<String>,
    pub environment: Option<String>,
    /// The user's `updated_at` (Unix nanoseconds) as the edit form showed it.
    pub version: Option<String>,
}

impl UserInput {
    /// What the fields hold: those given, else `current`'s (none on create). Never the
    /// password.
    pub fn shown(&self, current: Option<&FtpUser>) -> Shown {
        let keep = |given: &Option<String>, now: Option<String>| given.clone().or(now).unwrap_or_default();
        Shown {
            name: keep(&self.name, current.map(|u| u.name.clone())),
            username: keep(&self.username, current.map(|u| u.username.clone())),
            relative_root: keep(&self.relative_root, current.map(|u| u.relative_root.clone())),
            kind: keep(&self.kind, current.map(|u| u.kind.to_string())),
            site: keep(&self.site, current.and_then(|u| u.site_id).map(|s| s.to_string())),
            environment: keep(
                &self.environment,
                current.and_then(|u| u.environment_id).map(|e| e.to_string()),
            ),
        }
    }
}

/// The fields as an operation read them (given, or kept), to show a failed form again.
#[derive(Debug, Clone, Default)]
pub struct Shown {
    pub name: String,
    pub username: String,
    pub relative_root: String,
    pub kind: String,
    pub site: String,
    pub environment: String,
}

/// An optional id as typed: empty is none; anything but a number is `unknown`.
fn optional_id<T: std::str::FromStr>(
    invalid: &mut Invalid<FtpField>,
    field: FtpField,
    raw: &str,
    unknown: &str,
) -> Option<Option<T>> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Some(None);
    }
    match raw.parse() {
        Ok(id) => Some(Some(id)),
        Err(_) => {
            invalid.add(field, unknown);
            None
        }
    }
}

/// Checks that the site is the customer's and the environment is theirs and of that site;
/// an environment without a site places the user on the environment's site. Another
/// customer's site or environment is told exactly as one that does not exist.
pub async fn place(
    db: &PgPool,
    customer: CustomerId,
    site: Option<SiteId>,
    environment: Option<EnvironmentId>,
) -> Result<Placement, FtpError> {
    let mut invalid = Invalid::default();
    let placement = place_into(db, customer, site, environment, &mut invalid).await?;
    invalid.into_result().map_err(FtpError::Invalid)?;
    Ok(placement)
}

async fn place_into(
    db: &PgPool,
    customer: CustomerId,
    site: Option<SiteId>,
    environment: Option<EnvironmentId>,
    invalid: &mut Invalid<FtpField>,
) -> sqlx::Result<Placement> {
    let (site_found, environment_site) = model::placement_facts(db, customer, site, environment).await?;
    if site.is_some() && site_found.is_none() {
        invalid.add(FtpField::Site, SITE_UNKNOWN);
    }
    let site = match (environment, environment_site) {
        (None, _) => site,
        (Some(_), None) => {
            invalid.add(FtpField::Environment, ENVIRONMENT_UNKNOWN);
            site
        }
        (Some(_), Some(of)) if site.is_none() => Some(of),
        (Some(_), Some(of)) => {
            if site_found.is_some() && site != Some(of) {
                invalid.add(FtpField::Environment, ENVIRONMENT_ELSEWHERE);
            }
            site
        }
    };
    Ok(Placement { site, environment })
}

/// Reads the fields (given or kept) into an FTP user's fields and, when one was given (or is
/// required, on create), a new password.
async fn validate(
    db: &PgPool,
    customer: CustomerId,
    input: &UserInput,
    current: Option<&FtpUser>,
) -> Result<(Fields, Option<NewPassword>), FtpError> {
    let shown = input.shown(current);
    let mut invalid = Invalid::default();
    let name = invalid.check(FtpField::Name, shown.name.parse::<FtpName>());
    let username = invalid.check(FtpField::Username, shown.username.parse::<FtpUsername>());
    let password = match input.password.as_deref().filter(|p| !p.is_empty()) {
        Some(typed) => invalid.check(FtpField::Password, NewPassword::parse(typed)),
        None if current.is_some() => None,
        None => {
            invalid.add(FtpField::Password, PASSWORD_NEEDED);
            None
        }
    };
    let relative_root = invalid.check(FtpField::RelativeRoot, shown.relative_root.parse::<RelativeRoot>());
    let kind = FtpType::parse(&shown.kind);
    if kind.is_none() {
        invalid.add(FtpField::Type, "Choose read-write or read-only.");
    }
    let site = optional_id::<SiteId>(&mut invalid, FtpField::Site, &shown.site, SITE_UNKNOWN);
    let environment = optional_id::<EnvironmentId>(
        &mut invalid,
        FtpField::Environment,
        &shown.environment,
        ENVIRONMENT_UNKNOWN,
    );
    let mut placement = None;
    if let (Some(site), Some(environment)) = (site, environment) {
        placement = Some(place_into(db, customer, site, environment, &mut invalid).await?);
    }
    if let Some(username) = &username
        && model::username_taken(db, username, current.map(|u| u.id)).await?
    {
        invalid.add(FtpField::Username, USERNAME_TAKEN);
    }
    match (name, username, relative_root, kind, placement) {
        (Some(name), Some(username), Some(relative_root), Some(kind), Some(placement)) if invalid.is_empty() => Ok((
            Fields {
                name,
                username,
                relative_root,
                kind,
                placement,
            },
            password,
        )),
        _ => Err(FtpError::Invalid(invalid)),
    }
}

/// A description for Activity: never the password.
fn describe(fields: &Fields) -> String {
    let root = if fields.relative_root.is_home() {
        "home".to_owned()
    } else {
        format!("/{}", fields.relative_root)
    };
    let mut detail = format!("{} ({}, {root}", fields.username.as_str(), fields.kind);
    if let Some(site) = fields.placement.site {
        detail.push_str(&format!(", site {site}"));
    }
    if let Some(env) = fields.placement.environment {
        detail.push_str(&format!(", environment {env}"));
    }
    detail.push(')');
    detail
}

/// What a change changed, by field name, for the message and Activity.
fn changes(current: &FtpUser, new: &Fields, password: bool) -> Vec<&'static str> {
    let mut changed = Vec::new();
    if current.name != new.name.as_str() {
        changed.push("name");
    }
    if current.username != new.username.as_str() {
        changed.push("username");
    }
    if password {
        changed.push("password");
    }
    if current.relative_root != new.relative_root.as_str() {
        changed.push("folder");
    }
    if current.kind != new.kind {
        changed.push("type");
    }
    if current.site_id != new.placement.site || current.environment_id != new.placement.environment {
        changed.push("site");
    }
    changed
}

/// A write's failure: someone took the username between the check and the write (the same
/// field error as the check's), or a database error.
pub fn write_error(err: sqlx::Error) -> FtpError {
    if db::violated(&err) == Some(model::USERNAME_KEY) {
        return FtpError::Invalid(Invalid::one(FtpField::Username, USERNAME_TAKEN));
    }
    FtpError::Db(err)
}

/// An FTP user as an operation left it.
#[derive(Debug, Clone)]
pub struct Saved {
    pub id: FtpUserId,
    pub username: String,
    /// Whether anything changed (a change to the same fields saves nothing).
    pub changed: bool,
}

/// Creates an FTP user of `who`'s customer (createFTPUser, the create form). `once`: the
/// form's one-time token; sent before, nothing is created ([`FtpError::Repeated`]).
pub async fn create_user(
    db: &PgPool,
    hasher: &Hasher,
    who: &Who,
    input: UserInput,
    once: Option<FormToken>,
) -> Result<Saved, FtpError> {
    let (fields, password) = match validate(db, who.customer, &input, None).await {
        // The username taken by the same form sent before: say that, not "taken".
        Err(FtpError::Invalid(_)) if once::used(db, who.customer, once).await? => return Err(FtpError::Repeated),
        checked => checked?,
    };
    let password = password.ok_or_else(|| FtpError::Invalid(Invalid::one(FtpField::Password, PASSWORD_NEEDED)))?;
    let hash = hasher.hash(password.as_str()).await.map_err(FtpError::Internal)?;
    let mut tx = Tx::begin(db).await?;
    if !once::first_use_of(&mut *tx, who.customer, once).await? {
        return Err(FtpError::Repeated);
    }
    let id = match model::insert(&mut *tx, who.customer, &fields, &hash).await {
        Ok(id) => id,
        Err(err) => return Err(write_error(err)),
    };
    audit::record(&mut *tx, who, "ftp_user_created", &describe(&fields)).await?;
    tx.commit().await?;
    Ok(Saved {
        id,
        username: fields.username.as_str().to_owned(),
        changed: true,
    })
}

/// Changes an FTP user of `who`'s customer (updateFTPUser, the edit form): a field left out
/// keeps its value. Only while it is still as read here: a change from an older form (its
/// `version`), or one racing another, must not silently undo that other one.
pub async fn update_user(
    db: &PgPool,
    hasher: &Hasher,
    who: &Who,
    id: FtpUserId,
    input: UserInput,
) -> Result<Saved, FtpError> {
    let current = model::user(db, who.customer, id).await?.ok_or(FtpError::NotFound)?;
    if let Some(version) = input.version.as_deref()
        && version != current.updated_at.unix_timestamp_nanos().to_string()
    {
        return Err(FtpError::Changed);
    }
    let (fields, password) = validate(db, who.customer, &input, Some(&current)).await?;
    let changed = changes(&current, &fields, password.is_some());
    if changed.is_empty() {
        return Ok(Saved {
            id,
            username: current.username,
            changed: false,
        });
    }
    let hash = match &password {
        Some(password) => Some(hasher.hash(password.as_str()).await.map_err(FtpError::Internal)?),
        None => None,
    };
    let mut tx = Tx::begin(db).await?;
    match model::update(&mut *tx, who.customer, &current, &fields, hash.as_deref()).await {
        Ok(true) => {}
        Ok(false) => {
            return Err(match model::user(&mut *tx, who.customer, id).await? {
                Some(_) => FtpError::Changed,
                None => FtpError::NotFound,
            });
        }
        Err(err) => return Err(write_error(err)),
    }
    let detail = format!(
        "{}: {} changed; now {}",
        current.username,
        changed.join(", "),
        describe(&fields)
    );
    audit::record(&mut *tx, who, "ftp_user_changed", &detail).await?;
    tx.commit().await?;
    Ok(Saved {
        id,
        username: fields.username.as_str().to_owned(),
        changed: true,
    })
}

/// Deletes an FTP user of `who`'s customer (destroyFTPUser); its username.
pub async fn delete_user(db: &PgPool, who: &Who, id: FtpUserId) -> Result<String, FtpError> {
    let mut tx = Tx::begin(db).await?;
    let username = model::delete(&mut *tx, who.customer, id)
        .await?
        .ok_or(FtpError::NotFound)?;
    audit::record(&mut *tx, who, "ftp_user_deleted", &username).await?;
    tx.commit().await?;
    Ok(username)
}

/// How an FTP user connects, as its page shows it (and the site page may).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub host: String,
    pub port: u16,
    pub tls: FtpTls,
    pub username: String,
    /// What the user lands in, in words: the site and environment (or the account's own
    /// folder) and the folder below it.
    pub folder: String,
}

impl Connection {
    /// The TLS to use, in words.
    pub fn tls_text(&self) -> &'static str {
        match self.tls {
            FtpTls::Off => "None: plain FTP (this server offers no TLS)",
            FtpTls::Offered => "Explicit FTPS (AUTH TLS): use it; plain FTP also works",
            FtpTls::Required => "Explicit FTPS (AUTH TLS) only: plain logins are refused",
        }
    }

    /// `ftp://user@host:port/` (or `ftpes://` with TLS), for clients that take a URL.
    pub fn url(&self) -> String {
        let scheme = if self.tls == FtpTls::Off { "ftp" } else { "ftpes" };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{scheme}://{}@{host}:{}/", self.username, self.port)
    }
}

/// How `user` connects to the FTP service at `access` (`None` when Berth serves no FTP).
/// `home_environment` is where a user placed on a site alone lands
/// ([`model::site_home_environment`]).
pub fn connection(access: Option<&FtpAccess>, user: &FtpUser, home_environment: Option<&str>) -> Option<Connection> {
    let access = access?;
    let place = match (&user.site_name, &user.environment_name, home_environment) {
        (Some(site), Some(environment), _) => format!("{site} › {environment}"),
        (Some(site), None, Some(environment)) => format!("{site} › {environment}"),
        (Some(site), None, None) => format!("{site} (it has no environment yet)"),
        (None, _, _) => "your account's own folder (no site serves it)".to_owned(),
    };
    let folder = if user.relative_root.is_empty() {
        place
    } else {
        format!("{place} › {}", user.relative_root)
    };
    Some(Connection {
        host: access.host.clone(),
        port: access.port,
        tls: access.tls,
        username: user.username.clone(),
        folder,
    })
}
