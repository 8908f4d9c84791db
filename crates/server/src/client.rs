//! Who is on the other end of a request: the client's address (the TCP peer, or — behind a
//! trusted proxy — the right-most `X-Forwarded-For` hop that is not one), and the rate-limit
//! scope it counts under (IPv6 per /64, since one host holds a whole /64).

use axum::http::HeaderMap;
use ipnet::{IpNet, Ipv6Net};
use std::net::IpAddr;

/// The client's address, resolved once per request by the edge and kept in the request's
/// extensions (the console's in-process calls carry it on).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    /// A client whose address a trusted proxy reported unreadably: outside every trusted network,
    /// and one rate-limit bucket for all such requests.
    pub const UNKNOWN: Self = Self(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));

    /// The address of a request from `peer` with `headers`, given the proxies trusted to say
    /// whom they forward for.
    pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> Self {
        let peer = peer.to_canonical();
        let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
        if !is_trusted(&peer) {
            return Self(peer);
        }
        // Read as bytes: a proxy appends the address it saw to whatever the client sent, so an
        // unreadable value must not hide the hops after it.
        let values: Vec<String> = headers
            .get_all("x-forwarded-for")
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        let hops: Vec<&str> =
            values.iter().flat_map(|v| v.split(',')).map(str::trim).filter(|hop| !hop.is_empty()).collect();
        // Each trusted proxy appended the address it saw; the first one it did not trust is the
        // client. Anything unreadable there is no address at all: the client is unknown (never
        // the proxy, whose address may be inside a trusted network).
        let mut last_trusted = peer;
        for hop in hops.iter().rev() {
            match parse_hop(hop) {
                Some(ip) if is_trusted(&ip) => last_trusted = ip,
                Some(ip) => return Self(ip),
                None => return Self::UNKNOWN,
            }
        }
        Self(last_trusted)
    }

    /// The rate-limit scope of this address: itself for IPv4, its /64 for IPv6.
    pub fn rate_scope(&self) -> String {
        match self.0 {
            IpAddr::V4(v4) => format!("ip:{v4}"),
            IpAddr::V6(v6) => match Ipv6Net::new(v6, 64) {
                Ok(net) => format!("ip:{}", net.trunc()),
                Err(_) => format!("ip:{v6}"),
            },
        }
    }

    pub fn is_loopback(&self) -> bool {
        self.0.is_loopback()
    }
}

impl std::fmt::Display for ClientIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// One `X-Forwarded-For` hop: an address, or an address with a port (`192.0.2.1:4711`,
/// `[2001:db8::1]:443`), as some proxies write them.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let ip = hop.parse::<IpAddr>().ok().or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))?;
    Some(ip.to_canonical())
}

/// Parses `TENANTRY_TRUSTED_PROXIES`: comma-separated CIDRs (or single addresses).
pub fn parse_trusted_proxies(raw: &str) -> Result<Vec<IpNet>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("`{s}` is not an address or a CIDR range"))
        })
        .collect()
}

/// Whether a client at `ip` may act for an account whose trusted networks are `allowed` (CIDR
/// ranges as stored; none means anywhere). An unknown address is outside every range.
pub fn allowed_from(allowed: &[String], ip: Option<&ClientIp>) -> bool {
    if allowed.is_empty() {
        return true;
    }
    let Some(ip) = ip else { return false };
    allowed.iter().filter_map(|n| n.parse::<IpNet>().ok()).any(|net| net.contains(&ip.0))
}

