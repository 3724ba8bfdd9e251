//! What a valid record is, type by type: the one place that says so. Values are kept in
//! the presentation form the site page and the zone file show (`10 mail.example.com.`,
//! `"v=spf1 -all"`, `0 issue "letsencrypt.org"`), which is also what PowerDNS reads once
//! the `pdns.records` view has taken the final dot off names and the priority out of MX.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::sites::model::RecordType;
use crate::sites::names::Hostname;

/// The types a customer may add.
pub const TYPES: [RecordType; 6] = [
    RecordType::A,
    RecordType::Aaaa,
    RecordType::Cname,
    RecordType::Mx,
    RecordType::Txt,
    RecordType::Caa,
];

/// Time to live when none is typed.
pub const DEFAULT_TTL: i32 = 3600;
pub const MIN_TTL: i32 = 60;
pub const MAX_TTL: i32 = 604_800;
/// The most text one TXT record may hold, all its strings together.
pub const MAX_TXT: usize = 2048;
/// The most a CAA value may hold.
pub const MAX_CAA_VALUE: usize = 255;

/// The type `raw` names (`a`, `AAAA`, …), if a customer may add it.
pub fn parse_type(raw: &str) -> Result<RecordType, &'static str> {
    let raw = raw.trim();
    TYPES
        .into_iter()
        .find(|t| t.as_str().eq_ignore_ascii_case(raw))
        .ok_or("Choose A, AAAA, CNAME, MX, TXT or CAA.")
}

/// A time to live in seconds; empty is [`DEFAULT_TTL`].
pub fn parse_ttl(raw: &str) -> Result<i32, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(DEFAULT_TTL);
    }
    match raw.parse::<i64>() {
        Ok(ttl) if (i64::from(MIN_TTL)..=i64::from(MAX_TTL)).contains(&ttl) => Ok(ttl as i32),
        _ => Err(format!(
            "Enter the time to live in seconds, from {MIN_TTL} to {MAX_TTL} (a week)."
        )),
    }
}

/// A record's name as typed, made absolute (ASCII, lower case, no final dot): `@` or
/// nothing is `origin` itself, one label (`www`, `_dmarc`, `*`) is under `origin`, and a
/// name with dots is taken as it is (the caller checks it is in the site's zones).
pub fn parse_name(raw: &str, origin: &str) -> Result<String, &'static str> {
    let raw = raw.trim();
    let name = if raw.is_empty() || raw == "@" {
        origin.to_owned()
    } else {
        let raw = raw.strip_suffix('.').unwrap_or(raw);
        let ascii = to_ascii(raw).ok_or("This is not a valid name.")?;
        if ascii.contains('.') {
            ascii
        } else {
            format!("{ascii}.{origin}")
        }
    };
    check_name(&name, true)?;
    Ok(name)
}

/// `name` in ASCII, lower case: each international label in punycode, with the hostname
/// checks (a label that mixes scripts, a lookalike, is refused).
fn to_ascii(name: &str) -> Option<String> {
    let labels: Option<Vec<String>> = name
        .split('.')
        .map(|label| {
            if label.is_ascii() {
                Some(label.to_ascii_lowercase())
            } else {
                let host = format!("{label}.example").parse::<Hostname>().ok()?;
                host.ascii().split('.').next().map(str::to_owned)
            }
        })
        .collect();
    labels.map(|l| l.join("."))
}

/// Labels of 1 to 63 letters, digits, `-` and `_` (not starting or ending with `-`), at
/// most 253 characters in all; with `wildcard`, the first label may be `*`.
fn check_name(name: &str, wildcard: bool) -> Result<(), &'static str> {
    if name.len() > 253 {
        return Err("A name is at most 253 characters.");
    }
    for (i, label) in name.split('.').enumerate() {
        if label.is_empty() {
            return Err("A name has no empty parts (two dots in a row).");
        }
        if label.len() > 63 {
            return Err("Each part of a name is at most 63 characters.");
        }
        if label == "*" && i == 0 && wildcard {
            continue;
        }
        let ok = label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !ok || label.starts_with('-') || label.ends_with('-') {
            return Err("Use letters, digits, dashes and underscores, with dots between the parts (* only first).");
        }
    }
    Ok(())
}

