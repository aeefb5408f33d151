//! Conversions from domain and storage values to wire types: the only place both meet.

use jiff::Timestamp;
use readtrack_domain::department::Department;
use readtrack_domain::event::{Event, EventBody};
use readtrack_domain::member::Member;
use readtrack_domain::reminder::ReminderPlan;
use readtrack_domain::summary::{DepartmentCounts, Summary};
use readtrack_protocol::directory as wire_dir;
use readtrack_protocol::frames::ServerFrame;
use readtrack_protocol::messages::{AudienceBody, MessageDetail, MessageSummary, ReminderPlanBody};
use readtrack_protocol::receipts::{self as wire, BoardItem, DepartmentLine};
use readtrack_service::board::ShownRow;
use readtrack_service::messages::MessageView;
use readtrack_service::records::{MessageRecord, ReceiptRecord};

/// RFC 3339 in UTC.
pub fn time(t: Timestamp) -> String {
    t.to_string()
}

/// Optional [`time`].
pub fn time_opt(t: Option<Timestamp>) -> Option<String> {
    t.map(time)
}

/// A directory member.
pub fn member(m: &Member) -> wire_dir::Member {
    wire_dir::Member {
        id: m.id.to_string(),
        name: m.name.clone(),
        email: m.email.clone(),
        department_id: m.department_id.to_string(),
        manager_id: m.manager_id.map(|x| x.to_string()),
        backup_id: m.backup_id.map(|x| x.to_string()),
        role: m.role.as_str().to_string(),
        time_zone: m.time_zone.clone(),
        policy_ack_version: m.policy_ack_version,
        active: m.active,
        phone: None,
        external_id: None,
    }
}

/// A directory member as `viewer` may see them: contact details and the identity
/// provider's id only for admins and for the member themself.
pub fn member_seen_by(m: &Member, viewer: &readtrack_service::Caller) -> wire_dir::Member {
    let mut out = member(m);
    if viewer.is_admin() || viewer.id() == m.id {
        out.phone = m.phone.clone();
        out.external_id = m.external_id.clone();
    }
    out
}

/// A department.
pub fn department(d: &Department) -> wire_dir::Department {
    wire_dir::Department {
        id: d.id.to_string(),
        name: d.name.clone(),
        parent_id: d.parent_id.map(|p| p.to_string()),
    }
}

/// A reminder plan.
pub fn plan(p: &ReminderPlan) -> ReminderPlanBody {
    ReminderPlanBody {
        remind_after_minutes: Some(i64::from(p.remind_after_minutes)),
        remind_every_minutes: Some(i64::from(p.remind_every_minutes)),
        max_reminders: Some(i64::from(p.max_reminders)),
        escalate_after_minutes: p.escalate_after_minutes.map(i64::from),
        escalate_to: Some(
            p.escalate_to
                .iter()
                .map(|t| t.as_str().to_string())
                .collect(),
        ),
        create_task: Some(p.create_task),
    }
}

/// A notice in a list.
pub fn message_summary(m: &MessageRecord, mine: Option<&ReceiptRecord>) -> MessageSummary {
    MessageSummary {
        id: m.id.to_string(),
        title: m.title.clone(),
        sender_id: m.sender_id.to_string(),
        sender_name: m.sender_name.clone(),
        priority: m.priority.as_str().to_string(),
        tracking: m.tracking.as_str().to_string(),
        require_ack: m.require_ack,
        is_async: m.is_async,
        created_at: time(m.created_at),
        recipient_count: m.recipient_count,
        my_state: mine.map(|r| r.state().as_str().to_string()),
        my_reminders: mine.map(|r| r.reminders),
        deadline: time_opt(m.deadline),
    }
}

/// A notice in full, as the viewer may see it.
pub fn message_detail(v: &MessageView) -> MessageDetail {
    let m = &v.message;
    MessageDetail {
        id: m.id.to_string(),
        title: m.title.clone(),
        body: m.body.clone(),
        sender_id: m.sender_id.to_string(),
        sender_name: m.sender_name.clone(),
        priority: m.priority.as_str().to_string(),
        tracking: m.tracking.as_str().to_string(),
        require_ack: m.require_ack,
        response_options: m.response_options.clone(),
        audience: AudienceBody {
            members: m.audience.members.iter().map(|x| x.to_string()).collect(),
            departments: m
                .audience
                .departments
                .iter()
                .map(|x| x.to_string())
                .collect(),
        },
        reminders: m.reminders.as_ref().map(plan),
        deadline: time_opt(m.deadline),
        emergency_reason: m.emergency_reason.clone(),
        is_async: m.is_async,
        recipient_count: m.recipient_count,
        created_at: time(m.created_at),
        my_state: v
            .my_receipt
            .as_ref()
            .map(|r| r.state().as_str().to_string()),
        my_response: v.my_receipt.as_ref().and_then(|r| r.times.response.clone()),
    }
}

