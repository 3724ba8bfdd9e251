//! Command line and configuration: every setting is a flag and an environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "berth", version, about = "Berth: the self-service control panel")]
pub struct Cli {
    #[command(flatten)]
    pub db: DbConfig,
    #[command(flatten)]
    pub engine: EngineConfig,
    #[command(flatten)]
    pub dns: DnsConfig,
    #[command(flatten)]
    pub secret_key: SecretKeyConfig,
    #[command(subcommand)]
    pub command: Option<Command>,
}

// `Serve` holds every serve setting; the command is parsed once, so its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the panel (the default).
    Serve(ServeConfig),
    /// Run the database migrations and exit.
    Migrate,
    /// Create a customer; the password is read from standard input.
    CreateCustomer {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "")]
        display_name: String,
    },
    /// Create a staff account; the password is read from standard input.
    CreateStaff {
        #[arg(long)]
        username: String,
        /// `support` (read-only) or `support-write` (may also change what they look at).
        #[arg(long, default_value = "support", value_parser = ["support", "support-write"])]
        permission: String,
    },
    /// Create an API key and print its secret (shown only this once): a customer's
    /// (`--customer`), or with `--internal` the platform's.
    CreateKey {
        /// The customer's username (not with `--internal`: internal keys are no customer's).
        #[arg(long, required_unless_present = "internal", conflicts_with = "internal")]
        customer: Option<String>,
        #[arg(long, default_value = "created with berth create-key")]
        name: String,
        /// `standard` or `read-only`.
        #[arg(long = "type", default_value = "standard", value_parser = ["standard", "read-only"])]
        kind: String,
        /// An internal key: the platform's, listed and revoked in the staff console. It may
        /// act for any customer and pass the staff-only arguments; every call is recorded in
        /// the affected customer's Activity with the key's owner (`--by`).
        #[arg(long, conflicts_with = "kind")]
        internal: bool,
        /// With `--internal`: the operator making it, recorded as the key's owner
        /// ("operator NAME"). Default: the OS user ($USER), else "operator".
        #[arg(long)]
        by: Option<String>,
    },
    /// Add the demo customer and staff accounts (idempotent).
    SeedDemo,
    /// Staff accounts.
    Staff {
        #[command(subcommand)]
        command: StaffCommand,
    },
    /// Check the configured container engine and say what is missing.
    Doctor,
    /// The images sites' containers run, per container type and operating system.
    Image {
        #[command(subcommand)]
        command: ImageCommand,
    },
    /// The platform's address pool.
    Pool {
        #[command(subcommand)]
        command: PoolCommand,
    },
    /// Notices to customers.
    Notice {
        #[command(subcommand)]
        command: NoticeCommand,
    },
    /// Bandwidth samples.
    Bandwidth {
        #[command(subcommand)]
        command: BandwidthCommand,
    },
    /// The plan catalogue: each size's monthly price and included transfer.
    Plan {
        #[command(subcommand)]
        command: PlanCommand,
    },
    /// DNS, answered by PowerDNS from Berth's tables.
    Dns {
        #[command(subcommand)]
        command: DnsCommand,
    },
    /// The key that seals TOTP secrets at rest (BERTH_SECRET_KEY).
    SecretKey {
        #[command(subcommand)]
        command: SecretKeyCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum SecretKeyCommand {
    /// Seal every stored secret again under BERTH_SECRET_KEY, opening each with it or with
    /// BERTH_SECRET_KEY_PREVIOUS; afterwards the previous key can be dropped.
    Rotate,
}

/// The key that seals secrets at rest (see [`crate::sealed`]): 64 hex digits each, e.g.
/// from `openssl rand -hex 32`. Unset: no account may enrol TOTP (with the embedded default,
/// a development key in BERTH_DATA/secret-key is used instead).
#[derive(Clone, Args)]
pub struct SecretKeyConfig {
    /// The current key: seals new secrets and opens them.
    #[arg(long, env = "BERTH_SECRET_KEY", global = true, hide_env_values = true)]
    pub secret_key: Option<crate::sealed::SecretKey>,
    /// The key before the current one, during a rotation: still opens what it sealed.
    #[arg(long, env = "BERTH_SECRET_KEY_PREVIOUS", global = true, hide_env_values = true)]
    pub secret_key_previous: Option<crate::sealed::SecretKey>,
}

impl std::fmt::Debug for SecretKeyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretKeyConfig")
            .field("secret_key", &self.secret_key.as_ref().map(|_| "<redacted>"))
            .field(
                "secret_key_previous",
                &self.secret_key_previous.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

#[derive(Debug, Subcommand)]
pub enum PlanCommand {
    /// Set a size's plan: `berth plan set small --price 12.00 --transfer-gb 1000`.
    Set {
        /// The container size (`small`, `medium`, `large`, `xlarge`).
        size: String,
        /// The monthly price in BERTH_CURRENCY, such as 12.00.
        #[arg(long)]
        price: String,
        /// The transfer (in and out) included each month, in GB.
        #[arg(long)]
        transfer_gb: i64,
    },
    /// List the sizes with their plans.
    List,
}

#[derive(Debug, Subcommand)]
pub enum DnsCommand {
    /// Print the gpgsql configuration that points PowerDNS at the `pdns` views (the
    /// connection is DATABASE_URL's), after writing the BERTH_DNS_* settings the views read.
    PdnsConfig,
}

/// DNS behind the panel (DESIGN §8): what every zone's SOA and NS say, which names no
/// customer may claim, and whether a zone waits for proof of control.
#[derive(Debug, Clone, Args)]
pub struct DnsConfig {
    /// The primary name server named in every zone's SOA (default: the first of BERTH_DNS_NS,
    /// else the placeholder ns1.berth.invalid).
    #[arg(long, env = "BERTH_DNS_SOA_MNAME", global = true)]
    pub dns_soa_mname: Option<String>,
    /// The name servers of every zone, comma-separated (default: the SOA's name server).
    #[arg(long, env = "BERTH_DNS_NS", value_delimiter = ',', global = true)]
    pub dns_ns: Vec<String>,
    /// The zones' contact address, e.g. hostmaster@example.net (default: hostmaster at the
    /// name server's domain).
    #[arg(long, env = "BERTH_DNS_HOSTMASTER", global = true)]
    pub dns_hostmaster: Option<String>,
    /// Names no customer may claim for a site, nor anything under them (comma-separated).
    #[arg(long, env = "BERTH_DNS_RESERVED", value_delimiter = ',', global = true)]
    pub dns_reserved: Vec<String>,
    /// Serve a site's zone only once a `_berth-verify.<zone>` TXT record holds the token the
    /// site page shows.
    #[arg(long, env = "BERTH_DNS_VERIFY", default_value_t = false, action = clap::ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new(), global = true)]
    pub dns_verify: bool,
}

#[derive(Debug, Subcommand)]
pub enum NoticeCommand {
    /// Publish a notice to one customer, or to every customer; matching subscriptions get
    /// a delivery.
    Publish {
        /// billing, maintenance, outage, security or abuse.
        #[arg(long = "type")]
        notice_type: String,
        /// info, warning or critical.
        #[arg(long)]
        severity: String,
        #[arg(long)]
        title: String,
        /// A file holding the body, as plain text (`-` for standard input).
        #[arg(long)]
        body_file: PathBuf,
        /// The customer's username; without it the notice is for every customer.
        #[arg(long)]
        customer: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum BandwidthCommand {
    /// Import hourly samples from a CSV file: site (hostname or id), hour (RFC 3339),
    /// bytes_in, bytes_out. A file with any bad line imports nothing.
    Import { file: PathBuf },
}

#[derive(Debug, Subcommand)]
pub enum StaffCommand {
    /// Disable a staff account: it cannot sign in, and its sessions end at once (an
    /// impersonation in progress too, recorded in that customer's Activity).
    Disable { username: String },
    /// Enable a disabled staff account again (its old sessions stay ended).
    Enable { username: String },
    /// Remove a staff member's second factor (a lost phone): their sessions end, and their
    /// next sign-in leads to enrolment only. Recorded in the staff log.
    #[command(name = "reset-2fa")]
    Reset2fa { username: String },
}

#[derive(Debug, Subcommand)]
pub enum PoolCommand {
    /// Add every host address of a network (at most a /16 or an IPv6 /112) to the pool;
    /// addresses already in it are left as they are.
    Add {
        /// The network, e.g. 192.0.2.0/24 or 2001:db8::/120.
        cidr: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Set the image for a container type and operating system; `*` matches any (the most
    /// specific setting wins).
    Set {
        /// A container type (`lamp`, `static`, …) or `*`.
        #[arg(value_name = "TYPE")]
        type_id: String,
        /// An operating system (`debian-13`, …) or `*`.
        #[arg(value_name = "OS")]
        os_id: String,
        /// The engine's image reference, e.g. `registry.example/berth/lamp:1`.
        image: String,
    },
    /// List the images set.
    List,
}

/// The container engine behind the panel (DESIGN §8).
#[derive(Debug, Clone, Args)]
pub struct EngineConfig {
    /// `development` (runs no container; the default) or `docker` (the Docker Engine API:
    /// dockerd or Podman's Docker-compatible socket).
    #[arg(long, env = "BERTH_DRIVER", default_value = "development", value_parser = ["development", "docker"], global = true)]
    pub driver: String,
    /// Where the engine listens: `unix:///path` or `tcp://host:port`.
    #[arg(
        long,
        env = "DOCKER_HOST",
        default_value = "unix:///var/run/docker.sock",
        global = true
    )]
    pub docker_host: String,
    /// A host address to publish each container's port 80 on, at a free port (the site
    /// page's preview address).
    #[arg(long, env = "BERTH_PUBLISH", global = true)]
    pub publish: Option<std::net::IpAddr>,
    /// Seconds between two readings of the containers' traffic counters.
    #[arg(long, env = "BERTH_METER_INTERVAL_S", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=86_400), global = true)]
    pub meter_interval_s: u64,
}

impl EngineConfig {
    /// The platform this configuration names, with files under `data`.
    pub fn platform(&self, data: &std::path::Path) -> crate::engine::Platform {
        let driver: std::sync::Arc<dyn crate::engine::ContainerDriver> = match self.driver.as_str() {
            "docker" => std::sync::Arc::new(crate::engine::DockerDriver::new(&self.docker_host)),
            _ => std::sync::Arc::new(crate::engine::DevelopmentDriver),
        };
        crate::engine::Platform {
            driver,
            data: data.to_owned(),
            publish: self.publish,
        }
    }
}

#[derive(Clone, Args)]
pub struct DbConfig {
    /// PostgreSQL URL; unset, Berth runs its own cluster under BERTH_DATA.
    #[arg(long, env = "DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// Folder of the embedded default (its cluster is `BERTH_DATA/postgres`).
    #[arg(long, env = "BERTH_DATA", default_value = "./data", global = true)]
    pub data: PathBuf,
}

impl std::fmt::Debug for DbConfig {
    // The URL may carry a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbConfig")
            .field("database_url", &self.database_url.as_ref().map(|_| "<redacted>"))
            .field("data", &self.data)
            .finish()
    }
}

#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address to listen on.
    #[arg(long, env = "BERTH_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The URL users reach Berth at; `https://` turns on Secure and `__Host-` cookies.
    #[arg(long, env = "BERTH_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Reverse proxies to believe (comma-separated CIDRs, e.g. 10.0.0.0/8,::1/128): when
    /// the peer is one of them, the client is the first address of X-Forwarded-For, from
    /// the right, that is not.
    #[arg(long, env = "BERTH_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<sqlx::types::ipnetwork::IpNetwork>,
    /// API calls a second each key may make (its bucket refills at this rate).
    #[arg(long, env = "BERTH_API_RATE", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub api_rate: u32,
    /// API calls each key may make at once before the rate applies.
    #[arg(long, env = "BERTH_API_BURST", default_value_t = 40, value_parser = clap::value_parser!(u32).range(1..))]
    pub api_burst: u32,
    /// The SMTP relay email notices go through: smtp://host:port (plain), add ?tls=required
    /// for STARTTLS, or smtps://host:port (TLS); user:password@ for AUTH. Unset: email
    /// deliveries wait.
    #[arg(long, env = "BERTH_SMTP_URL")]
    pub smtp_url: Option<SmtpUrl>,
    /// The sender of email notices.
    #[arg(long, env = "BERTH_MAIL_FROM", default_value = "Berth <berth@localhost>")]
    pub mail_from: String,
    /// How often the delivery worker looks for due deliveries when it has nothing to do,
    /// in milliseconds.
    #[arg(long, env = "BERTH_DELIVERY_POLL_MS", default_value_t = 1000)]
    pub delivery_poll_ms: u64,
    /// Networks webhooks may reach besides globally routable addresses (comma-separated
    /// CIDRs, e.g. 127.0.0.0/8,10.1.0.0/16), for test and internal receivers. Unset: none,
    /// so webhooks never reach loopback, private, link-local or other local addresses.
    #[arg(long, env = "BERTH_WEBHOOK_ALLOW", value_delimiter = ',')]
    pub webhook_allow: Vec<sqlx::types::ipnetwork::IpNetwork>,
    /// Connections open at once; more wait in the listen queue. Default: sized from the
    /// open-file limit (768 under the usual 1024).
    #[arg(long, env = "BERTH_MAX_CONNECTIONS", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: Option<u32>,
    /// Seconds a client may take to send a request's headers (and a keep-alive connection
    /// may stay idle), 1 to 10.
    #[arg(long, env = "BERTH_HEADER_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=10))]
    pub header_timeout_secs: u64,
    /// Seconds a stop (SIGTERM, Ctrl-C) waits for requests and deliveries in flight; then
    /// connections still open, idle or half-read, are closed, and the process exits.
    #[arg(long, env = "BERTH_DRAIN_S", default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=300))]
    pub drain_s: u64,
    /// The currency plan prices are in (ISO 4217 code), shown after every price.
    #[arg(long, env = "BERTH_CURRENCY", default_value = "EUR", value_parser = currency)]
    pub currency: String,
    /// Where customers see their invoices and pay (http or https URL); the bandwidth cards
    /// link to it. Unset: they say billing is handled outside the panel.
    #[arg(long, env = "BERTH_BILLING_URL", value_parser = billing_url)]
    pub billing_url: Option<String>,
    /// Where customers reach support (an email address); a cancelled account's sign-in
    /// names it. Unset: they are told to contact the hosting provider's support.
    #[arg(long, env = "BERTH_SUPPORT_EMAIL", value_parser = support_email)]
    pub support_email: Option<String>,
    /// The FTP service (DESIGN §8).
    #[command(flatten)]
    pub ftp: FtpConfig,
}

/// BERTH_CURRENCY: three capital letters, such as EUR or USD.
fn currency(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    if raw.len() == 3 && raw.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(raw.to_owned())
    } else {
        Err(format!("'{raw}' is not a currency code such as EUR or USD"))
    }
}

/// BERTH_BILLING_URL: an http or https URL with a host, without spaces or quotes.
fn billing_url(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    let rest = raw
        .strip_prefix("https://")
        .or_else(|| raw.strip_prefix("http://"))
        .unwrap_or("");
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty()
        || raw
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '<' | '>'))
    {
        return Err(format!("'{raw}' is not an http or https URL"));
    }
    Ok(raw.to_owned())
}