/// Checks an account's trusted networks: each a CIDR range (a single address is its /32 or
/// /128), given back normalised (`203.0.113.7/24` is `203.0.113.0/24`), at most 100.
pub fn parse_networks(raw: &[String]) -> Result<Vec<String>, String> {
    if raw.len() > 100 {
        return Err("at most 100 ranges".into());
    }
    raw.iter()
        .map(|s| {
            let s = s.trim();
            let net = s
                .parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("`{s}` is not a CIDR range"))?;
            // Clients are seen as IPv4 when they come as IPv4-mapped IPv6: such a range would
            // never match.
            if let IpNet::V6(v6) = net
                && v6.addr().to_ipv4_mapped().is_some()
            {
                return Err(format!("write `{s}` as an IPv4 range"));
            }
            Ok(net.trunc().to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append("x-forwarded-for", HeaderValue::from_str(v).unwrap_or_else(|e| panic!("{e}")));
        }
        headers
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client_whatever_the_header_says() {
        let resolved = ClientIp::resolve(ip("198.51.100.7"), &forwarded(&["203.0.113.9"]), &[]);
        assert_eq!(resolved, ClientIp(ip("198.51.100.7")));
    }

    #[test]
    fn behind_trusted_proxies_the_right_most_untrusted_hop_is_the_client() -> Result<(), String> {
        let trusted = parse_trusted_proxies("10.0.0.0/8, 192.0.2.1")?;
        // The client forged a first entry; the proxies appended what they saw.
        let headers = forwarded(&["1.1.1.1, 203.0.113.9", "10.1.2.3"]);
        assert_eq!(ClientIp::resolve(ip("192.0.2.1"), &headers, &trusted), ClientIp(ip("203.0.113.9")));
        // Every hop trusted: the farthest proxy is the best we know.
        let all_trusted = forwarded(&["10.9.9.9"]);
        assert_eq!(ClientIp::resolve(ip("10.0.0.1"), &all_trusted, &trusted), ClientIp(ip("10.9.9.9")));
        // Hops with ports, as some proxies write them.
        let ported = forwarded(&["203.0.113.9:4711, [2001:db8::7]:443"]);
        assert_eq!(ClientIp::resolve(ip("10.0.0.1"), &ported, &trusted), ClientIp(ip("2001:db8::7")));
        // Garbage where the client should be: not believed, and not the proxy either.
        assert_eq!(ClientIp::resolve(ip("10.0.0.1"), &forwarded(&["not-an-ip"]), &trusted), ClientIp::UNKNOWN);
        let mut raw = HeaderMap::new();
        raw.append("x-forwarded-for", HeaderValue::from_bytes(b"\xff").map_err(|e| e.to_string())?);
        assert_eq!(ClientIp::resolve(ip("10.0.0.1"), &raw, &trusted), ClientIp::UNKNOWN);
        let mut appended = HeaderMap::new();
        appended.append("x-forwarded-for", HeaderValue::from_bytes(b"\xff, 198.51.100.7").map_err(|e| e.to_string())?);
        assert_eq!(ClientIp::resolve(ip("10.0.0.1"), &appended, &trusted), ClientIp(ip("198.51.100.7")));
        // A peer that is not trusted is not believed either.
        assert_eq!(ClientIp::resolve(ip("198.51.100.7"), &headers, &trusted), ClientIp(ip("198.51.100.7")));
        Ok(())
    }

    #[test]
    fn ipv6_clients_count_per_64_and_ipv4_per_address() {
        let a = ClientIp(ip("2001:db8:1:2:aaaa::1")).rate_scope();
        let b = ClientIp(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")).rate_scope();
        let other = ClientIp(ip("2001:db8:1:3::1")).rate_scope();
        assert_eq!(a, "ip:2001:db8:1:2::/64");
        assert_eq!(a, b);
        assert_ne!(a, other);
        assert_eq!(ClientIp(ip("192.0.2.1")).rate_scope(), "ip:192.0.2.1");
        assert_ne!(ClientIp(ip("192.0.2.1")).rate_scope(), ClientIp(ip("192.0.2.2")).rate_scope());
        // An IPv4 address written as IPv6 is the same client.
        assert_eq!(ClientIp::resolve(ip("::ffff:192.0.2.1"), &HeaderMap::new(), &[]), ClientIp(ip("192.0.2.1")));
    }

    #[test]
    fn trusted_proxies_must_be_addresses_or_ranges() {
        assert!(parse_trusted_proxies("").is_ok_and(|v| v.is_empty()));
        assert!(parse_trusted_proxies("10.0.0.0/8,::1").is_ok_and(|v| v.len() == 2));
        assert!(parse_trusted_proxies("10.0.0.0/8,proxy.local").is_err());
    }
}