/// A target hostname (of CNAME and MX): fully qualified, kept with its final dot.
fn parse_target(raw: &str) -> Result<String, &'static str> {
    let raw = raw.trim();
    let bare = raw.strip_suffix('.').unwrap_or(raw);
    if bare.is_empty() {
        return Err("Enter a hostname such as mail.example.com.");
    }
    if bare.parse::<std::net::IpAddr>().is_ok() {
        return Err("Enter a hostname, not an IP address.");
    }
    let ascii = to_ascii(bare).ok_or("This is not a valid hostname.")?;
    check_name(&ascii, false).map_err(|_| "Enter a hostname such as mail.example.com.")?;
    if !ascii.contains('.') {
        return Err("Enter the whole hostname, such as mail.example.com.");
    }
    if ascii
        .rsplit('.')
        .next()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err("Enter a hostname, not an IP address.");
    }
    Ok(format!("{ascii}."))
}

/// The value of a record of type `kind`, as it is kept and shown.
pub fn parse_value(kind: RecordType, raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    match kind {
        RecordType::A => raw
            .parse::<Ipv4Addr>()
            .map(|a| a.to_string())
            .map_err(|_| "An A record holds an IPv4 address, such as 192.0.2.10.".to_owned()),
        RecordType::Aaaa => match raw.parse::<Ipv6Addr>() {
            Ok(a) if a.to_ipv4_mapped().is_none() => Ok(a.to_string()),
            Ok(_) => Err("Put an IPv4 address in an A record, not an IPv4-mapped one here.".to_owned()),
            Err(_) => Err("An AAAA record holds an IPv6 address, such as 2001:db8::10.".to_owned()),
        },
        RecordType::Cname => parse_target(raw).map_err(|e| format!("A CNAME points at a hostname: {e}")),
        RecordType::Mx => parse_mx(raw),
        RecordType::Txt => parse_txt(raw),
        RecordType::Caa => parse_caa(raw),
    }
}

fn parse_mx(raw: &str) -> Result<String, String> {
    const HOW: &str = "An MX record is a priority and a mail server's hostname, such as 10 mail.example.com.";
    let mut parts = raw.split_whitespace();
    let (Some(priority), Some(host), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(HOW.to_owned());
    };
    let priority: u16 = priority
        .parse()
        .map_err(|_| "The priority comes first: a whole number from 0 to 65535, such as 10.".to_owned())?;
    let host = parse_target(host).map_err(|e| format!("{HOW} {e}"))?;
    Ok(format!("{priority} {host}"))
}

/// TXT: quoted strings (`"v=spf1 -all"`, several for a long text), or plain text, which is
/// quoted here and cut into strings of 255 bytes. Kept quoted.
fn parse_txt(raw: &str) -> Result<String, String> {
    if raw.is_empty() {
        return Err("Enter the text.".to_owned());
    }
    let strings = if raw.starts_with('"') {
        quoted_strings(raw)?
    } else {
        chunks(raw)
    };
    let total: usize = strings.iter().map(Vec::len).sum();
    if total > MAX_TXT {
        return Err(format!(
            "A TXT record holds at most {MAX_TXT} characters; this has {total}."
        ));
    }
    Ok(strings.iter().map(|s| quote(s)).collect::<Vec<_>>().join(" "))
}

/// Plain text as strings of at most 255 bytes, cut between characters.
fn chunks(text: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    for c in text.chars() {
        let mut buf = [0u8; 4];
        let bytes = c.encode_utf8(&mut buf).as_bytes();
        if current.len() + bytes.len() > 255 {
            out.push(std::mem::take(&mut current));
        }
        current.extend_from_slice(bytes);
    }
    out.push(current);
    out
}

