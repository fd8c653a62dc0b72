//! The client's address behind reverse proxies. `X-Forwarded-For` and `Forwarded` are lists each proxy
//! appends to, so only their right end is trustworthy: starting from the socket peer, walk the list
//! from the right while the address is one of the configured trusted proxies; the first address that
//! is not is the client. A client that sends its own header only adds entries on the left, which are
//! never reached while an untrusted hop stands to their right. Pure; table-tested.

use ipnet::IpNet;
use std::net::IpAddr;

/// The client of a request from `peer`, given the forwarding headers' hops in order (left to right)
/// and the trusted proxies.
pub fn client_addr(peer: IpAddr, hops: &[IpAddr], trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    for hop in hops.iter().rev() {
        client = *hop;
        if !is_trusted(hop) {
            break;
        }
    }
    client
}

/// The hops of `X-Forwarded-For` values (comma-separated addresses, possibly over several header
/// lines), or `None` if any entry is not an address (a malformed header is not trusted at all).
pub fn x_forwarded_for<'a>(values: impl Iterator<Item = &'a str>) -> Option<Vec<IpAddr>> {
    let mut hops = Vec::new();
    for v in values {
        for part in v.split(',') {
            hops.push(parse_addr(part.trim())?);
        }
    }
    Some(hops)
}

/// The `for=` hops of RFC 7239 `Forwarded` values; `None` if one is missing or not an address
/// (obfuscated identifiers and `unknown` cannot be attributed, so the header is not used).
pub fn forwarded<'a>(values: impl Iterator<Item = &'a str>) -> Option<Vec<IpAddr>> {
    let mut hops = Vec::new();
    for v in values {
        for element in v.split(',') {
            let for_ = element.split(';').find_map(|pair| {
                let (k, v) = pair.trim().split_once('=')?;
                k.trim().eq_ignore_ascii_case("for").then(|| v.trim())
            })?;
            hops.push(parse_addr(for_.trim_matches('"'))?);
        }
    }
    Some(hops)
}

/// An address as proxies write it: `1.2.3.4`, `1.2.3.4:5678`, `[::1]`, `[::1]:5678`, `::1`.
fn parse_addr(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse() {
        return Some(ip);
    }
    if let Some(rest) = s.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    s.rsplit_once(':')?
        .0
        .parse::<std::net::Ipv4Addr>()
        .ok()
        .map(IpAddr::V4)
}

/// Parse the configured trusted proxies (`10.0.0.0/8`, `127.0.0.1`, `::1`).
pub fn parse_trusted(list: &[String]) -> Result<Vec<IpNet>, String> {
    list.iter()
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{s:?} is not an address or a CIDR block"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|_| unreachable!("{s}"))
    }

    #[test]
    fn the_client_is_the_rightmost_address_no_trusted_proxy_added() {
        let trusted = parse_trusted(&["10.0.0.0/8".into(), "127.0.0.1".into()]).unwrap_or_default();
        let table: Vec<(&str, Vec<&str>, &str)> = vec![
            // no proxy: the peer, whatever the client claims
            ("203.0.113.9", vec!["1.1.1.1"], "203.0.113.9"),
            // one trusted proxy
            ("10.0.0.2", vec!["198.51.100.7"], "198.51.100.7"),
            // the client forged an entry on the left: it is never reached
            ("10.0.0.2", vec!["1.1.1.1", "198.51.100.7"], "198.51.100.7"),
            // two trusted proxies in a row
            (
                "127.0.0.1",
                vec!["1.1.1.1", "198.51.100.7", "10.0.0.3"],
                "198.51.100.7",
            ),
            // every hop trusted: the leftmost
            ("10.0.0.2", vec!["10.1.1.1", "10.0.0.3"], "10.1.1.1"),
            // a trusted proxy without a header
            ("10.0.0.2", vec![], "10.0.0.2"),
        ];
        for (peer, hops, want) in table {
            let hops: Vec<IpAddr> = hops.into_iter().map(ip).collect();
            assert_eq!(
                client_addr(ip(peer), &hops, &trusted),
                ip(want),
                "{peer} {hops:?}"
            );
        }
    }

    #[test]
    fn headers_parse_into_hops() {
        assert_eq!(
            x_forwarded_for(["1.1.1.1, 10.0.0.3", "[2001:db8::1]:443"].into_iter()),
            Some(vec![ip("1.1.1.1"), ip("10.0.0.3"), ip("2001:db8::1")])
        );
        assert_eq!(x_forwarded_for(["1.1.1.1, nonsense"].into_iter()), None);
        assert_eq!(
            forwarded(
                ["for=192.0.2.60;proto=http;by=203.0.113.43, for=\"[2001:db8:cafe::17]:4711\""]
                    .into_iter()
            ),
            Some(vec![ip("192.0.2.60"), ip("2001:db8:cafe::17")])
        );
        assert_eq!(forwarded(["for=unknown"].into_iter()), None);
        assert_eq!(forwarded(["proto=https"].into_iter()), None);
        assert_eq!(parse_addr("1.2.3.4:80"), Some(ip("1.2.3.4")));
        assert!(parse_trusted(&["10.0.0.0/33".into()]).is_err());
    }
}
