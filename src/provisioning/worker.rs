//! The worker: claims one due step at a time and runs it (see the module documentation of
//! [`crate::provisioning`]).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sqlx::{Acquire, PgConnection, PgPool, Postgres, Transaction};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::model::{self, ClaimedStep, SiteContainer, StepId};
use crate::db::jobs;
use crate::engine::{ContainerSpec, EngineResult, Mount, Platform, PoolNet};
use crate::sites::model::SiteStatus;
use crate::sites::steps::Step;

/// Attempts at a step before it, its job and its site are `failed`.
pub const MAX_ATTEMPTS: i32 = 5;
/// The longest wait between two attempts.
const MAX_BACKOFF_SECS: i32 = 300;
/// How long a driver call may take before the attempt counts as failed.
const DRIVER_TIMEOUT: Duration = Duration::from_secs(300);
/// The wait when there was nothing to do.
const IDLE: Duration = Duration::from_millis(500);
/// The wait after the worker itself failed for another reason than a lost database.
const AFTER_ERROR: Duration = Duration::from_secs(5);

/// Error messages are cut to this many characters.
const MAX_ERROR_CHARS: usize = 500;

/// What a step records when it fails for a reason the customer must not see (a database
/// error, a bug); the details go to the log.
pub const INTERNAL_ERROR: &str = "An internal error occurred; the details are in Berth's log.";

/// Why an attempt at a step failed.
#[derive(Debug)]
enum StepError {
    /// A message the customer may see.
    Failed(String),
    /// Logged; the customer sees [`INTERNAL_ERROR`].
    Internal(anyhow::Error),
}

impl From<sqlx::Error> for StepError {
    fn from(err: sqlx::Error) -> Self {
        Self::Internal(err.into())
    }
}

fn failed(message: &str) -> StepError {
    StepError::Failed(message.to_owned())
}

/// The wait before the next attempt after `attempts` failed ones: 2, 4, 8, … seconds, at
/// most [`MAX_BACKOFF_SECS`].
pub fn backoff_secs(attempts: i32) -> i32 {
    2i32.saturating_pow(attempts.clamp(1, 30) as u32).min(MAX_BACKOFF_SECS)
}

/// This process's name in `job_attempts.worker`: host name and process id.
pub fn worker_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "berth".to_owned());
    format!("{host}:{}", std::process::id())
}

/// Starts the worker: it runs due steps one after another and polls every 500 ms when
/// there are none. Abort the handle to stop it (a step in progress is rolled back and runs
/// again later); [`spawn_until`] stops it in order.
pub fn spawn(pool: PgPool, platform: Arc<Platform>) -> JoinHandle<()> {
    spawn_until(
        pool,
        platform,
        std::future::pending(),
        Duration::ZERO,
        Arc::new(Notify::new()),
    )
}

/// [`spawn`], stopping once `stop` completes: no more claims; a step being run is awaited
/// for up to `drain` (it commits with its result), and rolled back if it is still running
/// then (it runs again later). `wake` makes the worker look for due steps at once.
pub fn spawn_until(
    pool: PgPool,
    platform: Arc<Platform>,
    stop: impl Future<Output = ()> + Send + 'static,
    drain: Duration,
    wake: Arc<Notify>,
) -> JoinHandle<()> {
    let name = worker_name();
    tracing::info!(worker = %name, driver = platform.driver.name(), "provisioning worker started");
    let options = jobs::Options {
        wake,
        ..jobs::Options::new(1, IDLE, AFTER_ERROR)
    };
    jobs::spawn(Provisioning { pool, platform, name }, options, stop, drain)
}

/// Provisioning as a job of the runner: one step at a time, each in its claiming
/// transaction.
struct Provisioning {
    pool: PgPool,
    platform: Arc<Platform>,
    name: String,
}

/// A claimed step, still locked by its claiming transaction.
pub struct Claim {
    tx: Transaction<'static, Postgres>,
    step: ClaimedStep,
}