/// `"one" "two"` into its strings' bytes: `\"`, `\\` and `\DDD` inside, spaces between,
/// nothing outside the quotes, each string at most 255 bytes.
fn quoted_strings(raw: &str) -> Result<Vec<Vec<u8>>, String> {
    const UNCLOSED: &str = "A quoted text needs its closing quote (write \\\" for a quote inside it).";
    let bytes = raw.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b' ' => i += 1,
            b'"' => {
                i += 1;
                let mut s = Vec::new();
                loop {
                    match bytes.get(i) {
                        None => return Err(UNCLOSED.to_owned()),
                        Some(b'"') => {
                            i += 1;
                            break;
                        }
                        Some(b'\\') => {
                            let three = bytes.get(i + 1..i + 4).filter(|d| d.iter().all(u8::is_ascii_digit));
                            if let Some(d) = three {
                                let n =
                                    u32::from(d[0] - b'0') * 100 + u32::from(d[1] - b'0') * 10 + u32::from(d[2] - b'0');
                                let byte = u8::try_from(n).map_err(|_| "\\DDD is a byte: 000 to 255.".to_owned())?;
                                s.push(byte);
                                i += 4;
                            } else if let Some(&next) = bytes.get(i + 1) {
                                s.push(next);
                                i += 2;
                            } else {
                                return Err(UNCLOSED.to_owned());
                            }
                        }
                        Some(&b) => {
                            s.push(b);
                            i += 1;
                        }
                    }
                }
                if s.len() > 255 {
                    return Err(
                        "Each quoted string holds at most 255 characters; split a longer text into several (\"…\" \"…\")."
                            .to_owned(),
                    );
                }
                out.push(s);
            }
            _ => {
                return Err(
                    "Quote every part of the text (\"…\" \"…\"), or leave out the quotes altogether.".to_owned(),
                );
            }
        }
    }
    if out.is_empty() {
        return Err("Enter the text.".to_owned());
    }
    Ok(out)
}

/// One string in quotes: `"` and `\` escaped, bytes that are not printable text as `\DDD`.
fn quote(bytes: &[u8]) -> String {
    // Printable text (UTF-8 included) stays as it is; a byte that is not valid UTF-8 text
    // (only reachable through `\DDD`) is written back as `\DDD`.
    let mut out = String::from("\"");
    let mut rest = bytes;
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(text) => {
                push_escaped(&mut out, text);
                break;
            }
            Err(err) => {
                let (good, bad) = rest.split_at(err.valid_up_to());
                push_escaped(&mut out, std::str::from_utf8(good).unwrap_or_default());
                let n = err.error_len().unwrap_or(bad.len()).max(1);
                for b in &bad[..n] {
                    out.push_str(&format!("\\{b:03}"));
                }
                rest = &bad[n..];
            }
        }
    }
    out.push('"');
    out
}

fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push_str(&format!("\\{:03}", c as u32)),
            c => out.push(c),
        }
    }
}

