//! Which addresses Berth may connect to on a customer's behalf (webhooks): only globally
//! routable ones, unless the operator allowed a network (`BERTH_WEBHOOK_ALLOW`).
//!
//! std's `IpAddr::is_global` is unstable, so the table is here, with the ranges of the IANA
//! special-purpose registries that are not reachable on the internet or reach the host or
//! network Berth runs on. IPv4 addresses embedded in IPv6 (mapped, compatible, NAT64,
//! 6to4) are judged by the IPv4 address they reach.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use sqlx::types::ipnetwork::IpNetwork;

/// IPv4 networks that are not globally routable, as (network, prefix length).
const NOT_GLOBAL_V4: [(Ipv4Addr, u8); 16] = [
    (Ipv4Addr::new(0, 0, 0, 0), 8),          // "this network", unspecified
    (Ipv4Addr::new(10, 0, 0, 0), 8),         // private
    (Ipv4Addr::new(100, 64, 0, 0), 10),      // carrier-grade NAT
    (Ipv4Addr::new(127, 0, 0, 0), 8),        // loopback
    (Ipv4Addr::new(169, 254, 0, 0), 16),     // link-local (cloud metadata services)
    (Ipv4Addr::new(172, 16, 0, 0), 12),      // private
    (Ipv4Addr::new(192, 0, 0, 0), 24),       // IETF protocol assignments
    (Ipv4Addr::new(192, 0, 2, 0), 24),       // documentation (TEST-NET-1)
    (Ipv4Addr::new(192, 88, 99, 0), 24),     // 6to4 relay anycast (deprecated)
    (Ipv4Addr::new(192, 168, 0, 0), 16),     // private
    (Ipv4Addr::new(198, 18, 0, 0), 15),      // benchmarking
    (Ipv4Addr::new(198, 51, 100, 0), 24),    // documentation (TEST-NET-2)
    (Ipv4Addr::new(203, 0, 113, 0), 24),     // documentation (TEST-NET-3)
    (Ipv4Addr::new(224, 0, 0, 0), 4),        // multicast
    (Ipv4Addr::new(240, 0, 0, 0), 4),        // reserved, with broadcast 255.255.255.255
    (Ipv4Addr::new(255, 255, 255, 255), 32), // broadcast (inside 240/4; named for clarity)
];

/// IPv6 networks inside global unicast (2000::/3) that are not globally routable.
const NOT_GLOBAL_V6: [(Ipv6Addr, u8); 3] = [
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 23), // IETF protocol assignments (Teredo, …)
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32), // documentation
    (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20), // documentation (RFC 9637)
];

fn in_v4(ip: Ipv4Addr, net: Ipv4Addr, prefix: u8) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    u32::from(ip) & mask == u32::from(net) & mask
}

fn in_v6(ip: Ipv6Addr, net: Ipv6Addr, prefix: u8) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
    u128::from(ip) & mask == u128::from(net) & mask
}

/// The IPv4 address an IPv6 address stands for, when it embeds one: IPv4-mapped
/// (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`, deprecated but still routed to the
/// IPv4 address by some stacks), NAT64 (`64:ff9b::a.b.c.d`) and 6to4 (`2002:aabb:ccdd::`).
pub fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let [a, b, c, d, e, f, g, h] = ip.segments();
    let low = Ipv4Addr::new((g >> 8) as u8, g as u8, (h >> 8) as u8, h as u8);
    match (a, b, c, d, e, f) {
        (0, 0, 0, 0, 0, 0xffff) => Some(low),
        // `::` and `::1` are IPv6's own unspecified and loopback addresses.
        (0, 0, 0, 0, 0, 0) if g != 0 => Some(low),
        (0x64, 0xff9b, 0, 0, 0, 0) => Some(low),
        (0x2002, ..) => Some(Ipv4Addr::new((b >> 8) as u8, b as u8, (c >> 8) as u8, c as u8)),
        _ => None,
    }
}

/// Whether `ip` is reachable on the public internet and reaches neither Berth's own host
/// nor its networks: not loopback, private, link-local, carrier-grade NAT, unique-local,
/// multicast, unspecified, broadcast, documentation, benchmarking or reserved, in any of
/// its IPv6 embeddings.
pub fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !NOT_GLOBAL_V4.iter().any(|&(net, prefix)| in_v4(v4, net, prefix)),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => is_global(IpAddr::V4(v4)),
            // Only 2000::/3 is allocated for global unicast; everything else (`::1`, `::`,
            // fc00::/7, fe80::/10, ff00::/8, 100::/64, 64:ff9b:1::/48, …) is not global.
            None => {
                in_v6(v6, Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0), 3)
                    && !NOT_GLOBAL_V6.iter().any(|&(net, prefix)| in_v6(v6, net, prefix))
            }
        },
    }
}

/// Whether Berth may connect to `ip` for a webhook: it is globally routable, or it (or the
/// IPv4 address it embeds) lies in one of the operator's `allow`ed networks.
pub fn allowed(ip: IpAddr, allow: &[IpNetwork]) -> bool {
    let embedded = match ip {
        IpAddr::V6(v6) => embedded_v4(v6).map(IpAddr::V4),
        IpAddr::V4(_) => None,
    };
    is_global(ip)
        || allow
            .iter()
            .any(|net| net.contains(ip) || embedded.is_some_and(|v4| net.contains(v4)))
}

/// Whether a host name means this machine however it is resolved: `localhost` and names
/// under `.localhost` (RFC 6761), with or without the final dot.
pub fn is_localhost(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    host == "localhost" || host.ends_with(".localhost")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn public_addresses_are_global() {
        for ok in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.3.1",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:0808:0808::1",
        ] {
            assert!(is_global(ip(ok)), "{ok} is global");
        }
    }

    #[test]
    fn local_private_and_reserved_addresses_are_not_global() {
        for bad in [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "10.255.255.255",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "127.255.255.254",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fe80::1",
            "febf::1",
            "fc00::1",
            "fd12:3456:789a::1",
            "ff02::1",
            "100::1",
            "2001:db8::1",
            "2001::1",
            "3fff::1",
            "64:ff9b:1::1",
            // IPv4 in IPv6: mapped, compatible, NAT64, 6to4.
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "::192.168.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:0001::1",
            "2002:c0a8:0101::1",
        ] {
            assert!(!is_global(ip(bad)), "{bad} is not global");
        }
    }

    #[test]
    fn the_allow_list_admits_exactly_its_networks() {
        let allow: Vec<IpNetwork> = vec!["127.0.0.0/8".parse().unwrap(), "fd00::/8".parse().unwrap()];
        assert!(allowed(ip("127.0.0.1"), &allow));
        assert!(allowed(ip("::ffff:127.0.0.1"), &allow), "its IPv6 forms too");
        assert!(allowed(ip("fd00::5"), &allow));
        assert!(allowed(ip("8.8.8.8"), &allow), "global addresses always");
        assert!(!allowed(ip("::1"), &allow), "IPv6 loopback is not 127/8");
        assert!(!allowed(ip("10.0.0.1"), &allow));
        assert!(!allowed(ip("169.254.169.254"), &allow));
        assert!(!allowed(ip("127.0.0.1"), &[]), "nothing local by default");
    }

    #[test]
    fn localhost_names() {
        for name in ["localhost", "LOCALHOST", "localhost.", "a.localhost", "x.y.Localhost."] {
            assert!(is_localhost(name), "{name}");
        }
        for name in ["localhost.example.com", "mylocalhost", "example.com"] {
            assert!(!is_localhost(name), "{name}");
        }
    }
}
