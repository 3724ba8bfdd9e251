//! Showing control of a domain (BERTH_DNS_VERIFY=true): a zone is served only once a TXT
//! record `_berth-verify.<zone>` holds the site's token, looked up through the resolvers
//! of `/etc/resolv.conf` (hickory-resolver) — that is, as the rest of the internet sees the
//! domain, not as Berth's own name servers do.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ProtocolConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;

/// How long one look-up may take before it counts as "not found".
const TIMEOUT: Duration = Duration::from_secs(3);

/// Where the TXT records are looked up.
pub trait TxtLookup {
    /// The strings of the TXT records at `name` (each record's strings joined); empty when
    /// there are none or the look-up failed.
    fn txt(&self, name: &str) -> impl std::future::Future<Output = Vec<String>> + Send;
}

impl TxtLookup for TokioResolver {
    async fn txt(&self, name: &str) -> Vec<String> {
        let Ok(lookup) = self.txt_lookup(format!("{name}.")).await else {
            return Vec::new();
        };
        lookup
            .answers()
            .iter()
            .filter_map(|record| match &record.data {
                RData::TXT(txt) => Some(
                    txt.txt_data
                        .iter()
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .collect::<String>(),
                ),
                _ => None,
            })
            .collect()
    }
}

/// The resolvers of `/etc/resolv.conf`, without a cache, each look-up at most a few seconds.
pub fn system_resolver() -> Result<TokioResolver, String> {
    let mut builder = TokioResolver::builder_tokio().map_err(|err| format!("cannot read /etc/resolv.conf: {err}"))?;
    let options = builder.options_mut();
    options.timeout = TIMEOUT;
    options.attempts = 1;
    options.cache_size = 0;
    builder.build().map_err(|err| format!("no resolver: {err}"))
}

/// A resolver asking only the name server at `server` (over UDP): for tests, and for a
/// platform that checks through a resolver of its own.
pub fn resolver_at(server: SocketAddr) -> Result<TokioResolver, String> {
    let mut connection = ConnectionConfig::new(ProtocolConfig::Udp);
    connection.port = server.port();
    let config = ResolverConfig::from_parts(
        None,
        vec![],
        vec![NameServerConfig::new(server.ip(), true, vec![connection])],
    );
    let mut builder = TokioResolver::builder_with_config(config, TokioRuntimeProvider::default());
    let options = builder.options_mut();
    options.timeout = TIMEOUT;
    options.attempts = 1;
    options.cache_size = 0;
    builder.build().map_err(|err| format!("no resolver: {err}"))
}

/// The name of a zone's verification record.
pub fn record_name(zone: &str) -> String {
    format!("_berth-verify.{zone}")
}
