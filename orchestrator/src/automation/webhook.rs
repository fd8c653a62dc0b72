//! Webhook delivery: POST the JSON body, signed with HMAC-SHA256 under the rule's secret
//! (`X-ScaleInfra-Signature: sha256=<hex>`), with a delivery id a receiver can deduplicate on
//! (`X-ScaleInfra-Delivery`). Destinations on loopback, private, link-local or otherwise internal
//! addresses are refused unless the installation allows them (tenants must not reach the control
//! plane's own network through it).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::net::IpAddr;

/// The signature header's value for `body` under `secret`.
pub fn signature(secret: &str, body: &str) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Whether an address is internal: loopback, private, link-local, unspecified, CGNAT, benchmark
/// (198.18/15), reserved (240/4), multicast, broadcast, documentation, unique-local IPv6, or an IPv6
/// address that carries an IPv4 one (mapped, compatible, NAT64 64:ff9b::/96, 6to4 2002::/16) that is.
pub fn internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 198 && (o[1] == 18 || o[1] == 19))
                || o[0] >= 240
                || o[0] == 0
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let embedded = |hi: u16, lo: u16| {
                let [a, b] = hi.to_be_bytes();
                let [c, d] = lo.to_be_bytes();
                internal(IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, d)))
            };
            if let Some(v4) = v6.to_ipv4_mapped() {
                return internal(IpAddr::V4(v4));
            }
            // ::a.b.c.d (IPv4-compatible), 64:ff9b::a.b.c.d (NAT64), 2002:AABB:CCDD::/48 (6to4)
            if s[..6] == [0, 0, 0, 0, 0, 0] && !v6.is_loopback() && !v6.is_unspecified() {
                return embedded(s[6], s[7]);
            }
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                return embedded(s[6], s[7]);
            }
            if s[0] == 0x2002 {
                return embedded(s[1], s[2]);
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
        }
    }
}

/// Whether a webhook URL is one rules may store: http or https, with a host, at most 2,000 bytes.
pub fn valid_url(url: &str) -> bool {
    url.len() <= 2000
        && reqwest::Url::parse(url)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
}

/// Send one delivery; `Ok(status)` for a 2xx answer, `Err(why)` otherwise. `allow_internal`: the
/// installation lets webhooks reach internal addresses (tests, single-network installations).
/// The name is resolved once (within 5 s), every address it gives is checked, and the request goes
/// to exactly the checked address: a name that answers differently the second time (DNS rebinding)
/// cannot lead it elsewhere. No redirects are followed; the whole call has 10 s.
pub async fn send(
    allow_internal: bool,
    url: &str,
    secret: Option<&str>,
    body: &str,
    delivery: &str,
) -> Result<u16, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("invalid URL: {e}"))?;
    let host = parsed.host_str().ok_or("the URL has no host")?.to_owned();
    let port = parsed.port_or_known_default().unwrap_or(443);
    let bare = host.trim_matches(['[', ']']).to_owned();
    let addrs: Vec<std::net::SocketAddr> = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        tokio::net::lookup_host((bare.as_str(), port)),
    )
    .await
    .map_err(|_| format!("resolving {host} took longer than 5 s"))?
    .map_err(|e| format!("cannot resolve {host}: {e}"))?
    .collect();
    let Some(addr) = addrs.first().copied() else {
        return Err(format!("{host} resolves to no address"));
    };
    if !allow_internal && let Some(bad) = addrs.iter().find(|a| internal(a.ip())) {
        return Err(format!(
            "{host} resolves to an internal address ({}), which webhooks may not reach",
            bad.ip()
        ));
    }
    let pinned = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        // no proxy from the environment: the request goes to the address checked here
        .no_proxy()
        .resolve(&bare, addr)
        .build()
        .map_err(|e| format!("no HTTP client: {e}"))?;
    let mut req = pinned
        .post(parsed)
        .header("Content-Type", "application/json")
        .header("User-Agent", "ScaleInfra-Webhook/1")
        .header("X-ScaleInfra-Delivery", delivery)
        .body(body.to_owned());
    if let Some(s) = secret {
        req = req.header("X-ScaleInfra-Signature", signature(s, body));
    }
    let resp = req
        .send()
        .await
        .map_err(|e| format!("not delivered: {e}"))?;
    let status = resp.status().as_u16();
    if resp.status().is_success() {
        Ok(status)
    } else {
        Err(format!("the receiver answered HTTP {status}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_hex() {
        // RFC 4231 test case 2
        assert_eq!(
            signature("Jefe", "what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn internal_addresses_are_recognised() {
        let table = [
            ("127.0.0.1", true),
            ("10.1.2.3", true),
            ("172.20.0.1", true),
            ("192.168.1.1", true),
            ("169.254.169.254", true),
            ("100.64.0.1", true),
            ("0.0.0.0", true),
            ("::1", true),
            ("fd00::1", true),
            ("fe80::1", true),
            ("::ffff:127.0.0.1", true),
            ("::10.0.0.1", true),
            ("64:ff9b::a9fe:a9fe", true),
            ("2002:7f00:1::", true),
            ("198.18.0.1", true),
            ("240.0.0.1", true),
            ("2002:5db8:d822::", false),
            ("93.184.216.34", false),
            ("2606:4700::1111", false),
        ];
        for (ip, want) in table {
            assert_eq!(
                internal(ip.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))),
                want,
                "{ip}"
            );
        }
    }
}
