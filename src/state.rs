//! What every handler can reach ([`AppState`]) and the HTTP settings derived from the
//! configuration ([`WebConfig`]). Below `web`, `api` and every area.

use std::time::Duration;

use sqlx::PgPool;

use crate::clock::Clock;
use crate::db::changes::Changes;
use crate::password::Hasher;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub hasher: Hasher,
    pub web: std::sync::Arc<WebConfig>,
    /// The time sessions, the impersonation limit and the sign-in throttle go by.
    pub clock: Clock,
    /// The container engine and the files folders behind the panel.
    pub platform: std::sync::Arc<crate::engine::Platform>,
    /// Seals and opens the secrets kept at rest (TOTP secrets), under BERTH_SECRET_KEY.
    pub sealer: crate::sealed::Sealer,
    /// The change listener behind the in-process copies of what signed-in pages read
    /// (`Changes::per_customer`).
    pub changes: Changes,
}

/// HTTP settings derived from the configuration.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// `https://host[:port]` when BERTH_PUBLIC_URL is https; turns on Secure + `__Host-`.
    pub public_origin: Option<String>,
    pub secure_cookies: bool,
    pub idle_timeout: Duration,
    pub absolute_timeout: Duration,
    /// Reverse proxies whose `X-Forwarded-For` is believed (see `ClientIp`).
    pub trusted_proxies: Vec<sqlx::types::ipnetwork::IpNetwork>,
    /// Each API key may make this many calls a second, with bursts of `api_burst`.
    pub api_rate_per_second: u32,
    pub api_burst: u32,
    /// How long a staff member may impersonate a customer before it ends by itself.
    pub impersonation_limit: Duration,
    /// Where FTP users connect, as the pages tell them; `None` when `berth serve` runs no
    /// FTP service.
    pub ftp: Option<FtpAccess>,
    /// Where the emails that carry a secret link go at once (password reset, email-change
    /// undo): the notices' SMTP relay (`delivery::DeliveryConfig`); `None` when Berth runs
    /// without one, and then such emails are not sent (and the log says so).
    pub mail: Option<std::sync::Arc<dyn Mailer>>,
    /// The currency plan prices are in (BERTH_CURRENCY).
    pub currency: String,
    /// Where invoices are (BERTH_BILLING_URL); the bandwidth cards link to it.
    pub billing_url: Option<String>,
    /// Where customers reach support (BERTH_SUPPORT_EMAIL); a cancelled account's sign-in
    /// names it.
    pub support_email: Option<String>,
}

/// Sends one email now, through the same SMTP relay as the notices. For the messages that
/// carry a secret link (a password reset, an email-change undo): the outbox would keep the
/// link in the database, where only its hash may be.
#[async_trait::async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, to: &str, subject: &str, body: &str) -> anyhow::Result<()>;
}

impl std::fmt::Debug for dyn Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Mailer")
    }
}

/// Where the FTP service is reached, and whether it speaks TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FtpAccess {
    pub host: String,
    pub port: u16,
    pub tls: FtpTls,
}

/// The FTP service's TLS: none, offered (explicit FTPS, `AUTH TLS`), or required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FtpTls {
    Off,
    Offered,
    Required,
}

impl WebConfig {
    pub fn new(public_url: Option<&str>) -> Self {
        let public_origin = public_url.map(origin_of);
        let secure_cookies = public_origin.as_deref().is_some_and(|o| o.starts_with("https://"));
        Self {
            public_origin,
            secure_cookies,
            idle_timeout: Duration::from_secs(30 * 60),
            absolute_timeout: Duration::from_secs(12 * 60 * 60),
            trusted_proxies: Vec::new(),
            api_rate_per_second: 20,
            api_burst: 40,
            impersonation_limit: Duration::from_secs(30 * 60),
            ftp: None,
            mail: None,
            currency: "EUR".to_owned(),
            billing_url: None,
            support_email: None,
        }
    }

    /// What a cancelled customer who gave the right password is told.
    pub fn cancelled_message(&self) -> String {
        match &self.support_email {
            Some(email) => format!("This account is cancelled. To reopen it, or for its data, write to {email}."),
            None => {
                "This account is cancelled. To reopen it, or for its data, contact your hosting provider's support."
                    .to_owned()
            }
        }
    }

    pub fn cookie_name(&self) -> &'static str {
        if self.secure_cookies {
            "__Host-berth_session"
        } else {
            "berth_session"
        }
    }
}

/// `https://panel.example.com/x/` → `https://panel.example.com`.
fn origin_of(url: &str) -> String {
    let url = url.trim();
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let host = rest.split('/').next().unwrap_or(rest);
    format!("{}://{}", scheme.to_ascii_lowercase(), host.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_url_decides_cookie_security() {
        let plain = WebConfig::new(None);
        assert_eq!(plain.cookie_name(), "berth_session");
        assert!(!plain.secure_cookies);
        let https = WebConfig::new(Some("https://Panel.Example.com/berth/"));
        assert_eq!(https.public_origin.as_deref(), Some("https://panel.example.com"));
        assert_eq!(https.cookie_name(), "__Host-berth_session");
        assert!(!WebConfig::new(Some("http://panel.example.com")).secure_cookies);
    }
}
