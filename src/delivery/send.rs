//! Sending one delivery: an email through the SMTP relay, or a signed webhook POST.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hmac::{Hmac, Mac};
use hyper_util::client::legacy::connect::dns::Name;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde::Serialize;
use sqlx::types::ipnetwork::IpNetwork;
use time::OffsetDateTime;

use super::address;
use super::model::Claimed;

/// The header holding the Unix time the webhook was signed at.
pub const TIMESTAMP_HEADER: &str = "Berth-Timestamp";
/// The header holding `v1=` and the hex HMAC-SHA256 of `"<timestamp>.<body>"`.
pub const SIGNATURE_HEADER: &str = "Berth-Signature";
/// The header holding the delivery's id: the same on every attempt, so a receiver can
/// recognise a message it has already seen.
pub const DELIVERY_HEADER: &str = "Berth-Delivery";

/// Why an attempt failed; the message is stored and shown to the customer, so it never
/// holds a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// Worth trying again later.
    Retry(String),
    /// Trying again cannot help (e.g. no address, an address the relay refuses for good).
    Permanent(String),
}

impl SendError {
    pub fn message(&self) -> &str {
        match self {
            SendError::Retry(m) | SendError::Permanent(m) => m,
        }
    }
}

/// The JSON body of a webhook.
#[derive(Debug, Serialize)]
pub struct WebhookBody<'a> {
    pub delivery_id: i64,
    pub notice_id: i64,
    #[serde(rename = "type")]
    pub notice_type: &'a str,
    pub severity: &'a str,
    pub title: &'a str,
    pub body: &'a str,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The customer the webhook belongs to.
    pub customer_id: i64,
    /// Whether the notice went to every customer.
    pub global: bool,
}

impl<'a> WebhookBody<'a> {
    pub fn of(claimed: &'a Claimed) -> Self {
        Self {
            delivery_id: claimed.id.0,
            notice_id: claimed.notice_id,
            notice_type: &claimed.notice_type,
            severity: &claimed.severity,
            title: &claimed.title,
            body: &claimed.body,
            created_at: claimed.created_at,
            customer_id: claimed.customer_id,
            global: claimed.global,
        }
    }
}

/// The `Berth-Signature` value: `v1=` and the hex HMAC-SHA256, keyed with the signing
/// secret (its text, as shown to the customer), of `"<timestamp>.<body>"`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// The HTTP(S) client webhooks are posted with: HTTP/1.1, TLS through rustls with the
/// webpki roots, no redirects followed (a signed POST is not sent elsewhere, and a redirect
/// would lead past the address check), no idle connections kept. Host names are resolved
/// by [`CheckedResolver`], and the connection goes to exactly the addresses it checked.
pub type HttpClient = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector<CheckedResolver>>,
    http_body_util::Full<axum::body::Bytes>,
>;

/// Builds the [`HttpClient`] with rustls and aws-lc-rs; connections to addresses that are
/// neither global nor in `allow` are refused.
pub fn http_client(connect_timeout: Duration, allow: Arc<[IpNetwork]>) -> anyhow::Result<HttpClient> {
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new_with_resolver(CheckedResolver { allow });
    http.enforce_http(false);
    http.set_connect_timeout(Some(connect_timeout));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::aws_lc_rs::default_provider())?
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build(https),
    )
}

/// A host name resolved to an address Berth may not connect to.
#[derive(Debug)]
pub struct NotAllowed(pub IpAddr);

impl std::fmt::Display for NotAllowed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} is not a globally routable address and not in BERTH_WEBHOOK_ALLOW",
            self.0
        )
    }
}

impl std::error::Error for NotAllowed {}

/// The resolver of the webhook client: it looks the name up once and answers its
/// addresses only when every one of them is allowed ([`address::allowed`]); hyper then
/// connects to exactly those, so a second lookup cannot answer differently (DNS
/// rebinding). One bad address refuses the whole name: a public name has no business
/// resolving into a private network. (IP literals do not reach a resolver: [`webhook`]
/// checks them itself.)
#[derive(Clone)]
pub struct CheckedResolver {
    allow: Arc<[IpNetwork]>,
}

