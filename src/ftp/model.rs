//! FTP users: their validated fields, where they may be placed (a site of the customer's
//! and one of its environments), and the queries. Every query of an FTP user filters by its
//! customer; usernames are unique on the whole platform, without regard to case.

use std::net::IpAddr;

use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor};
use time::OffsetDateTime;

use crate::audit::record_parts;
use crate::ftp::root::RelativeRoot;
use crate::identity::CustomerId;
use crate::identity::username;
use crate::sites::model::{EnvironmentId, SiteId};
use crate::validation::FieldErrors;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, sqlx::Type)]
#[sqlx(transparent)]
pub struct FtpUserId(pub i64);

impl std::str::FromStr for FtpUserId {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(FtpUserId)
    }
}

impl std::fmt::Display for FtpUserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// What the customer calls an FTP user: 1 to 64 characters after trimming, on one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FtpName(String);

impl std::str::FromStr for FtpName {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        crate::validation::one_line(raw, 64, "Give the FTP user a name, such as \"web designer\".").map(Self)
    }
}

impl FtpName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An FTP login: 3 to 32 of `a-z 0-9 . _ -`, starting with a letter, typed in ASCII.
/// Capitals are taken as their small letters, so `Alice` and `alice` are one name: the
/// canonical form every username takes ([`crate::identity::UsernameKey`]), stored and
/// compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FtpUsername(String);

impl std::str::FromStr for FtpUsername {
    type Err = &'static str;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let bad = "A username is 3 to 32 letters (a–z), digits, dots, dashes or underscores, starting with a letter.";
        let s = username::new_ascii(raw).ok_or(bad)?.into_string();
        let ok_chars = s
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
        if !(3..=32).contains(&s.len()) || !ok_chars || !s.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err(bad);
        }
        Ok(Self(s))
    }
}

impl FtpUsername {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What an FTP user may do in its folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FtpType {
    ReadWrite,
    ReadOnly,
}

impl FtpType {
    pub const ALL: [FtpType; 2] = [Self::ReadWrite, Self::ReadOnly];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReadWrite => "read-write",
            Self::ReadOnly => "read-only",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == raw.trim())
    }
}

/// Everything an FTP user is, validated, but its password.
#[derive(Debug, Clone)]
pub struct Fields {
    pub name: FtpName,
    pub username: FtpUsername,
    pub relative_root: RelativeRoot,
    pub kind: FtpType,
    pub placement: Placement,
}

