//! The sites area's operations, the one place that decides about a site: what the site
//! pages and the API read (only the acting customer's sites; another's is not found), what
//! the engine's state means for the customer, and the customer's controls (start, stop,
//! restart, delete) and staff's restore. Sites are created by the wizard's operation
//! (`wizard::ops::create`), which writes them through [`model::create`].
//!
//! Every action is a job of the provisioning worker (queued here, run there, in the order
//! asked), never an engine call inside the request; only reading the engine's state and the
//! container's output happen while the page or the API call waits.

use std::str::FromStr;

use sqlx::PgPool;
use time::OffsetDateTime;

use crate::audit;
use crate::audit::staff::StaffEvent;
use crate::db::Tx;
use crate::engine::{ContainerDriver, DevelopmentDriver, Platform, State};
use crate::identity::{Staff, UsernameKey, Who};
use crate::sites::model::{
    self, DesiredState, Detail, DnsRecord, Job, JobKind, JobStatus, Site, SiteId, SiteRow, SiteStatus, StepStatus,
};
use crate::sites::names;
use crate::validation::{Field, Invalid, Names};
use crate::web::AppError;

/// How many lines of the container's output the site page and getSiteLogs show.
pub const LOG_LINES: usize = 200;

/// The fields of the controls, by their form and API argument names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SiteField {
    /// Which action (the page's URL names it).
    Action,
    /// The hostname typed to confirm a deletion.
    Hostname,
}

impl Field for SiteField {
    fn form(self) -> &'static str {
        match self {
            Self::Action => "action",
            Self::Hostname => "hostname",
        }
    }

    fn seed(self) -> &'static str {
        self.form()
    }
}

/// Why a sites operation answered nothing.
#[derive(Debug)]
pub enum SiteError {
    /// No such site of the customer's.
    NotFound,
    Invalid(Invalid<SiteField>),
    /// The site cannot do this in its state; the message says why.
    Conflict(String),
    Db(sqlx::Error),
}

impl From<sqlx::Error> for SiteError {
    fn from(err: sqlx::Error) -> Self {
        Self::Db(err)
    }
}

impl SiteError {
    /// What the user is told, under the form's or the API's field names.
    pub fn into_app(self, names: Names) -> AppError {
        match self {
            Self::NotFound => AppError::NotFound,
            Self::Invalid(invalid) => AppError::Invalid(invalid.errors(names)),
            Self::Conflict(message) => AppError::Conflict(message),
            Self::Db(err) => err.into(),
        }
    }
}

/// One page of the customer's sites, and how many they have in all.
pub async fn list(db: &PgPool, who: &Who, limit: i64, offset: i64) -> Result<(Vec<SiteRow>, i64), SiteError> {
    Ok(model::list(db, who.customer, limit, offset).await?)
}

/// The site with everything its page shows.
pub async fn detail(db: &PgPool, who: &Who, id: SiteId) -> Result<Detail, SiteError> {
    model::detail(db, who.customer, id).await?.ok_or(SiteError::NotFound)
}

/// The site's job at work now, else its latest (its provisioning, or the last action on
/// it), with its steps; and the kinds of its unfinished jobs in the order they run.
pub async fn progress(db: &PgPool, who: &Who, id: SiteId) -> Result<(Option<Job>, Vec<JobKind>), SiteError> {
    model::site(db, who.customer, id).await?.ok_or(SiteError::NotFound)?;
    let job = model::current_job(db, who.customer, id).await?;
    Ok((job, model::unfinished_kinds(db, who.customer, id).await?))
}

/// The site's DNS records as a BIND zone file.
pub async fn zone(db: &PgPool, who: &Who, id: SiteId) -> Result<String, SiteError> {
    let site: Site = model::site(db, who.customer, id).await?.ok_or(SiteError::NotFound)?;
    let records = model::records(db, who.customer, id).await?;
    Ok(zone_file(&site.hostname, &records))
}

/// A zone file for `origin` with the records that have a value (planned ones are comments).
pub fn zone_file(origin: &str, records: &[DnsRecord]) -> String {
    let mut out = format!("; Zone file for {origin}, written by Berth\n$ORIGIN {origin}.\n$TTL 3600\n");
    for record in records {
        let name = format!("{}.", record.name);
        match &record.value {
            Some(value) => out.push_str(&format!("{name}\t{}\tIN\t{}\t{value}\n", record.ttl, record.kind)),
            None => out.push_str(&format!(
                "; {name}\t{}\tIN\t{}\t(address not allocated yet)\n",
                record.ttl, record.kind
            )),
        }
    }
    out
}

