//! PowerDNS behind the panel (DESIGN §8): the `gpgsql` configuration that points PowerDNS's
//! generic PostgreSQL backend at the `pdns` views (`berth dns pdns-config`), and the DNS
//! settings from the configuration (BERTH_DNS_*), which Berth writes to `dns_settings` for
//! the views to read.

use std::fmt::Write as _;

use super::model::Settings;
use crate::sites::names::Hostname;

/// Every query gpgsql reads with, each reading a `pdns` view instead of the tables of
/// PowerDNS's own schema. The writing queries are left at their defaults, which name
/// tables that do not exist: PowerDNS cannot change Berth's data (and a role that may
/// only read schema `pdns` keeps it so; README).
pub const QUERIES: &[(&str, &str)] = &[
    (
        "basic-query",
        "select content,ttl,prio,type,domain_id,disabled::int,name,auth::int from pdns.records where disabled=false and type=$1 and name=$2",
    ),
    (
        "id-query",
        "select content,ttl,prio,type,domain_id,disabled::int,name,auth::int from pdns.records where disabled=false and type=$1 and name=$2 and domain_id=$3",
    ),
    (
        "any-query",
        "select content,ttl,prio,type,domain_id,disabled::int,name,auth::int from pdns.records where disabled=false and name=$1",
    ),
    (
        "any-id-query",
        "select content,ttl,prio,type,domain_id,disabled::int,name,auth::int from pdns.records where disabled=false and name=$1 and domain_id=$2",
    ),
    (
        "list-query",
        "select content,ttl,prio,type,domain_id,disabled::int,name,auth::int,ordername from pdns.records where (disabled=false or $1) and domain_id=$2 order by name, type",
    ),
    (
        "list-subzone-query",
        "select content,ttl,prio,type,domain_id,disabled::int,name,auth::int from pdns.records where disabled=false and (name=$1 or name like $2) and domain_id=$3",
    ),
    (
        "search-records-query",
        "select content,ttl,prio,type,domain_id,disabled::int,name,auth::int from pdns.records where name ilike $1 or content ilike $2 limit $3",
    ),
    (
        "info-zone-query",
        "select id,name,master,last_check,notified_serial,type,options,catalog,account from pdns.domains where name=$1",
    ),
    (
        "info-all-slaves-query",
        "select d.id,d.name,d.type,d.master,d.last_check,r.content from pdns.domains d left join pdns.records r on r.domain_id=d.id and r.type='SOA' and r.name=d.name where d.type in ('SLAVE','CONSUMER')",
    ),
    (
        "info-all-master-query",
        "select d.id,d.name,d.type,d.notified_serial,d.options,d.catalog,r.content from pdns.records r join pdns.domains d on r.domain_id=d.id and r.name=d.name where r.type='SOA' and r.disabled=false and d.type in ('MASTER','PRODUCER')",
    ),
    (
        "info-producer-members-query",
        "select d.id,d.name,d.options from pdns.records r join pdns.domains d on r.domain_id=d.id and r.name=d.name where d.type='MASTER' and d.catalog=$1 and r.type='SOA' and r.disabled=false",
    ),
    (
        "info-consumer-members-query",
        "select id,name,options,master from pdns.domains where type='SLAVE' and catalog=$1",
    ),
    (
        "get-all-domains-query",
        "select d.id,d.name,r.content,d.type,d.master,d.notified_serial,d.last_check,d.account from pdns.domains d left join pdns.records r on r.domain_id=d.id and r.type='SOA' and r.name=d.name where r.disabled=false or $1",
    ),
    (
        "get-all-domain-metadata-query",
        "select kind,content from pdns.domainmetadata where name=$1",
    ),
    (
        "get-domain-metadata-query",
        "select content from pdns.domainmetadata where name=$1 and kind=$2",
    ),
    (
        "list-domain-keys-query",
        "select id,flags,case when active then 1 else 0 end as active,case when published then 1 else 0 end as published,content from pdns.cryptokeys where name=$1",
    ),
    (
        "get-tsig-key-query",
        "select algorithm,secret from pdns.tsigkeys where name=$1",
    ),
    ("get-tsig-keys-query", "select name,algorithm,secret from pdns.tsigkeys"),
    (
        "supermaster-query",
        "select account from pdns.supermasters where ip=$1 and nameserver=$2",
    ),
    (
        "supermaster-name-to-ips",
        "select ip,account from pdns.supermasters where nameserver=$1 and account=$2",
    ),
    (
        "list-autoprimaries",
        "select ip,nameserver,account from pdns.supermasters",
    ),
    (
        "list-comments-query",
        "select domain_id,name,type,modified_at,account,comment from pdns.comments where domain_id=$1",
    ),
    (
        "search-comments-query",
        "select domain_id,name,type,modified_at,account,comment from pdns.comments where name ilike $1 or comment ilike $2 limit $3",
    ),
];

/// Where PowerDNS connects: Berth's own database.
#[derive(Clone, PartialEq, Eq)]
pub struct Connection {
    /// A host name, an address, or a Unix socket's folder.
    pub host: String,
    pub port: u16,
    pub dbname: String,
    pub user: String,
    pub password: Option<String>,
    /// Other libpq parameters of the URL (`sslmode=require`, …).
    pub extra: Vec<(String, String)>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("dbname", &self.dbname)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("extra", &self.extra)
            .finish()
    }
}

