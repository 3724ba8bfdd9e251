//! FTP users: their validated fields and the queries (the decisions are in `ops`). Every
//! query of an FTP user filters by its customer; usernames are unique on the whole
//! platform, without regard to case.

use sqlx::PgExecutor;
use sqlx::types::Json;
use time::OffsetDateTime;

use crate::ftp::root::RelativeRoot;
use crate::identity::CustomerId;
use crate::identity::username;
use crate::sites::model::{EnvironmentId, SiteId};

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

/// What an FTP user may do in its folder (`ftp_users.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, sqlx::Type)]
#[serde(rename_all = "kebab-case")]
#[sqlx(type_name = "text", rename_all = "kebab-case")]
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

impl std::fmt::Display for FtpType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
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

#[derive(Debug, Clone)]
pub struct FtpUser {
    pub id: FtpUserId,
    pub name: String,
    pub username: String,
    pub kind: FtpType,
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
    // The page of users is taken first (walking `ftp_users_customer` by username) and only
    // its rows are joined with their sites and environments.
    let users = sqlx::query_as!(
        FtpUser,
        r#"select f.id as "id: FtpUserId", f.name, f.username, f.type as "kind: FtpType", f.relative_root,
                  f.site_id as "site_id: SiteId", s.name as "site_name?",
                  f.environment_id as "environment_id: EnvironmentId", e.name as "environment_name?",
                  f.created_at, f.updated_at
           from (select * from ftp_users where customer_id = $1
                   and ($2::bigint is null or site_id = $2) and ($3::bigint is null or environment_id = $3)
                 order by username limit $4 offset $5) f
           left join sites s on s.id = f.site_id left join environments e on e.id = f.environment_id
           order by f.username"#,
        customer as CustomerId,
        filter.site as Option<SiteId>,
        filter.environment as Option<EnvironmentId>,
        limit,
        offset,
    )
    .fetch_all(db)
    .await?;
    let total = sqlx::query_scalar!(
        r#"select count(*) as "count!" from ftp_users where customer_id = $1
           and ($2::bigint is null or site_id = $2) and ($3::bigint is null or environment_id = $3)"#,
        customer as CustomerId,
        filter.site as Option<SiteId>,
        filter.environment as Option<EnvironmentId>,
    )
    .fetch_one(db)
    .await?;
    Ok((users, total))
}

/// One FTP user of the customer's.
pub async fn user(db: impl PgExecutor<'_>, customer: CustomerId, id: FtpUserId) -> sqlx::Result<Option<FtpUser>> {
    sqlx::query_as!(
        FtpUser,
        r#"select f.id as "id: FtpUserId", f.name, f.username, f.type as "kind: FtpType", f.relative_root,
                  f.site_id as "site_id: SiteId", s.name as "site_name?",
                  f.environment_id as "environment_id: EnvironmentId", e.name as "environment_name?",
                  f.created_at, f.updated_at
           from ftp_users f
           left join sites s on s.id = f.site_id left join environments e on e.id = f.environment_id
           where f.customer_id = $1 and f.id = $2"#,
        customer as CustomerId,
        id as FtpUserId,
    )
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
    let sites = sqlx::query!(
        r#"select id as "id: SiteId", name, hostname from sites where customer_id = $1 order by name, id"#,
        customer as CustomerId,
    )
    .fetch_all(db)
    .await?;
    let environments = sqlx::query!(
        r#"select site_id as "site_id: SiteId", id as "id: EnvironmentId", name from environments
           where customer_id = $1 order by site_id, name, id"#,
        customer as CustomerId,
    )
    .fetch_all(db)
    .await?;
    Ok(sites
        .into_iter()
        .map(|site| SiteChoice {
            environments: Json(
                environments
                    .iter()
                    .filter(|e| e.site_id == site.id)
                    .map(|e| EnvironmentChoice {
                        id: e.id,
                        name: e.name.clone(),
                    })
                    .collect(),
            ),
            id: site.id,
            name: site.name,
            hostname: site.hostname,
        })
        .collect())
}