// ---- what the engine says ---------------------------------------------------------------

/// The state the site page and getSite show: the engine's, read against what the customer
/// asked of the container ([`DesiredState`]) and where the site is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shown {
    /// Its provisioning (or restore) job is still setting it up.
    Provisioning,
    Running,
    Restarting,
    /// Not running, as the customer asked (or about to start, as they asked since); the
    /// reason says which.
    Stopped(String),
    /// Not running although it should: why.
    Failed(String),
    /// The development driver runs no container.
    NotRun,
    Deleted,
    /// The engine could not be asked: what went wrong.
    Unknown(String),
}

impl Shown {
    /// Its name in getSite's `state` (and the page's `data-state`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Provisioning => "provisioning",
            Self::Running => "running",
            Self::Restarting => "restarting",
            Self::Stopped(_) => "stopped",
            Self::Failed(_) => "failed",
            Self::NotRun => "not-run",
            Self::Deleted => "deleted",
            Self::Unknown(_) => "unknown",
        }
    }

    /// How the page says it.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Provisioning => "Being set up",
            Self::Running => "Running",
            Self::Restarting => "Restarting",
            Self::Stopped(_) => "Stopped",
            Self::Failed(_) => "Failed",
            Self::NotRun => "No container",
            Self::Deleted => "Deleted",
            Self::Unknown(_) => "Unknown",
        }
    }

    /// Why, when there is more to say than the label.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Stopped(why) | Self::Failed(why) | Self::Unknown(why) => Some(why),
            Self::NotRun => Some(
                "The development driver runs no containers (BERTH_DRIVER=development): nothing is started, stopped or \
                 served. The controls still record what you ask, as jobs.",
            ),
            _ => None,
        }
    }
}

/// The site as the engine has it, for the page's live block and getSite.
#[derive(Debug, Clone)]
pub struct Live {
    pub shown: Shown,
    /// The driver in use (`development`, `docker`).
    pub driver: &'static str,
    /// `http://127.0.0.1:PORT/` while the engine publishes the site's port 80 (BERTH_PUBLISH).
    pub preview: Option<String>,
}

/// What the engine says of the site, asked now (a deleted site's or one being set up is
/// not asked: it is what its status says).
pub async fn live(platform: &Platform, detail: &Detail) -> Live {
    let driver = platform.driver.name();
    let asks_engine = matches!(detail.site.status, SiteStatus::Active | SiteStatus::Failed);
    let observed = if asks_engine {
        Some(platform.driver.observe(detail.site.id.0).await)
    } else {
        None
    };
    let preview = observed
        .as_ref()
        .and_then(|o| o.as_ref().ok())
        .and_then(|o| o.preview)
        .map(|address| format!("http://{address}/"));
    let observed = observed.map(|o| o.map(|o| o.state));
    Live {
        shown: shown(detail, observed),
        driver,
        preview,
    }
}

/// Decides what to show from the site's status, what the customer asked and what the
/// engine said (`None`: not asked).
pub fn shown(detail: &Detail, observed: Option<Result<State, String>>) -> Shown {
    let desired = detail
        .container
        .as_ref()
        .map_or(DesiredState::Running, |c| c.desired_state);
    let job = detail.job.as_ref();
    // An action asked for and not run yet.
    let pending = job.filter(|j| j.working()).map(|j| j.kind);
    match detail.site.status {
        SiteStatus::Deleted => return Shown::Deleted,
        SiteStatus::Provisioning => return Shown::Provisioning,
        _ => {}
    }
    let failed_setup = || {
        let error = job
            .filter(|j| j.kind.provisions())
            .and_then(|j| j.steps.iter().find_map(|s| s.last_error.clone()));
        Shown::Failed(match error {
            Some(error) => format!("Setting the site up failed: {error}"),
            None => "Setting the site up failed.".to_owned(),
        })
    };
    let state = match observed {
        None => return Shown::Unknown("The engine was not asked.".to_owned()),
        Some(Err(message)) => return Shown::Unknown(message),
        Some(Ok(state)) => state,
    };
    match state {
        State::NotRun => Shown::NotRun,
        State::Running => Shown::Running,
        State::Restarting => Shown::Restarting,
        State::Missing if detail.site.status == SiteStatus::Failed => failed_setup(),
        State::Missing => Shown::Failed("The engine has no container for this site.".to_owned()),
        State::Exited { .. } if desired == DesiredState::Stopped => Shown::Stopped(match pending {
            Some(JobKind::Stop) | None => "Stopped as asked.".to_owned(),
            Some(kind) => format!("{} asked for; waiting for it to run.", kind.label()),
        }),
        State::Exited { .. } if matches!(pending, Some(JobKind::Start | JobKind::Restart)) => {
            Shown::Stopped("Starting as asked; waiting for the job to run.".to_owned())
        }
        State::Exited { .. } if detail.site.status == SiteStatus::Failed => failed_setup(),
        State::Exited { code, reason } => Shown::Failed(match reason {
            Some(reason) => format!("It stopped without being asked to (exit code {code}): {reason}."),
            None => format!("It stopped without being asked to (exit code {code})."),
        }),
    }
}

