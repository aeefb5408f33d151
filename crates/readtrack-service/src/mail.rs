//! Email: notices and reminders reach people whose app is closed. One loop follows each
//! organisation's event sequence and queues an email per person for the events the
//! domain's mail ladder names ([`readtrack_domain::reach`]), behind a durable cursor, so
//! an email is queued once however many nodes follow; the same loop sends what is due
//! over SMTP (`serve --smtp-url`), each row leased to one node at a time. An email waits
//! for its person's working time (an emergency does not), is dropped once the person has
//! done what it asks, and carries a single-person link that expires: opening it signs the
//! person in and opens the notice, where the usual rule decides what is read. Nothing in
//! an email counts as a read; there is no tracking pixel.

use std::sync::Arc;
use std::time::Duration;

use jiff::SignedDuration;
use lettre::message::{Mailbox, MultiPart, header};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use readtrack_domain::event::{EventAudience, EventBody};
use readtrack_domain::ids::MessageId;
use readtrack_domain::member::Member;
use readtrack_domain::message::Priority;
use readtrack_domain::reach::{self, MailReason};
use readtrack_domain::working_time::WorkCalendar;
use readtrack_storage::{NewOutbound, OutboundJob, OutboundOutcome};

use crate::App;
use crate::auth;
use crate::error::{Result, ServiceError};

/// The channel name in the outbound log.
pub const EMAIL: &str = "email";
/// How long an email's link works.
pub const LINK_VALID: SignedDuration = SignedDuration::from_hours(14 * 24);
/// How long a passing failure is retried before the email is given up.
pub const RETRY_WINDOW: SignedDuration = crate::webhooks::RETRY_WINDOW;
/// How long a node holds an email it is sending before another may take it.
const LEASE: SignedDuration = SignedDuration::from_mins(2);
/// Events read per pass of the queueing side.
const EVENTS_PER_PASS: u32 = 500;

/// Where and as whom email is sent.
#[derive(Debug, Clone)]
pub struct MailConfig {
    /// `smtp://host:port` (STARTTLS when the server offers it; `?tls=required` insists),
    /// `smtps://user:pass@host:465`.
    pub smtp_url: String,
    /// The sender, `readtrack <noreply@example.com>` or a bare address.
    pub from: String,
    /// The address people open readtrack at, for links (`https://readtrack.example.com`).
    pub public_url: String,
}

impl MailConfig {
    /// Checks every field, naming the one that is wrong.
    pub fn check(&self) -> std::result::Result<(), String> {
        transport_builder(&self.smtp_url)?;
        self.from
            .parse::<Mailbox>()
            .map_err(|e| format!("mail_from {:?} is not an email address: {e}", self.from))?;
        let url = self.public_url.trim_end_matches('/');
        if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() < 10 {
            return Err(format!(
                "public_url {:?} must be the http(s) address people open readtrack at",
                self.public_url
            ));
        }
        Ok(())
    }
}

/// What an email says, before it is written out in the person's language.
#[derive(Debug, Clone)]
pub struct MailContent {
    /// Why it is sent.
    pub reason: MailReason,
    /// The language the person last used readtrack in, if known.
    pub language: Option<String>,
    /// The person's name.
    pub to_name: String,
    /// The organisation's name.
    pub org_name: String,
    /// The notice's title.
    pub title: String,
    /// The notice's body, Markdown.
    pub body: String,
    /// The notice's priority.
    pub priority: Priority,
    /// Its sender.
    pub sender_name: String,
    /// An escalation's unread recipient.
    pub about_name: Option<String>,
    /// An emergency's reason.
    pub emergency_reason: Option<String>,
    /// The link that opens the notice, signed in, for this person only.
    pub link: String,
    /// Whether the notice asks for a confirmation.
    pub require_ack: bool,
}

/// An email written out.
#[derive(Debug, Clone)]
pub struct RenderedMail {
    /// Subject line.
    pub subject: String,
    /// Plain-text part.
    pub text: String,
    /// HTML part (sanitised).
    pub html: String,
}

/// Which email about a person's own account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountMailKind {
    /// An admin invited them: the link sets their password.
    Invitation,
    /// They asked to reset their password: the link sets a new one.
    PasswordReset,
}

