//! The network of an ACL (an address and a CIDR mask, host bits cleared) and the one rule
//! that decides whether a client address is inside a key's ACLs.

use std::net::IpAddr;

use sqlx::types::ipnetwork::IpNetwork;

use crate::validation::{Field, Invalid};

/// The two parts of an ACL, each a field of its forms and API arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AclPart {
    Address,
    Cidr,
}

impl Field for AclPart {
    fn form(self) -> &'static str {
        match self {
            Self::Address => "address",
            Self::Cidr => "cidr",
        }
    }

    fn seed(self) -> &'static str {
        self.form()
    }
}

/// A validated ACL network. `cleared` says the address given had host bits set, which were
/// cleared (`203.0.113.7/24` is stored as `203.0.113.0/24`), so the customer can be told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AclNetwork {
    pub network: IpNetwork,
    pub cleared: bool,
}

impl AclNetwork {
    /// Reads the `address` and `cidr` fields; every problem is a message on its field.
    pub fn parse(address: &str, cidr: &str) -> Result<Self, Invalid<AclPart>> {
        let mut errors = Invalid::default();
        let address = address.trim();
        let ip = if address.is_empty() {
            errors.add(
                AclPart::Address,
                "Enter an IP address, such as 203.0.113.0 or 2001:db8::.",
            );
            None
        } else if address.contains('/') {
            errors.add(
                AclPart::Address,
                "Enter the address alone; the mask goes in its own field.",
            );
            None
        } else {
            let parsed = address.parse::<IpAddr>().ok();
            if parsed.is_none() {
                errors.add(
                    AclPart::Address,
                    "That is not an IP address, such as 203.0.113.0 or 2001:db8::.",
                );
            }
            parsed
        };
        let cidr = cidr.trim();
        let mask = if cidr.is_empty() {
            errors.add(AclPart::Cidr, "Enter a mask: 0 to 32 for IPv4, 0 to 128 for IPv6.");
            None
        } else {
            let parsed = cidr.parse::<u8>().ok().filter(|m| *m <= 128);
            if parsed.is_none() {
                errors.add(
                    AclPart::Cidr,
                    "A mask is a whole number: 0 to 32 for IPv4, 0 to 128 for IPv6.",
                );
            }
            parsed
        };
        if let (Some(IpAddr::V4(_)), Some(mask)) = (ip, mask)
            && mask > 32
        {
            errors.add(AclPart::Cidr, "An IPv4 address takes a mask of 0 to 32.");
        }
        errors.into_result()?;
        let (ip, mask) = (ip.expect("checked"), mask.expect("checked"));
        let given = IpNetwork::new(ip, mask).expect("mask checked against the family");
        let network = IpNetwork::new(given.network(), mask).expect("same mask");
        Ok(Self {
            network,
            cleared: network.ip() != ip,
        })
    }
}

impl AclNetwork {
    /// A change of the ACL `current` (updateKeyACL, the edit form): a part left out keeps its
    /// current value, except that a new address of the other family (IPv4 to IPv6 or back)
    /// needs its mask given again: the old one means something else there.
    pub fn change(current: IpNetwork, address: Option<&str>, cidr: Option<&str>) -> Result<Self, Invalid<AclPart>> {
        if let (Some(address), None) = (address, cidr)
            && let Ok(ip) = address.trim().parse::<IpAddr>()
            && ip.is_ipv4() != current.is_ipv4()
        {
            return Err(Invalid::one(
                AclPart::Cidr,
                match ip {
                    IpAddr::V6(_) => "The new address is IPv6 and the ACL was IPv4: give its mask too (0 to 128).",
                    IpAddr::V4(_) => "The new address is IPv4 and the ACL was IPv6: give its mask too (0 to 32).",
                },
            ));
        }
        let address = address.map_or_else(|| current.network().to_string(), str::to_owned);
        let cidr = cidr.map_or_else(|| current.prefix().to_string(), str::to_owned);
        Self::parse(&address, &cidr)
    }

    /// What to tell about the host bits: "the host bits of 203.0.113.7 were cleared".
    pub fn cleared_note(&self, typed: &str) -> Option<String> {
        self.cleared.then(|| {
            format!(
                "Stored as {}: the host bits of {} were cleared.",
                self.network,
                typed.trim()
            )
        })
    }
}

/// The first of `acls` that contains `client`. An IPv4-mapped IPv6 client
/// (`::ffff:203.0.113.7`) is also matched as the IPv4 address it carries.
pub fn matching(acls: &[IpNetwork], client: IpAddr) -> Option<&IpNetwork> {
    let plain = match client {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4),
        IpAddr::V4(_) => None,
    };
    acls.iter()
        .find(|acl| acl.contains(client) || plain.is_some_and(|ip| acl.contains(ip)))
}

/// What the ACLs say about `client`: a key without ACLs is usable from anywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Anywhere,
    Matched(IpNetwork),
    Outside,
}