/// Where an FTP user's home is: the customer's, a site's, or an environment of that site.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Placement {
    pub site: Option<SiteId>,
    pub environment: Option<EnvironmentId>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FtpUser {
    pub id: FtpUserId,
    pub name: String,
    pub username: String,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub relative_root: String,
    pub site_id: Option<SiteId>,
    pub site_name: Option<String>,
    pub environment_id: Option<EnvironmentId>,
    pub environment_name: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl FtpUser {
    /// Where its home is, in words.
    pub fn placement(&self) -> String {
        match (&self.site_name, &self.environment_name) {
            (Some(site), Some(env)) => format!("{site} / {env}"),
            (Some(site), None) => site.clone(),
            _ => "account home".to_owned(),
        }
    }

    /// Its folder below that home.
    pub fn root(&self) -> String {
        format!("/{}", self.relative_root)
    }
}

const USER_COLUMNS: &str = "f.id, f.name, f.username, f.type, f.relative_root, f.site_id, s.name as site_name,
     f.environment_id, e.name as environment_name, f.created_at, f.updated_at";
const USER_JOINS: &str = "left join sites s on s.id = f.site_id left join environments e on e.id = f.environment_id";

/// The list's filters (listFTPUsers' optional site and environment).
#[derive(Debug, Clone, Copy, Default)]
pub struct Filter {
    pub site: Option<SiteId>,
    pub environment: Option<EnvironmentId>,
}

/// `limit` of the customer's FTP users (on the filter's site and environment) after
/// `offset`, by username; and how many match in all.
pub async fn list(
    db: &sqlx::PgPool,
    customer: CustomerId,
    filter: Filter,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<FtpUser>, i64)> {
    // One statement per filter (not `$2 is null or …`), so PostgreSQL keeps one plan for
    // each; the page of users is taken first (walking `ftp_users_customer` by username) and
    // only its rows are joined with their sites and environments.
    let mut conditions = String::new();
    let mut n = 1;
    for (value, column) in [
        (filter.site.map(|s| s.0), "site_id"),
        (filter.environment.map(|e| e.0), "environment_id"),
    ] {
        if value.is_some() {
            n += 1;
            conditions.push_str(&format!(" and {column} = ${n}"));
        }
    }
    let users_sql = format!(
        "select {USER_COLUMNS}
         from (select * from ftp_users where customer_id = $1{conditions}
               order by username limit ${} offset ${}) f {USER_JOINS}
         order by f.username",
        n + 1,
        n + 2
    );
    let count_sql = format!("select count(*) from ftp_users where customer_id = $1{conditions}");
    let mut users = sqlx::query_as(&users_sql).bind(customer);
    let mut total = sqlx::query_scalar(&count_sql).bind(customer);
    for value in [filter.site.map(|s| s.0), filter.environment.map(|e| e.0)]
        .into_iter()
        .flatten()
    {
        users = users.bind(value);
        total = total.bind(value);
    }
    let users = users.bind(limit).bind(offset).fetch_all(db).await?;
    Ok((users, total.fetch_one(db).await?))
}

/// One FTP user of the customer's.
pub async fn user(db: impl PgExecutor<'_>, customer: CustomerId, id: FtpUserId) -> sqlx::Result<Option<FtpUser>> {
    sqlx::query_as(&format!(
        "select {USER_COLUMNS} from ftp_users f {USER_JOINS} where f.customer_id = $1 and f.id = $2"
    ))
    .bind(customer)
    .bind(id)
    .fetch_optional(db)
    .await
}

/// An environment a form may offer.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct EnvironmentChoice {
    pub id: EnvironmentId,
    pub name: String,
}

/// A site a form may offer, with its environments.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SiteChoice {
    pub id: SiteId,
    pub name: String,
    pub hostname: String,
    pub environments: Json<Vec<EnvironmentChoice>>,
}

/// The customer's sites by name, each with its environments by name.
pub async fn choices(db: &sqlx::PgPool, customer: CustomerId) -> sqlx::Result<Vec<SiteChoice>> {
    #[derive(sqlx::FromRow)]
    struct Site {
        id: SiteId,
        name: String,
        hostname: String,
    }
    let sites: Vec<Site> =
        sqlx::query_as("select id, name, hostname from sites where customer_id = $1 order by name, id")
            .bind(customer)
            .fetch_all(db)
            .await?;
    let environments: Vec<(SiteId, EnvironmentId, String)> =
        sqlx::query_as("select site_id, id, name from environments where customer_id = $1 order by site_id, name, id")
            .bind(customer)
            .fetch_all(db)
            .await?;
    Ok(sites
        .into_iter()
        .map(|site| SiteChoice {
            environments: Json(
                environments
                    .iter()
                    .filter(|(of, _, _)| *of == site.id)
                    .map(|(_, id, name)| EnvironmentChoice {
                        id: *id,
                        name: name.clone(),
                    })
                    .collect(),
            ),
            id: site.id,
            name: site.name,
            hostname: site.hostname,
        })
        .collect())
}

pub const SITE_UNKNOWN: &str = "Choose one of your sites, or none.";
pub const ENVIRONMENT_UNKNOWN: &str = "Choose one of your environments, or none.";
pub const ENVIRONMENT_ELSEWHERE: &str = "That environment is not one of the chosen site's.";
pub const USERNAME_TAKEN: &str = "This username is taken; choose another.";

