//! The client's address, for rate limits, audit rows and sessions.
//!
//! It is the TCP peer's, unless the peer is one of `ALUMIA_TRUSTED_PROXIES`
//! (CIDR ranges; none by default). From a trusted proxy, `Forwarded`
//! (RFC 7239) or else `X-Forwarded-For` is read from the right: each proxy
//! appends the address it received from, so the first address that is
//! not itself a trusted proxy is the client. Anything to its left was
//! written by the client and is ignored. From any other peer the headers
//! are ignored: otherwise anyone could choose their own address, and
//! with it a fresh rate-limit bucket per request.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::HeaderMap;

use app::api::support::ClientIp;

/// `address/prefix`, e.g. `10.0.0.0/8` or `::1/128`; a bare address is /32 or /128.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let network: IpAddr = address.parse().map_err(|_| format!("{text:?} is not an IP address or CIDR range"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => {
                p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| format!("{text:?}: prefix must be 0–{max}"))?
            }
            None => max,
        };
        Ok(Cidr { network, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        // An IPv4 peer on a dual-stack socket arrives as ::ffff:a.b.c.d.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let bits = |ip: IpAddr| -> (u128, u32) {
            match ip {
                IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
                IpAddr::V6(v6) => (u128::from(v6), 128),
            }
        };
        let ((net, width), (addr, addr_width)) = (bits(self.network), bits(ip));
        if width != addr_width {
            return false;
        }
        let host_bits = width - u32::from(self.prefix);
        host_bits >= 128 || (net >> host_bits) == (addr >> host_bits)
    }
}

#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(pub Vec<Cidr>);

impl TrustedProxies {
    /// A comma-separated list of CIDR ranges.
    pub fn parse(text: &str) -> Result<TrustedProxies, String> {
        text.split(',').filter(|s| !s.trim().is_empty()).map(Cidr::parse).collect::<Result<_, _>>().map(TrustedProxies)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(ip))
    }

    /// The client's address for a request from `peer` with `headers`.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let chain = forwarded_for(headers).or_else(|| x_forwarded_for(headers)).unwrap_or_default();
        let mut client = peer;
        for hop in chain.iter().rev() {
            // An entry that is not an address (`unknown`, an obfuscated
            // name) ends the walk: the proxy that wrote it is the client
            // as far as anyone can tell.
            let Some(ip) = hop else { break };
            client = *ip;
            if !self.trusts(*ip) {
                break;
            }
        }
        client
    }
}

/// One hop's address: `192.0.2.1`, `192.0.2.1:80`, `[2001:db8::1]:80`, `2001:db8::1`.
fn parse_hop(text: &str) -> Option<IpAddr> {
    let text = text.trim().trim_matches('"');
    if let Some(rest) = text.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    text.parse().ok().or_else(|| text.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

/// The `for=` of every element of every `Forwarded` header, in order.
fn forwarded_for(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let mut chain = Vec::new();
    for value in headers.get_all("forwarded") {
        let value = value.to_str().ok()?;
        for element in value.split(',') {
            let hop = element.split(';').find_map(|pair| {
                let (key, value) = pair.split_once('=')?;
                key.trim().eq_ignore_ascii_case("for").then(|| parse_hop(value))
            });
            chain.push(hop.flatten());
        }
    }
    (!chain.is_empty()).then_some(chain)
}

fn x_forwarded_for(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let mut chain = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        chain.extend(value.to_str().ok()?.split(',').map(parse_hop));
    }
    (!chain.is_empty()).then_some(chain)
}

/// The layer: puts the request's `ClientIp` in its extensions.
pub async fn resolve(State(trusted): State<Arc<TrustedProxies>>, mut req: Request<Body>, next: Next) -> Response {
    if let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>().copied() {
        let ip = trusted.client_ip(peer.ip(), req.headers());
        req.extensions_mut().insert(ClientIp(ip));
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn ranges_contain_what_they_should() {
        let lan = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(lan.contains(ip("10.1.2.3")));
        assert!(!lan.contains(ip("11.0.0.1")));
        assert!(lan.contains(ip("::ffff:10.0.0.7")), "a v4-mapped peer");
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("203.0.113.9")));
        assert!(Cidr::parse("::1").unwrap().contains(ip("::1")));
        assert!(!Cidr::parse("fd00::/8").unwrap().contains(ip("10.0.0.1")));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("proxy.local").is_err());
        assert_eq!(TrustedProxies::parse(" 10.0.0.0/8, ::1 ").unwrap().0.len(), 2);
        assert!(TrustedProxies::parse("").unwrap().0.is_empty());
    }

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies() {
        let none = TrustedProxies::default();
        let proxy = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let spoofed = headers(&[("x-forwarded-for", "198.51.100.7")]);
        assert_eq!(none.client_ip(ip("203.0.113.5"), &spoofed), ip("203.0.113.5"));
        assert_eq!(proxy.client_ip(ip("203.0.113.5"), &spoofed), ip("203.0.113.5"), "peer not a proxy");
        assert_eq!(proxy.client_ip(ip("10.0.0.2"), &spoofed), ip("198.51.100.7"));
        // The client prepended a lie; the proxy appended the truth.
        let chain = headers(&[("x-forwarded-for", "1.1.1.1, 198.51.100.7, 10.0.0.3")]);
        assert_eq!(proxy.client_ip(ip("10.0.0.2"), &chain), ip("198.51.100.7"));
        // Forwarded wins over X-Forwarded-For, ports and brackets stripped.
        let both = headers(&[
            ("forwarded", r#"for="[2001:db8::17]:4711";proto=https, for=10.0.0.3"#),
            ("x-forwarded-for", "192.0.2.1"),
        ]);
        assert_eq!(proxy.client_ip(ip("10.0.0.2"), &both), ip("2001:db8::17"));
        let unknown = headers(&[("forwarded", "for=unknown, for=10.0.0.3")]);
        assert_eq!(proxy.client_ip(ip("10.0.0.2"), &unknown), ip("10.0.0.3"));
        assert_eq!(proxy.client_ip(ip("10.0.0.2"), &HeaderMap::new()), ip("10.0.0.2"), "no header: the proxy");
    }
}
