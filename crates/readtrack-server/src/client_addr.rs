//! Who the client is: its address and whether it reached us over TLS. Directly from the
//! connection, or, only when the connection comes from a trusted proxy
//! (`--trusted-proxies`), from the proxy's `X-Forwarded-For` and `X-Forwarded-Proto`
//! (or `Forwarded`). From anyone else those headers are ignored, so a client cannot
//! pick the address its rate limits are counted under, nor make a cookie `Secure` on a
//! plain connection.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use axum::extract::{ConnectInfo, Request};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;

/// The client as the server settled it, in every request's extensions.
#[derive(Debug, Clone, Copy)]
pub struct Client {
    /// Its address (`None`: unknown, as in an in-process test).
    pub ip: Option<IpAddr>,
    /// It reached us over TLS, ours or a trusted proxy's.
    pub https: bool,
}

/// Parses `--trusted-proxies`: CIDR blocks (`10.0.0.0/8`) or single addresses.
pub fn parse_trusted_proxies(list: &[String]) -> Result<Vec<IpNet>, String> {
    list.iter()
        .flat_map(|item| item.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            IpNet::from_str(s)
                .or_else(|_| IpAddr::from_str(s).map(IpNet::from))
                .map_err(|_| {
                    format!("--trusted-proxies: {s:?} is neither an address nor a CIDR block")
                })
        })
        .collect()
}

/// Settles [`Client`] for the request: outermost, so every limit and handler sees it.
pub async fn settle(trusted: &[IpNet], tls: bool, mut req: Request, next: Next) -> Response {
    // The plain listener names the peer as a `Peer`; the TLS server as a `SocketAddr`.
    let peer = req
        .extensions()
        .get::<ConnectInfo<crate::connections::Peer>>()
        .map(|c| c.0.0.ip())
        .or_else(|| {
            req.extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip())
        });
    let client = settle_client(peer, req.headers(), trusted, tls);
    req.extensions_mut().insert(client);
    next.run(req).await
}

/// The rule of [`settle`], without the request.
pub fn settle_client(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted: &[IpNet],
    tls: bool,
) -> Client {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    let Some(peer) = peer.filter(is_trusted) else {
        return Client {
            ip: peer,
            https: tls,
        };
    };
    // The proxies append: the rightmost address not of a trusted proxy is the client's.
    let hops: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| IpAddr::from_str(s.trim()).ok())
        .collect();
    let ip = hops
        .iter()
        .rev()
        .find(|ip| !is_trusted(ip))
        .or(hops.first())
        .copied()
        .unwrap_or(peer);
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_ascii_lowercase)
    };
    let forwarded_https = header("x-forwarded-proto")
        .is_some_and(|p| p.split(',').next().is_some_and(|p| p.trim() == "https"))
        || header("forwarded").is_some_and(|f| f.contains("proto=https"));
    Client {
        ip: Some(ip),
        https: tls || forwarded_https,
    }
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

    #[test]
    fn forwarded_headers_count_only_from_a_trusted_proxy() {
        let trusted = parse_trusted_proxies(&["10.0.0.0/8, 192.0.2.7".into()]).unwrap();
        let proxy: IpAddr = "10.1.2.3".parse().unwrap();
        let stranger: IpAddr = "198.51.100.9".parse().unwrap();
        let h = headers(&[
            ("x-forwarded-for", "203.0.113.5, 10.9.9.9"),
            ("x-forwarded-proto", "https"),
        ]);
        let c = settle_client(Some(proxy), &h, &trusted, false);
        assert_eq!(c.ip, Some("203.0.113.5".parse().unwrap()));
        assert!(c.https);
        // The same headers from anyone else change nothing.
        let c = settle_client(Some(stranger), &h, &trusted, false);
        assert_eq!(c.ip, Some(stranger));
        assert!(!c.https);
        // A client's own X-Forwarded-For, passed on by the proxy, cannot hide it: the
        // rightmost untrusted hop is the one the proxy saw.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.5")]);
        let c = settle_client(Some(proxy), &h, &trusted, false);
        assert_eq!(c.ip, Some("203.0.113.5".parse().unwrap()));
        assert!(parse_trusted_proxies(&["not-an-address".into()]).is_err());
    }
}
