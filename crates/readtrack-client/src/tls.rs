//! The process-wide TLS crypto provider.
//!
//! reqwest and tokio-tungstenite are built without a provider of their own; two
//! providers in one binary make rustls panic at run time, so the SDK installs ring once
//! and everything else in the process uses it.

use std::sync::Once;

/// Installs ring as rustls' process-wide crypto provider. Idempotent; the SDK calls it
/// before it builds any HTTP or WebSocket client, so apps need not.
pub fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // An `Err` means the app installed a provider already; that one stays.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
