//! The pages' stylesheet and scripts, embedded in the binary: `readtrack serve` alone
//! serves the web app, with no build step and nothing fetched from elsewhere.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

/// Files under `crates/readtrack-server/assets/`.
#[derive(RustEmbed)]
#[folder = "assets/"]
pub struct Assets;

/// `GET /favicon.ico`, which browsers and bookmark tools ask for whatever the page says:
/// the app's icon (SVG, which browsers take by its content type).
pub async fn favicon() -> Response {
    asset(Path("icon.svg".to_string())).await
}

/// `GET /assets/{file}`.
pub async fn asset(Path(file): Path<String>) -> Response {
    let Some(found) = Assets::get(&file) else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    let mime = found.metadata.mimetype();
    let mut res = found.data.into_owned().into_response();
    let headers = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(mime) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    // Short and revalidated: assets change with the binary, and there is no build step
    // to fingerprint their names.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    let etag = format!(
        "\"{}\"",
        found
            .metadata
            .sha256_hash()
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    if let Ok(v) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, v);
    }
    res
}

/// `GET /sw.js`: the service worker, served from the root so that it may control every
/// page; revalidated on each check so a new binary's worker takes over at once.
pub async fn service_worker() -> Response {
    let mut res = asset(Path("sw.js".to_string())).await;
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    res
}

/// `GET /manifest.webmanifest`: what makes the web app installable (name, start page,
/// standalone window, icon, colours).
pub async fn manifest() -> Response {
    let body = serde_json::json!({
        "name": "readtrack",
        "short_name": "readtrack",
        "description": "Notices that reach people, and who has read them.",
        "start_url": "/inbox",
        "scope": "/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#0a58ad",
        "icons": [
            {"src": "/assets/icon.svg", "sizes": "any", "type": "image/svg+xml", "purpose": "any"}
        ]
    });
    (
        [(header::CONTENT_TYPE, "application/manifest+json")],
        body.to_string(),
    )
        .into_response()
}
