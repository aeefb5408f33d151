//! Limits that keep slow or greedy clients from locking others out: a request body is
//! received in full (within a deadline and a size cap) before the request takes one of
//! the server's slots, so a body trickled a byte at a time holds no slot at all; and a
//! cap on the requests one address may have in flight (beyond it, 429 at once). The
//! connections themselves are capped per address by [`crate::connections`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::body::HttpBody as _;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt as _, LengthLimitError, Limited};

use crate::error::ApiError;

/// Things (requests, connections) open per client address, each counted while its
/// [`Slot`] lives.
#[derive(Debug, Default, Clone)]
pub struct PerAddress {
    by_address: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One request's or connection's place in [`PerAddress`], given back when dropped.
#[derive(Debug)]
pub struct Slot {
    in_flight: PerAddress,
    address: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut map) = self.in_flight.by_address.lock()
            && let Some(n) = map.get_mut(&self.address)
        {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.address);
            }
        }
    }
}

impl PerAddress {
    /// A slot for `address`, unless it already holds `cap` slots.
    pub fn take(&self, address: IpAddr, cap: usize) -> Option<Slot> {
        let mut map = self.by_address.lock().ok()?;
        let n = map.entry(address).or_default();
        if *n >= cap {
            return None;
        }
        *n += 1;
        Some(Slot {
            in_flight: self.clone(),
            address,
        })
    }
}

/// Answers 429 when the client's address has `cap` requests in flight already (`cap` 0:
/// no cap). Requests without a known peer address (in-process tests) pass.
pub async fn per_address(in_flight: PerAddress, cap: usize, req: Request, next: Next) -> Response {
    let address = req
        .extensions()
        .get::<crate::client_addr::Client>()
        .and_then(|c| c.ip);
    let (Some(address), true) = (address, cap > 0) else {
        return next.run(req).await;
    };
    let Some(slot) = in_flight.take(address, cap) else {
        metrics::counter!("readtrack_http_per_address_refused_total").increment(1);
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            "too many requests in flight from your address; wait for answers before sending more",
        );
        e.retry_after = Some(1);
        return e.into_response();
    };
    let res = next.run(req).await;
    drop(slot);
    res
}

/// How long a request body may take to arrive and how large it may be.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    /// A body still arriving after this is answered 408.
    pub deadline: Duration,
    /// Largest body of any request but a CSV import.
    pub json: usize,
    /// Largest body of a CSV import ([`IMPORT_PATHS`]).
    pub import: usize,
}

/// The paths that take a CSV import, whose bodies may be as large as
/// [`BodyLimits::import`].
pub const IMPORT_PATHS: [&str; 2] = ["/api/v1/members/import", "/admin/import"];

/// Receives the whole request body, within `limits.deadline` and under the path's size
/// cap, before the request goes on to take one of the server's slots: a client that
/// trickles its body (from one address or from thousands) holds only its connection,
/// never a slot that sign-in or receipts need. Too slow: 408; too large: 413 (at once
/// when `Content-Length` says so).
pub async fn receive_body(limits: BodyLimits, req: Request, next: Next) -> Response {
    if req.body().size_hint().exact() == Some(0) {
        return next.run(req).await;
    }
    let cap = if IMPORT_PATHS.contains(&req.uri().path()) {
        limits.import
    } else {
        limits.json
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > cap as u64) {
        return body_too_large().into_response();
    }
    let (parts, body) = req.into_parts();
    let received = tokio::time::timeout(limits.deadline, Limited::new(body, cap).collect()).await;
    match received {
        Err(_) => {
            metrics::counter!("readtrack_http_slow_bodies_total").increment(1);
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "body_too_slow",
                "the request body did not arrive in time; send it again",
            )
            .into_response()
        }
        Ok(Err(e)) if e.is::<LengthLimitError>() => body_too_large().into_response(),
        Ok(Err(e)) => ApiError::bad_request(
            "unreadable_body",
            format!("the request body could not be read: {e}"),
        )
        .into_response(),
        Ok(Ok(collected)) => {
            let body = Body::from(collected.to_bytes());
            next.run(Request::from_parts(parts, body)).await
        }
    }
}

/// 413 in the API's shape.
pub fn body_too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        "the request body is over the size limit; send less per request",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_its_cap_and_its_slots_back() {
        let f = PerAddress::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let one = f.take(a, 2).expect("first");
        let _two = f.take(a, 2).expect("second");
        assert!(f.take(a, 2).is_none(), "a third is refused");
        assert!(f.take(b, 2).is_some(), "another address is not affected");
        drop(one);
        assert!(f.take(a, 2).is_some(), "a slot comes back when answered");
    }
}