/// Checks that the site is the customer's and the environment is theirs and of that site;
/// an environment without a site places the user on the environment's site. Another
/// customer's site or environment is told exactly as one that does not exist.
pub async fn place(
    db: impl PgExecutor<'_>,
    customer: CustomerId,
    site: Option<SiteId>,
    environment: Option<EnvironmentId>,
) -> sqlx::Result<Result<Placement, FieldErrors>> {
    let (site_found, environment_site): (Option<SiteId>, Option<SiteId>) = sqlx::query_as(
        "select (select id from sites where customer_id = $1 and id = $2),
                (select site_id from environments where customer_id = $1 and id = $3)",
    )
    .bind(customer)
    .bind(site)
    .bind(environment)
    .fetch_one(db)
    .await?;
    let mut errors = FieldErrors::default();
    if site.is_some() && site_found.is_none() {
        errors.add("site_id", SITE_UNKNOWN);
    }
    let site = match (environment, environment_site) {
        (None, _) => site,
        (Some(_), None) => {
            errors.add("environment_id", ENVIRONMENT_UNKNOWN);
            site
        }
        (Some(_), Some(of)) if site.is_none() => Some(of),
        (Some(_), Some(of)) => {
            if site_found.is_some() && site != Some(of) {
                errors.add("environment_id", ENVIRONMENT_ELSEWHERE);
            }
            site
        }
    };
    Ok(errors.into_result().map(|()| Placement { site, environment }))
}

/// Whether any customer on the platform has this FTP username (other than the FTP user
/// `except`). The answer never says whose it is.
pub async fn username_taken(
    db: impl PgExecutor<'_>,
    username: &FtpUsername,
    except: Option<FtpUserId>,
) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "select exists(select 1 from ftp_users where username = $1
                       and ($2::bigint is null or id <> $2))",
    )
    .bind(username.as_str())
    .bind(except)
    .fetch_one(db)
    .await
}

/// Why a change was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    NotFound,
    /// Someone took the username between the check and the write.
    UsernameTaken,
    /// The user was changed (in another tab, or by an API call) after `current` was read.
    Changed,
}

/// What an edit says when the user changed after its form was shown.
pub const CHANGED_MEANWHILE: &str = "This FTP user was changed in another tab or device since you opened it; nothing was saved. Reload it and make your change again.";

fn username_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(e)
        if e.is_unique_violation() && e.constraint() == Some("ftp_users_username_key"))
}

/// A description for Activity: never the password.
fn describe(fields: &Fields) -> String {
    let root = if fields.relative_root.is_home() {
        "home".to_owned()
    } else {
        format!("/{}", fields.relative_root)
    };
    let mut detail = format!("{} ({}, {root}", fields.username.as_str(), fields.kind.as_str());
    if let Some(site) = fields.placement.site {
        detail.push_str(&format!(", site {site}"));
    }
    if let Some(env) = fields.placement.environment {
        detail.push_str(&format!(", environment {env}"));
    }
    detail.push(')');
    detail
}

/// Creates an FTP user with an already-hashed password.
pub async fn create(
    tx: &mut PgConnection,
    customer: CustomerId,
    actor: &str,
    fields: &Fields,
    password_hash: &str,
    address: Option<IpAddr>,
) -> sqlx::Result<Result<FtpUserId, Refused>> {
    let inserted = sqlx::query_scalar(
        "insert into ftp_users (customer_id, name, username, password_hash, relative_root, type, site_id, environment_id)
         values ($1, $2, $3, $4, $5, $6, $7, $8) returning id",
    )
    .bind(customer)
    .bind(fields.name.as_str())
    .bind(fields.username.as_str())
    .bind(password_hash)
    .bind(fields.relative_root.as_str())
    .bind(fields.kind.as_str())
    .bind(fields.placement.site)
    .bind(fields.placement.environment)
    .fetch_one(&mut *tx)
    .await;
    let id = match inserted {
        Ok(id) => id,
        Err(err) if username_violation(&err) => return Ok(Err(Refused::UsernameTaken)),
        Err(err) => return Err(err),
    };
    record_parts(
        &mut *tx,
        customer,
        actor,
        "ftp_user_created",
        &describe(fields),
        address,
    )
    .await?;
    Ok(Ok(id))
}

/// What an update changed, by field name, for the message and Activity.
pub fn changes(current: &FtpUser, new: &Fields, password: bool) -> Vec<&'static str> {
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
    if current.kind != new.kind.as_str() {
        changed.push("type");
    }
    if current.site_id != new.placement.site || current.environment_id != new.placement.environment {
        changed.push("site");
    }
    changed
}