impl jobs::Job for Provisioning {
    type Work = Claim;
    type Ticket = StepId;
    const NAME: &'static str = "provisioning";

    fn ticket(&self, claim: &Claim) -> StepId {
        claim.step.id
    }

    async fn claim(&self, _limit: usize) -> anyhow::Result<Vec<Claim>> {
        Ok(claim(&self.pool).await?.into_iter().collect())
    }

    async fn run(&self, claim: Claim, _flight: jobs::Flight) -> anyhow::Result<()> {
        run_claimed(claim, &self.platform, &self.name).await
    }

    /// Nothing to do: the claim rolled back with its transaction, so the step is due again
    /// (after the runner's pause, when it panicked).
    async fn hand_back(&self, step: StepId, cut: jobs::Cut) {
        tracing::info!(%step, ?cut, "provisioning step rolled back; it runs again later");
    }
}

/// Claims one due step, in a transaction that keeps it locked until its result commits.
async fn claim(pool: &PgPool) -> anyhow::Result<Option<Claim>> {
    let mut tx = pool.begin().await?;
    let Some(step) = model::claim_step(&mut *tx).await? else {
        tx.rollback().await?;
        return Ok(None);
    };
    Ok(Some(Claim { tx, step }))
}

/// Claims one due step and runs it; `false` when no step was due.
pub async fn run_once(pool: &PgPool, platform: &Platform, worker: &str) -> anyhow::Result<bool> {
    match claim(pool).await? {
        Some(claim) => run_claimed(claim, platform, worker).await.map(|()| true),
        None => Ok(false),
    }
}

/// Runs a claimed step and records the attempt.
///
/// The step runs inside the claiming transaction, in a savepoint: its writes commit
/// together with it being marked done, or are rolled back when it fails (or panics) while
/// the attempt and its error are still recorded.
async fn run_claimed(claim: Claim, platform: &Platform, worker: &str) -> anyhow::Result<()> {
    let Claim { mut tx, step: claimed } = claim;
    let attempt = claimed.attempts + 1;

    let result = {
        let mut savepoint = tx.begin().await?;
        let result = match Step::from_name(&claimed.name) {
            Some(step) => {
                let run = std::panic::AssertUnwindSafe(run_step(&mut savepoint, platform, step, &claimed));
                match futures_util::FutureExt::catch_unwind(run).await {
                    Ok(result) => result,
                    Err(panic) => Err(StepError::Internal(anyhow::anyhow!(
                        "the step panicked: {}",
                        jobs::panic_message(&*panic)
                    ))),
                }
            }
            None => Err(StepError::Internal(anyhow::anyhow!("unknown step {:?}", claimed.name))),
        };
        match result {
            Ok(()) => savepoint.commit().await?,
            Err(_) => savepoint.rollback().await?,
        }
        result
    };
    // A step that lost the database is not a failed attempt: the worker tries it again at
    // once (the claim rolls back with the connection), with no back-off counted against it.
    let result = match result {
        Err(StepError::Internal(err)) if crate::db::is_lost_database(&err) => {
            return Err(err.context("the database was lost during a provisioning step"));
        }
        other => other,
    };

    let error = match &result {
        Ok(()) => None,
        Err(StepError::Failed(message)) => Some(clean_message(message)),
        Err(StepError::Internal(err)) => {
            tracing::error!(
                step = %claimed.id, job = %claimed.job_id, name = %claimed.name, attempt,
                error = format!("{err:#}"), "provisioning step failed with an internal error"
            );
            Some(INTERNAL_ERROR.to_owned())
        }
    };
    model::record_attempt(
        &mut *tx,
        claimed.id,
        attempt,
        worker,
        claimed.started_at,
        error.as_deref(),
    )
    .await?;
    model::job_running(&mut *tx, claimed.job_id).await?;

    match error {
        None => {
            model::step_done(&mut *tx, claimed.id, attempt).await?;
            if model::job_done_if_complete(&mut *tx, claimed.job_id).await? {
                if claimed.kind.provisions() {
                    model::set_site_status(&mut *tx, claimed.customer_id, claimed.site_id, SiteStatus::Active).await?;
                }
                tracing::info!(job = %claimed.job_id, kind = %claimed.kind, site = %claimed.site_id, "job done");
            }
        }
        Some(error) if attempt >= MAX_ATTEMPTS => {
            model::step_failed(&mut *tx, claimed.id, attempt, &error).await?;
            model::job_failed(&mut *tx, claimed.job_id).await?;
            // An action that failed leaves the site as it is; its page shows the job's error.
            if claimed.kind.provisions() {
                model::set_site_status(&mut *tx, claimed.customer_id, claimed.site_id, SiteStatus::Failed).await?;
                model::fail_pending_resources(&mut *tx, claimed.customer_id, claimed.site_id).await?;
            }
            tracing::warn!(
                job = %claimed.job_id, kind = %claimed.kind, site = %claimed.site_id, step = %claimed.name, attempt,
                error, "job failed"
            );
        }
        Some(error) => {
            let wait = backoff_secs(attempt);
            model::step_retry_later(&mut *tx, claimed.id, attempt, &error, wait).await?;
            tracing::info!(
                job = %claimed.job_id, step = %claimed.name, attempt, error, retry_in_secs = wait,
                "provisioning step failed; retrying later"
            );
        }
    }
    tx.commit().await?;
    Ok(())
}

