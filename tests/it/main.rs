//! Berth's integration tests: one binary, one PostgreSQL cluster per run, one database per
//! test (copied from a migrated template), each test against a real listening server.

mod account;
mod addresses;
mod api;
mod api_account;
mod api_addresses;
mod api_keys;
mod api_notices;
mod auth;
mod bandwidth;
mod browser;
mod browser_addresses;
mod browser_api;
mod browser_contacts;
mod browser_ftp;
mod browser_keys;
mod browser_notices;
mod browser_staff;
mod browser_wizard;
mod contacts;
mod delivery;
mod faults;
mod ftp;
mod helpers;
mod impersonation;
mod keys;
mod notices;
mod pages;
mod provisioning;
mod security;
mod settings;
mod staff;
mod wizard;
