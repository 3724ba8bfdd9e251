//! Delivering notices (issue 6): a worker inside every Berth process takes due deliveries
//! from the outbox (`deliveries`, written by [`crate::notices::model::publish`] in the
//! notice's transaction) and sends them: email through the configured SMTP relay, webhooks
//! as a signed HTTP POST. SMS and phone deliveries stay `waiting_for_gateway`.
//!
//! **Claiming.** The worker ([`spawn`]) keeps up to `batch` deliveries in flight and
//! claims more as soon as a slot is free ([`model::claim`], one short transaction): `FOR
//! UPDATE SKIP LOCKED` on the due rows, and in the same statement a lease: `attempts + 1`
//! and `next_attempt_at = leased_until = now() + 60 s` ([`LEASE_SECS`]). Once it has
//! committed, no other worker (in this process or another sharing the database) sees those
//! rows as due. The sending happens outside any transaction, then each result is recorded
//! as soon as it is known, only if the row still holds the lease (`attempts` unchanged,
//! still `pending`). A record that fails (the database is unreachable) is retried with a
//! short back-off until the lease is up; the send is never repeated for it.
//!
//! **Fairness.** A claim takes customers round by round (each one's oldest due delivery,
//! then each one's second, …) and never lets one customer have more than
//! [`PER_CUSTOMER`] (4) deliveries in flight, counted over every worker from
//! `leased_until`. A webhook attempt ends after 3 s connecting and 5 s in all, and each
//! attempt holds only its own slot; so a customer with many webhooks to a receiver that
//! never answers delays only their own deliveries. A customer has at most
//! [`crate::contacts::model::MAX_WEBHOOKS`] webhooks.
//!
//! **Addresses.** A webhook connects only to globally routable addresses
//! ([`address::is_global`]) or to networks the operator allowed (`BERTH_WEBHOOK_ALLOW`):
//! the host name is resolved once, every address checked, and the connection made to those
//! very addresses ([`send::CheckedResolver`]); redirects are not followed. The customer
//! sees only a coarse reason ("could not connect", "receiver answered 500", "timed out",
//! "address not allowed"); the detail goes to the log.
//!
//! **Guarantee.** Between live processes, each delivery is sent by exactly one of them,
//! once: the claim is exclusive, an attempt ends within 30 s ([`worker::ATTEMPT_TIMEOUT`];
//! a webhook's within 5 s) and its record may then be retried for 30 s more
//! ([`worker::RECORD_MARGIN_SECS`]), all within the lease (60 s). A stop
//! ([`spawn_until`]) claims nothing more, awaits the attempts in flight for up to the drain
//! time and records them, and hands back, due at once, what is still unsent (uncounted) or
//! still being sent (counted) then. If a process dies after sending but before recording,
//! the lease runs out and the delivery is sent again: **at least once** across crashes,
//! chosen because a lost outage or security notice is worse than a repeated one. Repeats
//! can be recognised: webhooks carry the delivery id (`Berth-Delivery` header and
//! `delivery_id`), emails a Message-ID made from it. An interrupted last attempt is not
//! repeated: the delivery fails saying so.
//!
//! **Retries.** A failed attempt is retried after 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 2 h
//! ([`worker::backoff_secs`]), [`MAX_ATTEMPTS`] in all, then `failed`; `attempts` and
//! `last_error` (never a secret, never the webhook's URL) are recorded. A permanent
//! failure (no address, an address the relay refuses with a 5xx) fails at once. Without a
//! relay, email deliveries wait with "no SMTP relay configured" and are not counted as
//! attempts.

pub mod address;
pub mod model;
pub mod send;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, Tokio1Executor};
use sqlx::types::ipnetwork::IpNetwork;

pub use model::DeliveryId;
pub use send::{DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, signature};
pub use worker::{LEASE_SECS, MAX_ATTEMPTS, NO_RELAY, PER_CUSTOMER, run_once, spawn, spawn_until};