/// Board counts.
pub fn summary(s: &Summary) -> wire::Summary {
    wire::Summary {
        recipients: s.recipients,
        delivered: s.delivered,
        read: s.read,
        acknowledged: s.acknowledged,
        unread: s.unread(),
        hidden: s.hidden,
        responses: (!s.responses.is_empty()).then(|| s.responses.iter().cloned().collect()),
        hidden_not_counted: s.hidden_excluded,
    }
}

/// The name of the line that counts departments too small to show alone.
pub const SMALL_DEPARTMENTS_NAME: &str = "Smaller departments, together";

/// A department line.
pub fn department_line(d: &DepartmentCounts) -> DepartmentLine {
    DepartmentLine {
        department_id: d.department_id.to_string(),
        name: if d.department_id == readtrack_domain::privacy::SMALL_DEPARTMENTS {
            SMALL_DEPARTMENTS_NAME.to_string()
        } else {
            d.name.clone()
        },
        recipients: d.recipients,
        read: d.read,
        acknowledged: d.acknowledged,
    }
}

/// A person's row, with no time inside their quiet hours
/// ([`readtrack_domain::privacy::shown_times`]); rows withheld entirely (`untracked`
/// quiet reads) never reach this function.
pub fn board_item(shown: &ShownRow) -> BoardItem {
    let (row, times) = (&shown.row, &shown.times);
    let r = &row.receipt;
    BoardItem {
        member_id: r.member_id.to_string(),
        name: row.name.clone(),
        department_id: r.department_id.to_string(),
        state: r.state().as_str().to_string(),
        delivered_at: time_opt(times.delivered_at),
        read_at: time_opt(times.read_at),
        acked_at: time_opt(times.acked_at),
        response: r.times.response.clone(),
        outside_working_hours: times.read_outside,
        acked_outside_working_hours: times.acked_outside,
        delivered_outside_working_hours: times.delivered_outside,
        reminders: r.reminders,
        escalated_at: time_opt(r.escalated_at),
        emails: shown
            .emails
            .iter()
            .map(|(reason, at)| readtrack_protocol::receipts::EmailSent {
                reason: reason.clone(),
                sent_at: time(*at),
            })
            .collect(),
    }
}

/// The frame of an event.
pub fn frame(e: &Event) -> ServerFrame {
    let seq = e.seq.0;
    match &e.body {
        EventBody::MessageCreated {
            message_id,
            sender_id,
            title,
            priority,
            require_ack,
        } => ServerFrame::MessageCreated {
            seq,
            message_id: message_id.to_string(),
            sender_id: sender_id.to_string(),
            title: title.clone(),
            priority: priority.as_str().to_string(),
            require_ack: *require_ack,
            at: time(e.at),
        },
        EventBody::ReceiptUpdated {
            message_id,
            summary: s,
            person,
            ..
        } => ServerFrame::ReceiptUpdated {
            seq,
            message_id: message_id.to_string(),
            summary: summary(s),
            member_id: person.as_ref().map(|p| p.member_id.to_string()),
            state: person.as_ref().map(|p| p.state.as_str().to_string()),
            at: person.as_ref().and_then(|p| time_opt(p.at)),
            outside_working_hours: person
                .as_ref()
                .is_some_and(|p| p.at.is_none() && p.state.is_read()),
        },
        EventBody::Reminder {
            message_id, count, ..
        } => ServerFrame::Reminder {
            seq,
            message_id: message_id.to_string(),
            count: *count,
            at: time(e.at),
        },
        EventBody::Escalation {
            message_id,
            recipient_id,
            role,
            ..
        } => ServerFrame::Escalation {
            seq,
            message_id: message_id.to_string(),
            recipient_id: recipient_id.to_string(),
            role: role.to_string(),
            at: time(e.at),
        },
        EventBody::TaskCreated {
            task_id,
            message_id,
            ..
        } => ServerFrame::TaskCreated {
            seq,
            task_id: task_id.to_string(),
            message_id: message_id.to_string(),
            at: time(e.at),
        },
    }
}

/// One member an import creates or changes.
pub fn import_change(c: &readtrack_domain::import::ImportChange) -> wire_dir::ImportChangeBody {
    wire_dir::ImportChangeBody {
        line: c.line,
        email: c.email.clone(),
        change: c.kind.as_str().into(),
        fields: c.fields.iter().map(|f| f.to_string()).collect(),
    }
}
