//! Provisioning (DESIGN §6.3): the jobs the wizard and the site's controls leave behind, run
//! by an in-process worker.
//!
//! A job is a `provisioning_jobs` row of a [`JobKind`](crate::sites::steps::JobKind) with its
//! ordered `job_steps`: provisioning a site ([`STEPS`](crate::sites::steps::STEPS)), or an
//! action on it afterwards (start, stop, restart, delete, restore). Any number of Berth
//! processes on one database run workers ([`spawn`]); each claims one due step at a time with
//! `FOR UPDATE SKIP LOCKED` and runs it in the claiming transaction, so a step's database
//! writes commit together with it being marked done and every step runs once. A site's jobs
//! run in the order they were asked for: a step is claimed only when no earlier job of its
//! site is unfinished.
//! A failed attempt is retried with back-off up to [`MAX_ATTEMPTS`]; every attempt and its
//! error is recorded in `job_attempts`, the latest error in `job_steps.last_error`.
//!
//! The work that belongs to Berth (addresses from the pool, DNS records, statuses) is done
//! here; the container is made through the platform's driver ([`crate::engine`]), and every
//! environment's files folder beside it.

pub mod model;
pub mod worker;

pub use model::{ContainerId, JobId, PoolNetwork, StepId};
pub use worker::{INTERNAL_ERROR, MAX_ATTEMPTS, run_once, spawn, worker_name};