/// An email about a person's own account, sent at once (not queued).
#[derive(Debug, Clone)]
pub struct AccountMail {
    /// Which.
    pub kind: AccountMailKind,
    /// The language the person last used readtrack in, if known.
    pub language: Option<String>,
    /// The person's name.
    pub to_name: String,
    /// The organisation's name.
    pub org_name: String,
    /// The link that sets the password.
    pub link: String,
    /// How many hours the link works.
    pub valid_hours: i64,
}

/// An email to write out.
#[derive(Debug, Clone, Copy)]
pub enum Mail<'a> {
    /// About a notice.
    Notice(&'a MailContent),
    /// About the person's account.
    Account(&'a AccountMail),
}

/// Writes emails out (the web layer owns the languages and the Markdown renderer).
#[derive(Clone)]
pub struct MailRenderer(pub Arc<dyn Fn(Mail<'_>) -> RenderedMail + Send + Sync>);

impl std::fmt::Debug for MailRenderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MailRenderer")
    }
}

type Transport = AsyncSmtpTransport<Tokio1Executor>;

/// The SMTP transport of a URL. A plain `smtp://` URL upgrades with STARTTLS when the
/// server offers it.
/// Must run inside the runtime (the connection pool starts a task).
fn transport(url: &str) -> std::result::Result<Transport, String> {
    Ok(transport_builder(url)?
        .timeout(Some(Duration::from_secs(20)))
        .build())
}

fn transport_builder(
    url: &str,
) -> std::result::Result<lettre::transport::smtp::AsyncSmtpTransportBuilder, String> {
    let url = if url.starts_with("smtp://") && !url.contains("tls=") {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}tls=opportunistic")
    } else {
        url.to_string()
    };
    Transport::from_url(&url).map_err(|e| format!("smtp_url is not a usable SMTP address: {e}"))
}

/// What opening an email's link gives: whom to sign in, and where to take them.
#[derive(Debug, Clone)]
pub struct OpenedLink {
    /// The person the email went to.
    pub member: Member,
    /// The notice.
    pub message: MessageId,
    /// Whether the person is the notice's recipient (else a manager told of it).
    pub is_recipient: bool,
}

impl App {
    /// Queues the emails the events since each organisation's cursor call for; returns
    /// how many were queued.
    pub async fn queue_mail(&self) -> Result<u64> {
        let mut queued = 0;
        for org in self.storage().org_ids().await? {
            loop {
                let cursor = self.storage().outbound_cursor(org, EMAIL).await?;
                let events = self
                    .storage()
                    .org_events_after(org, cursor, EVENTS_PER_PASS)
                    .await?;
                let Some(last) = events.last().map(|e| e.seq) else {
                    break;
                };
                let now = self.clock().now();
                let mut items = Vec::new();
                for e in &events {
                    let emergency = match &e.body {
                        EventBody::MessageCreated { message_id, .. } => self
                            .storage()
                            .message(org, *message_id)
                            .await?
                            .is_some_and(|m| m.emergency_reason.is_some()),
                        _ => false,
                    };
                    let Some(reason) = reach::mail_reason(&e.body, emergency) else {
                        continue;
                    };
                    let about = match &e.body {
                        EventBody::Escalation { recipient_id, .. } => Some(*recipient_id),
                        _ => None,
                    };
                    let member = match e.body.audience() {
                        EventAudience::Member(m) => Some(m),
                        EventAudience::RecipientsOf(_) => None,
                    };
                    items.push(NewOutbound {
                        event_seq: e.seq,
                        message: e.body.message_id(),
                        member,
                        about,
                        reason: reason.as_str(),
                        not_before: now,
                    });
                }
                queued += self
                    .storage()
                    .queue_outbound(org, EMAIL, &items, last, now)
                    .await?;
                if events.len() < EVENTS_PER_PASS as usize {
                    break;
                }
            }
        }
        Ok(queued)
    }