impl tower::Service<Name> for CheckedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = Box<dyn std::error::Error + Send + Sync>;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let allow = self.allow.clone();
        Box::pin(async move {
            // Port 0: hyper puts the URL's port on each address.
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            if let Some(bad) = addrs.iter().find(|a| !address::allowed(a.ip(), &allow)) {
                return Err(Box::new(NotAllowed(bad.ip())) as Self::Error);
            }
            Ok(addrs.into_iter())
        })
    }
}

/// What the customer is told when the receiver could not be reached. The detail (socket,
/// DNS or TLS errors) would map Berth's network for anyone who can add a webhook, so it
/// goes to the server's log only.
pub const COULD_NOT_CONNECT: &str = "could not connect";
/// What the customer is told when the receiver did not answer in time.
pub const TIMED_OUT: &str = "timed out";
/// What the customer is told when the host is (or resolves to) an address Berth may not
/// connect to.
pub const NOT_ALLOWED: &str = "address not allowed";

/// Whether `err` (or an error it was caused by) is a [`NotAllowed`].
fn refused_address(err: &(dyn std::error::Error + 'static)) -> Option<IpAddr> {
    let mut cause = Some(err);
    while let Some(err) = cause {
        if let Some(NotAllowed(ip)) = err.downcast_ref::<NotAllowed>() {
            return Some(*ip);
        }
        cause = err.source();
    }
    None
}

/// POSTs the notice to the webhook, signed. Any answer but 2xx (redirects included), any
/// network error, and no answer within `timeout` is a failure to retry; an address Berth
/// may not connect to fails for good. The error says only what the customer may know
/// ([`COULD_NOT_CONNECT`], `receiver answered 500`, [`TIMED_OUT`], [`NOT_ALLOWED`]); the
/// detail is logged.
pub async fn webhook(
    http: &HttpClient,
    timeout: Duration,
    allow: &[IpNetwork],
    claimed: &Claimed,
) -> Result<(), SendError> {
    use axum::http::{Method, Request, header};

    let url = claimed
        .target
        .as_deref()
        .ok_or_else(|| SendError::Permanent("the webhook has no URL".to_owned()))?;
    let uri: axum::http::Uri = url
        .parse()
        .map_err(|_| SendError::Permanent("the webhook URL cannot be used".to_owned()))?;
    if !matches!(uri.scheme_str(), Some("https" | "http")) {
        return Err(SendError::Permanent("the webhook URL cannot be used".to_owned()));
    }
    // hyper connects to an IP literal without asking the resolver; it parses it like this.
    let host = uri.host().unwrap_or_default();
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if let Ok(ip) = host.parse::<IpAddr>()
        && !address::allowed(ip, allow)
    {
        tracing::warn!(delivery = %claimed.id, %ip, "webhook refused: the address is not allowed");
        return Err(SendError::Permanent(NOT_ALLOWED.to_owned()));
    }
    let secret = claimed
        .signing_secret
        .as_deref()
        .ok_or_else(|| SendError::Permanent("the webhook has no signing secret".to_owned()))?;
    let body = serde_json::to_vec(&WebhookBody::of(claimed))
        .map_err(|err| SendError::Permanent(format!("the notice cannot be encoded: {err}")))?;
    let timestamp = OffsetDateTime::now_utc().unix_timestamp();
    let request = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .header(
            header::USER_AGENT,
            concat!("Berth/", env!("CARGO_PKG_VERSION"), " (notice delivery)"),
        )
        .header(TIMESTAMP_HEADER, timestamp.to_string())
        .header(SIGNATURE_HEADER, signature(secret, timestamp, &body))
        .header(DELIVERY_HEADER, claimed.id.to_string())
        .body(http_body_util::Full::new(axum::body::Bytes::from(body)))
        .map_err(|_| SendError::Permanent("the webhook URL cannot be used".to_owned()))?;
    match tokio::time::timeout(timeout, http.request(request)).await {
        Ok(Ok(response)) if response.status().is_success() => Ok(()),
        Ok(Ok(response)) => Err(SendError::Retry(format!(
            "receiver answered {}",
            response.status().as_u16()
        ))),
        Ok(Err(err)) => match refused_address(&err) {
            Some(ip) => {
                tracing::warn!(delivery = %claimed.id, %ip, "webhook refused: the host resolves to an address that is not allowed");
                // Retried: the name may be pointed elsewhere; each attempt is checked anew.
                Err(SendError::Retry(NOT_ALLOWED.to_owned()))
            }
            None => {
                // hyper's errors do not name the URL (which may carry a token in its query).
                tracing::info!(delivery = %claimed.id, error = format!("{:#}", anyhow::Error::new(err)), "webhook: could not connect");
                Err(SendError::Retry(COULD_NOT_CONNECT.to_owned()))
            }
        },
        Err(_) => Err(SendError::Retry(TIMED_OUT.to_owned())),
    }
}

/// The subject of a notice's email: its title, then its type and severity.
pub fn subject(claimed: &Claimed) -> String {
    format!("{} [{}, {}]", claimed.title, claimed.notice_type, claimed.severity)
}

/// Sends the notice as a plain-text email through the relay.
pub async fn email(
    smtp: &AsyncSmtpTransport<Tokio1Executor>,
    from: &Mailbox,
    claimed: &Claimed,
) -> Result<(), SendError> {
    let to: Address = claimed
        .target
        .as_deref()
        .ok_or_else(|| SendError::Permanent("the contact method has no email address".to_owned()))?
        .parse()
        .map_err(|_| SendError::Permanent("the email address cannot be used".to_owned()))?;
    let domain = from.email.domain().to_owned();
    let text = format!(
        "{}\n\n-- \nBerth notice {} ({}, {}), published {}.\n",
        claimed.body,
        claimed.notice_id,
        claimed.notice_type,
        claimed.severity,
        claimed
            .created_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
    );
    let message = Message::builder()
        .from(from.clone())
        .to(Mailbox::new(None, to))
        .subject(subject(claimed))
        // The same on every attempt, so a repeated message can be recognised.
        .message_id(Some(format!("<berth-delivery-{}@{domain}>", claimed.id)))
        .header(ContentType::TEXT_PLAIN)
        .body(text)
        .map_err(|err| SendError::Permanent(format!("the message cannot be built: {err}")))?;
    match smtp.send(message).await {
        Ok(_) => Ok(()),
        Err(err) if err.is_permanent() => Err(SendError::Permanent(format!("the mail relay refused it: {err}"))),
        Err(err) if err.is_timeout() => Err(SendError::Retry("the mail relay did not answer in time".to_owned())),
        Err(err) => Err(SendError::Retry(format!(
            "the mail relay: {:#}",
            anyhow::Error::new(err)
        ))),
    }
}

/// The pages' own emails (a password reset, an email-change undo) go through the notices'
/// relay, sent at once rather than from the outbox (see [`crate::state::Mailer`]).
#[async_trait::async_trait]
impl crate::state::Mailer for super::DeliveryConfig {
    async fn send(&self, to: &str, subject: &str, body: &str) -> anyhow::Result<()> {
        let Some(smtp) = &self.smtp else {
            anyhow::bail!("{}", super::NO_RELAY);
        };
        let to: Address = to.parse().context("the email address cannot be used")?;
        let message = Message::builder()
            .from(self.mail_from.clone())
            .to(Mailbox::new(None, to))
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_owned())
            .context("the message cannot be built")?;
        smtp.send(message).await.context("the mail relay")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Computed independently with
        // `printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test`.
        assert_eq!(
            signature("whsec_test", 1_700_000_000, br#"{"a":1}"#),
            "v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
    }
}