/// A driver's message as stored: trimmed, on one line, at most [`MAX_ERROR_CHARS`].
fn clean_message(message: &str) -> String {
    let one_line: String = message
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_ERROR_CHARS)
        .collect();
    if one_line.is_empty() {
        "The step failed without saying why.".to_owned()
    } else {
        one_line
    }
}

async fn run_step(
    db: &mut PgConnection,
    platform: &Platform,
    step: Step,
    claimed: &ClaimedStep,
) -> Result<(), StepError> {
    let (customer, site) = (claimed.customer_id, claimed.site_id);
    match step {
        Step::AllocateAddress => {
            let container = container(db, claimed).await?;
            if container.address.is_some() {
                return Ok(());
            }
            let address = model::allocate_address(&mut *db, customer, container.id)
                .await?
                .ok_or_else(|| failed("no free address in the pool"))?;
            model::set_container_address(&mut *db, customer, container.id, address).await?;
        }
        Step::CreateContainer => {
            let container = container(db, claimed).await?;
            let address = container
                .address
                .ok_or_else(|| failed("the container has no address yet"))?;
            let plan = model::container_plan(&mut *db, customer, site, &container).await?;
            let mounts = environment_folders(platform, site, &plan).await?;
            let spec = ContainerSpec {
                site: site.0,
                installation: plan.installation,
                image: plan.image,
                vcpu: plan.vcpu,
                memory_mib: plan.memory_mib,
                disk_gib: container.disk_gib,
                address,
                network: plan.network.map(|(network, gateway)| PoolNet { network, gateway }),
                mounts,
                publish: platform.publish,
            };
            drive(platform.driver.ensure(&spec)).await?;
            model::set_container_active(&mut *db, customer, container.id).await?;
        }
        Step::CreateEnvironments => {
            let container = container(db, claimed).await?;
            let plan = model::container_plan(&mut *db, customer, site, &container).await?;
            environment_folders(platform, site, &plan).await?;
            if model::activate_environments(&mut *db, customer, site).await? == 0 {
                return Err(failed("the site has no environments"));
            }
        }
        Step::AttachAliases => {
            // The hostnames rows (primary and aliases) exist since the site was created;
            // nothing is allocated for them.
            if model::primary_hostnames(&mut *db, customer, site).await? == 0 {
                return Err(failed("the site has no primary hostname"));
            }
        }
        Step::WriteDns => {
            let address = container(db, claimed)
                .await?
                .address
                .ok_or_else(|| failed("the container has no address yet"))?;
            model::fill_address_records(&mut *db, customer, site, address).await?;
            if model::site_creates_dns(&mut *db, customer, site).await? == Some(true) {
                model::add_missing_address_records(&mut *db, customer, site, address).await?;
            }
        }
        Step::StartContainer => drive(platform.driver.start(site.0)).await?,
        Step::StopContainer => drive(platform.driver.stop(site.0)).await?,
        Step::RestartContainer => drive(platform.driver.restart(site.0)).await?,
        Step::RemoveContainer => {
            let installation = model::installation(&mut *db).await?;
            drive(platform.driver.remove(site.0, installation)).await?;
        }
        Step::FreeAddress => {
            // A site whose provisioning never got so far has no container or address.
            if let Some(container) = model::site_container(&mut *db, customer, site).await? {
                model::free_container_address(db, customer, container.id).await?;
            }
        }
        Step::RemoveDns => {
            model::remove_dns_records(&mut *db, customer, site).await?;
        }
        Step::PurgeFiles => {
            platform.files().remove_site(site.0).await.map_err(StepError::Failed)?;
            let hostname = model::files_removed(db, customer, site).await?;
            let who = crate::identity::Who::new(customer, "Berth", None);
            let detail = crate::sites::names::to_unicode(&hostname);
            crate::audit::record(&mut *db, &who, "site_files_removed", &detail).await?;
        }
    }
    Ok(())
}

