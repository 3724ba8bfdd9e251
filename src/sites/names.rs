//! What a valid site name, hostname and DNS label are: the one place that says so.

use std::fmt;
use std::str::FromStr;

use unicode_script::{Script, UnicodeScript};

/// A site's name: 1 to 64 letters, digits, spaces, `-` or `_`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteName(String);

impl FromStr for SiteName {
    type Err = &'static str;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let s = raw.trim();
        let ok = s.chars().all(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'));
        if s.is_empty() || s.chars().count() > 64 || !ok {
            return Err("A site name is 1 to 64 letters, digits, spaces, dashes or underscores.");
        }
        Ok(Self(s.to_owned()))
    }
}

impl SiteName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One DNS label: 1 to 63 of `a-z 0-9 -`, not starting or ending with `-`; lower-cased.
/// Container and environment names are DNS labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DnsLabel(String);

impl FromStr for DnsLabel {
    type Err = &'static str;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let s = raw.trim().to_ascii_lowercase();
        if !is_ascii_label(&s) {
            return Err("Use 1 to 63 lowercase letters, digits or dashes, not starting or ending with a dash.");
        }
        Ok(Self(s))
    }
}

impl DnsLabel {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DnsLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_ascii_label(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A hostname, stored in its ASCII (punycode) form and shown in Unicode: at least two
/// labels, each 1 to 63, at most 253 in all; no IP literals; no label that mixes scripts
/// (a lookalike such as a Cyrillic `а` among Latin letters).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Hostname(String);

impl FromStr for Hostname {
    type Err = &'static str;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let s = raw.trim();
        if s.is_empty() {
            return Err("Enter a hostname such as www.example.com.");
        }
        if s.ends_with('.') {
            return Err("Leave out the final dot.");
        }
        if s.parse::<std::net::IpAddr>().is_ok() || s.trim_matches(['[', ']']).parse::<std::net::Ipv6Addr>().is_ok() {
            return Err("Enter a hostname, not an IP address.");
        }
        let ascii = idna::domain_to_ascii(s).map_err(|_| "This is not a valid hostname.")?;
        // Checked on the Unicode form of what is stored, so punycode input and characters
        // that the mapping turns into letters cannot slip a lookalike through.
        let (unicode, mapped) = idna::domain_to_unicode(&ascii);
        if mapped.is_err() {
            return Err("This is not a valid hostname.");
        }
        if unicode.split('.').any(mixes_scripts) {
            return Err("A label mixes letters of different scripts (a lookalike); use one script per label.");
        }
        let labels: Vec<&str> = ascii.split('.').collect();
        if labels.len() < 2 {
            return Err("A hostname has at least two labels, such as example.com.");
        }
        if ascii.len() > 253 {
            return Err("A hostname is at most 253 characters.");
        }
        if labels.iter().any(|l| l.len() > 63) {
            return Err("Each part of a hostname is at most 63 characters.");
        }
        if !labels.iter().all(|l| is_ascii_label(l)) {
            return Err("Use letters, digits and dashes, with dots between the parts.");
        }
        if labels.last().is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit())) {
            return Err("Enter a hostname, not an IP address.");
        }
        Ok(Self(ascii))
    }
}

impl Hostname {
    /// The stored, ASCII (punycode) form.
    pub fn ascii(&self) -> &str {
        &self.0
    }

    /// How it is shown: Unicode.
    pub fn unicode(&self) -> String {
        to_unicode(&self.0)
    }
}

/// Shows a stored (ASCII) hostname in Unicode.
pub fn to_unicode(ascii: &str) -> String {
    idna::domain_to_unicode(ascii).0
}

/// Whether `typed` names the stored (ASCII) hostname `stored`: in Unicode or punycode, in
/// any case, with spaces around it.
pub fn same_hostname(typed: &str, stored: &str) -> bool {
    let typed = typed.trim();
    !typed.is_empty() && idna::domain_to_ascii(typed).is_ok_and(|ascii| ascii.eq_ignore_ascii_case(stored))
}

fn mixes_scripts(label: &str) -> bool {
    let mut seen: Option<Script> = None;
    for c in label.chars() {
        let script = c.script();
        if matches!(script, Script::Common | Script::Inherited | Script::Unknown) {
            continue;
        }
        match seen {
            None => seen = Some(script),
            Some(s) if s != script => return true,
            Some(_) => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typed_hostname_matches_in_either_form() {
        assert!(same_hostname("shop.example.com", "shop.example.com"));
        assert!(same_hostname(" Shop.Example.COM ", "shop.example.com"));
        assert!(same_hostname("bücher.example", "xn--bcher-kva.example"));
        assert!(same_hostname("xn--bcher-kva.example", "xn--bcher-kva.example"));
        for wrong in [
            "",
            " ",
            "shop.example.org",
            "www.shop.example.com",
            "shop.example.com.x",
            "\u{0}",
        ] {
            assert!(!same_hostname(wrong, "shop.example.com"), "{wrong:?}");
        }
    }

    #[test]
    fn hostnames() {
        let ok = [
            ("www.example.com", "www.example.com"),
            ("Example.COM", "example.com"),
            ("  shop.example.org ", "shop.example.org"),
            ("bücher.example", "xn--bcher-kva.example"),
            ("пример.рф", "xn--e1afmkfd.xn--p1ai"),
            ("a-b.c-d.example", "a-b.c-d.example"),
        ];
        for (input, stored) in ok {
            assert_eq!(
                input.parse::<Hostname>().map(|h| h.ascii().to_owned()),
                Ok(stored.to_owned()),
                "{input}"
            );
        }
        assert_eq!(
            "xn--bcher-kva.example".parse::<Hostname>().unwrap().unicode(),
            "bücher.example"
        );
        let long_label = format!("{}.example.com", "a".repeat(64));
        let long_name = format!("{}.com", ["abcdefghij"; 25].join("."));
        let bad = [
            "",
            "localhost",
            "example.com.",
            "192.0.2.1",
            "::1",
            "[2001:db8::1]",
            "1.2.3.4.5",
            "<script>.example.com",
            "exa mple.com",
            "-example.com",
            "example-.com",
            "example..com",
            ".example.com",
            "pаypal.com",        // Cyrillic а among Latin letters
            "xn--pypal-4ve.com", // the same, as punycode
            "раура𝐥.com",        // Cyrillic, and a mathematical l that maps to a Latin one
            long_label.as_str(),
            long_name.as_str(),
            "under_score.example.com",
            "javascript:alert(1)",
        ];
        for input in bad {
            assert!(input.parse::<Hostname>().is_err(), "{input:?} should be refused");
        }
    }

    #[test]
    fn labels_and_site_names() {
        assert_eq!("Web-01".parse::<DnsLabel>().unwrap().as_str(), "web-01");
        for bad in ["", "-a", "a-", "a_b", "a.b", "<script>", &"a".repeat(64), "ünï"] {
            assert!(bad.parse::<DnsLabel>().is_err(), "{bad}");
        }
        assert!("My shop_2 - ünïcode".parse::<SiteName>().is_ok());
        for bad in ["", "   ", "a/b", "<script>", &"a".repeat(65), "semi;colon"] {
            assert!(bad.parse::<SiteName>().is_err(), "{bad}");
        }
    }
}
