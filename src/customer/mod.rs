//! The customer: identity, credentials and status, shared by every area (DESIGN §6.1).

pub mod model;
pub mod username;

pub use model::{Customer, CustomerId, Email, Username};
pub use username::UsernameKey;