/// How long connecting to a webhook receiver may take.
pub const WEBHOOK_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a webhook attempt may take in all: resolving, connecting, TLS, the answer. Short,
/// so a receiver that never answers holds a delivery slot only briefly.
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the SMTP relay may take for each step of the conversation.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// What the worker needs: the SMTP relay (if any), the sender address, an HTTP client, and
/// how often to look for due deliveries.
pub struct DeliveryConfig {
    smtp: Option<AsyncSmtpTransport<Tokio1Executor>>,
    /// The relay as `scheme://host:port`, for the log (no user or password).
    relay: Option<String>,
    mail_from: Mailbox,
    http: send::HttpClient,
    webhook_timeout: Duration,
    /// Networks webhooks may reach besides global addresses (`BERTH_WEBHOOK_ALLOW`).
    webhook_allow: Arc<[IpNetwork]>,
    /// The wait when nothing was due.
    pub poll: Duration,
    /// At most this many deliveries are claimed and sent at once.
    pub batch: i64,
    /// At most this many deliveries of one customer are claimed (in this batch and still
    /// in flight from earlier ones, in any process), so one customer's slow receivers
    /// cannot hold every slot.
    pub per_customer: i64,
}

impl std::fmt::Debug for DeliveryConfig {
    // The SMTP URL may carry a password: only the relay's address is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeliveryConfig")
            .field("relay", &self.relay)
            .field("mail_from", &self.mail_from.to_string())
            .field("poll", &self.poll)
            .field("batch", &self.batch)
            .field("per_customer", &self.per_customer)
            .field("webhook_allow", &self.webhook_allow)
            .finish()
    }
}

impl DeliveryConfig {
    /// `smtp_url`: `smtp://host:port` (plain, e.g. a local relay),
    /// `smtp://host:port?tls=required` (STARTTLS) or `smtps://host:port` (TLS), with
    /// `user:password@` for AUTH; `None`: email deliveries wait. `mail_from`: the sender,
    /// e.g. `Berth <noreply@example.com>`.
    pub fn new(smtp_url: Option<&str>, mail_from: &str) -> anyhow::Result<Self> {
        let mail_from: Mailbox = mail_from
            .parse()
            .with_context(|| format!("BERTH_MAIL_FROM {mail_from:?} is not an email address"))?;
        let (smtp, relay) = match smtp_url {
            Some(url) => {
                let parsed = url::Url::parse(url).map_err(|_| anyhow::anyhow!("BERTH_SMTP_URL is not a URL"))?;
                let relay = format!(
                    "{}://{}:{}",
                    parsed.scheme(),
                    parsed.host_str().unwrap_or(""),
                    parsed.port().map_or_else(|| "default".to_owned(), |p| p.to_string())
                );
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    // lettre's message names the scheme, never the password.
                    .map_err(|err| anyhow::anyhow!("BERTH_SMTP_URL ({relay}) cannot be used: {err}"))?
                    .timeout(Some(SMTP_TIMEOUT))
                    .build();
                (Some(transport), Some(relay))
            }
            None => (None, None),
        };
        let webhook_allow: Arc<[IpNetwork]> = Arc::from([]);
        let http = send::http_client(WEBHOOK_CONNECT_TIMEOUT, webhook_allow.clone())
            .context("cannot build the webhook HTTP client")?;
        Ok(Self {
            smtp,
            relay,
            mail_from,
            http,
            webhook_timeout: WEBHOOK_TIMEOUT,
            webhook_allow,
            poll: Duration::from_secs(1),
            batch: 10,
            per_customer: PER_CUSTOMER,
        })
    }

    /// Lets webhooks reach `allow` besides global addresses (`BERTH_WEBHOOK_ALLOW`: for
    /// test and internal receivers). Empty by default: nothing local, private or reserved.
    pub fn allow_webhooks_to(mut self, allow: &[IpNetwork]) -> anyhow::Result<Self> {
        self.webhook_allow = Arc::from(allow);
        self.http = send::http_client(WEBHOOK_CONNECT_TIMEOUT, self.webhook_allow.clone())
            .context("cannot build the webhook HTTP client")?;
        Ok(self)
    }

    /// The relay as `scheme://host:port`, or `none`.
    pub fn relay(&self) -> &str {
        self.relay.as_deref().unwrap_or("none")
    }
}
