//! The customer: identity, credentials and status, shared by every area (DESIGN §6.1).

pub mod model;

pub use model::{Customer, CustomerId, Email, Username};