/// The site with what the engine says of it now.
pub async fn site_state(db: &PgPool, platform: &Platform, who: &Who, id: SiteId) -> Result<(Detail, Live), SiteError> {
    let detail = detail(db, who, id).await?;
    let live = live(platform, &detail).await;
    Ok((detail, live))
}

/// The container's last output, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Logs {
    /// Its last [`LOG_LINES`] lines, oldest first (none yet: empty).
    Lines(Vec<String>),
    /// Why none can be shown.
    None(String),
}

/// The last [`LOG_LINES`] lines the site's container wrote (standard output and error).
pub async fn logs(db: &PgPool, platform: &Platform, who: &Who, id: SiteId) -> Result<Logs, SiteError> {
    let site = model::site(db, who.customer, id).await?.ok_or(SiteError::NotFound)?;
    if site.status == SiteStatus::Deleted {
        return Ok(Logs::None("The site is deleted; its container is gone.".to_owned()));
    }
    if platform.driver.name() == DevelopmentDriver.name() {
        return Ok(Logs::None(
            "The development driver runs no container, so there is no output.".to_owned(),
        ));
    }
    Ok(match platform.driver.logs(id.0, LOG_LINES).await {
        Ok(lines) => Logs::Lines(lines),
        Err(message) => Logs::None(format!("The output could not be read: {message}.")),
    })
}

// ---- the controls -----------------------------------------------------------------------

/// What the customer may ask of a running site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Start,
    Stop,
    Restart,
}

impl FromStr for Action {
    type Err = SiteError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw {
            "start" => Ok(Self::Start),
            "stop" => Ok(Self::Stop),
            "restart" => Ok(Self::Restart),
            _ => Err(SiteError::Invalid(Invalid::one(
                SiteField::Action,
                "There is no such action: a site can be started, stopped, restarted or deleted.",
            ))),
        }
    }
}

impl Action {
    pub fn kind(self) -> JobKind {
        match self {
            Self::Start => JobKind::Start,
            Self::Stop => JobKind::Stop,
            Self::Restart => JobKind::Restart,
        }
    }

    fn desired(self) -> DesiredState {
        match self {
            Self::Stop => DesiredState::Stopped,
            Self::Start | Self::Restart => DesiredState::Running,
        }
    }

    fn activity(self) -> &'static str {
        match self {
            Self::Start => "site_start_requested",
            Self::Stop => "site_stop_requested",
            Self::Restart => "site_restart_requested",
        }
    }

    /// What the customer is told once it is queued.
    pub fn queued(self, again: bool) -> &'static str {
        match (self, again) {
            (Self::Start, false) => "Start requested: the site starts in a moment.",
            (Self::Stop, false) => "Stop requested: the site stops in a moment.",
            (Self::Restart, false) => "Restart requested: the site restarts in a moment.",
            (_, true) => "That was asked for already; it runs in a moment.",
        }
    }
}

/// A job queued by an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Queued {
    pub job: i64,
    /// `false` when the same action was still waiting to run: nothing new was queued.
    pub new: bool,
}

/// Why an action cannot be asked of a site in `status`.
fn refuse(status: SiteStatus) -> Option<SiteError> {
    let message = match status {
        SiteStatus::Active => return None,
        SiteStatus::Provisioning => "The site is still being set up; try again when it is ready.",
        SiteStatus::Failed => {
            "Setting this site up failed, so it has no container to start or stop: delete it and create it again, \
             or ask support."
        }
        SiteStatus::Deleted => "The site is deleted.",
    };
    Some(SiteError::Conflict(message.to_owned()))
}