/// Whether `site` is the customer's, and the site of the customer's environment
/// `environment` (either `None` when not asked or not the customer's).
pub async fn placement_facts(
    db: impl PgExecutor<'_>,
    customer: CustomerId,
    site: Option<SiteId>,
    environment: Option<EnvironmentId>,
) -> sqlx::Result<(Option<SiteId>, Option<SiteId>)> {
    let row = sqlx::query!(
        r#"select (select id from sites where customer_id = $1 and id = $2) as "site: SiteId",
                  (select site_id from environments where customer_id = $1 and id = $3) as "environment_site: SiteId""#,
        customer as CustomerId,
        site as Option<SiteId>,
        environment as Option<EnvironmentId>,
    )
    .fetch_one(db)
    .await?;
    Ok((row.site, row.environment_site))
}

/// Whether any customer on the platform has this FTP username (other than the FTP user
/// `except`). The answer never says whose it is.
pub async fn username_taken(
    db: impl PgExecutor<'_>,
    username: &FtpUsername,
    except: Option<FtpUserId>,
) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists(select 1 from ftp_users where username = $1
                         and ($2::bigint is null or id <> $2)) as "taken!""#,
        username.as_str(),
        except as Option<FtpUserId>,
    )
    .fetch_one(db)
    .await
}

/// The unique index that keeps a username to one FTP user on the platform.
pub const USERNAME_KEY: &str = "ftp_users_username_key";

/// Creates an FTP user with an already-hashed password.
pub async fn insert(
    db: impl PgExecutor<'_>,
    customer: CustomerId,
    fields: &Fields,
    password_hash: &str,
) -> sqlx::Result<FtpUserId> {
    sqlx::query_scalar!(
        r#"insert into ftp_users (customer_id, name, username, password_hash, relative_root, type, site_id, environment_id)
           values ($1, $2, $3, $4, $5, $6, $7, $8) returning id as "id: FtpUserId""#,
        customer as CustomerId,
        fields.name.as_str(),
        fields.username.as_str(),
        password_hash,
        fields.relative_root.as_str(),
        fields.kind as FtpType,
        fields.placement.site as Option<SiteId>,
        fields.placement.environment as Option<EnvironmentId>,
    )
    .fetch_one(db)
    .await
}

/// Replaces an FTP user's fields; a `password_hash` of `None` keeps its password. Only while
/// it is still as `current` shows it (same `updated_at`); `false` when it is not (changed
/// since, or gone).
pub async fn update(
    db: impl PgExecutor<'_>,
    customer: CustomerId,
    current: &FtpUser,
    fields: &Fields,
    password_hash: Option<&str>,
) -> sqlx::Result<bool> {
    let updated = sqlx::query!(
        "update ftp_users set name = $3, username = $4, password_hash = coalesce($5, password_hash),
             relative_root = $6, type = $7, site_id = $8, environment_id = $9,
             updated_at = greatest(now(), updated_at + interval '1 microsecond')
         where customer_id = $1 and id = $2 and updated_at = $10",
        customer as CustomerId,
        current.id as FtpUserId,
        fields.name.as_str(),
        fields.username.as_str(),
        password_hash,
        fields.relative_root.as_str(),
        fields.kind as FtpType,
        fields.placement.site as Option<SiteId>,
        fields.placement.environment as Option<EnvironmentId>,
        current.updated_at,
    )
    .execute(db)
    .await?;
    Ok(updated.rows_affected() > 0)
}

/// Deletes an FTP user of the customer's; its username, if there was one.
pub async fn delete(db: impl PgExecutor<'_>, customer: CustomerId, id: FtpUserId) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!(
        "delete from ftp_users where customer_id = $1 and id = $2 returning username",
        customer as CustomerId,
        id as FtpUserId,
    )
    .fetch_optional(db)
    .await
}