/// Awaits a driver call: its error is the attempt's, a panic an internal error of the
/// attempt (recorded and retried like any other, rather than ending the task before
/// anything is noted), and a call that takes over [`DRIVER_TIMEOUT`] a failed attempt.
async fn drive(call: impl Future<Output = EngineResult<()>>) -> Result<(), StepError> {
    let call = std::panic::AssertUnwindSafe(call);
    match tokio::time::timeout(DRIVER_TIMEOUT, futures_util::FutureExt::catch_unwind(call)).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(message))) => Err(StepError::Failed(message)),
        Ok(Err(_)) => Err(StepError::Internal(anyhow::anyhow!("the container driver panicked"))),
        Err(_) => Err(failed("the platform did not answer in time")),
    }
}

/// Makes every environment's files folder (a new one with its `index.html`) and says where
/// the container sees it: the environment named `production`, or else the first, is also
/// the site's `/var/www/html`.
async fn environment_folders(
    platform: &Platform,
    site: crate::sites::model::SiteId,
    plan: &model::ContainerPlan,
) -> Result<Vec<Mount>, StepError> {
    let production = crate::sites::model::serving_environment(&plan.environments).cloned();
    let files = platform.files();
    let mut mounts = Vec::new();
    for environment in &plan.environments {
        let host = files
            .ensure_environment(site.0, environment, &plan.hostname)
            .await
            .map_err(StepError::Failed)?;
        mounts.push(Mount {
            environment: environment.clone(),
            host,
            production: Some(environment) == production.as_ref(),
        });
    }
    Ok(mounts)
}

async fn container(db: &mut PgConnection, claimed: &ClaimedStep) -> Result<SiteContainer, StepError> {
    model::site_container(db, claimed.customer_id, claimed.site_id)
        .await?
        .ok_or_else(|| failed("the site has no container"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let waits: Vec<i32> = (1..=10).map(backoff_secs).collect();
        assert_eq!(waits, [2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(backoff_secs(i32::MAX), 300);
    }

    #[test]
    fn messages_are_cleaned() {
        assert_eq!(clean_message("  no\nspace left "), "no space left");
        assert_eq!(clean_message(" "), "The step failed without saying why.");
        assert_eq!(clean_message(&"x".repeat(1000)).chars().count(), MAX_ERROR_CHARS);
    }
}