/// Starts, stops or restarts the site: records what the customer asked of the container
/// and queues the job that does it, after any job of the site's still to run. The same
/// action asked again while it still waits queues nothing more.
pub async fn act(db: &PgPool, who: &Who, id: SiteId, action: Action) -> Result<Queued, SiteError> {
    let mut tx = Tx::begin(db).await?;
    let site = model::lock(&mut tx, who.customer, id)
        .await?
        .ok_or(SiteError::NotFound)?;
    if let Some(refused) = refuse(site.status) {
        return Err(refused);
    }
    if let Some((job, kind)) = model::unfinished_job(&mut *tx, who.customer, id).await?
        && kind == action.kind()
    {
        return Ok(Queued { job, new: false });
    }
    model::set_desired_state(&mut *tx, who.customer, id, action.desired()).await?;
    let job = model::queue(&mut tx, who.customer, id, action.kind()).await?;
    audit::record(&mut *tx, who, action.activity(), &names::to_unicode(&site.hostname)).await?;
    tx.commit().await?;
    Ok(Queued { job, new: true })
}

/// A site deleted: its job, and when its files are removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deleted {
    pub job: i64,
    pub files_removed_after: OffsetDateTime,
}

/// Deletes the site once its hostname is typed: it is shown as deleted at once, and its job
/// removes the container, gives its address back to the pool and removes its DNS records,
/// then its files after the grace period ([`GRACE_DAYS`](crate::sites::steps::GRACE_DAYS)),
/// during which staff can restore it. A site still being set up is deleted once that is
/// done (its jobs run in order).
pub async fn delete(db: &PgPool, who: &Who, id: SiteId, typed: &str) -> Result<Deleted, SiteError> {
    let mut tx = Tx::begin(db).await?;
    let site = model::lock(&mut tx, who.customer, id)
        .await?
        .ok_or(SiteError::NotFound)?;
    if site.status == SiteStatus::Deleted {
        return Err(SiteError::Conflict("The site is deleted already.".to_owned()));
    }
    if !names::same_hostname(typed, &site.hostname) {
        let hostname = names::to_unicode(&site.hostname);
        let message = if typed.trim().is_empty() {
            format!("Type the site's hostname, {hostname}, to delete it.")
        } else {
            format!("That is not this site's hostname; type {hostname} to delete it.")
        };
        return Err(SiteError::Invalid(Invalid::one(SiteField::Hostname, message)));
    }
    model::mark_deleted(&mut *tx, who.customer, id).await?;
    let job = model::queue(&mut tx, who.customer, id, JobKind::Delete).await?;
    audit::record(&mut *tx, who, "site_deleted", &names::to_unicode(&site.hostname)).await?;
    let queued = model::job(&mut *tx, who.customer, job)
        .await?
        .ok_or(SiteError::NotFound)?;
    tx.commit().await?;
    Ok(Deleted {
        job,
        files_removed_after: queued.purge_at().unwrap_or(queued.created_at),
    })
}

