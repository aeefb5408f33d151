//! Limits that keep slow or greedy clients from locking others out: a deadline for
//! reading a request body (a body trickled a byte at a time holds a request slot only
//! that long), and a cap on the requests one address may have in flight (beyond it,
//! 429 at once, before the request takes one of the server's slots).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::timeout::DeadlineBody;

use crate::error::ApiError;

/// Requests in flight per client address.
#[derive(Debug, Default, Clone)]
pub struct InFlight {
    by_address: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One request's place in [`InFlight`], given back when it is answered.
struct Slot {
    in_flight: InFlight,
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

impl InFlight {
    /// A slot for `address`, unless it already has `cap` requests in flight.
    fn take(&self, address: IpAddr, cap: usize) -> Option<Slot> {
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
pub async fn per_address(in_flight: InFlight, cap: usize, req: Request, next: Next) -> Response {
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

/// Gives the request body `deadline` to arrive in full; a body still arriving then
/// fails to read (answered 408 by the extractors) and frees the request's slot.
pub async fn body_deadline(deadline: Duration, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let body = Body::new(DeadlineBody::new(deadline, body));
    next.run(Request::from_parts(parts, body)).await
}

/// Whether a body read failed because its deadline passed.
pub fn is_deadline(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(err) = next {
        if err.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        next = err.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_its_cap_and_its_slots_back() {
        let f = InFlight::default();
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