/// What the FTP service reads of a user at login: everything it decides by, and where its
/// files are (the environment's name, or for a user placed on a site alone the site's
/// production environment: the one named `production`, else the oldest, as the container
/// serves it).
#[derive(Debug, Clone)]
pub struct FtpLogin {
    pub id: FtpUserId,
    pub customer_id: CustomerId,
    pub username: String,
    pub password_hash: String,
    pub kind: FtpType,
    pub relative_root: String,
    pub site_id: Option<SiteId>,
    pub environment_id: Option<EnvironmentId>,
    /// The customer is not cancelled.
    pub active: bool,
    pub hostname: Option<String>,
    pub environment_name: Option<String>,
}

/// The FTP user whose username is `username` (stored in its canonical form), with no regard
/// to its customer: a login names no customer.
pub async fn login(db: impl PgExecutor<'_>, username: &str) -> sqlx::Result<Option<FtpLogin>> {
    sqlx::query_as!(
        FtpLogin,
        r#"select f.id as "id: FtpUserId", f.customer_id as "customer_id: CustomerId", f.username,
                  f.password_hash, f.type as "kind: FtpType", f.relative_root,
                  f.site_id as "site_id: SiteId", f.environment_id as "environment_id: EnvironmentId",
                  c.status <> 'cancelled' as "active!", s.hostname as "hostname?",
                  coalesce(e.name, (select name from environments
                                    where customer_id = f.customer_id and site_id = f.site_id
                                    order by name = 'production' desc, id limit 1)) as "environment_name?"
           from ftp_users f
           join customers c on c.id = f.customer_id
           left join sites s on s.customer_id = f.customer_id and s.id = f.site_id
           left join environments e on e.customer_id = f.customer_id and e.id = f.environment_id
           where f.username = $1"#,
        username,
    )
    .fetch_optional(db)
    .await
}

/// Whether the FTP user a session logged in as is still as it was then: not deleted, its
/// customer not cancelled, and its password, type, folder and placement unchanged.
pub async fn login_still_holds(db: impl PgExecutor<'_>, was: &FtpLogin) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists(select 1 from ftp_users f join customers c on c.id = f.customer_id
                         where f.id = $1 and f.customer_id = $2 and c.status <> 'cancelled'
                           and f.password_hash = $3 and f.type = $4 and f.relative_root = $5
                           and f.site_id is not distinct from $6
                           and f.environment_id is not distinct from $7) as "holds!""#,
        was.id as FtpUserId,
        was.customer_id as CustomerId,
        was.password_hash,
        was.kind as FtpType,
        was.relative_root,
        was.site_id as Option<SiteId>,
        was.environment_id as Option<EnvironmentId>,
    )
    .fetch_one(db)
    .await
}

/// Remembers that the throttle account `account` logged in from the address key `address`
/// at `now`; whether the address was new to it (never seen, or not within `known_days`).
/// Forgets the account's addresses older than that.
pub async fn remember_address(
    db: &sqlx::PgPool,
    account: &str,
    address: &str,
    now: OffsetDateTime,
    known_days: i32,
) -> sqlx::Result<bool> {
    let before = sqlx::query_scalar!(
        r#"with before as (select last_success from signin_known
                           where account = $1 and kind = 'address' and value = $2)
           insert into signin_known (account, kind, value, last_success) values ($1, 'address', $2, $3)
           on conflict (account, kind, value) do update set last_success = excluded.last_success
           returning (select last_success from before) as "before?""#,
        account,
        address,
        now,
    )
    .fetch_one(db)
    .await?;
    sqlx::query!(
        "delete from signin_known where account = $1 and last_success < $2::timestamptz - make_interval(days => $3)",
        account,
        now,
        known_days,
    )
    .execute(db)
    .await?;
    Ok(before.is_none_or(|at| at < now - time::Duration::days(known_days.into())))
}

/// The environment an FTP user placed on `site` alone lands in: the one named
/// `production`, else the oldest.
pub async fn site_home_environment(
    db: impl PgExecutor<'_>,
    customer: CustomerId,
    site: SiteId,
) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!(
        "select name from environments where customer_id = $1 and site_id = $2
         order by name = 'production' desc, id limit 1",
        customer as CustomerId,
        site as SiteId,
    )
    .fetch_optional(db)
    .await
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
