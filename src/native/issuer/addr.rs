//! Which address a request comes from, for counting failed client authentication: the TCP peer,
//! or, when the peer is a configured trusted proxy (`trusted_proxies`, off by default), the
//! client that the proxies name in `Forwarded` (RFC 7239) or `X-Forwarded-For`. Failures are then
//! counted per address, IPv6 per /64 (what one host or customer usually holds).

use std::net::{IpAddr, Ipv6Addr};

use ipnet::IpNet;

/// Networks whose forwarding headers are believed. Empty: headers are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

fn parse_net(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{s:?} is not an IP address or CIDR network"))
}

impl TrustedProxies {
    /// Parses a list of addresses and CIDR networks.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        entries.iter().map(|e| parse_net(e.as_ref())).collect::<Result<_, _>>().map(TrustedProxies)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn trusts(&self, addr: IpAddr) -> bool {
        let addr = canonical(addr);
        self.0.iter().any(|net| net.contains(&addr))
    }

    /// The client address of a request from `peer` carrying these header values. Hops are read
    /// from the right (the nearest proxy's entry last): the first address that is not a trusted
    /// proxy is the client. An unreadable entry stops the walk at the proxy that wrote it.
    /// `Forwarded` is preferred over `X-Forwarded-For` when both are present.
    pub fn client_addr(&self, peer: IpAddr, forwarded: Option<&str>, x_forwarded_for: Option<&str>) -> IpAddr {
        if !self.trusts(peer) {
            return canonical(peer);
        }
        let hops: Vec<Option<IpAddr>> = match (forwarded, x_forwarded_for) {
            (Some(f), _) => f.split(',').map(forwarded_for).collect(),
            (None, Some(x)) => x.split(',').map(|h| h.trim().parse().ok()).collect(),
            (None, None) => return canonical(peer),
        };
        let mut client = peer;
        for hop in hops.into_iter().rev() {
            match hop {
                Some(addr) => {
                    client = addr;
                    if !self.trusts(addr) {
                        break;
                    }
                }
                None => break,
            }
        }
        canonical(client)
    }
}

/// The `for=` address of one `Forwarded` element: `for=192.0.2.1`, `for="[2001:db8::1]:443"`.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    let value = element.split(';').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        k.trim().eq_ignore_ascii_case("for").then_some(v.trim())
    })?;
    let value = value.trim_matches('"');
    if let Some(rest) = value.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    value.parse().ok().or_else(|| value.rsplit_once(':')?.0.parse().ok())
}

/// IPv4-mapped IPv6 addresses as IPv4.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

/// The unit failures are counted against: an IPv4 address, or an IPv6 /64.
pub fn limit_key(addr: IpAddr) -> IpAddr {
    match canonical(addr) {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn untrusted_peers_are_the_client_whatever_they_send() {
        let none = TrustedProxies::default();
        assert_eq!(none.client_addr(ip("10.0.0.5"), None, Some("1.2.3.4")), ip("10.0.0.5"));
        let lb = TrustedProxies::parse(&["10.0.0.0/8"]).unwrap();
        assert_eq!(lb.client_addr(ip("192.0.2.9"), None, Some("1.2.3.4")), ip("192.0.2.9"), "spoofed header");
    }

    #[test]
    fn trusted_proxies_name_the_client() {
        let lb = TrustedProxies::parse(&["10.0.0.0/8", "fd00::1"]).unwrap();
        let peer = ip("10.0.0.5");
        assert_eq!(lb.client_addr(peer, None, Some("203.0.113.7")), ip("203.0.113.7"));
        // The client may prepend anything; only what the trusted hops appended counts.
        assert_eq!(lb.client_addr(peer, None, Some("6.6.6.6, 203.0.113.7, 10.1.1.1")), ip("203.0.113.7"));
        assert_eq!(lb.client_addr(peer, Some("for=203.0.113.8;proto=https"), Some("1.1.1.1")), ip("203.0.113.8"));
        assert_eq!(lb.client_addr(peer, Some(r#"for="[2001:db8::1]:443", for=10.0.0.9"#), None), ip("2001:db8::1"));
        assert_eq!(lb.client_addr(peer, Some("for=198.51.100.1:8080"), None), ip("198.51.100.1"));
        assert_eq!(lb.client_addr(peer, Some("for=unknown"), None), peer, "unreadable: the proxy itself");
        assert_eq!(lb.client_addr(peer, None, None), peer);
        assert_eq!(lb.client_addr(ip("fd00::1"), None, Some("::ffff:192.0.2.1")), ip("192.0.2.1"));
        assert!(TrustedProxies::parse(&["10.0.0.0/33"]).is_err());
        assert!(TrustedProxies::parse(&["lb.internal"]).is_err());
    }

    #[test]
    fn ipv6_counts_per_64() {
        assert_eq!(limit_key(ip("2001:db8:1:2:aaaa::1")), limit_key(ip("2001:db8:1:2:ffff::9")));
        assert_ne!(limit_key(ip("2001:db8:1:2::1")), limit_key(ip("2001:db8:1:3::1")));
        assert_eq!(limit_key(ip("192.0.2.1")), ip("192.0.2.1"));
        assert_eq!(limit_key(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
    }
}