/// Replaces an FTP user's fields (updateFTPUser); a `password_hash` of `None` keeps its
/// password. Only while it is still as `current` shows it (same `updated_at`): an edit
/// from an older form must not silently undo another one.
pub async fn update(
    tx: &mut PgConnection,
    customer: CustomerId,
    actor: &str,
    current: &FtpUser,
    fields: &Fields,
    password_hash: Option<&str>,
    address: Option<IpAddr>,
) -> sqlx::Result<Result<(), Refused>> {
    let updated = sqlx::query(
        "update ftp_users set name = $3, username = $4, password_hash = coalesce($5, password_hash),
             relative_root = $6, type = $7, site_id = $8, environment_id = $9,
             updated_at = greatest(now(), updated_at + interval '1 microsecond')
         where customer_id = $1 and id = $2 and updated_at = $10",
    )
    .bind(customer)
    .bind(current.id)
    .bind(fields.name.as_str())
    .bind(fields.username.as_str())
    .bind(password_hash)
    .bind(fields.relative_root.as_str())
    .bind(fields.kind.as_str())
    .bind(fields.placement.site)
    .bind(fields.placement.environment)
    .bind(current.updated_at)
    .execute(&mut *tx)
    .await;
    match updated {
        Ok(done) if done.rows_affected() == 0 => {
            return Ok(Err(match user(&mut *tx, customer, current.id).await? {
                Some(_) => Refused::Changed,
                None => Refused::NotFound,
            }));
        }
        Ok(_) => {}
        Err(err) if username_violation(&err) => return Ok(Err(Refused::UsernameTaken)),
        Err(err) => return Err(err),
    }
    let changed = changes(current, fields, password_hash.is_some()).join(", ");
    let detail = format!("{}: {changed} changed; now {}", current.username, describe(fields));
    record_parts(&mut *tx, customer, actor, "ftp_user_changed", &detail, address).await?;
    Ok(Ok(()))
}

/// Deletes an FTP user of the customer's (destroyFTPUser); answers its username.
pub async fn delete(
    tx: &mut PgConnection,
    customer: CustomerId,
    actor: &str,
    id: FtpUserId,
    address: Option<IpAddr>,
) -> sqlx::Result<Result<String, Refused>> {
    let username: Option<String> =
        sqlx::query_scalar("delete from ftp_users where customer_id = $1 and id = $2 returning username")
            .bind(customer)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(username) = username else {
        return Ok(Err(Refused::NotFound));
    };
    record_parts(&mut *tx, customer, actor, "ftp_user_deleted", &username, address).await?;
    Ok(Ok(username))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        for (raw, stored) in [
            ("abc", "abc"),
            (" Web.Designer_2-x ", "web.designer_2-x"),
            ("a23456789012345678901234567890ab", "a23456789012345678901234567890ab"),
        ] {
            assert_eq!(raw.parse::<FtpUsername>().unwrap().as_str(), stored);
        }
        for bad in [
            "",
            "ab",
            "1abc",
            ".abc",
            "-abc",
            "_abc",
            "ab c",
            "abc!",
            "abç",
            "\u{212a}ate",
            "İris",
            "a234567890123456789012345678901ab",
        ] {
            assert!(bad.parse::<FtpUsername>().is_err(), "{bad}");
        }
    }

    #[test]
    fn names_and_types() {
        assert_eq!(" designer ".parse::<FtpName>().unwrap().as_str(), "designer");
        assert!("".parse::<FtpName>().is_err());
        assert!("  ".parse::<FtpName>().is_err());
        assert!("x".repeat(65).parse::<FtpName>().is_err());
        assert!("é".repeat(64).parse::<FtpName>().is_ok());
        assert!("a\nb".parse::<FtpName>().is_err());
        assert_eq!(FtpType::parse("read-only"), Some(FtpType::ReadOnly));
        assert_eq!(FtpType::parse("read-write"), Some(FtpType::ReadWrite));
        assert_eq!(FtpType::parse("admin"), None);
    }
}
