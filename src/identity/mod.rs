//! Who is acting: customers and staff (their rows, credentials and auth versions), and the
//! API keys that act for them. Below `web` and `api`, so both can check identity without
//! importing an area (DESIGN §3).

pub mod customer;
pub mod key;
pub mod network;
pub mod once;
pub mod secret;
pub mod sessions;
pub mod staff;
pub mod username;
pub mod who;

pub use customer::{Customer, CustomerId, Email, Username};
pub use key::{KeyId, KeyType, Principal, Refusal};
pub use once::FormToken;
pub use staff::Staff;
pub use username::UsernameKey;
pub use who::Who;