    /// Sends the emails due now; returns how many were attempted.
    pub async fn send_due_mail(
        &self,
        config: &MailConfig,
        transport: &Transport,
        render: &MailRenderer,
    ) -> Result<u64> {
        let now = self.clock().now();
        let lease = now.saturating_add(LEASE).unwrap_or(now);
        let jobs = self.storage().due_outbound(now, lease, 50).await?;
        let n = jobs.len() as u64;
        for job in jobs {
            let id = job.id;
            let outcome = match self.attempt_mail(config, transport, render, job).await {
                Ok(outcome) => outcome,
                Err(e) => {
                    tracing::warn!(error = %e, "an email could not be prepared; retrying later");
                    OutboundOutcome::Later(
                        now.saturating_add(SignedDuration::from_mins(1))
                            .unwrap_or(now),
                        Some(e.to_string()),
                    )
                }
            };
            let kind = match &outcome {
                OutboundOutcome::Sent(_) => "sent",
                OutboundOutcome::Skipped(_) => "skipped",
                OutboundOutcome::Later(_, None) => "deferred",
                OutboundOutcome::Later(_, Some(_)) => "retry",
                OutboundOutcome::Failed { .. } => "failed",
            };
            metrics::counter!("readtrack_mail_total", "outcome" => kind).increment(1);
            self.storage()
                .finish_outbound(id, outcome, self.clock().now())
                .await?;
        }
        Ok(n)
    }

    async fn attempt_mail(
        &self,
        config: &MailConfig,
        transport: &Transport,
        render: &MailRenderer,
        job: OutboundJob,
    ) -> Result<OutboundOutcome> {
        let skip = |why: &str| Ok(OutboundOutcome::Skipped(why.to_string()));
        let Some(reason) = MailReason::parse(&job.reason) else {
            return skip("unknown reason");
        };
        let org = self.org(job.org).await?;
        let Some(member) = self.storage().member(job.org, job.member).await? else {
            return skip("member removed");
        };
        if !member.active {
            return skip("member deactivated");
        }
        if job.reminders_off && !reason.is_essential() {
            return skip("the person switched email reminders off");
        }
        let Some(message) = self.storage().message(job.org, job.message).await? else {
            return skip("notice removed");
        };
        if let Some(receipt) = self.storage().receipt(job.message, job.about).await?
            && reach::no_longer_needed(reason, receipt.state(), message.require_ack)
        {
            return skip("already read");
        }
        let now = self.clock().now();
        // Outside the person's working time the email waits for it; an emergency does not.
        let zone = App::member_zone(&member, &org);
        let calendar = if message.emergency_reason.is_some() {
            WorkCalendar::around_the_clock(&zone)
        } else {
            WorkCalendar::new(
                &zone,
                &org.settings.working_hours,
                &org.settings.quiet_hours,
            )
        };
        if !calendar.is_working(now) {
            return match calendar.next_working_instant(now) {
                Some(at) => Ok(OutboundOutcome::Later(at, None)),
                None => skip("no working time"),
            };
        }
        let about_name = if job.about != job.member {
            self.storage()
                .member(job.org, job.about)
                .await?
                .map(|m| m.name)
        } else {
            None
        };
        let (secret, hash) = auth::new_token();
        let expires = now.saturating_add(LINK_VALID).unwrap_or(now);
        self.storage()
            .set_outbound_link(job.id, &hash, expires)
            .await?;
        let content = MailContent {
            reason,
            language: job.language.clone(),
            to_name: member.name.clone(),
            org_name: org.name.clone(),
            title: message.title.clone(),
            body: message.body.clone(),
            priority: message.priority,
            sender_name: message.sender_name.clone(),
            about_name,
            emergency_reason: message.emergency_reason.clone(),
            link: format!("{}/l/{secret}", config.public_url.trim_end_matches('/')),
            require_ack: message.require_ack,
        };
        let written = (render.0)(Mail::Notice(&content));
        let email = match compose(config, &member, written) {
            Ok(email) => email,
            Err(Unaddressable(e)) => {
                return Ok(OutboundOutcome::Failed {
                    answer: format!("not an address: {e}"),
                    member_unreachable: true,
                });
            }
        };
        match transport.send(email).await {
            Ok(answer) => Ok(OutboundOutcome::Sent(format!(
                "{} {}",
                answer.code(),
                answer.message().collect::<Vec<_>>().join(" ")
            ))),
            Err(e) if e.is_permanent() => Ok(OutboundOutcome::Failed {
                answer: e.to_string(),
                member_unreachable: true,
            }),
            Err(e) => {
                let next = crate::webhooks::after_failure(job.queued_at, job.attempts + 1, now);
                Ok(match next {
                    Some(at) => OutboundOutcome::Later(at, Some(e.to_string())),
                    None => OutboundOutcome::Failed {
                        answer: format!("gave up after {RETRY_WINDOW:#}: {e}"),
                        member_unreachable: false,
                    },
                })
            }
        }
    }