impl Connection {
    /// From a `postgres://user:password@host:port/dbname?host=/socket&sslmode=…` URL (the
    /// form DATABASE_URL takes).
    pub fn from_url(url: &str) -> Result<Self, String> {
        let parsed = url::Url::parse(url).map_err(|err| format!("DATABASE_URL is not a URL: {err}"))?;
        if !matches!(parsed.scheme(), "postgres" | "postgresql") {
            return Err("DATABASE_URL is not a postgres:// URL".to_owned());
        }
        let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
        let mut host = parsed
            .host_str()
            .map(|h| decode(h.trim_matches(['[', ']'])))
            .unwrap_or_default();
        let mut port = parsed.port().unwrap_or(5432);
        let mut dbname = decode(parsed.path().trim_start_matches('/'));
        let mut user = decode(parsed.username());
        let mut password = parsed.password().map(decode);
        let mut extra = Vec::new();
        for (key, value) in parsed.query_pairs() {
            let value = value.into_owned();
            match key.as_ref() {
                "host" => host = value,
                "port" => {
                    port = value
                        .parse()
                        .map_err(|_| "DATABASE_URL: port is not a number".to_owned())?
                }
                "dbname" => dbname = value,
                "user" => user = value,
                "password" => password = Some(value),
                other => extra.push((other.to_owned(), value)),
            }
        }
        if host.is_empty() {
            host = "localhost".to_owned();
        }
        if user.is_empty() {
            user = std::env::var("USER").unwrap_or_else(|_| "postgres".to_owned());
        }
        if dbname.is_empty() {
            dbname = user.clone();
        }
        Ok(Self {
            host,
            port,
            dbname,
            user,
            password,
            extra,
        })
    }

    /// From the options a pool connects with (the embedded default: a socket, no password).
    pub fn from_options(options: &sqlx::postgres::PgConnectOptions) -> Self {
        let host = match options.get_socket() {
            Some(socket) => socket.display().to_string(),
            None => options.get_host().to_owned(),
        };
        Self {
            host,
            port: options.get_port(),
            dbname: options.get_database().unwrap_or("postgres").to_owned(),
            user: options.get_username().to_owned(),
            password: None,
            extra: Vec::new(),
        }
    }
}

