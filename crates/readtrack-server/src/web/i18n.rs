//! The web pages' two languages, English and Traditional Chinese (繁體中文).
//!
//! Every string a page shows is a field of [`Tr`], so a missing translation is a compile
//! error rather than a blank on screen. The language comes from the `rt_lang` cookie
//! (set by the switch on every page), else from the browser's `Accept-Language`.

use axum::http::request::Parts;

use crate::extract::cookie;

/// The cookie that remembers the language a viewer picked.
pub const LANG_COOKIE: &str = "rt_lang";

/// A language the pages are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// English.
    En,
    /// Traditional Chinese as written in Hong Kong and Taiwan.
    ZhHant,
}

impl Lang {
    /// The BCP 47 tag, for `<html lang>`, the cookie and `Intl` in the browser.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::ZhHant => "zh-Hant",
        }
    }

    /// Parses a tag as written in the cookie or the switch's link.
    pub fn from_tag(tag: &str) -> Option<Self> {
        let tag = tag.trim().to_ascii_lowercase();
        if tag == "en" || tag.starts_with("en-") {
            Some(Lang::En)
        } else if tag == "zh" || tag.starts_with("zh-") {
            // Simplified-Chinese readers still read Traditional far better than English.
            Some(Lang::ZhHant)
        } else {
            None
        }
    }

    /// The strings of this language.
    pub fn tr(self) -> &'static Tr {
        match self {
            Lang::En => &EN,
            Lang::ZhHant => &ZH_HANT,
        }
    }

    /// The other language, offered by the switch.
    pub fn other(self) -> Lang {
        match self {
            Lang::En => Lang::ZhHant,
            Lang::ZhHant => Lang::En,
        }
    }

    /// The language's own name, as the switch shows it.
    pub fn native_name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::ZhHant => "繁體中文",
        }
    }

    /// "3 min ago", "3 分鐘前".
    pub fn age(self, secs: i64) -> String {
        let secs = secs.max(0);
        let (n, unit) = match secs {
            0..60 => return self.tr().just_now.to_string(),
            60..3600 => (secs / 60, 0),
            3600..86_400 => (secs / 3600, 1),
            _ => (secs / 86_400, 2),
        };
        match (self, unit) {
            (Lang::En, 0) => format!("{n} min ago"),
            (Lang::En, 1) => format!("{n} h ago"),
            (Lang::En, _) => format!("{n} d ago"),
            (Lang::ZhHant, 0) => format!("{n} 分鐘前"),
            (Lang::ZhHant, 1) => format!("{n} 小時前"),
            (Lang::ZhHant, _) => format!("{n} 天前"),
        }
    }
}