/// Restores a deleted site whose files are still kept (staff with `support-write`, from the
/// customer's page in the staff console): the files' removal is cancelled and the site is
/// provisioned again (a new address from the pool, its container, its DNS records). In the
/// customer's Activity and the staff log.
pub async fn restore(db: &PgPool, who: &Who, staff: &Staff, id: SiteId) -> Result<Queued, SiteError> {
    let mut tx = Tx::begin(db).await?;
    let site = model::lock(&mut tx, who.customer, id)
        .await?
        .ok_or(SiteError::NotFound)?;
    if site.status != SiteStatus::Deleted {
        return Err(SiteError::Conflict("The site is not deleted.".to_owned()));
    }
    if site.files_removed_at.is_some() {
        return Err(SiteError::Conflict(
            "The site's files are removed already; it cannot be restored.".to_owned(),
        ));
    }
    let Some(deletion) = model::lock_deletion(&mut tx, who.customer, id).await? else {
        return Err(SiteError::Conflict("The site has no deletion to undo.".to_owned()));
    };
    match (deletion.purge_status, deletion.job_status, deletion.unfinished) {
        (StepStatus::Done, ..) => {
            return Err(SiteError::Conflict(
                "The site's files are removed already; it cannot be restored.".to_owned(),
            ));
        }
        // Still removing the container, the address or the records: wait for that.
        (_, JobStatus::Pending | JobStatus::Running, Some(step)) => {
            return Err(SiteError::Conflict(format!(
                "The site is still being deleted ({}); restore it once that is done.",
                step.label().to_lowercase()
            )));
        }
        _ => {}
    }
    model::cancel_purge(&mut tx, &deletion).await?;
    model::mark_restored(&mut tx, who.customer, id).await?;
    let job = model::queue(&mut tx, who.customer, id, JobKind::Restore).await?;
    let hostname = names::to_unicode(&site.hostname);
    audit::record(&mut *tx, who, "site_restored", &hostname).await?;
    let detail = format!("customer {}, site {id} ({hostname})", who.customer);
    let name = UsernameKey::new(&staff.username);
    audit::staff::record(
        &mut *tx,
        Some(staff.id),
        &name,
        StaffEvent::SiteRestored,
        &detail,
        who.address,
    )
    .await?;
    tx.commit().await?;
    Ok(Queued { job, new: true })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sites::model::{Container, ResourceStatus, Step as JobStep};

    fn detail(status: SiteStatus, desired: DesiredState, job: Option<(JobKind, JobStatus)>) -> Detail {
        let now = OffsetDateTime::now_utc();
        Detail {
            site: Site {
                id: SiteId(7),
                name: "Shop".into(),
                hostname: "shop.example.com".into(),
                status,
                create_dns: true,
                created_at: now,
            },
            container: Some(Container {
                name: "web".into(),
                type_label: "Static".into(),
                os_label: "Debian".into(),
                size_label: "Small".into(),
                vcpu: 1,
                memory_mib: 1024,
                disk_gib: 10,
                status: ResourceStatus::Active,
                address: None,
                desired_state: desired,
            }),
            environments: Vec::new(),
            aliases: Vec::new(),
            records: Vec::new(),
            dns_verify: false,
            dns_token: String::new(),
            dns_nameservers: Vec::new(),
            dns_unverified: Vec::new(),
            ftp_users: Vec::new(),
            unfinished: Vec::new(),
            job: job.map(|(kind, status)| Job {
                id: 1,
                kind,
                status,
                created_at: now,
                finished_at: None,
                steps: kind
                    .steps()
                    .iter()
                    .map(|s| JobStep {
                        name: *s,
                        status: if status == JobStatus::Done {
                            StepStatus::Done
                        } else {
                            StepStatus::Pending
                        },
                        attempts: 0,
                        last_error: None,
                        next_attempt_at: now,
                    })
                    .collect(),
            }),
            deleted_at: None,
            files_removed_at: None,
        }
    }

    fn exited() -> Option<Result<State, String>> {
        Some(Ok(State::Exited {
            code: 137,
            reason: Some("it ran out of memory".into()),
        }))
    }

    #[test]
    fn the_engines_state_is_read_against_what_was_asked() {
        use DesiredState::{Running, Stopped};
        use SiteStatus::Active;
        let done = |kind| Some((kind, JobStatus::Done));
        let pending = |kind| Some((kind, JobStatus::Pending));
        let running = Some(Ok(State::Running));
        assert_eq!(
            shown(&detail(Active, Running, done(JobKind::Provision)), running.clone()),
            Shown::Running
        );
        assert_eq!(
            shown(&detail(Active, Stopped, done(JobKind::Stop)), exited()),
            Shown::Stopped("Stopped as asked.".into())
        );
        assert_eq!(
            shown(&detail(Active, Running, done(JobKind::Start)), exited()),
            Shown::Failed("It stopped without being asked to (exit code 137): it ran out of memory.".into())
        );
        assert_eq!(
            shown(&detail(Active, Running, pending(JobKind::Start)), exited()).name(),
            "stopped"
        );
        // A stop asked for while it still runs: the engine's word, running.
        assert_eq!(
            shown(&detail(Active, Stopped, pending(JobKind::Stop)), running),
            Shown::Running
        );
        assert_eq!(
            shown(&detail(Active, Running, None), Some(Ok(State::Missing))).name(),
            "failed"
        );
        assert_eq!(
            shown(&detail(Active, Running, None), Some(Ok(State::NotRun))),
            Shown::NotRun
        );
        assert_eq!(
            shown(&detail(Active, Running, None), Some(Err("unreachable".into()))),
            Shown::Unknown("unreachable".into())
        );
        assert_eq!(shown(&detail(SiteStatus::Deleted, Running, None), None), Shown::Deleted);
        assert_eq!(
            shown(
                &detail(SiteStatus::Provisioning, Running, pending(JobKind::Provision)),
                None
            ),
            Shown::Provisioning
        );
        assert!(
            matches!(shown(&detail(SiteStatus::Failed, Running, done(JobKind::Provision)), Some(Ok(State::Missing))),
                Shown::Failed(why) if why.starts_with("Setting the site up failed"))
        );
    }

    #[test]
    fn actions_are_the_three_and_only_they() {
        assert_eq!("start".parse::<Action>().unwrap(), Action::Start);
        assert_eq!("stop".parse::<Action>().unwrap().kind(), JobKind::Stop);
        assert_eq!("restart".parse::<Action>().unwrap().desired(), DesiredState::Running);
        for bad in ["", "Start", "delete", "explode", "stop "] {
            assert!(matches!(bad.parse::<Action>(), Err(SiteError::Invalid(_))), "{bad:?}");
        }
    }
}