/// CAA: `flags tag value`, such as `0 issue "letsencrypt.org"`; the value may be typed
/// without quotes. Kept with the value quoted.
fn parse_caa(raw: &str) -> Result<String, String> {
    const HOW: &str = "A CAA record is flags, a tag and a value, such as 0 issue \"letsencrypt.org\".";
    let mut parts = raw.splitn(3, char::is_whitespace);
    let (Some(flags), Some(tag), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(HOW.to_owned());
    };
    let flags: u8 = flags
        .parse()
        .map_err(|_| format!("{HOW} The flags are a number from 0 to 255 (0, or 128 for critical)."))?;
    let tag = tag.to_ascii_lowercase();
    if tag.is_empty() || tag.len() > 15 || !tag.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) {
        return Err(format!(
            "{HOW} The tag is 1 to 15 letters or digits: issue, issuewild or iodef."
        ));
    }
    let value = value.trim();
    let value = if value.starts_with('"') {
        let strings = quoted_strings(value).map_err(|e| format!("{HOW} {e}"))?;
        if strings.len() != 1 {
            return Err(format!("{HOW} The value is one quoted string."));
        }
        String::from_utf8(strings.into_iter().next().unwrap_or_default())
            .map_err(|_| "The value is text.".to_owned())?
    } else {
        value.to_owned()
    };
    if value.len() > MAX_CAA_VALUE {
        return Err(format!("A CAA value is at most {MAX_CAA_VALUE} characters."));
    }
    if !value.is_ascii() {
        return Err(format!("{HOW} The value is plain ASCII text."));
    }
    match tag.as_str() {
        "issue" | "issuewild" => {
            let domain = value.split(';').next().unwrap_or_default().trim();
            if !domain.is_empty() && check_name(&domain.to_ascii_lowercase(), false).is_err() {
                return Err(format!(
                    "{HOW} An {tag} value is a certificate authority's domain (or ; for none)."
                ));
            }
        }
        "iodef" if !(value.starts_with("mailto:") || value.starts_with("https://") || value.starts_with("http://")) => {
            return Err(format!("{HOW} An iodef value is a mailto: or https:// address."));
        }
        _ => {}
    }
    Ok(format!("{flags} {tag} {}", quote(value.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_made_absolute_within_the_origin() {
        let origin = "shop.example.com";
        assert_eq!(parse_name("@", origin).unwrap(), "shop.example.com");
        assert_eq!(parse_name("", origin).unwrap(), "shop.example.com");
        assert_eq!(parse_name("WWW", origin).unwrap(), "www.shop.example.com");
        assert_eq!(parse_name("_dmarc", origin).unwrap(), "_dmarc.shop.example.com");
        assert_eq!(parse_name("*", origin).unwrap(), "*.shop.example.com");
        assert_eq!(
            parse_name("a.b.shop.example.com.", origin).unwrap(),
            "a.b.shop.example.com"
        );
        assert_eq!(parse_name("bücher", origin).unwrap(), "xn--bcher-kva.shop.example.com");
        for bad in ["a..b", "-a", "a b", "x.*", "<script>", &"a".repeat(64), "a/b"] {
            assert!(parse_name(bad, origin).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn values_per_type() {
        use RecordType::*;
        let ok = [
            (A, " 192.0.2.10 ", "192.0.2.10"),
            (Aaaa, "2001:DB8:0:0::10", "2001:db8::10"),
            (Cname, "Target.Example.net", "target.example.net."),
            (Cname, "target.example.net.", "target.example.net."),
            (Mx, "10   Mail.Example.com", "10 mail.example.com."),
            (Txt, "v=spf1 -all", "\"v=spf1 -all\""),
            (Txt, "\"v=spf1\" \"-all\"", "\"v=spf1\" \"-all\""),
            (Txt, "say \"hi\"", "\"say \\\"hi\\\"\""),
            (Txt, "\"a\\\"b\"", "\"a\\\"b\""),
            (Txt, "héllo", "\"héllo\""),
            (Caa, "0 issue letsencrypt.org", "0 issue \"letsencrypt.org\""),
            (Caa, "128 ISSUEWILD \";\"", "128 issuewild \";\""),
            (
                Caa,
                "0 iodef mailto:security@example.com",
                "0 iodef \"mailto:security@example.com\"",
            ),
        ];
        for (kind, raw, kept) in ok {
            assert_eq!(parse_value(kind, raw).as_deref(), Ok(kept), "{kind} {raw:?}");
        }
        let bad = [
            (A, "2001:db8::1"),
            (A, "192.0.2"),
            (A, "example.com"),
            (Aaaa, "192.0.2.1"),
            (Aaaa, "::ffff:192.0.2.1"),
            (Cname, "192.0.2.1"),
            (Cname, "localhost"),
            (Cname, ""),
            (Mx, "mail.example.com"),
            (Mx, "10"),
            (Mx, "70000 mail.example.com"),
            (Mx, "10 192.0.2.1"),
            (Mx, "10 mail.example.com extra"),
            (Txt, ""),
            (Txt, "\"unclosed"),
            (Txt, "\"a\" b"),
            (Caa, "0 issue"),
            (Caa, "256 issue \"ca.example\""),
            (Caa, "0 is-sue \"ca.example\""),
            (Caa, "0 iodef \"ftp://x\""),
        ];
        for (kind, raw) in bad {
            assert!(parse_value(kind, raw).is_err(), "{kind} {raw:?} should be refused");
        }
    }

    #[test]
    fn long_text_is_cut_into_strings_and_limited() {
        let long = "x".repeat(600);
        let kept = parse_value(RecordType::Txt, &long).unwrap();
        assert_eq!(kept.matches("\" \"").count(), 2, "three strings");
        assert!(parse_value(RecordType::Txt, &"x".repeat(MAX_TXT + 1)).is_err());
        let one_string_too_long = format!("\"{}\"", "x".repeat(256));
        assert!(parse_value(RecordType::Txt, &one_string_too_long).is_err());
    }

    #[test]
    fn types_and_ttls() {
        assert_eq!(parse_type("aaaa"), Ok(RecordType::Aaaa));
        assert!(parse_type("NS").is_err());
        assert!(parse_type("SOA").is_err());
        assert_eq!(parse_ttl(""), Ok(3600));
        assert_eq!(parse_ttl("300"), Ok(300));
        assert!(parse_ttl("59").is_err());
        assert!(parse_ttl("x").is_err());
        assert!(parse_ttl("604801").is_err());
    }
}