/// The viewer's language: the cookie, else the best of `Accept-Language`, else English.
pub fn negotiate(parts: &Parts) -> Lang {
    if let Some(lang) = cookie(parts, LANG_COOKIE)
        .as_deref()
        .and_then(Lang::from_tag)
    {
        return lang;
    }
    let header = parts
        .headers
        .get(axum::http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    from_accept_language(header)
}

/// The supported language a browser ranks highest (`zh-HK,zh;q=0.9,en;q=0.8`).
pub fn from_accept_language(header: &str) -> Lang {
    let mut best: Option<(f32, usize, Lang)> = None;
    for (i, item) in header.split(',').enumerate() {
        let mut parts = item.split(';');
        let tag = parts.next().unwrap_or("").trim();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let Some(lang) = Lang::from_tag(tag) else {
            continue;
        };
        if q <= 0.0 {
            continue;
        }
        // Ties go to the earlier entry, as the browser listed it.
        if best.is_none_or(|(bq, bi, _)| q > bq || (q == bq && i < bi)) {
            best = Some((q, i, lang));
        }
    }
    best.map(|(_, _, l)| l).unwrap_or(Lang::En)
}

macro_rules! strings {
    ($($key:ident: $en:expr, $zh:expr;)*) => {
        /// Every string the pages show, in one language.
        #[derive(Debug)]
        pub struct Tr {
            $(
                #[doc = concat!("\"", $en, "\"")]
                pub $key: &'static str,
            )*
        }

        /// English.
        pub static EN: Tr = Tr { $($key: $en,)* };
        /// Traditional Chinese.
        pub static ZH_HANT: Tr = Tr { $($key: $zh,)* };
    };
}

strings! {
    skip_to_content: "Skip to content", "跳至內容";
    tagline: "Notices that are really read", "確保重要通告真的被閱讀";
    nav_inbox: "Inbox", "收件匣";
    nav_sent: "Sent", "已發送";
    nav_compose: "New notice", "新通告";
    nav_tasks: "Tasks", "待辦事項";
    nav_my_data: "My data", "我的資料";
    nav_policy: "Policy", "私隱政策";
    nav_directory: "Directory", "通訊錄";
    nav_settings: "Settings", "設定";
    nav_analytics: "Analytics", "分析";
    nav_main: "Main", "主選單";
    language: "Language", "語言";
    sign_in: "Sign in", "登入";
    sign_out: "Sign out", "登出";
    email: "Email", "電郵";
    password: "Password", "密碼";
    wrong_login: "Wrong email or password.", "電郵或密碼不正確。";
    form_expired: "The form expired. Please try again.", "表單已過期，請再試一次。";
    setup_title: "Set up readtrack", "設定 readtrack";
    setup_intro: "This server has no organisation yet. Create it and its first administrator.", "此伺服器尚未有機構。請建立機構及第一位管理員。";
    org_name: "Organisation name", "機構名稱";
    time_zone: "Time zone", "時區";
    time_zone_hint: "An IANA name such as Asia/Hong_Kong.", "IANA 時區名稱，例如 Asia/Hong_Kong。";
    your_name: "Your name", "你的名稱";
    password_hint: "At least 8 characters.", "最少 8 個字元。";
    create_org: "Create organisation", "建立機構";
    inbox_title: "Inbox", "收件匣";
    inbox_empty: "No notices yet. New ones appear here as they arrive.", "暫時沒有通告。新通告一到便會在此顯示。";
    unread_count: "unread", "則未讀";
    priority: "Priority", "優先程度";
    priority_normal: "Normal", "一般";
    priority_important: "Important", "重要";
    priority_urgent: "Urgent", "緊急";
    from: "From", "發送者";
    sent_at: "Sent", "發送時間";
    age: "Age", "時間";
    my_state: "My state", "我的狀態";
    state_unread: "Unread", "未讀";
    state_read: "Read", "已讀";
    state_acknowledged: "Confirmed", "已確認";
    state_needs_ack: "Needs confirmation", "需要確認";
    just_now: "just now", "剛剛";
    back_to_inbox: "Back to inbox", "返回收件匣";
    deadline: "Deadline", "限期";
    read_rule: "This notice is marked read once it has been on your screen for a second.", "通告在畫面上顯示一秒後，便會標示為已讀。";
    marked_read: "Marked as read", "已標示為已讀";
    waiting_to_sync: "saved on this device, sending when the server is reachable", "已儲存於此裝置，待可連線時傳送";
    synced: "recorded", "已記錄";
    confirm: "Confirm", "確認";
    confirm_hint: "The sender asks you to confirm that you have read this.", "發送者要求你確認已閱讀此通告。";
    choose_response: "Choose your answer to confirm:", "請選擇你的回覆以確認：";
    you_confirmed: "You confirmed", "你已確認";
    open_board: "Open the read board", "查看閱讀情況";
    compose_title: "New notice", "新通告";
    title: "Title", "標題";
    body: "Message", "內容";
    body_hint: "Markdown: **bold**, *italic*, lists with -, links.", "可用 Markdown：**粗體**、*斜體*、以 - 開始的清單、連結。";
    preview: "Preview", "預覽";
    tracking: "Tracking", "追蹤方式";
    tracking_default: "Policy default", "按政策預設";
    tracking_off: "Off", "不追蹤";
    tracking_aggregate: "Counts only", "只統計人數";
    tracking_per_person: "Per person", "逐人追蹤";
    require_ack: "Ask recipients to confirm", "要求收件人確認";
    response_options: "Answer choices (optional, one per line, 2 to 10)", "回覆選項（可選，每行一項，2 至 10 項）";
    reminders: "Reminders", "提醒";
    plan_default: "Organisation default", "機構預設";
    plan_none: "No reminders", "不提醒";
    plan_custom: "Custom", "自訂";
    remind_after: "First reminder after (working minutes)", "首次提醒（工作分鐘後）";
    remind_every: "Then every (working minutes)", "其後每隔（工作分鐘）";
    max_reminders: "At most (reminders)", "最多提醒次數";
    escalate_after: "Escalate after (working minutes)", "升級處理（工作分鐘後）";
    escalate_manager: "Tell the manager", "通知上司";
    escalate_backup: "Tell the backup contact", "通知後備聯絡人";
    create_task: "Put a task on the recipient's list", "為收件人建立待辦事項";
    deadline_optional: "Deadline (optional)", "限期（可選）";
    audience: "Audience", "收件人";
    departments: "Departments", "部門";
    departments_hint: "A department includes its sub-departments.", "選擇部門即包括其下屬部門。";
    people: "People", "個別人員";
    search_people: "Search people by name or email", "以姓名或電郵搜尋人員";
    no_matches: "No one matches.", "找不到相符的人員。";
    add: "Add", "加入";
    remove: "Remove", "移除";
    recipients_preview: "Recipients", "收件人數";
    send: "Send notice", "發送通告";
    board_title: "Read board", "閱讀情況";
    recipients: "Recipients", "收件人";
    delivered: "Delivered", "已送達";
    read: "Read", "已讀";
    acknowledged: "Confirmed", "已確認";
    unread: "Unread", "未讀";
    hidden: "Not listed", "不列出";
    hidden_note: "people are counted but not listed: they have not acknowledged the current policy, or their read fell in quiet hours.", "人只計入總數而不逐一列出：他們尚未確認現行私隱政策，或在寧靜時段內閱讀。";
    aggregate_note: "This notice is tracked as counts only; nobody is listed.", "此通告只作整體統計，不會逐一列出個人。";
    by_department: "By department", "按部門";
    responses: "Answers", "回覆";
    name: "Name", "姓名";
    department: "Department", "部門";
    read_at: "Read", "閱讀時間";
    acked_at: "Confirmed", "確認時間";
    answer: "Answer", "回覆";
    reminders_col: "Reminders", "提醒次數";
    state: "State", "狀態";
    n_recipients: "recipients", "位收件人";
    n_read: "read", "已讀";
    audited_view: "You are viewing this board as an administrator: this look is audited.", "你正以管理員身分查看此閱讀情況：此次查看會被稽核記錄。";
    all: "All", "全部";
    filter: "Show", "顯示";
    remind_unread: "Remind unread", "提醒未讀者";
    remind_done: "Reminded", "已提醒";
    remind_deferred: "deferred to their working hours", "延至其工作時間";
    remind_unavailable: "Reminding by hand is not available on this server yet.", "此伺服器暫未提供人手提醒功能。";
    remind_too_soon: "Reminded recently. Try again later.", "剛已提醒，請稍後再試。";
    remind_failed: "Could not send reminders. Try again.", "未能發送提醒，請再試。";
    download_csv: "Download CSV", "下載 CSV";
    live: "Live", "即時";
    reconnecting: "Reconnecting…", "重新連線中…";
    outside_hours: "outside working hours", "非工作時間";
    next_page: "Next page", "下一頁";
    first_page: "First page", "第一頁";
    no_rows: "No one to show here.", "沒有可顯示的人員。";
    sent_title: "Sent notices", "已發送通告";
    sent_empty: "You have not sent any notices yet.", "你尚未發送任何通告。";
    directory_title: "Directory", "通訊錄";
    members: "Members", "成員";
    add_member: "Add a member", "新增成員";
    add_department: "Add a department", "新增部門";
    parent_department: "Inside", "上級部門";
    top_level: "(top level)", "（最上層）";
    role: "Role", "角色";
    role_member: "Member", "成員";
    role_admin: "Administrator", "管理員";
    role_auditor: "Auditor", "稽核員";
    optional_password: "Password (optional: without one the member cannot sign in)", "密碼（可選：沒有密碼便不能登入）";
    member_added: "Member added.", "已新增成員。";
    department_added: "Department added.", "已新增部門。";
    import_csv: "Import members from CSV", "從 CSV 匯入成員";
    import_hint: "Header row: name,email,department,manager_email,backup_email,role. Departments are paths such as Retail/Kowloon, created as needed.", "標題列：name,email,department,manager_email,backup_email,role。部門以路徑表示，例如 Retail/Kowloon，如不存在會自動建立。";
    csv_file: "CSV file", "CSV 檔案";
    dry_run: "Only check, write nothing", "只檢查，不寫入";
    import: "Import", "匯入";
    import_done: "Import finished", "匯入完成";
    import_checked: "Check finished: nothing was written", "檢查完成：未有寫入任何資料";
    import_refused: "The file was refused and nothing was written. Fix these lines and try again:", "檔案被拒絕，未有寫入任何資料。請修正以下各行後再試：";
    created: "created", "新增";
    updated: "updated", "更新";
    departments_created: "departments created", "個部門已建立";
    line: "Line", "行";
    problem: "Problem", "問題";
    search: "Search", "搜尋";
    inactive: "inactive", "已停用";
    error_title: "Something went wrong", "發生錯誤";
    not_found: "That page or notice does not exist, or it is not yours to see.", "該頁面或通告不存在，或你無權查看。";
    forbidden: "You do not have access to this page.", "你無權存取此頁面。";
    server_error: "The server could not finish this. Try again in a moment.", "伺服器未能完成此操作，請稍後再試。";
    try_again: "Go back", "返回";
}

impl Tr {
    /// The label of a priority's wire name.
    pub fn priority_label(&self, priority: &str) -> &'static str {
        match priority {
            "urgent" => self.priority_urgent,
            "important" => self.priority_important,
            _ => self.priority_normal,
        }
    }

    /// A recipient's own state, as the inbox shows it.
    pub fn my_state_label(&self, state: &str, require_ack: bool) -> &'static str {
        match state {
            "acknowledged" => self.state_acknowledged,
            "read" if require_ack => self.state_needs_ack,
            "read" => self.state_read,
            _ => self.state_unread,
        }
    }

    /// A recipient's state, as the board shows it to the sender.
    pub fn board_state_label(&self, state: &str) -> &'static str {
        match state {
            "acknowledged" => self.acknowledged,
            "read" => self.read,
            "delivered" => self.delivered,
            _ => self.unread,
        }
    }

    /// A role's wire name.
    pub fn role_label(&self, role: &str) -> &'static str {
        match role {
            "admin" => self.role_admin,
            "auditor" => self.role_auditor,
            _ => self.role_member,
        }
    }

    /// The strings the pages' scripts need, as JSON for a `<script type="application/json">`
    /// block (data, never executed, so the CSP needs no inline-script exception).
    pub fn js_json(&self) -> String {
        serde_json::json!({
            "marked_read": self.marked_read,
            "waiting_to_sync": self.waiting_to_sync,
            "synced": self.synced,
            "you_confirmed": self.you_confirmed,
            "read": self.read,
            "acknowledged": self.acknowledged,
            "delivered": self.delivered,
            "unread": self.unread,
            "outside_hours": self.outside_hours,
            "live": self.live,
            "reconnecting": self.reconnecting,
            "remind_done": self.remind_done,
            "remind_deferred": self.remind_deferred,
            "remind_unavailable": self.remind_unavailable,
            "remind_too_soon": self.remind_too_soon,
            "remind_failed": self.remind_failed,
            "no_matches": self.no_matches,
            "remove": self.remove,
            "add": self.add,
        })
        .to_string()
        // `</` cannot then close the script element early.
        .replace("</", "<\\/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hong_kong_browser_gets_traditional_chinese_and_others_english() {
        assert_eq!(
            from_accept_language("zh-HK,zh;q=0.9,en;q=0.8"),
            Lang::ZhHant
        );
        assert_eq!(from_accept_language("en-GB,en;q=0.9,zh-TW;q=0.8"), Lang::En);
        assert_eq!(from_accept_language("fr-FR,fr;q=0.9"), Lang::En);
        assert_eq!(from_accept_language("fr;q=1,zh-TW;q=0.5"), Lang::ZhHant);
        assert_eq!(from_accept_language(""), Lang::En);
        assert_eq!(from_accept_language("zh;q=0,en;q=0.1"), Lang::En);
    }

    #[test]
    fn ages_read_naturally_in_both_languages() {
        assert_eq!(Lang::En.age(5), "just now");
        assert_eq!(Lang::En.age(180), "3 min ago");
        assert_eq!(Lang::ZhHant.age(7200), "2 小時前");
        assert_eq!(Lang::ZhHant.age(3 * 86_400), "3 天前");
    }

    #[test]
    fn the_script_strings_cannot_break_out_of_their_block() {
        assert!(!EN.js_json().contains("</"));
        assert!(ZH_HANT.js_json().contains("已讀"));
    }
}