pub fn verdict(acls: &[IpNetwork], client: IpAddr) -> Verdict {
    if acls.is_empty() {
        return Verdict::Anywhere;
    }
    matching(acls, client).map_or(Verdict::Outside, |acl| Verdict::Matched(*acl))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNetwork {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_clears_host_bits() {
        let acl = AclNetwork::parse("203.0.113.7", "24").unwrap();
        assert_eq!(acl.network, net("203.0.113.0/24"));
        assert!(acl.cleared);
        let acl = AclNetwork::parse(" 203.0.113.0 ", "24").unwrap();
        assert!(!acl.cleared);
        let acl = AclNetwork::parse("2001:db8::1", "32").unwrap();
        assert_eq!(acl.network, net("2001:db8::/32"));
        assert!(acl.cleared);
        assert_eq!(AclNetwork::parse("10.1.2.3", "0").unwrap().network, net("0.0.0.0/0"));
        assert_eq!(AclNetwork::parse("10.1.2.3", "32").unwrap().network, net("10.1.2.3/32"));
        assert_eq!(AclNetwork::parse("::1", "128").unwrap().network, net("::1/128"));
    }

    #[test]
    fn refuses_bad_parts_on_their_fields() {
        use AclPart::{Address, Cidr};
        let cases = [
            ("", "24", Address),
            ("10.0.0", "24", Address),
            ("10.0.0.0/8", "8", Address),
            ("example.com", "24", Address),
            ("10.0.0.1", "33", Cidr),
            ("10.0.0.1", "128", Cidr),
            ("2001:db8::", "129", Cidr),
            ("10.0.0.1", "-1", Cidr),
            ("10.0.0.1", "2x", Cidr),
            ("10.0.0.1", "", Cidr),
            ("10.0.0.1", "1e1", Cidr),
        ];
        for (address, cidr, field) in cases {
            let errors = AclNetwork::parse(address, cidr).expect_err(&format!("{address}/{cidr}"));
            assert!(errors.get(field).is_some(), "{address}/{cidr}: {errors:?}");
        }
    }

    #[test]
    fn ipv4_acls() {
        let acls = [net("203.0.113.0/24")];
        assert_eq!(matching(&acls, ip("203.0.113.0")), Some(&acls[0]));
        assert_eq!(matching(&acls, ip("203.0.113.255")), Some(&acls[0]));
        assert_eq!(matching(&acls, ip("203.0.114.0")), None);
        assert_eq!(matching(&acls, ip("2001:db8::1")), None);
        let host = [net("198.51.100.7/32")];
        assert!(matching(&host, ip("198.51.100.7")).is_some());
        assert!(matching(&host, ip("198.51.100.8")).is_none());
    }

    #[test]
    fn ipv6_acls() {
        let acls = [net("2001:db8:1::/48")];
        assert!(matching(&acls, ip("2001:db8:1:ffff::1")).is_some());
        assert!(matching(&acls, ip("2001:db8:2::1")).is_none());
        assert!(matching(&acls, ip("203.0.113.1")).is_none());
        let host = [net("2001:db8::7/128")];
        assert!(matching(&host, ip("2001:db8::7")).is_some());
        assert!(matching(&host, ip("2001:db8::8")).is_none());
    }

    #[test]
    fn ipv4_mapped_clients_match_ipv4_acls() {
        let acls = [net("203.0.113.0/24")];
        assert!(matching(&acls, ip("::ffff:203.0.113.9")).is_some());
        assert!(matching(&acls, ip("::ffff:198.51.100.9")).is_none());
        // An ACL written in the mapped form still matches the mapped client.
        let mapped = [net("::ffff:203.0.113.0/120")];
        assert!(matching(&mapped, ip("::ffff:203.0.113.9")).is_some());
    }

    #[test]
    fn zero_masks_match_their_whole_family() {
        let v4 = [net("0.0.0.0/0")];
        assert!(matching(&v4, ip("1.2.3.4")).is_some());
        assert!(matching(&v4, ip("255.255.255.255")).is_some());
        assert!(matching(&v4, ip("::ffff:1.2.3.4")).is_some());
        assert!(matching(&v4, ip("2001:db8::1")).is_none());
        let v6 = [net("::/0")];
        assert!(matching(&v6, ip("2001:db8::1")).is_some());
        assert!(matching(&v6, ip("1.2.3.4")).is_none());
    }

    #[test]
    fn no_acls_means_anywhere() {
        assert_eq!(verdict(&[], ip("1.2.3.4")), Verdict::Anywhere);
        let acls = [net("10.0.0.0/8"), net("192.168.0.0/16")];
        assert_eq!(verdict(&acls, ip("192.168.1.1")), Verdict::Matched(acls[1]));
        assert_eq!(verdict(&acls, ip("172.16.0.1")), Verdict::Outside);
    }

    #[test]
    fn a_change_of_family_needs_the_mask_again() {
        let v4 = net("203.0.113.0/25");
        let errors = AclNetwork::change(v4, Some("2001:db8::"), None).unwrap_err();
        assert!(errors.get(AclPart::Cidr).is_some());
        let acl = AclNetwork::change(v4, Some("2001:db8::"), Some("48")).unwrap();
        assert_eq!(acl.network, net("2001:db8::/48"));
        // The same family keeps the mask.
        let acl = AclNetwork::change(v4, Some("198.51.100.77"), None).unwrap();
        assert_eq!(acl.network, net("198.51.100.0/25"));
        assert!(acl.cleared);
        assert!(acl.cleared_note("198.51.100.77").unwrap().contains("198.51.100.77"));
        let v6 = net("2001:db8::/48");
        assert!(AclNetwork::change(v6, Some("203.0.113.9"), None).is_err());
        assert_eq!(
            AclNetwork::change(v6, None, Some("32")).unwrap().network,
            net("2001:db8::/32")
        );
    }
}
