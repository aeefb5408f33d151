//! Emails written out: subject, plain text and sanitised HTML, in the language the person
//! last used readtrack in. The plain-text part carries the notice's Markdown as written;
//! the HTML part the same Markdown rendered and sanitised as on the notice page. Neither
//! carries an image or anything else that loads when opened: opening an email is not a
//! read.

use readtrack_domain::reach::MailReason;
use readtrack_service::mail::{
    AccountMail, AccountMailKind, Mail, MailContent, MailRenderer, RenderedMail,
};

use super::i18n::Lang;
use super::markdown;

/// The renderer the email loop uses.
pub fn renderer() -> MailRenderer {
    MailRenderer(std::sync::Arc::new(|mail| match mail {
        Mail::Notice(c) => render(c),
        Mail::Account(a) => render_account(a),
    }))
}

fn lang_of(language: Option<&str>) -> Lang {
    language.and_then(Lang::from_tag).unwrap_or(Lang::En)
}

/// An invitation or a password reset.
pub fn render_account(a: &AccountMail) -> RenderedMail {
    let lang = lang_of(a.language.as_deref());
    let t = lang.tr();
    let (subject, line) = match a.kind {
        AccountMailKind::Invitation => (
            t.mail_invitation_subject.replace("{org}", &a.org_name),
            t.mail_invitation_line.replace("{org}", &a.org_name),
        ),
        AccountMailKind::PasswordReset => (
            t.mail_reset_subject.replace("{org}", &a.org_name),
            t.mail_reset_line.replace("{org}", &a.org_name),
        ),
    };
    let greeting = t.mail_greeting.replace("{name}", &a.to_name);
    let valid = t
        .mail_link_valid_hours
        .replace("{hours}", &a.valid_hours.to_string());
    let text = format!(
        "{greeting}\n\n{line}\n\n{}: {}\n\n{valid}\n",
        t.mail_choose_password, a.link
    );
    let html = format!(
        "<!doctype html><html lang=\"{}\"><body style=\"font-family:sans-serif;max-width:40em\"><p>{}</p><p>{}</p><p><a href=\"{}\">{}</a></p><p style=\"color:#555;font-size:0.9em\">{}</p></body></html>",
        lang.tag(),
        escape(&greeting),
        escape(&line),
        escape(&a.link),
        escape(t.mail_choose_password),
        escape(&valid)
    );
    RenderedMail {
        subject,
        text,
        html,
    }
}

/// Writes one email about a notice out.
pub fn render(c: &MailContent) -> RenderedMail {
    let lang = lang_of(c.language.as_deref());
    let t = lang.tr();
    let subject = match c.reason {
        MailReason::Notice if c.emergency_reason.is_some() => {
            format!("[{}] {}", t.emergency_notice, c.title)
        }
        MailReason::Notice => format!("[{}] {}", t.priority_label(c.priority.as_str()), c.title),
        MailReason::Reminder => format!("{}: {}", t.mail_reminder, c.title),
        MailReason::Escalation => format!(
            "{}: {}",
            t.mail_not_read_by
                .replace("{name}", c.about_name.as_deref().unwrap_or("?")),
            c.title
        ),
    };
    let greeting = t.mail_greeting.replace("{name}", &c.to_name);
    let line = match c.reason {
        MailReason::Notice => t
            .mail_new_notice
            .replace("{sender}", &c.sender_name)
            .replace("{org}", &c.org_name),
        MailReason::Reminder => t.mail_reminder_line.replace("{sender}", &c.sender_name),
        MailReason::Escalation => t
            .mail_escalation_line
            .replace("{name}", c.about_name.as_deref().unwrap_or("?"))
            .replace("{sender}", &c.sender_name),
    };
    let emergency = c
        .emergency_reason
        .as_deref()
        .map(|r| format!("{}: {r}", t.emergency_notice));
    let confirm =
        (c.require_ack && c.reason != MailReason::Escalation).then_some(t.mail_confirm_there);
    let mut text = format!("{greeting}\n\n{line}\n\n");
    if let Some(e) = &emergency {
        text.push_str(&format!("{e}\n\n"));
    }
    text.push_str(&format!("{}\n\n{}\n\n", c.title, c.body));
    text.push_str(&format!("{}: {}\n", t.mail_open, c.link));
    if let Some(confirm) = confirm {
        text.push_str(&format!("{confirm}\n"));
    }
    text.push_str(&format!("\n{}\n", t.mail_read_rule));
    let mut html = format!(
        "<!doctype html><html lang=\"{}\"><body style=\"font-family:sans-serif;max-width:40em\"><p>{}</p><p>{}</p>",
        lang.tag(),
        escape(&greeting),
        escape(&line)
    );
    if let Some(e) = &emergency {
        html.push_str(&format!("<p><strong>{}</strong></p>", escape(e)));
    }
    html.push_str(&format!(
        "<h1 style=\"font-size:1.3em\">{}</h1><div>{}</div><p><a href=\"{}\">{}</a></p>",
        escape(&c.title),
        markdown::render(&c.body),
        escape(&c.link),
        escape(t.mail_open)
    ));
    if let Some(confirm) = confirm {
        html.push_str(&format!("<p>{}</p>", escape(confirm)));
    }
    html.push_str(&format!(
        "<p style=\"color:#555;font-size:0.9em\">{}</p></body></html>",
        escape(t.mail_read_rule)
    ));
    RenderedMail {
        subject,
        text,
        html,
    }
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use readtrack_domain::message::Priority;

    fn content(reason: MailReason, language: Option<&str>) -> MailContent {
        MailContent {
            reason,
            language: language.map(str::to_string),
            to_name: "Ivy <Chan>".into(),
            org_name: "Harbour Line".into(),
            title: "Typhoon signal 8".into(),
            body: "Stores close at **15:00**.<script>alert(1)</script>".into(),
            priority: Priority::Urgent,
            sender_name: "Operations".into(),
            about_name: Some("Bo".into()),
            emergency_reason: None,
            link: "https://rt.example.com/l/rt_abc".into(),
            require_ack: true,
        }
    }

    #[test]
    fn an_email_is_in_the_persons_language_escaped_and_without_images() {
        let m = render(&content(MailReason::Notice, None));
        assert_eq!(m.subject, "[Urgent] Typhoon signal 8");
        assert!(m.text.contains("https://rt.example.com/l/rt_abc"));
        assert!(m.html.contains("Ivy &lt;Chan&gt;"));
        assert!(m.html.contains("<strong>15:00</strong>"));
        assert!(!m.html.contains("<script"));
        assert!(!m.html.contains("<img"));
        let zh = render(&content(MailReason::Reminder, Some("zh-Hant")));
        assert!(zh.subject.starts_with("提醒"), "{}", zh.subject);
        let up = render(&content(MailReason::Escalation, Some("en")));
        assert!(
            up.subject.starts_with("Not yet read by Bo"),
            "{}",
            up.subject
        );
        assert!(
            !up.text.contains("confirm"),
            "a manager is not asked to confirm"
        );
    }
}
