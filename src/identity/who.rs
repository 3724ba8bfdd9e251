//! [`Who`]: the customer an operation acts on, who acts, and from where.

use std::net::IpAddr;

use crate::identity::CustomerId;

/// The customer an operation acts on, who acts ("customer", "Support (sam)", "API key
/// berth_ab12…"), and from where. Every operation takes one, and every Activity entry it
/// writes names its actor and address; a page makes it from the signed-in session
/// (`SignedIn::who`), an API method from its key (`Caller::who`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Who {
    pub customer: CustomerId,
    pub actor: String,
    pub address: Option<IpAddr>,
}

impl Who {
    pub fn new(customer: CustomerId, actor: impl Into<String>, address: Option<IpAddr>) -> Self {
        Self {
            customer,
            actor: actor.into(),
            address,
        }
    }
}
