//! Reading forms strictly, what a form shows when it is re-rendered (the user's input,
//! never passwords, and a message per field), and the client's address for the audit log.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRef, FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use sqlx::types::ipnetwork::IpNetwork;

use crate::state::AppState;
use crate::validation::{FieldErrors, control_character};
use crate::web::{AppError, RequestError};

/// A URL-encoded form, read strictly: text that is not valid UTF-8 is refused rather than
/// silently turned into replacement characters, and a body of another type is refused.
pub struct Form<T>(pub T);

impl<T, S> FromRequest<S> for Form<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_form(req.headers()) {
            return Err(AppError::Request(RequestError::NotAForm));
        }
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|_| AppError::Request(RequestError::TooLarge))?;
        if !is_utf8_form(&body) {
            return Err(AppError::Request(RequestError::Unreadable(
                "The form contained text that is not valid UTF-8.",
            )));
        }
        refuse_control_characters(form_urlencoded::parse(&body))?;
        serde_urlencoded::from_bytes(&body).map(Form).map_err(|_| {
            AppError::Request(RequestError::Unreadable(
                "The form could not be read; please use the page's form.",
            ))
        })
    }
}

/// A 422 naming every field (or field name) of `pairs` that holds a control character.
pub fn refuse_control_characters<'a, K, V>(pairs: impl Iterator<Item = (K, V)>) -> Result<(), AppError>
where
    K: AsRef<str> + 'a,
    V: AsRef<str> + 'a,
{
    let mut errors = FieldErrors::default();
    for (name, value) in pairs {
        let (name, value) = (name.as_ref(), value.as_ref());
        if let Some(message) = control_character("", name) {
            errors.add(
                name.escape_default().to_string(),
                format!("The field's name: {message}"),
            );
        } else if let Some(message) = control_character(name, value) {
            errors.add(name, message);
        }
    }
    errors.into_result().map_err(AppError::Invalid)
}

/// The query string (`?since=…`, `?type=…`, `?page=…`) held to the rules of form fields,
/// for every route of pages and API at once: valid UTF-8, no control characters.
pub async fn checked_query(req: Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::response::IntoResponse;
    if let Some(query) = req.uri().query() {
        if !is_utf8_form(query.as_bytes()) {
            return AppError::Request(RequestError::Unreadable(
                "The address contained text that is not valid UTF-8.",
            ))
            .into_response();
        }
        if let Err(err) = refuse_control_characters(form_urlencoded::parse(query.as_bytes())) {
            return err.into_response();
        }
    }
    next.run(req).await
}

/// Whether the body is a URL-encoded form.
pub fn is_form(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// Every name and value, once `+` and `%XX` are decoded, is valid UTF-8.
fn is_utf8_form(body: &[u8]) -> bool {
    body.split(|b| *b == b'&')
        .flat_map(|pair| pair.splitn(2, |b| *b == b'='))
        .all(|part| {
            let spaced: Vec<u8> = part.iter().map(|b| if *b == b'+' { b' ' } else { *b }).collect();
            percent_encoding::percent_decode(&spaced).decode_utf8().is_ok()
        })
}

#[derive(Debug, Clone, Default)]
pub struct FormState {
    values: BTreeMap<&'static str, String>,
    pub errors: FieldErrors,
}

impl FormState {
    /// A form that failed: `values` are shown again (pass no passwords), `errors` beside
    /// their fields.
    pub fn failed(values: &[(&'static str, &str)], errors: FieldErrors) -> Self {
        Self {
            values: values.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
            errors,
        }
    }

    pub fn value(&self, name: &str) -> &str {
        self.values.get(name).map(String::as_str).unwrap_or("")
    }

    pub fn error(&self, name: &str) -> Option<&str> {
        self.errors.get(name)
    }

    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }
}

/// The client's address: the connection's peer; or, when that peer is a trusted reverse
/// proxy (BERTH_TRUSTED_PROXIES), the first address in `X-Forwarded-For`, read from the
/// right, that is not a trusted proxy. `X-Forwarded-For` from any other peer is ignored.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl<S> FromRequestParts<S> for ClientIp
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip())
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("served without connect info")))?;
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','));
        Ok(Self(client_address(
            peer,
            forwarded,
            &AppState::from_ref(state).web.trusted_proxies,
        )))
    }
}

/// Who the client is when a trusted proxy could not say (`X-Forwarded-For: unknown`, or an
/// entry that is no address): the unspecified address. Not the proxy's own address, which
/// an API key's ACL may well allow and which every such client would otherwise share
/// with the proxy; this one no sensible ACL contains, and such clients are throttled
/// together rather than not at all.
pub const UNKNOWN_CLIENT: IpAddr = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);

/// See [`ClientIp`]. Entries may carry a port (`203.0.113.7:5678`, `[2001:db8::1]:443`) or
/// brackets (`[2001:db8::1]`). An entry that is not an address (`unknown`, an obfuscated
/// name, garbage) where the walk needs the next hop makes the client [`UNKNOWN_CLIENT`].
pub fn client_address<'a>(
    peer: IpAddr,
    forwarded: impl DoubleEndedIterator<Item = &'a str>,
    trusted: &[IpNetwork],
) -> IpAddr {
    let is_trusted = |ip: IpAddr| {
        trusted
            .iter()
            .any(|net| net.contains(canonical(ip)) || net.contains(ip))
    };
    let mut client = peer;
    if !is_trusted(peer) {
        return client;
    }
    for entry in forwarded.rev() {
        let Some(ip) = forwarded_address(entry) else {
            return UNKNOWN_CLIENT;
        };
        client = ip;
        if !is_trusted(ip) {
            break;
        }
    }
    client
}

