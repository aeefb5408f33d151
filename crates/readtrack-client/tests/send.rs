//! Sending a notice when an answer is lost: the SDK tries again with the same
//! `Idempotency-Key`, so the server can answer the retry with the first notice.

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use readtrack_client::ApiClient;
use readtrack_client::protocol::messages::{AudienceBody, SendMessage};
use serde_json::json;

#[tokio::test]
async fn a_send_whose_answer_is_lost_is_retried_with_the_same_idempotency_key() {
    let keys: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let seen = keys.clone();
    let app = axum::Router::new().route(
        "/api/v1/messages",
        post(move |headers: HeaderMap| {
            let seen = seen.clone();
            async move {
                let mut seen = seen.lock().unwrap();
                seen.push(
                    headers
                        .get("idempotency-key")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string),
                );
                if seen.len() == 1 {
                    // A proxy's answer in place of the server's: the notice may or may
                    // not have gone out.
                    return (StatusCode::BAD_GATEWAY, "bad gateway").into_response();
                }
                let answer: Response = (
                    StatusCode::CREATED,
                    axum::Json(json!({"id": "42", "recipient_count": 3, "async": false,
                                      "created_at": "2026-12-07T09:00:00Z"})),
                )
                    .into_response();
                answer
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let client = ApiClient::new(&base).unwrap().with_token("t");
    let sent = client
        .send_message(&SendMessage {
            title: "Typhoon signal No. 8".into(),
            body: "Stores close at 15:00.".into(),
            priority: None,
            tracking: None,
            require_ack: false,
            response_options: None,
            audience: AudienceBody {
                members: vec!["7".into()],
                departments: vec![],
            },
            reminders: None,
            deadline: None,
            emergency_reason: None,
        })
        .await
        .expect("sent on the second try");
    assert_eq!(sent.id, "42");
    let keys = keys.lock().unwrap().clone();
    assert_eq!(keys.len(), 2, "one retry");
    assert!(keys[0].is_some(), "every send carries a key");
    assert_eq!(keys[0], keys[1], "the retry carries the same key");
}
