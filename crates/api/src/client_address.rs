//! The client's address, for the per-address budgets. Forwarded headers are written by whoever
//! sends the request, so they are believed only as far as `TRUSTED_PROXIES` reaches: when the
//! peer is a trusted proxy, the `X-Forwarded-For` list (or, without one, the `Forwarded` list)
//! is walked from the right, past every trusted proxy, and the first address that is not one is
//! the client. Entries left of it were written by the client itself and are never read.
//!
//! `X-Forwarded-For` is preferred because nearly every proxy appends to it; a proxy that writes
//! only `Forwarded` must drop any `X-Forwarded-For` its clients send.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use actix_web::HttpRequest;
use actix_web::http::header::{self, HeaderName};
use ipnet::IpNet;

/// The networks whose forwarded headers are believed (`TRUSTED_PROXIES`); empty trusts none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses a comma-separated list of networks (`10.0.0.0/8`, `fd00::/8`) or bare addresses
    /// (`127.0.0.1`, `::1`); blanks between commas are ignored.
    pub fn parse(raw: &str) -> Result<Self, String> {
        raw.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                let net = match entry.parse::<IpAddr>() {
                    Ok(ip) => IpNet::from(canonical(ip)),
                    Err(_) => IpNet::from_str(entry).map_err(|_| {
                        format!("'{entry}' is not an address or network like 10.0.0.0/8 or ::1")
                    })?,
                };
                Ok(net.trunc())
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// Whether no proxy is trusted (forwarded headers are never read).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client's address: the peer's, unless the peer is a trusted proxy and says otherwise.
    pub fn client_ip(&self, req: &HttpRequest) -> Option<String> {
        let peer = canonical(req.peer_addr()?.ip());
        Some(self.client_behind(peer, &forwarded_chain(req)).to_string())
    }

    /// The right-most address of `chain` (nearest hop last) that is not a trusted proxy,
    /// starting from `peer`. An entry that is no address stops the walk at the trusted hop that
    /// wrote it; a chain of trusted proxies only yields its left-most one.
    fn client_behind(&self, peer: IpAddr, chain: &[Option<IpAddr>]) -> IpAddr {
        let mut nearest = peer;
        if !self.trusts(peer) {
            return peer;
        }
        for hop in chain.iter().rev() {
            let Some(ip) = hop else {
                return nearest;
            };
            nearest = canonical(*ip);
            if !self.trusts(nearest) {
                return nearest;
            }
        }
        nearest
    }
}

/// The addresses the forwarded headers list, left (farthest) to right (nearest); `None` for an
/// entry that is not an address (`unknown`, an obfuscated name, garbage).
fn forwarded_chain(req: &HttpRequest) -> Vec<Option<IpAddr>> {
    const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
    let values = |name: &HeaderName| -> Vec<String> {
        req.headers()
            .get_all(name)
            .map(|v| v.to_str().map(str::to_owned).unwrap_or_default())
            .collect()
    };
    let xff = values(&X_FORWARDED_FOR);
    if !xff.is_empty() {
        return xff
            .iter()
            .flat_map(|line| line.split(','))
            .map(parse_node)
            .collect();
    }
    values(&header::FORWARDED)
        .iter()
        .flat_map(|line| line.split(','))
        .map(|element| {
            element
                .split(';')
                .filter_map(|pair| pair.split_once('='))
                .find(|(key, _)| key.trim().eq_ignore_ascii_case("for"))
                .and_then(|(_, value)| parse_node(value))
        })
        .collect()
}

/// `1.2.3.4`, `1.2.3.4:80`, `::1`, `[::1]`, `[::1]:80`, optionally quoted (RFC 7239).
fn parse_node(raw: &str) -> Option<IpAddr> {
    let node = raw.trim().trim_matches('"');
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(socket) = node.parse::<SocketAddr>() {
        return Some(socket.ip());
    }
    node.strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|inner| inner.parse().ok())
}

