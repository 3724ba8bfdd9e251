//! The wizard's draft, kept server-side per customer (so it survives sign-out and another
//! device), and checking each step of it into a site `Plan`.

use serde::{Deserialize, Serialize};
use sqlx::PgExecutor;
use sqlx::types::Json;

use crate::identity::CustomerId;

pub const MAX_ENVIRONMENTS: usize = 10;
pub const MAX_ALIASES: usize = 20;

/// The wizard's steps, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    Site,
    Container,
    Environments,
}

impl Step {
    pub const ALL: [Step; 3] = [Step::Site, Step::Container, Step::Environments];

    /// The step's name in URLs and the step indicator.
    pub fn key(self) -> &'static str {
        match self {
            Step::Site => "site",
            Step::Container => "container",
            Step::Environments => "environments",
        }
    }

    pub fn from_key(key: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|s| s.key() == key)
    }

    pub fn path(self) -> &'static str {
        match self {
            Step::Site => "/wizard/site",
            Step::Container => "/wizard/container",
            Step::Environments => "/wizard/environments",
        }
    }
}

/// What the customer typed, as typed (so going back and forth keeps it), and which steps
/// passed their checks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Draft {
    pub site_name: String,
    pub site_hostname: String,
    pub container_name: String,
    pub container_type: String,
    pub container_os_id: String,
    pub container_size: String,
    pub container_disk_space: String,
    pub environment_names: Vec<String>,
    pub alias_names: Vec<String>,
    pub create_dns: bool,
    pub done: Vec<Step>,
}

impl Default for Draft {
    fn default() -> Self {
        Self {
            site_name: String::new(),
            site_hostname: String::new(),
            container_name: String::new(),
            container_type: String::new(),
            container_os_id: String::new(),
            container_size: String::new(),
            container_disk_space: String::new(),
            environment_names: vec!["production".to_owned()],
            alias_names: Vec::new(),
            create_dns: true,
            done: Vec::new(),
        }
    }
}

impl Draft {
    /// A step's fields as (label, value), to compare and to tell what another tab changed.
    pub fn step_values(&self, step: Step) -> Vec<(&'static str, String)> {
        match step {
            Step::Site => vec![
                ("Site name", self.site_name.clone()),
                ("Hostname", self.site_hostname.clone()),
            ],
            Step::Container => vec![
                ("Container name", self.container_name.clone()),
                ("Type", self.container_type.clone()),
                ("Operating system", self.container_os_id.clone()),
                ("Size", self.container_size.clone()),
                ("Disk space", self.container_disk_space.clone()),
            ],
            Step::Environments => vec![
                ("Environments", self.environment_names.join(", ")),
                ("Aliases", self.alias_names.join(", ")),
                ("DNS records", if self.create_dns { "yes" } else { "no" }.to_owned()),
            ],
        }
    }

    /// A short digest of a step's fields: a step form carries the one it was shown with,
    /// so a save can tell whether that step changed meanwhile.
    pub fn step_digest(&self, step: Step) -> String {
        use sha2::{Digest, Sha256};
        let values = serde_json::to_vec(&self.step_values(step)).unwrap_or_default();
        hex::encode(&Sha256::digest(values)[..12])
    }

    /// The first step that has not passed its checks, or `None` when it is ready for review.
    pub fn first_unfinished(&self) -> Option<Step> {
        Step::ALL.into_iter().find(|s| !self.done.contains(s))
    }

    pub fn mark(&mut self, step: Step, ok: bool) {
        self.done.retain(|s| *s != step);
        if ok {
            self.done.push(step);
        }
    }
}

/// The stored draft: its token (for Create's idempotency), its revision (one more with
/// every save) and its data.
pub async fn load(db: impl PgExecutor<'_>, customer: CustomerId) -> sqlx::Result<Option<(uuid::Uuid, i64, Draft)>> {
    let row = sqlx::query!(
        r#"select token, revision, data as "data: Json<Draft>" from wizard_drafts where customer_id = $1"#,
        customer as CustomerId,
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|row| (row.token, row.revision, row.data.0)))
}

/// Saves the draft if it is still at `revision` (`None`: there was no draft; a new one
/// gets a new token, which makes its creation idempotent). Returns the new revision, or
/// `None` when another save came first: the caller reads the draft again.
pub async fn save(
    db: impl PgExecutor<'_>,
    customer: CustomerId,
    draft: &Draft,
    revision: Option<i64>,
) -> sqlx::Result<Option<i64>> {
    match revision {
        Some(revision) => {
            sqlx::query_scalar!(
                "update wizard_drafts set data = $3, revision = revision + 1, updated_at = now()
                 where customer_id = $1 and revision = $2
                 returning revision",
                customer as CustomerId,
                revision,
                Json(draft) as _,
            )
            .fetch_optional(db)
            .await
        }
        None => {
            sqlx::query_scalar!(
                "insert into wizard_drafts (customer_id, token, data, revision) values ($1, $2, $3, 1)
                 on conflict (customer_id) do nothing
                 returning revision",
                customer as CustomerId,
                uuid::Uuid::new_v4(),
                Json(draft) as _,
            )
            .fetch_optional(db)
            .await
        }
    }
}

/// Starts over: removes the draft, whatever its revision.
pub async fn discard(db: impl PgExecutor<'_>, customer: CustomerId) -> sqlx::Result<()> {
    sqlx::query!(
        "delete from wizard_drafts where customer_id = $1",
        customer as CustomerId
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Removes the draft once its site is created, only if it is still at `revision` (the
/// one reviewed); `false` when it changed meanwhile.
pub async fn discard_at(db: impl PgExecutor<'_>, customer: CustomerId, revision: i64) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "delete from wizard_drafts where customer_id = $1 and revision = $2",
        customer as CustomerId,
        revision,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}
