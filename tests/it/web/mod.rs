//! What every page and API call shares: the layers, sessions, CSRF, input checks, faults.

pub mod changes;
pub mod confirms;
pub mod faults;
pub mod hardening_input;
pub mod once;
pub mod pages;
pub mod security;
pub mod shell;