/// IPv4-mapped IPv6 (`::ffff:10.0.0.1`, how a dual-stack socket sees an IPv4 peer) as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn chain(entries: &[&str]) -> Vec<Option<IpAddr>> {
        entries.iter().map(|e| parse_node(e)).collect()
    }

    #[test]
    fn parses_networks_and_bare_addresses_of_both_families() {
        let proxies =
            TrustedProxies::parse(" 127.0.0.1/32, 10.0.0.0/8,,::1, fd00::/8, 192.168.1.7 ")
                .unwrap();
        for trusted in ["127.0.0.1", "10.200.3.4", "::1", "fd12::1", "192.168.1.7"] {
            assert!(proxies.trusts(ip(trusted)), "{trusted}");
        }
        for outside in ["127.0.0.2", "11.0.0.1", "::2", "fe80::1", "192.168.1.8"] {
            assert!(!proxies.trusts(ip(outside)), "{outside}");
        }
        // Host bits in a network are ignored, and a mapped IPv4 peer is its IPv4 address.
        let proxies = TrustedProxies::parse("10.1.2.3/8").unwrap();
        assert!(proxies.trusts(ip("10.9.9.9")));
        assert!(proxies.trusts(ip("::ffff:10.0.0.1")));
        assert!(TrustedProxies::parse("").unwrap().is_empty());
    }

    #[test]
    fn refuses_entries_that_are_no_network() {
        for bad in [
            "localhost",
            "10.0.0.0/33",
            "10.0.0",
            "::1/129",
            "10.0.0.0/8;",
        ] {
            let err = TrustedProxies::parse(&format!("127.0.0.1,{bad}")).unwrap_err();
            assert!(err.contains(bad), "{err}");
        }
    }

    #[test]
    fn the_client_is_the_right_most_untrusted_hop() {
        let proxies = TrustedProxies::parse("127.0.0.1,10.0.0.0/8").unwrap();
        let peer = ip("127.0.0.1");
        // The client wrote the left-most entry itself; the proxy appended the real address.
        let spoofed = chain(&["203.0.113.9", "198.51.100.7"]);
        assert_eq!(proxies.client_behind(peer, &spoofed), ip("198.51.100.7"));
        // Several trusted proxies in a row are skipped.
        let via_two = chain(&["198.51.100.7", "10.1.1.1"]);
        assert_eq!(proxies.client_behind(peer, &via_two), ip("198.51.100.7"));
        // Only proxies: the farthest one.
        let internal = chain(&["10.2.2.2", "10.1.1.1"]);
        assert_eq!(proxies.client_behind(peer, &internal), ip("10.2.2.2"));
        // No header: the peer.
        assert_eq!(proxies.client_behind(peer, &[]), peer);
        // Garbage written by a trusted hop stops the walk at that hop.
        let garbage = chain(&["198.51.100.7", "unknown", "10.1.1.1"]);
        assert_eq!(proxies.client_behind(peer, &garbage), ip("10.1.1.1"));
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let proxies = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let spoofed = chain(&["10.1.1.1"]);
        assert_eq!(
            proxies.client_behind(ip("198.51.100.7"), &spoofed),
            ip("198.51.100.7")
        );
        let nobody = TrustedProxies::default();
        assert_eq!(
            nobody.client_behind(ip("127.0.0.1"), &chain(&["1.2.3.4"])),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn reads_the_node_forms_of_both_headers() {
        assert_eq!(parse_node(" 1.2.3.4 "), Some(ip("1.2.3.4")));
        assert_eq!(parse_node("1.2.3.4:8080"), Some(ip("1.2.3.4")));
        assert_eq!(parse_node("2001:db8::1"), Some(ip("2001:db8::1")));
        assert_eq!(
            parse_node("\"[2001:db8::1]:4711\""),
            Some(ip("2001:db8::1"))
        );
        assert_eq!(parse_node("[2001:db8::1]"), Some(ip("2001:db8::1")));
        assert_eq!(parse_node("_hidden"), None);
        assert_eq!(parse_node("unknown"), None);
    }
}