/// BERTH_SUPPORT_EMAIL: one address with a local part and a domain, without spaces,
/// quotes or angle brackets.
fn support_email(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    let valid = raw.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && domain.contains('.') && !domain.contains('@') && !domain.starts_with('.')
    }) && !raw
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '<' | '>' | ','));
    if valid {
        Ok(raw.to_owned())
    } else {
        Err(format!("'{raw}' is not an email address such as support@example.com"))
    }
}

/// The FTP service inside `berth serve`: off unless `BERTH_FTP_LISTEN` is set.
#[derive(Debug, Clone, Args)]
pub struct FtpConfig {
    /// Address the FTP service listens on, e.g. 0.0.0.0:21 or 127.0.0.1:2121. Unset: no FTP.
    #[arg(id = "ftp_listen", long = "ftp-listen", env = "BERTH_FTP_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Ports for passive data connections, FIRST-LAST (open them in the firewall).
    #[arg(id = "ftp_passive_ports", long = "ftp-passive-ports", env = "BERTH_FTP_PASSIVE_PORTS", default_value = "30000-30099", value_parser = port_range)]
    pub passive_ports: std::ops::RangeInclusive<u16>,
    /// The IPv4 address or host name announced to clients for passive connections (behind
    /// NAT, the public one); also the host the panel tells FTP users to connect to. Unset:
    /// the address the client reached.
    #[arg(
        id = "ftp_public_address",
        long = "ftp-public-address",
        env = "BERTH_FTP_PUBLIC_ADDRESS"
    )]
    pub public_address: Option<String>,
    /// PEM file of the certificate chain for explicit FTPS (AUTH TLS); with the key.
    #[arg(
        id = "ftp_tls_cert",
        long = "ftp-tls-cert",
        env = "BERTH_FTP_TLS_CERT",
        requires = "ftp_tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// PEM file of the certificate's private key.
    #[arg(
        id = "ftp_tls_key",
        long = "ftp-tls-key",
        env = "BERTH_FTP_TLS_KEY",
        requires = "ftp_tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// Refuse logins (and data connections) without TLS; needs the certificate and key.
    #[arg(id = "ftp_require_tls", long = "ftp-require-tls", env = "BERTH_FTP_REQUIRE_TLS", default_value_t = false,
          action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub require_tls: bool,
}

