//! Open realtime streams and the credentials they were opened with: a stream ends within
//! a second of its credential being revoked (sign-out, a deleted token, a deactivated
//! member, a changed role), on every node.
//!
//! A stream is authenticated once, when it opens, so nothing per request would notice a
//! revocation. Each node therefore checks the credentials of all its open streams once a
//! second, in one storage query whatever their number, and ends the streams whose token
//! no longer works or whose member's role changed. The node that revokes a credential
//! ends its own streams at once.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use readtrack_domain::event::Event;
use readtrack_domain::ids::{MemberId, OrgId, Seq, TokenId};
use readtrack_domain::member::Role;
use tokio::sync::Notify;

use crate::{App, Caller};

/// How often open streams' credentials are checked against storage.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// Tokens per storage query while checking.
const CHECK_CHUNK: usize = 1000;

/// What a stream was opened with.
struct Held {
    token: TokenId,
    member: MemberId,
    role: Role,
    ended: Arc<Notify>,
}

/// The open streams of this node.
#[derive(Default)]
pub struct OpenStreams {
    next: AtomicU64,
    /// A std mutex: held for map updates and snapshots only, never across an await.
    open: Mutex<HashMap<u64, Held>>,
}

/// One open stream's hold on its credential; dropping it forgets the stream.
pub struct StreamLease {
    id: u64,
    ended: Arc<Notify>,
    streams: Arc<OpenStreams>,
}

impl StreamLease {
    /// Resolves once the stream's credential no longer works; the stream must close.
    pub async fn revoked(&self) {
        self.ended.notified().await;
    }
}

impl Drop for StreamLease {
    fn drop(&mut self) {
        if let Ok(mut open) = self.streams.open.lock() {
            open.remove(&self.id);
        }
    }
}

impl OpenStreams {
    /// Registers a stream opened by `caller`.
    pub fn open(self: &Arc<Self>, caller: &Caller) -> StreamLease {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let ended = Arc::new(Notify::new());
        if let Ok(mut open) = self.open.lock() {
            open.insert(
                id,
                Held {
                    token: caller.token_id,
                    member: caller.id(),
                    role: caller.member.role,
                    ended: ended.clone(),
                },
            );
        }
        StreamLease {
            id,
            ended,
            streams: self.clone(),
        }
    }

    /// Ends the streams whose credential was among `asked` and is not `live` (or whose
    /// member's role changed). A stream opened while the check ran was not asked about,
    /// so it is not taken for revoked; the next check covers it.
    fn end_revoked(&self, asked: &[TokenId], live: &HashMap<TokenId, Role>) -> usize {
        let asked: HashSet<TokenId> = asked.iter().copied().collect();
        self.end_where(|h| asked.contains(&h.token) && live.get(&h.token) != Some(&h.role))
    }

    /// Ends the streams for which `revoked` holds; returns how many.
    fn end_where(&self, revoked: impl Fn(&Held) -> bool) -> usize {
        let Ok(open) = self.open.lock() else {
            return 0;
        };
        let mut n = 0;
        for held in open.values().filter(|h| revoked(h)) {
            // A stored permit: the stream sees it even if it is not waiting right now.
            held.ended.notify_one();
            n += 1;
        }
        n
    }

    /// Ends every stream opened with `token`.
    pub fn end_token(&self, token: TokenId) -> usize {
        self.end_where(|h| h.token == token)
    }

    /// Ends every stream of `member`.
    pub fn end_member(&self, member: MemberId) -> usize {
        self.end_where(|h| h.member == member)
    }

    /// How many streams are open on this node.
    pub fn len(&self) -> usize {
        self.open.lock().map(|o| o.len()).unwrap_or(0)
    }

    /// Whether no stream is open on this node.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn tokens(&self) -> Vec<TokenId> {
        let Ok(open) = self.open.lock() else {
            return Vec::new();
        };
        let mut tokens: Vec<TokenId> = open.values().map(|h| h.token).collect();
        tokens.sort_unstable_by_key(|t| t.0);
        tokens.dedup();
        tokens
    }
}