    /// Runs the email loop (queue, send, sleep until the next is due, a new event or a
    /// move of the clock) until shutdown.
    pub async fn run_mail(self, config: MailConfig, render: MailRenderer) {
        let transport = match transport(&config.smtp_url) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "email is off");
                return;
            }
        };
        let mut shutdown = self.shutdown_signal();
        let mut clock_moves = self.clock().changes();
        let mut bus = self.bus().subscribe().await.ok();
        loop {
            if let Err(e) = self.queue_mail().await {
                tracing::warn!(error = %e, "queueing emails failed; retrying shortly");
            }
            match self.send_due_mail(&config, &transport, &render).await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "sending emails failed; retrying shortly"),
            }
            let nap = self.nap_until(self.storage().next_outbound_at().await.ok().flatten());
            tokio::select! {
                _ = tokio::time::sleep(nap.max(Duration::from_millis(50))) => {}
                _ = clock_moves.changed() => {}
                Some(_) = async { match bus.as_mut() { Some(b) => b.recv().await, None => std::future::pending().await } } => {}
                _ = shutdown.signalled() => return,
            }
        }
    }

    /// What an email's link opens, if it is one of ours and has not expired. The first
    /// opening is recorded in the delivery log.
    pub async fn open_mail_link(&self, secret: &str) -> Result<OpenedLink> {
        let now = self.clock().now();
        let link = self
            .storage()
            .open_outbound_link(&auth::hash_token(secret), now)
            .await?
            .ok_or(ServiceError::NotFound("link"))?;
        let member = self
            .storage()
            .member(link.org, link.member)
            .await?
            .filter(|m| m.active)
            .ok_or(ServiceError::NotFound("link"))?;
        let is_recipient = self
            .storage()
            .receipt(link.message, link.member)
            .await?
            .is_some();
        Ok(OpenedLink {
            member,
            message: link.message,
            is_recipient,
        })
    }

    /// Signs in the person an email's link was sent to (a session of twelve hours), unless
    /// they protect their sign-in with a second factor. Returns the session token.
    pub async fn sign_in_by_link(&self, opened: &OpenedLink) -> Result<Option<String>> {
        if self
            .storage()
            .second_factor(opened.member.id)
            .await?
            .is_some_and(|f| f.enabled)
        {
            return Ok(None);
        }
        let (token, _, _) = self
            .issue_token(
                opened.member.org_id,
                opened.member.id,
                readtrack_storage::TokenKind::Session,
                None,
                Some(SignedDuration::from_hours(12)),
            )
            .await?;
        Ok(Some(token))
    }

    /// The members whose address the mail server refused for good, with its answer
    /// (admin): they get no email until their address changes.
    pub async fn unreachable_by_email(
        &self,
        caller: &crate::auth::Caller,
    ) -> Result<Vec<(readtrack_domain::ids::MemberId, String)>> {
        caller.require_admin()?;
        Ok(self.storage().unreachable_members(caller.org_id()).await?)
    }

    /// Whether the caller receives reminders and escalations by email (they may switch
    /// them off; urgent notices and emergencies are emailed regardless).
    pub async fn email_reminders(&self, caller: &crate::auth::Caller) -> Result<bool> {
        Ok(!self.storage().email_reminders_off(caller.id()).await?)
    }

    /// Switches the caller's reminder and escalation emails on or off.
    pub async fn set_email_reminders(&self, caller: &crate::auth::Caller, on: bool) -> Result<()> {
        self.storage()
            .set_email_reminders_off(caller.id(), !on)
            .await?;
        Ok(())
    }

    /// How reachable the organisation's active members are by email (admin).
    pub async fn reachability(
        &self,
        caller: &crate::auth::Caller,
    ) -> Result<readtrack_storage::Reachability> {
        caller.require_admin()?;
        Ok(self.storage().reachability(caller.org_id()).await?)
    }

    /// Remembers the language a member uses readtrack in, for their emails.
    pub async fn remember_language(&self, member: readtrack_domain::ids::MemberId, language: &str) {
        if let Err(e) = self.storage().set_member_language(member, language).await {
            tracing::debug!(error = %e, "could not remember a member's language");
        }
    }
}

