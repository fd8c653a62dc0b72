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

/// Whether an address is internal: loopback, private, link-local, unspecified, CGNAT, multicast,
/// broadcast, documentation, unique-local IPv6 or an IPv4-mapped internal address.
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
                || o[0] == 0
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return internal(IpAddr::V4(v4));
            }
            let s = v6.segments();
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
pub async fn send(
    http: &reqwest::Client,
    allow_internal: bool,
    url: &str,
    secret: Option<&str>,
    body: &str,
    delivery: &str,
) -> Result<u16, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("invalid URL: {e}"))?;
    let host = parsed.host_str().ok_or("the URL has no host")?.to_owned();
    let port = parsed.port_or_known_default().unwrap_or(443);
    if !allow_internal {
        let addrs = tokio::net::lookup_host((host.trim_matches(['[', ']']), port))
            .await
            .map_err(|e| format!("cannot resolve {host}: {e}"))?;
        for a in addrs {
            if internal(a.ip()) {
                return Err(format!(
                    "{host} resolves to an internal address ({}), which webhooks may not reach",
                    a.ip()
                ));
            }
        }
    }
    let mut req = http
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