impl App {
    /// Registers a stream opened by `caller`; the lease says when it must end.
    pub fn open_stream(&self, caller: &Caller) -> StreamLease {
        self.inner.streams.open(caller)
    }

    /// The organisation's latest event sequence number: where a stream stands.
    pub async fn stream_head(&self, org: OrgId) -> crate::Result<Seq> {
        Ok(self.storage().last_seq(org).await?)
    }

    /// The lowest `since` a stream can resume from without missing events: below it,
    /// retention removed some of what followed.
    pub async fn stream_resumable_from(&self, org: OrgId) -> crate::Result<Seq> {
        Ok(self.storage().events_purged_through(org).await?)
    }

    /// The events after `after` that `caller` may see, oldest first, at most `limit`:
    /// a resuming stream's backlog.
    pub async fn stream_backlog(
        &self,
        caller: &Caller,
        after: Seq,
        limit: u32,
    ) -> crate::Result<Vec<Event>> {
        Ok(self
            .storage()
            .events_for(caller.org_id(), caller.id(), after, limit)
            .await?)
    }

    /// The open streams of this node.
    pub fn open_streams(&self) -> &Arc<OpenStreams> {
        &self.inner.streams
    }

    /// Checks every open stream's credential once; returns how many streams it ended.
    pub async fn check_stream_credentials(&self) -> crate::Result<usize> {
        let tokens = self.inner.streams.tokens();
        let now = self.clock().now();
        let mut live: HashMap<TokenId, Role> = HashMap::with_capacity(tokens.len());
        for chunk in tokens.chunks(CHECK_CHUNK) {
            live.extend(self.storage().live_tokens(chunk, now).await?);
        }
        let ended = self.inner.streams.end_revoked(&tokens, &live);
        if ended > 0 {
            metrics::counter!("readtrack_streams_revoked_total").increment(ended as u64);
            tracing::info!(
                streams = ended,
                "ended streams whose credentials were revoked"
            );
        }
        Ok(ended)
    }

    /// Checks open streams' credentials every second until shutdown.
    pub async fn run_stream_credential_checks(self) {
        let mut shutdown = self.shutdown_signal();
        let mut every = tokio::time::interval(CHECK_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = every.tick() => {}
                _ = shutdown.signalled() => return,
            }
            if self.inner.streams.is_empty() {
                continue;
            }
            if let Err(e) = self.check_stream_credentials().await {
                tracing::warn!(error = %e, "could not check open streams' credentials");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use readtrack_domain::ids::{DepartmentId, OrgId};
    use readtrack_domain::member::Member;
    use readtrack_storage::TokenKind;

    fn caller(token: i64, role: Role) -> Caller {
        Caller {
            member: Member {
                id: MemberId(token),
                org_id: OrgId(1),
                name: format!("m{token}"),
                email: format!("m{token}@example.com"),
                department_id: DepartmentId(1),
                manager_id: None,
                backup_id: None,
                role,
                time_zone: None,
                policy_ack_version: 1,
                active: true,
                phone: None,
                external_id: None,
            },
            token_id: TokenId(token),
            token_kind: TokenKind::Session,
        }
    }

    #[test]
    fn a_stream_opened_while_credentials_were_checked_stays_open() {
        let streams = Arc::new(OpenStreams::default());
        let _revoked = streams.open(&caller(1, Role::Member));
        let _kept = streams.open(&caller(2, Role::Member));
        let asked = streams.tokens();
        // Token 3's stream opens while the database is asked about 1 and 2.
        let _new = streams.open(&caller(3, Role::Member));
        let live = HashMap::from([(TokenId(2), Role::Member)]);
        assert_eq!(
            streams.end_revoked(&asked, &live),
            1,
            "only token 1 was revoked"
        );
        // A changed role ends a stream too.
        let live = HashMap::from([(TokenId(2), Role::Admin), (TokenId(3), Role::Member)]);
        assert_eq!(streams.end_revoked(&streams.tokens(), &live), 2);
    }
}
