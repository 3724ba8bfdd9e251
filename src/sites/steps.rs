//! The steps that provision a site, in order, with what the customer sees for each. The
//! sites area writes them with the job; `provisioning` runs them.

/// The step names in the order a job runs them (`job_steps.name`, position 1 to 5).
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

/// One step of a provisioning job, stored in `job_steps.name` (checked text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type, serde::Serialize, serde::Deserialize)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Step {
    AllocateAddress,
    CreateContainer,
    CreateEnvironments,
    AttachAliases,
    WriteDns,
}

impl Step {
    pub const ALL: [Step; 5] = [
        Step::AllocateAddress,
        Step::CreateContainer,
        Step::CreateEnvironments,
        Step::AttachAliases,
        Step::WriteDns,
    ];

    /// The name stored in `job_steps.name`.
    pub const fn name(self) -> &'static str {
        match self {
            Step::AllocateAddress => "allocate_address",
            Step::CreateContainer => "create_container",
            Step::CreateEnvironments => "create_environments",
            Step::AttachAliases => "attach_aliases",
            Step::WriteDns => "write_dns",
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
        }
    }

    /// The step stored as `name`.
    pub fn from_name(name: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Its `job_steps.position` (1 to 5).
    pub fn position(self) -> i32 {
        Step::ALL.iter().position(|s| *s == self).map_or(0, |i| i as i32 + 1)
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
        assert_eq!(Step::from_name("nope"), None);
        assert_eq!(step_label("nope"), None);
    }
}
