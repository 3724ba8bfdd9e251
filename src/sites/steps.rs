//! The jobs a site's worker runs and their steps, in order, with what the customer sees for
//! each. The sites area writes them; `provisioning` runs them.
//!
//! Provisioning a site is a job; so is each action on it afterwards (start, stop, restart,
//! delete, and staff's restore): [`JobKind`] says which, and [`JobKind::steps`] which steps
//! it runs.

/// The step names in the order a provisioning job runs them (`job_steps.name`, position 1
/// to 5).
pub const STEPS: [&str; 5] = [
    Step::AllocateAddress.name(),
    Step::CreateContainer.name(),
    Step::CreateEnvironments.name(),
    Step::AttachAliases.name(),
    Step::WriteDns.name(),
];

/// What the customer sees for each of [`STEPS`], in the same order.
pub const STEP_LABELS: [&str; 5] = [
    Step::AllocateAddress.label(),
    Step::CreateContainer.label(),
    Step::CreateEnvironments.label(),
    Step::AttachAliases.label(),
    Step::WriteDns.label(),
];

/// How long a deleted site's files are kept (and staff can restore it) before its job's
/// last step removes them.
pub const GRACE_DAYS: i32 = 7;

/// One step of a job, stored in `job_steps.name` (checked text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type, serde::Serialize, serde::Deserialize)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Step {
    AllocateAddress,
    CreateContainer,
    CreateEnvironments,
    AttachAliases,
    WriteDns,
    StartContainer,
    StopContainer,
    RestartContainer,
    RemoveContainer,
    FreeAddress,
    RemoveDns,
    PurgeFiles,
}

impl Step {
    pub const ALL: [Step; 12] = [
        Step::AllocateAddress,
        Step::CreateContainer,
        Step::CreateEnvironments,
        Step::AttachAliases,
        Step::WriteDns,
        Step::StartContainer,
        Step::StopContainer,
        Step::RestartContainer,
        Step::RemoveContainer,
        Step::FreeAddress,
        Step::RemoveDns,
        Step::PurgeFiles,
    ];

    /// The name stored in `job_steps.name`.
    pub const fn name(self) -> &'static str {
        match self {
            Step::AllocateAddress => "allocate_address",
            Step::CreateContainer => "create_container",
            Step::CreateEnvironments => "create_environments",
            Step::AttachAliases => "attach_aliases",
            Step::WriteDns => "write_dns",
            Step::StartContainer => "start_container",
            Step::StopContainer => "stop_container",
            Step::RestartContainer => "restart_container",
            Step::RemoveContainer => "remove_container",
            Step::FreeAddress => "free_address",
            Step::RemoveDns => "remove_dns",
            Step::PurgeFiles => "purge_files",
        }
    }

    /// The label shown on the site page.
    pub const fn label(self) -> &'static str {
        match self {
            Step::AllocateAddress => "Allocate an address",
            Step::CreateContainer => "Create the container",
            Step::CreateEnvironments => "Create the environments",
            Step::AttachAliases => "Attach the aliases",
            Step::WriteDns => "Write the DNS records",
            Step::StartContainer => "Start the container",
            Step::StopContainer => "Stop the container",
            Step::RestartContainer => "Restart the container",
            Step::RemoveContainer => "Remove the container",
            Step::FreeAddress => "Give the address back to the pool",
            Step::RemoveDns => "Remove the DNS records",
            Step::PurgeFiles => "Remove the files",
        }
    }

    /// The step stored as `name`.
    pub fn from_name(name: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Its `job_steps.position` in a provisioning job (1 to 5), or in the job of its kind.
    pub fn position(self) -> i32 {
        JobKind::ALL
            .iter()
            .find_map(|kind| kind.steps().iter().position(|s| *s == self))
            .map_or(0, |i| i as i32 + 1)
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The label of the step stored as `name`.
pub fn step_label(name: &str) -> Option<&'static str> {
    Step::from_name(name).map(Step::label)
}

crate::text_enum!(
    /// `provisioning_jobs.kind`: what a job does to its site.
    JobKind {
        Provision = "provision",
        Start = "start",
        Stop = "stop",
        Restart = "restart",
        Delete = "delete",
        Restore = "restore",
    }
);

impl JobKind {
    pub const ALL: [JobKind; 6] = [
        JobKind::Provision,
        JobKind::Start,
        JobKind::Stop,
        JobKind::Restart,
        JobKind::Delete,
        JobKind::Restore,
    ];

    /// Its steps, in order. Restoring a deleted site provisions it again (a new address, a
    /// container, DNS records); its files are still there.
    pub const fn steps(self) -> &'static [Step] {
        const PROVISION: [Step; 5] = [
            Step::AllocateAddress,
            Step::CreateContainer,
            Step::CreateEnvironments,
            Step::AttachAliases,
            Step::WriteDns,
        ];
        match self {
            JobKind::Provision | JobKind::Restore => &PROVISION,
            JobKind::Start => &[Step::StartContainer],
            JobKind::Stop => &[Step::StopContainer],
            JobKind::Restart => &[Step::RestartContainer],
            JobKind::Delete => &[
                Step::RemoveContainer,
                Step::FreeAddress,
                Step::RemoveDns,
                Step::PurgeFiles,
            ],
        }
    }

    /// Its steps' names, as stored.
    pub fn step_names(self) -> Vec<String> {
        self.steps().iter().map(|s| s.name().to_owned()).collect()
    }

    /// What the site page calls the job.
    pub const fn label(self) -> &'static str {
        match self {
            JobKind::Provision => "Provisioning",
            JobKind::Start => "Start",
            JobKind::Stop => "Stop",
            JobKind::Restart => "Restart",
            JobKind::Delete => "Deletion",
            JobKind::Restore => "Restore",
        }
    }

    /// Whether it (re)creates the site: when it is done the site is active, when it fails
    /// the site has failed.
    pub const fn provisions(self) -> bool {
        matches!(self, JobKind::Provision | JobKind::Restore)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_in_order() {
        assert_eq!(
            STEPS,
            [
                "allocate_address",
                "create_container",
                "create_environments",
                "attach_aliases",
                "write_dns"
            ]
        );
        for (i, name) in STEPS.iter().enumerate() {
            let step = Step::from_name(name).unwrap();
            assert_eq!(step.position(), i as i32 + 1);
            assert_eq!(step_label(name), Some(STEP_LABELS[i]));
        }
        assert_eq!(JobKind::Provision.step_names(), STEPS);
        assert_eq!(Step::from_name("nope"), None);
        assert_eq!(step_label("nope"), None);
    }

    #[test]
    fn every_step_belongs_to_a_job_and_has_a_name() {
        for step in Step::ALL {
            assert_eq!(Step::from_name(step.name()), Some(step));
            assert!(step.position() >= 1, "{step}");
            assert!(JobKind::ALL.iter().any(|k| k.steps().contains(&step)), "{step}");
        }
        assert_eq!(Step::PurgeFiles.position(), 4);
        assert_eq!(JobKind::Delete.steps().last(), Some(&Step::PurgeFiles));
        assert!(JobKind::Restore.provisions() && !JobKind::Stop.provisions());
    }
}
