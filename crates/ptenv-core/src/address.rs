//! Where ptenv connects to reach a port it published: the address the port is bound to, or
//! the loopback address of the same family when it is bound to all addresses. The readiness
//! probes, the URLs ptenv prints, the ssh `HostName` and the known_hosts entry all use it, so
//! that `bind: 127.0.0.2` or `bind: "::1"` works as `bind: 127.0.0.1` does.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The address to connect to for a port bound to `bind` (as written in a profile or reported
/// by the engine): `0.0.0.0` (or an empty host, as the engine may report it) is reached
/// through 127.0.0.1, `::` through ::1, any other address is itself.
pub fn connect_ip(bind: &str) -> IpAddr {
    let bind = bind.trim_start_matches('[').trim_end_matches(']');
    match bind.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        Ok(IpAddr::V6(ip)) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        Ok(ip) => ip,
        Err(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
    }
}

/// [`connect_ip`] with the port; its `Display` brackets IPv6 (`[::1]:8888`), as URLs, HTTP's
/// `Host` header and ssh's known_hosts (`[::1]:2222`, with `[`…`]` around the host alone)
/// want it.
pub fn connect_to(bind: &str, port: u16) -> SocketAddr {
    SocketAddr::new(connect_ip(bind), port)
}

/// The host of a known_hosts line for `addr`: `[host]:port`, the form ssh looks up for a
/// port other than 22 (and accepts for 22 too).
pub fn known_hosts_name(addr: SocketAddr) -> String {
    format!("[{}]:{}", addr.ip(), addr.port())
}

/// The host part of docker's `-p HOST:PORT:PORT` and Compose's `ports:` for a bind address:
/// IPv6 in brackets (`[::1]:2222:22`), since the colons would split it otherwise.
pub fn port_spec_host(ip: &str) -> String {
    if ip.contains(':') {
        format!("[{ip}]")
    } else {
        ip.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_addresses_are_reached_through_the_loopback_of_their_family() {
        assert_eq!(connect_ip("0.0.0.0").to_string(), "127.0.0.1");
        assert_eq!(connect_ip("").to_string(), "127.0.0.1");
        assert_eq!(connect_ip("::").to_string(), "::1");
        assert_eq!(connect_ip("[::]").to_string(), "::1");
    }

    #[test]
    fn ipv6_is_bracketed_in_port_specs() {
        assert_eq!(port_spec_host("::1"), "[::1]");
        assert_eq!(port_spec_host("127.0.0.2"), "127.0.0.2");
    }

    #[test]
    fn a_specific_address_is_itself() {
        for ip in ["127.0.0.1", "127.0.0.2", "::1", "192.168.1.20", "fe80::1"] {
            assert_eq!(connect_ip(ip).to_string(), ip);
        }
    }

    #[test]
    fn ipv6_is_bracketed_with_a_port() {
        assert_eq!(connect_to("::1", 8888).to_string(), "[::1]:8888");
        assert_eq!(connect_to("127.0.0.2", 8888).to_string(), "127.0.0.2:8888");
        assert_eq!(
            known_hosts_name(connect_to("127.0.0.1", 2222)),
            "[127.0.0.1]:2222"
        );
        assert_eq!(known_hosts_name(connect_to("::", 2222)), "[::1]:2222");
    }
}
