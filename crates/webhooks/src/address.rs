//! Which IP addresses an outgoing webhook may reach: every address is classified, and only
//! [`AddressClass::Public`] ones are reachable unless private targets are allowed. Addresses
//! that embed an IPv4 address (IPv4-mapped IPv6, NAT64, 6to4) are classified by the address
//! they embed, so `::ffff:127.0.0.1` is loopback like `127.0.0.1`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What kind of address an IP is, as far as reaching it from this service goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressClass {
    /// Routable on the public internet.
    Public,
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// RFC 1918 (`10/8`, `172.16/12`, `192.168/16`), unique local `fc00::/7`, site-local
    /// `fec0::/10`, local-use NAT64 `64:ff9b:1::/48`.
    Private,
    /// `169.254/16`, `fe80::/10`.
    LinkLocal,
    /// `0.0.0.0/8`, `::`.
    Unspecified,
    /// Shared address space of carrier-grade NAT, `100.64/10`.
    SharedCgnat,
    /// `224/4`, `ff00::/8`.
    Multicast,
    /// Documentation and benchmarking ranges, protocol assignments, reserved space and anything
    /// else that is not a public unicast address (`192.0.0/24`, `192.0.2/24`, `198.18/15`,
    /// `240/4`, `2001::/23`, `2001:db8::/32`, addresses outside `2000::/3`, ...).
    Special,
}

impl AddressClass {
    /// Whether a webhook may reach it when private targets are not allowed.
    pub fn is_public(&self) -> bool {
        matches!(self, Self::Public)
    }

    /// A short name for error messages.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Loopback => "loopback",
            Self::Private => "private",
            Self::LinkLocal => "link-local",
            Self::Unspecified => "unspecified",
            Self::SharedCgnat => "shared (CGNAT)",
            Self::Multicast => "multicast",
            Self::Special => "special-purpose",
        }
    }
}

impl fmt::Display for AddressClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Classifies an address.
pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

/// Whether `ip` may be reached: always when private targets are allowed, else only a public
/// address.
pub fn is_allowed(ip: IpAddr, allow_private: bool) -> bool {
    allow_private || classify(ip).is_public()
}

fn in_v4(ip: Ipv4Addr, network: [u8; 4], prefix: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(network)) & mask
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    use AddressClass as C;
    const RANGES: [([u8; 4], u32, AddressClass); 15] = [
        ([0, 0, 0, 0], 8, C::Unspecified),
        ([10, 0, 0, 0], 8, C::Private),
        ([100, 64, 0, 0], 10, C::SharedCgnat),
        ([127, 0, 0, 0], 8, C::Loopback),
        ([169, 254, 0, 0], 16, C::LinkLocal),
        ([172, 16, 0, 0], 12, C::Private),
        ([192, 0, 0, 0], 24, C::Special),
        ([192, 0, 2, 0], 24, C::Special),
        ([192, 88, 99, 0], 24, C::Special),
        ([192, 168, 0, 0], 16, C::Private),
        ([198, 18, 0, 0], 15, C::Special),
        ([198, 51, 100, 0], 24, C::Special),
        ([203, 0, 113, 0], 24, C::Special),
        ([224, 0, 0, 0], 4, C::Multicast),
        ([240, 0, 0, 0], 4, C::Special),
    ];
    RANGES
        .iter()
        .find(|(network, prefix, _)| in_v4(ip, *network, *prefix))
        .map_or(C::Public, |(_, _, class)| *class)
}

fn in_v6(ip: Ipv6Addr, network: [u16; 8], prefix: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
    u128::from(ip) & mask == u128::from(Ipv6Addr::from(network)) & mask
}

fn embedded_v4(bits: u128) -> Ipv4Addr {
    Ipv4Addr::from(u32::try_from(bits & u128::from(u32::MAX)).unwrap_or(0))
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    use AddressClass as C;
    let bits = u128::from(ip);
    if ip.is_unspecified() {
        return C::Unspecified;
    }
    if ip.is_loopback() {
        return C::Loopback;
    }
    // ::ffff:a.b.c.d and the well-known NAT64 prefix carry an IPv4 address in their last 32 bits.
    if in_v6(ip, [0, 0, 0, 0, 0, 0xffff, 0, 0], 96)
        || in_v6(ip, [0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96)
    {
        return classify_v4(embedded_v4(bits));
    }
    // 6to4 carries one in bits 16..48.
    if in_v6(ip, [0x2002, 0, 0, 0, 0, 0, 0, 0], 16) {
        return classify_v4(embedded_v4(bits >> 80));
    }
    const RANGES: [([u16; 8], u32, AddressClass); 9] = [
        ([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48, C::Private),
        ([0x100, 0, 0, 0, 0, 0, 0, 0], 64, C::Special),
        ([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32, C::Special),
        ([0x2001, 0, 0, 0, 0, 0, 0, 0], 23, C::Special),
        ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20, C::Special),
        ([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, C::Private),
        ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, C::LinkLocal),
        ([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10, C::Private),
        ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, C::Multicast),
    ];
    if let Some((_, _, class)) = RANGES
        .iter()
        .find(|(network, prefix, _)| in_v6(ip, *network, *prefix))
    {
        return *class;
    }
    // Global unicast is 2000::/3; everything else (IPv4-compatible ::a.b.c.d included) is
    // reserved.
    if in_v6(ip, [0x2000, 0, 0, 0, 0, 0, 0, 0], 3) {
        C::Public
    } else {
        C::Special
    }
}

#[cfg(test)]
#[path = "address_tests.rs"]
mod tests;
