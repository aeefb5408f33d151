//! What every signed-in command starts from: the profile, the API client, the offline
//! store and its outbox.

use std::time::Duration;

use anyhow::{Context, bail};
use readtrack_client::{ApiClient, ClientOptions, Outbox, Store};

use super::GlobalArgs;
use super::profile::{Home, Profile};

/// Interactive commands fall back to the cache quickly when the server is away.
pub const INTERACTIVE: ClientOptions = ClientOptions {
    connect_timeout: Duration::from_secs(3),
    request_timeout: Duration::from_secs(20),
};

/// How long `read`, `ack` and `inbox` spend trying to send the outbox before
/// returning; whatever is left goes with the next `sync`.
pub const QUICK_SYNC: Duration = Duration::from_secs(3);

/// A signed-in command's context.
#[derive(Debug)]
pub struct Session {
    /// The server's client, signed in.
    pub api: ApiClient,
    /// The offline store.
    pub store: Store,
    /// Receipts, recorded locally first.
    pub outbox: Outbox,
    /// Print JSON.
    pub json: bool,
}

impl Session {
    /// Opens the profile and the store; fails when nobody signed in.
    pub async fn open(global: &GlobalArgs) -> anyhow::Result<Self> {
        let home = Home::resolve()?;
        let Some(profile) = Profile::load(&home)? else {
            bail!("not signed in: run `readtrack --server URL login --email EMAIL` first");
        };
        let server = global
            .server
            .clone()
            .unwrap_or_else(|| profile.server.clone());
        let api = ApiClient::with_options(&server, INTERACTIVE)?.with_token(profile.token.clone());
        let store = open_store(&home).await?;
        let outbox = Outbox::new(store.clone(), api.clone());
        Ok(Self {
            api,
            store,
            outbox,
            json: global.json,
        })
    }
}

/// Opens the offline store in `home`.
pub async fn open_store(home: &Home) -> anyhow::Result<Store> {
    home.create()?;
    let path = home.store_path();
    Store::open(&path)
        .await
        .with_context(|| format!("cannot open the offline store {}", path.display()))
}
