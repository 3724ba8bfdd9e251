//! account tests.
