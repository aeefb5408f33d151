//! Tasks, the "your team's unread notices" list, and reminding the unread by hand.

use jiff::SignedDuration;
use readtrack_domain::ids::{MessageId, TaskId};
use readtrack_domain::schedule::{self, StepsDone};
use readtrack_domain::time_zone::Zone;
use readtrack_domain::working_time::WorkCalendar;
use readtrack_storage::{
    EscalationRecord, FirstStep, MessageRecord, Page, RemindOutcome, StepKind, TaskRecord,
    ZoneTiming,
};

use crate::App;
use crate::auth::Caller;
use crate::error::{Result, ServiceError};

/// How often a sender may remind the unread of one notice by hand.
pub const MANUAL_REMIND_INTERVAL: SignedDuration = SignedDuration::from_mins(10);

impl App {
    /// The caller's tasks, newest first.
    pub async fn tasks(&self, caller: &Caller, page: Page) -> Result<Vec<TaskRecord>> {
        Ok(self.storage().tasks(caller.id(), page).await?)
    }

    /// Marks one of the caller's tasks done.
    pub async fn complete_task(&self, caller: &Caller, id: &str) -> Result<TaskRecord> {
        let id = TaskId::parse("id", id).map_err(|_| ServiceError::NotFound("task"))?;
        Ok(self
            .storage()
            .complete_task(caller.id(), id, self.clock().now())
            .await?)
    }

    /// Notices escalated to the caller as a manager or backup.
    pub async fn team_unread(&self, caller: &Caller, page: Page) -> Result<Vec<EscalationRecord>> {
        Ok(self.storage().escalations_to(caller.id(), page).await?)
    }

    /// The working calendar of every time zone the organisation's members live in: the
    /// organisation's own (`None`, for members without a zone of their own) first. For an
    /// emergency every minute counts, nights and weekends included.
    async fn zone_calendars(
        &self,
        caller: &Caller,
        emergency: bool,
    ) -> Result<Vec<(Option<String>, WorkCalendar)>> {
        let org = self.org(caller.org_id()).await?;
        let s = &org.settings;
        let mut zones: Vec<Option<String>> = vec![None];
        zones.extend(
            self.storage()
                .member_zones(caller.org_id())
                .await?
                .into_iter()
                .map(Some),
        );
        Ok(zones
            .into_iter()
            .map(|zone| {
                let z = zone
                    .as_deref()
                    .and_then(|z| Zone::parse("time_zone", z).ok())
                    .unwrap_or_else(|| s.time_zone.clone());
                let cal = if emergency {
                    WorkCalendar::around_the_clock(&z)
                } else {
                    WorkCalendar::new(&z, &s.working_hours, &s.quiet_hours)
                };
                (zone, cal)
            })
            .collect())
    }

    /// Each recipient zone's first reminder-plan step for a notice sent now.
    pub(crate) async fn first_steps(
        &self,
        caller: &Caller,
        plan: &readtrack_domain::reminder::ReminderPlan,
        emergency: bool,
    ) -> Result<Vec<FirstStep>> {
        let now = self.clock().now();
        let mut out = Vec::new();
        for (zone, cal) in self.zone_calendars(caller, emergency).await? {
            if let Some((step, due_at)) = schedule::next_step(plan, &cal, now, StepsDone::default())
            {
                let (kind, step_no) = match step {
                    schedule::Step::Reminder(k) => (StepKind::Reminder, i64::from(k)),
                    schedule::Step::Escalation => (StepKind::Escalation, 0),
                };
                out.push(FirstStep {
                    zone,
                    step: kind,
                    step_no,
                    due_at,
                });
            }
        }
        // Without a default entry nothing is queued; a zone that differs from it is listed.
        Ok(if out.iter().any(|s| s.zone.is_none()) {
            out
        } else {
            Vec::new()
        })
    }

    /// The sender reminds every unread recipient now; those outside their working time are
    /// reminded when it starts. At most once per [`MANUAL_REMIND_INTERVAL`] per notice.
    pub async fn remind_now(&self, caller: &Caller, id: &str) -> Result<(i64, i64)> {
        let id = MessageId::parse("id", id).map_err(|_| ServiceError::NotFound("message"))?;
        let message: MessageRecord = self
            .storage()
            .message(caller.org_id(), id)
            .await?
            .ok_or(ServiceError::NotFound("message"))?;
        if message.sender_id != caller.id() {
            let recipient = self.storage().receipt(id, caller.id()).await?.is_some();
            return Err(if recipient {
                ServiceError::Forbidden(
                    "only the sender of this notice may remind its readers".into(),
                )
            } else {
                ServiceError::NotFound("message")
            });
        }
        let now = self.clock().now();
        // An emergency's manual reminder goes out now, whatever the hour.
        let timing: Vec<ZoneTiming> = self
            .zone_calendars(caller, message.emergency_reason.is_some())
            .await?
            .into_iter()
            .map(|(zone, cal)| {
                let defer_to = if cal.is_working(now) {
                    None
                } else {
                    cal.next_working_instant(now)
                };
                ZoneTiming { zone, defer_to }
            })
            .collect();
        match self
            .storage()
            .remind_unread(&message, &timing, MANUAL_REMIND_INTERVAL, now)
            .await?
        {
            RemindOutcome::TooSoon(next) => Err(ServiceError::RateLimited {
                retry_after_secs: (next.as_second() - now.as_second()).max(1) as u64,
                message: "this notice was reminded less than 10 minutes ago; try again later"
                    .into(),
            }),
            RemindOutcome::Done {
                reminded,
                deferred,
                events,
            } => {
                if !events.is_empty()
                    && let Err(e) = self.bus().publish(events.into()).await
                {
                    tracing::warn!(error = %e, "could not publish reminders");
                }
                if deferred > 0 {
                    self.wake_scheduler();
                }
                Ok((reminded, deferred))
            }
        }
    }
}
