use std::net::IpAddr;

use super::*;

fn class(raw: &str) -> AddressClass {
    let ip: IpAddr = raw
        .parse()
        .unwrap_or_else(|_| panic!("{raw} is an address"));
    classify(ip)
}

fn assert_class(class_of: AddressClass, addresses: &[&str]) {
    for raw in addresses {
        assert_eq!(class(raw), class_of, "{raw}");
    }
}

#[test]
fn public_addresses_are_public() {
    assert_class(
        AddressClass::Public,
        &[
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.0",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
            "2001:4860:4860::8888",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ],
    );
}

#[test]
fn loopback_in_every_spelling_is_loopback() {
    assert_class(
        AddressClass::Loopback,
        &[
            "127.0.0.1",
            "127.255.255.254",
            "127.1.2.3",
            "::1",
            "::ffff:127.0.0.1",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
        ],
    );
}

#[test]
fn rfc1918_and_unique_local_are_private() {
    assert_class(
        AddressClass::Private,
        &[
            "10.0.0.1",
            "10.255.255.255",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.0.1",
            "192.168.255.255",
            "fc00::1",
            "fd12:3456:789a::1",
            "fec0::1",
            "64:ff9b:1::a00:1",
            "::ffff:10.1.2.3",
            "::ffff:192.168.1.1",
            "2002:c0a8:101::1",
        ],
    );
}

#[test]
fn link_local_covers_cloud_metadata() {
    assert_class(
        AddressClass::LinkLocal,
        &[
            "169.254.169.254",
            "169.254.0.1",
            "fe80::1",
            "febf::1",
            "::ffff:169.254.169.254",
        ],
    );
}

#[test]
fn unspecified_cgnat_and_multicast() {
    assert_class(
        AddressClass::Unspecified,
        &["0.0.0.0", "0.1.2.3", "::", "::ffff:0.0.0.0"],
    );
    assert_class(
        AddressClass::SharedCgnat,
        &["100.64.0.1", "100.127.255.255", "::ffff:100.64.0.1"],
    );
    assert_class(
        AddressClass::Multicast,
        &["224.0.0.1", "239.255.255.250", "ff02::1", "ff05::2"],
    );
}

#[test]
fn documentation_benchmarking_and_reserved_space_is_special() {
    assert_class(
        AddressClass::Special,
        &[
            "192.0.0.8",
            "192.0.2.1",
            "192.88.99.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "240.0.0.1",
            "255.255.255.255",
            "2001:db8::1",
            "2001::1",
            "2001:1ff::1",
            "3fff::1",
            "100::1",
            "::1.2.3.4",
            "1::1",
            "4000::1",
        ],
    );
}

#[test]
fn only_public_addresses_are_allowed_unless_private_targets_are() {
    let loopback: IpAddr = "127.0.0.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let public: IpAddr = "1.1.1.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
    assert!(!is_allowed(loopback, false));
    assert!(is_allowed(loopback, true));
    assert!(is_allowed(public, false));
    assert!(AddressClass::Public.is_public());
    for class in [
        AddressClass::Loopback,
        AddressClass::Private,
        AddressClass::LinkLocal,
        AddressClass::Unspecified,
        AddressClass::SharedCgnat,
        AddressClass::Multicast,
        AddressClass::Special,
    ] {
        assert!(!class.is_public(), "{class}");
        assert!(!class.as_str().is_empty());
    }
}