/// A member's address that is not one.
struct Unaddressable(String);

/// The email to `member` from the configured sender.
fn compose(
    config: &MailConfig,
    member: &Member,
    written: RenderedMail,
) -> std::result::Result<lettre::Message, Unaddressable> {
    let to = format!(
        "{} <{}>",
        member.name.replace(['<', '>', '"'], ""),
        member.email
    )
    .parse::<Mailbox>()
    .or_else(|_| member.email.parse::<Mailbox>())
    .map_err(|e| Unaddressable(e.to_string()))?;
    // Checked at start (`MailConfig::check`).
    let from: Mailbox = config
        .from
        .parse()
        .map_err(|e| Unaddressable(format!("mail_from: {e}")))?;
    lettre::Message::builder()
        .from(from)
        .to(to)
        .subject(written.subject)
        .header(AutoSubmitted)
        .multipart(MultiPart::alternative_plain_html(
            written.text,
            written.html,
        ))
        .map_err(|e| Unaddressable(e.to_string()))
}

impl App {
    /// Whether this server sends email.
    pub fn sends_email(&self) -> bool {
        self.inner.config.mail.is_some()
    }

    /// Sends a member an email about their account now, with a link to `path` on the
    /// public address; returns the server's answer.
    pub(crate) async fn send_account_mail(
        &self,
        member: &Member,
        kind: AccountMailKind,
        path: &str,
        valid: SignedDuration,
    ) -> Result<String> {
        let Some((config, render)) = &self.inner.config.mail else {
            return Err(ServiceError::Unavailable(
                "this server does not send email (no --smtp-url)".into(),
            ));
        };
        let org = self.org(member.org_id).await?;
        let mail = AccountMail {
            kind,
            language: self.storage().member_language(member.id).await?,
            to_name: member.name.clone(),
            org_name: org.name.clone(),
            link: format!("{}{path}", config.public_url.trim_end_matches('/')),
            valid_hours: valid.as_hours(),
        };
        let email = compose(config, member, (render.0)(Mail::Account(&mail)))
            .map_err(|Unaddressable(e)| ServiceError::invalid("email", e))?;
        let transport = transport(&config.smtp_url).map_err(ServiceError::Unavailable)?;
        let answer = transport
            .send(email)
            .await
            .map_err(|e| ServiceError::Unavailable(format!("the mail server refused: {e}")))?;
        metrics::counter!("readtrack_mail_total", "outcome" => "sent").increment(1);
        Ok(answer.code().to_string())
    }
}

/// `Auto-Submitted: auto-generated` (RFC 3834): out-of-office replies stay away.
#[derive(Debug, Clone, Copy)]
struct AutoSubmitted;

impl header::Header for AutoSubmitted {
    fn name() -> header::HeaderName {
        header::HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(_: &str) -> std::result::Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoSubmitted)
    }

    fn display(&self) -> header::HeaderValue {
        header::HeaderValue::new(Self::name(), "auto-generated".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(smtp: &str, from: &str, public: &str) -> MailConfig {
        MailConfig {
            smtp_url: smtp.into(),
            from: from.into(),
            public_url: public.into(),
        }
    }

    #[test]
    fn a_wrong_setting_is_named() {
        assert!(
            config(
                "smtp://127.0.0.1:2525",
                "readtrack <noreply@example.com>",
                "https://rt.example.com"
            )
            .check()
            .is_ok()
        );
        let e = config("smtp://127.0.0.1:2525", "nobody", "https://rt.example.com")
            .check()
            .unwrap_err();
        assert!(e.contains("mail_from"), "{e}");
        let e = config("ftp://x", "a@b.example", "https://rt.example.com")
            .check()
            .unwrap_err();
        assert!(e.contains("smtp_url"), "{e}");
        let e = config("smtp://127.0.0.1:25", "a@b.example", "rt.example.com")
            .check()
            .unwrap_err();
        assert!(e.contains("public_url"), "{e}");
    }
}