/// A value in libpq's `key=value` form: quoted when it holds spaces or quotes.
fn libpq_value(value: &str) -> String {
    if !value.is_empty() && !value.contains([' ', '\'', '\\']) {
        return value.to_owned();
    }
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// The `gpgsql` part of a PowerDNS configuration: `launch`, the connection, and every query.
pub fn config(connection: &Connection) -> String {
    let mut out = String::new();
    out.push_str(
        "# PowerDNS answers from Berth's tables through the views of schema `pdns`.\n\
         # Printed by `berth dns pdns-config`; it holds the database password: keep it private\n\
         # (chmod 0640, group pdns). SOA and NS come from BERTH_DNS_SOA_MNAME, BERTH_DNS_NS and\n\
         # BERTH_DNS_HOSTMASTER, which `berth serve` and this command write to the database.\n\
         # Caches: PowerDNS's own (cache-ttl, negquery-cache-ttl, query-cache-ttl,\n\
         # zone-cache-refresh-interval) decide how soon a change in the panel is answered; see\n\
         # Berth's README, \"DNS\".\n",
    );
    out.push_str("launch=gpgsql\n");
    let _ = writeln!(out, "gpgsql-host={}", connection.host);
    let _ = writeln!(out, "gpgsql-port={}", connection.port);
    let _ = writeln!(out, "gpgsql-dbname={}", connection.dbname);
    let _ = writeln!(out, "gpgsql-user={}", connection.user);
    if let Some(password) = &connection.password {
        let _ = writeln!(out, "gpgsql-password={password}");
    }
    if !connection.extra.is_empty() {
        let extra: Vec<String> = connection
            .extra
            .iter()
            .map(|(k, v)| format!("{k}={}", libpq_value(v)))
            .collect();
        let _ = writeln!(out, "gpgsql-extra-connection-parameters={}", extra.join(" "));
    }
    out.push_str("gpgsql-dnssec=no\n");
    for (name, query) in QUERIES {
        let _ = writeln!(out, "gpgsql-{name}={query}");
    }
    out
}

/// The DNS settings from BERTH_DNS_SOA_MNAME, BERTH_DNS_NS, BERTH_DNS_HOSTMASTER,
/// BERTH_DNS_RESERVED and BERTH_DNS_VERIFY. Unset: the name server is `ns1.berth.invalid`
/// (a placeholder that says so), the name servers are it alone, and the hostmaster is
/// `hostmaster.` and the name server's domain.
pub fn settings(
    soa_mname: Option<&str>,
    nameservers: &[String],
    hostmaster: Option<&str>,
    reserved: &[String],
    verify: bool,
) -> Result<Settings, String> {
    let host = |what: &str, raw: &str| -> Result<String, String> {
        let raw = raw.trim();
        raw.strip_suffix('.')
            .unwrap_or(raw)
            .parse::<Hostname>()
            .map(|h| h.ascii().to_owned())
            .map_err(|err| format!("{what} {raw:?}: {err}"))
    };
    let nameservers: Vec<String> = nameservers
        .iter()
        .filter(|n| !n.trim().is_empty())
        .map(|n| host("BERTH_DNS_NS", n))
        .collect::<Result<_, _>>()?;
    let soa_mname = match soa_mname.filter(|m| !m.trim().is_empty()) {
        Some(m) => host("BERTH_DNS_SOA_MNAME", m)?,
        None => nameservers
            .first()
            .cloned()
            .unwrap_or_else(|| "ns1.berth.invalid".to_owned()),
    };
    let nameservers = if nameservers.is_empty() {
        vec![soa_mname.clone()]
    } else {
        nameservers
    };
    let hostmaster = match hostmaster.map(str::trim).filter(|h| !h.is_empty()) {
        Some(h) => rname(h)?,
        None => {
            let domain = soa_mname.split_once('.').map_or(soa_mname.as_str(), |(_, d)| d);
            format!("hostmaster.{domain}")
        }
    };
    let reserved = reserved
        .iter()
        .filter(|r| !r.trim().is_empty())
        .map(|r| host("BERTH_DNS_RESERVED", r))
        .collect::<Result<_, _>>()?;
    Ok(Settings {
        soa_mname,
        hostmaster,
        nameservers,
        reserved,
        verify,
    })
}

/// The SOA's RNAME from an address (`hostmaster@example.net` → `hostmaster.example.net`,
/// a dot in the local part escaped) or a name already in that form.
fn rname(raw: &str) -> Result<String, String> {
    let bad = || format!("BERTH_DNS_HOSTMASTER {raw:?}: give an address such as hostmaster@example.net");
    let (local, domain) = match raw.split_once('@') {
        Some((local, domain)) => (local.replace('.', "\\."), domain),
        None => match raw.split_once('.') {
            Some((local, domain)) => (local.to_owned(), domain),
            None => return Err(bad()),
        },
    };
    let local_ok = !local.is_empty()
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+' | '.' | '\\'));
    let domain = domain
        .strip_suffix('.')
        .unwrap_or(domain)
        .parse::<Hostname>()
        .map_err(|_| bad())?;
    if !local_ok {
        return Err(bad());
    }
    Ok(format!("{local}.{}", domain.ascii()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_comes_from_the_url() {
        let c = Connection::from_url("postgres://berth:s%40cret@db.example:6432/berth?sslmode=require").unwrap();
        assert_eq!(
            (c.host.as_str(), c.port, c.dbname.as_str(), c.user.as_str()),
            ("db.example", 6432, "berth", "berth")
        );
        assert_eq!(c.password.as_deref(), Some("s@cret"));
        let printed = config(&c);
        assert!(printed.contains("gpgsql-password=s@cret\n"));
        assert!(printed.contains("gpgsql-extra-connection-parameters=sslmode=require\n"));
        assert!(!format!("{c:?}").contains("cret"));
        let socket = Connection::from_url("postgres://postgres@localhost/berth_x?host=/run/pg").unwrap();
        assert_eq!((socket.host.as_str(), socket.port), ("/run/pg", 5432));
        assert!(Connection::from_url("mysql://x@y/z").is_err());
    }

    #[test]
    fn every_query_reads_a_pdns_view() {
        let printed = config(&Connection::from_url("postgres://u@h/d").unwrap());
        for (name, query) in QUERIES {
            assert!(query.contains("from pdns."), "{name}");
            assert!(printed.contains(&format!("gpgsql-{name}={query}\n")));
        }
        assert!(printed.starts_with("# PowerDNS"));
        assert!(printed.contains("\nlaunch=gpgsql\n"));
    }

    #[test]
    fn settings_from_the_configuration() {
        let ns = ["ns1.example.net".to_owned(), "NS2.example.net.".to_owned()];
        let s = settings(
            None,
            &ns,
            Some("dns.admin@example.net"),
            &["berth.example".to_owned()],
            true,
        )
        .unwrap();
        assert_eq!(s.soa_mname, "ns1.example.net");
        assert_eq!(s.nameservers, ["ns1.example.net", "ns2.example.net"]);
        assert_eq!(s.hostmaster, "dns\\.admin.example.net");
        assert_eq!(s.reserved, ["berth.example"]);
        assert!(s.verify);
        let defaults = settings(None, &[], None, &[], false).unwrap();
        assert_eq!(defaults.soa_mname, "ns1.berth.invalid");
        assert_eq!(defaults.nameservers, ["ns1.berth.invalid"]);
        assert_eq!(defaults.hostmaster, "hostmaster.berth.invalid");
        assert!(settings(Some("not a name"), &[], None, &[], false).is_err());
        assert!(settings(None, &[], Some("nobody"), &[], false).is_err());
        assert!(settings(None, &["192.0.2.1".to_owned()], None, &[], false).is_err());
    }
}
