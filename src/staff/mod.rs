//! Staff accounts (the staff console and impersonation come with their own issue).

pub mod model;