/// `FIRST-LAST` (or one port) as a range of ports above 0.
fn port_range(raw: &str) -> Result<std::ops::RangeInclusive<u16>, String> {
    let (first, last) = raw.trim().split_once('-').unwrap_or((raw.trim(), raw.trim()));
    let port = |s: &str| match s.trim().parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("{s:?} is not a port (1-65535)")),
    };
    let (first, last) = (port(first)?, port(last)?);
    if first > last {
        return Err(format!("the range {first}-{last} runs backwards"));
    }
    Ok(first..=last)
}

/// `BERTH_SMTP_URL`: it may carry a password, so `Debug` does not show it.
#[derive(Clone)]
pub struct SmtpUrl(pub String);

impl std::str::FromStr for SmtpUrl {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl std::fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SmtpUrl(<redacted>)")
    }
}

impl ServeConfig {
    /// The serve settings from the environment alone (`berth` with no subcommand).
    pub fn from_env() -> Self {
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            serve: ServeConfig,
        }
        Only::parse_from(["berth"]).serve
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passive_port_ranges() {
        assert_eq!(port_range("30000-30099"), Ok(30000..=30099));
        assert_eq!(port_range(" 2121 "), Ok(2121..=2121));
        assert_eq!(port_range("40000 - 40009"), Ok(40000..=40009));
        for bad in ["", "0-10", "10-5", "a-b", "1-70000", "-"] {
            assert!(port_range(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn currencies_billing_urls_and_support_emails() {
        assert_eq!(currency(" USD "), Ok("USD".to_owned()));
        for bad in ["", "eur", "EURO", "E1R"] {
            assert!(currency(bad).is_err(), "{bad:?}");
        }
        assert!(billing_url("https://billing.example.com/invoices").is_ok());
        for bad in [
            "",
            "billing.example.com",
            "javascript:alert(1)",
            "https://",
            "https://a b",
            "ftp://x",
        ] {
            assert!(billing_url(bad).is_err(), "{bad:?}");
        }
        assert_eq!(support_email(" help@example.com ").as_deref(), Ok("help@example.com"));
        for bad in [
            "",
            "help",
            "help@",
            "@example.com",
            "help@localhost",
            "a b@example.com",
            "<help@example.com>",
        ] {
            assert!(support_email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