/// One `X-Forwarded-For` entry as an address: bare, bracketed, or with a port.
fn forwarded_address(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(socket) = entry.parse::<SocketAddr>() {
        return Some(socket.ip());
    }
    let bracketed = entry.strip_prefix('[')?.strip_suffix(']')?;
    bracketed.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6)
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_is_read_only_from_trusted_proxies() {
        let trusted: Vec<IpNetwork> = vec!["10.0.0.0/8".parse().unwrap(), "2001:db8:f::/48".parse().unwrap()];
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let client =
            |peer: &str, xff: &str| client_address(ip(peer), xff.split(',').filter(|s| !s.is_empty()), &trusted);
        // An untrusted peer: its header is ignored.
        assert_eq!(client("198.51.100.9", "203.0.113.7"), ip("198.51.100.9"));
        // A trusted peer: the first untrusted address from the right.
        assert_eq!(client("10.0.0.2", "203.0.113.7"), ip("203.0.113.7"));
        assert_eq!(client("10.0.0.2", "1.2.3.4, 203.0.113.7, 10.0.0.5"), ip("203.0.113.7"));
        assert_eq!(client("2001:db8:f::1", "2001:db8:1::7"), ip("2001:db8:1::7"));
        assert_eq!(client("::ffff:10.0.0.2", "203.0.113.7"), ip("203.0.113.7"));
        // No header: the proxy itself asked.
        assert_eq!(client("10.0.0.2", ""), ip("10.0.0.2"));
        // Only trusted addresses: the leftmost.
        assert_eq!(client("10.0.0.2", "10.0.0.9, 10.0.0.3"), ip("10.0.0.9"));
    }

    #[test]
    fn forwarded_entries_with_ports_and_brackets_are_their_addresses() {
        let trusted: Vec<IpNetwork> = vec!["10.0.0.0/8".parse().unwrap()];
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let client = |xff: &str| client_address(ip("10.0.0.2"), xff.split(','), &trusted);
        assert_eq!(client("203.0.113.7:5678"), ip("203.0.113.7"));
        assert_eq!(client("[2001:db8::1]:443"), ip("2001:db8::1"));
        assert_eq!(client("[2001:db8::1]"), ip("2001:db8::1"));
        assert_eq!(client(" 2001:db8::1 "), ip("2001:db8::1"));
        assert_eq!(client("198.51.100.1, 203.0.113.7:80, 10.0.0.5:1234"), ip("203.0.113.7"));
        assert_eq!(client("[::ffff:203.0.113.7]:80"), ip("::ffff:203.0.113.7"));
    }

    #[test]
    fn a_client_the_proxy_could_not_name_is_unknown_never_the_proxy() {
        let trusted: Vec<IpNetwork> = vec!["10.0.0.0/8".parse().unwrap()];
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let client = |xff: &str| client_address(ip("10.0.0.2"), xff.split(','), &trusted);
        for xff in [
            "unknown",
            "junk",
            "_hidden",
            "203.0.113.7, unknown",
            "203.0.113.7, junk, 10.0.0.3",
            "[2001:db8::1",
            "2001:db8::1]:443",
            "203.0.113.7:",
            "",
        ] {
            assert_eq!(client(xff), UNKNOWN_CLIENT, "{xff:?}");
        }
        // Beyond the first untrusted address nothing is read, garbage or not.
        assert_eq!(client("unknown, 203.0.113.7"), ip("203.0.113.7"));
        // A peer that is not trusted is the client, whatever it forwards.
        assert_eq!(
            client_address(ip("198.51.100.9"), "unknown".split(','), &trusted),
            ip("198.51.100.9")
        );
    }

    #[test]
    fn control_characters_are_refused_except_line_breaks_in_multi_line_fields() {
        assert_eq!(control_character("name", "plain text, ünïcode ✓"), None);
        assert!(control_character("name", "a\0b").unwrap().contains("NUL"));
        assert!(control_character("reason", "a\0b").unwrap().contains("NUL"));
        assert!(control_character("name", "a\tb").is_some());
        assert!(control_character("name", "a\nb").is_some());
        assert!(control_character("name", "a\u{85}b").is_some());
        assert_eq!(control_character("reason", "line one\r\n\tline two"), None);
        assert!(control_character("body", "bell\u{7}").unwrap().contains("U+0007"));
        assert_eq!(control_character("next", "/\t/evil.example"), None);
        assert!(control_character("next", "/\0").is_some());
        let refused = refuse_control_characters([("site_name", "x\0"), ("reason", "ok\n")].into_iter());
        let Err(AppError::Invalid(fields)) = refused else {
            panic!("refused")
        };
        assert!(fields.get("site_name").is_some());
        assert!(fields.get("reason").is_none());
    }

    #[test]
    fn forms_must_be_utf8() {
        assert!(is_utf8_form(b"a=1&b=%C3%A9t%C3%A9+ok&c="));
        assert!(is_utf8_form("name=ñandú".as_bytes()));
        assert!(!is_utf8_form(b"a=%FF%FE"));
        assert!(!is_utf8_form(b"a=ab%C3%28cd"));
        assert!(!is_utf8_form(b"%80=1"));
        assert!(!is_utf8_form(b"a=\xff\xfe"));
    }
}
