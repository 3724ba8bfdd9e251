//! Sending one delivery: an email through the SMTP relay, or a signed webhook POST.

use std::time::Duration;

use hmac::{Hmac, Mac};
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde::Serialize;
use time::OffsetDateTime;

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

/// POSTs the notice to the webhook, signed. Any answer but 2xx, and any network error or
/// timeout, is a failure to retry.
pub async fn webhook(http: &reqwest::Client, timeout: Duration, claimed: &Claimed) -> Result<(), SendError> {
    let url = claimed
        .target
        .as_deref()
        .ok_or_else(|| SendError::Permanent("the webhook has no URL".to_owned()))?;
    let secret = claimed
        .signing_secret
        .as_deref()
        .ok_or_else(|| SendError::Permanent("the webhook has no signing secret".to_owned()))?;
    let body = serde_json::to_vec(&WebhookBody::of(claimed))
        .map_err(|err| SendError::Permanent(format!("the notice cannot be encoded: {err}")))?;
    let timestamp = OffsetDateTime::now_utc().unix_timestamp();
    let answer = http
        .post(url)
        .timeout(timeout)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(TIMESTAMP_HEADER, timestamp.to_string())
        .header(SIGNATURE_HEADER, signature(secret, timestamp, &body))
        .header(DELIVERY_HEADER, claimed.id.to_string())
        .body(body)
        .send()
        .await;
    match answer {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => Err(SendError::Retry(format!("the receiver answered {}", response.status()))),
        Err(err) if err.is_timeout() => Err(SendError::Retry(format!(
            "the receiver did not answer within {} s",
            timeout.as_secs()
        ))),
        Err(err) if err.is_builder() => Err(SendError::Permanent("the webhook URL cannot be used".to_owned())),
        // Without the URL: it may carry a token in its query.
        Err(err) => Err(SendError::Retry(format!("{:#}", anyhow::Error::new(err.without_url())))),
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
