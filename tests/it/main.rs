//! Berth's integration tests: one binary, one PostgreSQL cluster per run, one database per
//! test (copied from a migrated template), each test against a real listening server.
//!
//! A folder per area (`keys/`, `ftp/`, …) holds its page tests (`mod.rs`), and beside them
//! its API, browser, hardening and fault tests; `web/` holds what every page shares,
//! `browser/` the headless-Chromium harness, `api/` the Customer API's cross-area checks.

mod account;
mod addresses;
mod api;
mod auth;
mod bandwidth;
mod browser;
mod contacts;
mod dashboard;
mod delivery;
mod dns;
mod engine;
mod ftp;
mod helpers;
mod keys;
mod notices;
mod passkeys;
mod provisioning;
mod recovery;
mod security;
mod settings;
mod sites;
mod smtp_sink;
mod staff;
mod tenancy;
mod web;
mod wizard;
