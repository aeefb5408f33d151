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
    /// Every language the pages speak.
    pub const ALL: [Lang; 2] = [Lang::En, Lang::ZhHant];

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
    nav_policy: "Policy", "通訊政策";
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
    oidc_sign_in: "Sign in with your company account", "使用公司帳戶登入";
    oidc_no_account: "Your company account has no account here. Ask an administrator to add you.", "此處沒有你公司帳戶的帳號。請聯絡管理員為你新增。";
    oidc_deactivated: "This account is deactivated. Ask an administrator if you need it again.", "此帳號已停用。如需再次使用，請聯絡管理員。";
    oidc_failed: "Signing in with your company account did not work. Please try again.", "使用公司帳戶登入未能完成，請再試一次。";
    oidc_unavailable: "Your company's sign-in service cannot be reached. Please try again later.", "暫時無法連接公司的登入服務，請稍後再試。";
    form_expired: "The form expired. Please try again.", "表單已過期，請再試一次。";
    setup_title: "Set up readtrack", "設定 readtrack";
    setup_intro: "This server has no organisation yet. Create it and its first administrator.", "此伺服器尚未有機構。請建立機構及第一位管理員。";
    org_name: "Organisation name", "機構名稱";
    time_zone: "Time zone", "時區";
    time_zone_hint: "An IANA name such as Asia/Hong_Kong.", "IANA 時區名稱，例如 Asia/Hong_Kong。";
    your_name: "Your name", "你的名稱";
    setup_code: "Setup code", "設定代碼";
    invite_title: "Welcome to readtrack", "歡迎使用 readtrack";
    invite_welcome: "Hello", "你好，";
    invite_intro: "Choose a password to sign in to", "請設定密碼以登入";
    invite_accept: "Set my password and sign in", "設定密碼並登入";
    invite_invalid: "This invitation link does not work any more: it was used, replaced by a newer one or is more than a week old. Ask your administrator for a new one.", "此邀請連結已失效：可能已被使用、已被新連結取代或已超過一星期。請向管理員索取新連結。";
    invite: "Invite", "邀請";
    invited_until: "invited until", "邀請有效至";
    invitation_link_for: "Invitation link for", "邀請連結：";
    invitation_link_hint: "Hand it to them in person or by a channel you trust; it works once, for a week. A new invitation replaces it.", "請親自或以可信渠道交給對方；連結只可使用一次，有效一星期。新的邀請會取代此連結。";
    second_factor_needed: "This account uses two-step sign-in: enter your password again and the 6-digit code from your authenticator app.", "此帳戶使用兩步登入：請再次輸入密碼及驗證器應用程式顯示的 6 位數字代碼。";
    second_factor_code: "Code from your authenticator app", "驗證器應用程式的代碼";
    second_factor_title: "Two-step sign-in", "兩步登入";
    second_factor_off_intro: "Ask for a code from an authenticator app (such as Google Authenticator, Microsoft Authenticator or 1Password) as well as your password when you sign in.", "登入時除密碼外，亦要求驗證器應用程式（例如 Google Authenticator、Microsoft Authenticator 或 1Password）的代碼。";
    second_factor_on_intro: "Two-step sign-in is on: signing in with your password also needs a code from your authenticator app.", "兩步登入已啟用：以密碼登入時亦需要驗證器應用程式的代碼。";
    second_factor_begin: "Set up two-step sign-in", "設定兩步登入";
    second_factor_scan: "Add this key to your authenticator app (or open the link on your phone), then enter the code it shows.", "請把此金鑰加入驗證器應用程式（或在手機上開啟連結），然後輸入應用程式顯示的代碼。";
    second_factor_confirm: "Turn on", "啟用";
    second_factor_disable: "Turn off", "停用";
    second_factor_enabled: "Two-step sign-in is on.", "兩步登入已啟用。";
    second_factor_disabled: "Two-step sign-in is off.", "兩步登入已停用。";
    second_factor_wrong: "That code was not right (or was used already); try the next one.", "代碼不正確（或已使用）；請試下一個代碼。";
    audit_second_factor_enabled: "turned two-step sign-in on", "啟用兩步登入";
    audit_second_factor_disabled: "turned two-step sign-in off", "停用兩步登入";
    audit_second_factor_reset: "removed two-step sign-in", "移除兩步登入";
    audit_member_invited: "sent an invitation", "發出邀請";
    audit_members_imported: "imported the directory", "匯入名錄";
    edit_member: "Edit", "編輯";
    manager_email: "Manager's email", "上級的電郵";
    backup_email: "Backup contact's email", "後備聯絡人的電郵";
    external_id: "Identity provider id", "身分提供者 ID";
    save: "Save", "儲存";
    member_saved: "Saved.", "已儲存。";
    import_change: "What changes", "變更";
    import_new_member: "new member", "新成員";
    import_deactivated: "deactivated (not in the file)", "停用（不在檔案中）";
    deactivate_missing: "Deactivate active members the file does not list (make the directory match the file)", "停用檔案中沒有列出的在職成員（令名錄與檔案一致）";
    phone_optional: "Mobile number, for SMS (optional, +country code)", "手提電話號碼，用於短訊（選填，連國家代碼）";
    emergency_senders: "People who may send emergency notices besides administrators (set with the API)", "除管理員外可發送緊急通告的人數（以 API 設定）";
    emergency_notice: "Emergency", "緊急通告";
    mail_reminder: "Reminder", "提醒";
    mail_not_read_by: "Not yet read by {name}", "{name} 尚未閱讀";
    mail_greeting: "Hello {name},", "{name}，你好：";
    mail_new_notice: "{sender} sent you a notice in {org}.", "{sender} 在 {org} 向你發出通告。";
    mail_reminder_line: "You have not read this notice from {sender} yet.", "你尚未閱讀 {sender} 發出的這則通告。";
    mail_escalation_line: "{name} has not read this notice from {sender} yet. You are told as their manager or backup.", "{name} 尚未閱讀 {sender} 發出的這則通告。你作為其主管或代理人收到此通知。";
    mail_open: "Open the notice", "開啟通告";
    mail_confirm_there: "It asks you to confirm: do so on the notice's page.", "此通告需要你確認：請在通告頁面上確認。";
    mail_read_rule: "Opening this email does not mark the notice as read; reading it in readtrack does. The link is yours alone and works for 14 days.", "開啟此電郵不會把通告標示為已讀；在 readtrack 中閱讀才會。此連結只供你使用，有效期為 14 天。";
    link_expired_title: "This link no longer works", "此連結已失效";
    mail_invitation_subject: "You are invited to {org} on readtrack", "你獲邀加入 readtrack 上的 {org}";
    mail_invitation_line: "{org} uses readtrack for the notices you need to read. Choose a password to sign in.", "{org} 使用 readtrack 發出需要你閱讀的通告。請設定密碼以登入。";
    mail_reset_subject: "Reset your readtrack password for {org}", "重設你在 {org} 的 readtrack 密碼";
    mail_reset_line: "Someone, hopefully you, asked to reset your password. If it was not you, ignore this email: nothing changes.", "有人（希望是你）要求重設你的密碼。如果不是你，請忽略此電郵：不會有任何改變。";
    mail_choose_password: "Choose your password", "設定密碼";
    mail_link_valid_hours: "The link works once, for {hours} hours.", "此連結只可使用一次，有效期為 {hours} 小時。";
    forgot_password: "Forgot your password?", "忘記密碼？";
    invitation_emailed: "Also emailed to", "亦已電郵至";
    emails_sent: "Emails sent", "已寄出電郵";
    email_reach: "Email: {n} of {active} active people can be emailed; {refused} addresses refused; {off} switched reminder emails off (the app still reaches them).", "電郵：{active} 名在職人員中有 {n} 人可收電郵；{refused} 個地址被拒收；{off} 人關閉了提醒電郵（仍可透過應用程式聯絡）。";
    email_choice_title: "Email", "電郵";
    email_choice_label: "Email me reminders and escalations when the app is closed", "在應用程式關閉時以電郵寄出提醒及上報通知";
    email_choice_hint: "Urgent notices and emergencies are emailed regardless.", "緊急通告及緊急事故通知無論如何都會以電郵寄出。";
    email_refused: "emails refused; correct the address", "電郵被拒收；請更正地址";
    reset_title: "Reset your password", "重設密碼";
    reset_hint: "Enter your email address: if it belongs to an account here, we email it a link that sets a new password.", "請輸入你的電郵地址：如屬於本系統的帳戶，我們會把設定新密碼的連結寄到該地址。";
    reset_send: "Email me a link", "寄出連結";
    reset_sent: "If that address belongs to an account here, a link is on its way. It works for one hour.", "如該地址屬於本系統的帳戶，連結已寄出，有效期為一小時。";
    reset_unavailable: "This server does not send email. Ask an administrator for a new invitation.", "本伺服器不會寄出電郵。請聯絡管理員重新發出邀請。";
    link_expired_body: "It has expired or was not sent to you. Sign in to read the notice.", "連結已過期或並非發給你。請登入閱讀通告。";
    emergency_count: "Emergency notices, 12 months", "緊急通告（12 個月）";
    rights_title: "Who may send", "誰可發送通告";
    rights_hint: "Administrators may send anything to anyone. Everyone else gets the widest of the rows that apply to them; a department's row covers the departments below it.", "管理員可向任何人發送任何通告。其他人按適用於自己的各行中最寬鬆的一項；部門一行亦適用於其下屬部門。";
    rights_who: "Who", "對象";
    rights_reach: "May send to", "可發送給";
    rights_priority: "Highest priority", "最高優先度";
    rights_tracking: "Most tracking", "最多追蹤";
    rights_staff: "Staff (manage nobody)", "一般員工（沒有下屬）";
    rights_managers: "Managers (someone's manager)", "經理（有下屬）";
    reach_nobody: "Nobody", "不可發送";
    reach_own_department: "Own department and below", "本部門及下屬部門";
    reach_everyone: "Everyone", "所有人";
    grant_none: "No extra right (remove)", "沒有額外權限（移除）";
    grant_add_department: "Add a department…", "新增部門…";
    may_not_send: "You may not send notices in this organisation. An administrator can give you sending rights.", "你在此機構沒有發送通告的權限。管理員可以授予你發送權限。";
    setup_code_hint: "Printed on the server's console when it first started (or set with --setup-code).", "伺服器首次啟動時在主控台列印的代碼（或以 --setup-code 設定）。";
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
    read_rule: "This notice is marked read once you have seen it to its end and it has stayed on your screen for a second.", "通告須閱覽至結尾，並在畫面上停留一秒後，才會標示為已讀。";
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
    hidden_note: "people are counted but not listed: they have not acknowledged the current policy, or their read fell in quiet hours.", "人只計入總數而不逐一列出：他們尚未確認現行通訊政策，或在寧靜時段內閱讀。";
    hidden_not_counted_note: "people are not listed and, being fewer than the smallest group reported, not counted in these figures either.", "人不逐一列出；由於人數少於最小報告組別，亦不計入以上數字。";
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
    member_deactivated: "Member deactivated: their sign-ins ended, their history stays, and nothing new reaches them.", "成員已停用：其登入已結束，紀錄保留，不會再收到新通告。";
    member_reactivated: "Member reactivated.", "成員已重新啟用。";
    deactivate: "Deactivate", "停用";
    reactivate: "Reactivate", "重新啟用";
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
    not_found_title: "Page not found", "找不到頁面";
    nav_audit: "Audit log", "稽核記錄";
    nav_survey: "Survey", "問卷";
    policy_banner: "The communication policy has a version you have not acknowledged yet. Until you do, senders see you only in the counts.", "通訊政策有新版本，你尚未確認。確認前，發送者只會在總數中看到你。";
    policy_banner_link: "Read the policy", "閱讀政策";
    version: "Version", "版本";
    notice: "Notice", "通告";
    notices: "Notices", "通告數";
    when: "When", "時間";
    who: "Who", "人員";
    what: "What", "事項";
    concerning: "Concerning", "涉及";
    system: "readtrack (automatic)", "readtrack（自動）";
    escalated_at: "Escalated", "升級時間";
    escalations: "Escalations", "升級次數";
    last: "last", "最近";
    day: "Day", "日期";
    show: "Show", "顯示";
    everyone: "Everyone", "所有人";
    opened: "Opened", "開始於";
    closes: "closes", "截止於";
    closed: "closed", "已截止於";
    mon: "Mon", "一";
    tue: "Tue", "二";
    wed: "Wed", "三";
    thu: "Thu", "四";
    fri: "Fri", "五";
    sat: "Sat", "六";
    sun: "Sun", "日";
    bad_date: "Enter dates as year-month-day, such as 2026-11-28.", "請以年-月-日輸入日期，例如 2026-11-28。";
    bad_date_time: "Enter a date and time, such as 2026-11-28 17:00.", "請輸入日期及時間，例如 2026-11-28 17:00。";
    tasks_title: "Tasks", "待辦事項";
    tasks_open: "To do", "待辦";
    tasks_done: "Done", "已完成";
    tasks_none: "Nothing to do. Tasks appear here when a notice you have not read is escalated.", "沒有待辦事項。未讀通告被升級處理時，待辦事項會在此出現。";
    task_mark_done: "Mark done", "標示為完成";
    task_marked_done: "Task marked done.", "已標示為完成。";
    task_read_and_confirm: "Read and confirm this notice", "閱讀並確認此通告";
    task_done_by_read: "done when you read the notice", "閱讀通告後自動完成";
    task_done_by_ack: "done when you confirmed the notice", "確認通告後自動完成";
    task_done_by_hand: "marked done", "已手動標示完成";
    team_unread_title: "Your team's unread notices", "你團隊的未讀通告";
    team_unread_hint: "Notices escalated to you because someone you manage or back up has not read them in time.", "因你管理或後備的同事未有及時閱讀而升級給你的通告。";
    team_unread_none: "Nobody in your team has an escalated unread notice.", "你的團隊沒有被升級的未讀通告。";
    team_as_manager: "You are their manager", "你是其上司";
    team_as_backup: "You are their backup contact", "你是其後備聯絡人";
    why_you: "Why you", "原因";
    my_data_title: "My data", "我的資料";
    my_data_intro: "Everything readtrack records about you, and who has looked at it. Opening this page is recorded as an export.", "readtrack 記錄的所有關於你的資料，以及誰曾查看。開啟此頁會記錄為一次匯出。";
    download_json: "Download as JSON", "下載 JSON";
    about_you: "About you", "關於你";
    org_default: "the organisation's", "機構預設";
    your_manager: "Manager", "上司";
    your_backup: "Backup contact", "後備聯絡人";
    who_viewed: "Who viewed your read data", "誰查看過你的閱讀資料";
    who_viewed_hint: "Administrators can see your individual read times only through an audited view; each look is listed here.", "管理員只能透過受稽核的方式查看你的個人閱讀時間；每次查看都會列於此。";
    nobody_viewed: "Nobody has viewed your individual read data through an audited view.", "沒有人透過受稽核的方式查看過你的個人閱讀資料。";
    my_receipts: "Notices you received", "你收到的通告";
    my_receipts_hint: "Times are your device's own. For notices counted only, or not tracked, the sender never sees your name beside them.", "時間以你裝置的時鐘為準。只統計人數或不追蹤的通告，發送者不會看到你的名字。";
    nothing_recorded: "Nothing recorded yet.", "暫時沒有記錄。";
    in_quiet_hours: "quiet hours", "寧靜時段";
    quiet_read_hint: "Reads in your quiet hours are shown to senders as \"outside working hours\", without the time.", "你在寧靜時段內的閱讀，發送者只會看到「非工作時間」，不會看到確實時間。";
    no_reminders: "You have not been reminded about any notice.", "你未曾收到任何通告提醒。";
    escalations_about_you: "Escalations about you", "關於你的升級處理";
    no_escalations: "No notice of yours was escalated to anyone.", "你的通告未曾升級給任何人。";
    policy_title: "Communication policy", "通訊政策";
    your_acknowledgement: "Your acknowledgement", "你的確認";
    policy_you_acknowledged: "You acknowledged version", "你已確認版本";
    policy_not_acknowledged: "You have not acknowledged this policy yet.", "你尚未確認此政策。";
    policy_changed_since: "The policy changed since you acknowledged it.", "政策自你確認後已有修改。";
    policy_what_ack_means: "Once you acknowledge, the sender of a tracked notice sees when you read it. Until then you are only counted, never listed by name.", "確認後，追蹤通告的發送者可看到你的閱讀時間。確認前，你只會計入總數，不會被逐一列出。";
    policy_what_ack_means_done: "Senders of tracked notices see when you read them, as this policy describes.", "追蹤通告的發送者可按此政策看到你的閱讀時間。";
    acknowledge: "Acknowledge", "確認";
    policy_acknowledged_now: "Thank you: your acknowledgement is recorded.", "謝謝，你的確認已記錄。";
    policy_changed: "The policy changed while this page was open. Read the current version and acknowledge that one.", "此頁開啟期間政策已更新。請閱讀現行版本後再確認。";
    see_my_data: "See what is recorded about you", "查看關於你的記錄";
    smaller_departments: "Smaller departments, together", "較小部門合計";
    policy_rules: "The rules this policy works under", "本政策的運作規則";
    policy_rules_hint: "Set by your organisation; every change is recorded in the audit log.", "由你的機構設定；每次修改都會記錄於稽核記錄。";
    working_time: "Working time", "工作時間";
    org_settings_title: "Organisation settings", "機構設定";
    settings_intro: "These rules are public inside the organisation. Every change is recorded in the audit log.", "這些規則在機構內公開，每次修改都會記錄於稽核記錄。";
    settings_saved: "Settings saved.", "設定已儲存。";
    settings_saved_policy_before: "Settings saved. The policy is now version", "設定已儲存。政策現為第";
    settings_saved_policy_after: "; everyone is asked to acknowledge it again.", "版；所有人需要重新確認。";
    settings_not_saved: "Nothing was saved:", "未有儲存任何變更：";
    time_and_hours: "Time zone and working hours", "時區及工作時間";
    working_days: "Working days", "工作日";
    working_start: "Working day starts", "上班時間";
    working_end: "Working day ends", "下班時間";
    quiet_hours: "Quiet hours", "寧靜時段";
    quiet_hours_hint: "In each person's local time: no reminders or escalations, and reads are not shown with their time.", "以各人當地時間計算：不會發出提醒或升級處理，閱讀亦不會顯示確實時間。";
    quiet_start: "From", "由";
    quiet_end: "Until", "至";
    quiet_reads: "A read in quiet hours is shown as", "寧靜時段內的閱讀顯示為";
    quiet_reads_coarse: "\"read outside working hours\", without the time", "「非工作時間已讀」，不顯示時間";
    quiet_reads_untracked: "counted only, not on the person's row", "只計入總數，不在個人一行顯示";
    per_person_tracking: "Per-person tracking", "逐人追蹤";
    per_person_tracking_hint: "Priorities whose notices may show who read them and when. Others carry counts only.", "哪些優先程度的通告可顯示誰在何時閱讀。其他通告只有統計人數。";
    privacy_limits: "Retention and group size", "保存期限及最小組別人數";
    retention_days: "Keep per-person details for (days)", "個人閱讀資料保存日數";
    retention_hint: "Older per-person details are deleted; department totals are kept.", "超過期限的個人資料會被刪除；部門總數會保留。";
    min_group_size: "Smallest group reported (people)", "最小報告組別人數";
    min_group_size_hint: "Analytics and survey results about fewer people are not shown.", "少於此人數的分析及問卷結果不會顯示。";
    pilot_departments: "Pilot departments", "試行部門";
    pilot_hint: "Tick departments to limit per-person tracking to them (sub-departments included). None ticked: everyone.", "勾選部門即只在這些部門（包括下屬部門）逐人追蹤。不勾選即適用於所有人。";
    policy_text: "Policy text (Markdown)", "政策內容（Markdown）";
    policy_translation: "Translation shown to people reading in", "翻譯版本，顯示給使用以下語言的同事：";
    policy_translation_hint: "Optional. Left empty, they see the text above. A changed translation is a new version too.", "可留空，留空則顯示上方內容。修改翻譯亦會成為新版本。";
    policy_change_hint_before: "Changing the text makes it version", "修改內容會使政策成為第";
    policy_change_hint_after: ": everyone is then asked to acknowledge it again, and until they do they are counted on read boards but not listed.", " 版：所有人需要重新確認；確認前他們只計入閱讀情況的總數，不會被逐一列出。";
    policy_will_change: "You changed the text: saving makes a new policy version.", "你已修改內容：儲存後會產生新的政策版本。";
    default_plan_important: "Default reminders for important notices", "重要通告的預設提醒";
    default_plan_urgent: "Default reminders for urgent notices", "緊急通告的預設提醒";
    plan_on: "Remind and escalate by default", "預設提醒及升級處理";
    save_settings: "Save settings", "儲存設定";
    audit_title: "Audit log", "稽核記錄";
    audit_intro: "Every look at per-person read data, every export and every change of the rules, newest first.", "每次查看個人閱讀資料、每次匯出及每次修改規則，最新的在前。";
    audit_empty: "Nothing recorded yet.", "暫時沒有記錄。";
    audit_board_viewed: "viewed a read board (audited)", "查看閱讀情況（受稽核）";
    audit_export: "exported their own data", "匯出自己的資料";
    audit_settings_updated: "changed the settings", "修改設定";
    audit_policy_updated: "published a new policy version", "發佈新政策版本";
    audit_survey_opened: "opened a pulse survey", "開始意見調查";
    audit_retention_purged: "deleted details past retention", "刪除超過保存期限的資料";
    audit_password_changed: "changed their password", "更改了密碼";
    change_password: "Change your password", "更改密碼";
    current_password: "Current password", "現有密碼";
    new_password: "New password (at least 8 characters)", "新密碼（最少 8 個字元）";
    password_changed: "Your password is changed. Your other sign-ins have ended.", "密碼已更改，其他已登入的裝置已登出。";
    password_wrong: "That is not your current password.", "現有密碼不正確。";
    password_too_short: "The new password needs at least 8 characters.", "新密碼最少需要 8 個字元。";
    password_wait: "Too many attempts; wait a few minutes and try again.", "嘗試次數太多，請稍候數分鐘再試。";
    newest: "Newest", "最新";
    older: "Older", "較舊";
    surveys_title: "Pulse surveys", "意見調查";
    surveys_intro: "Ask people how read tracking feels before widening it. Answers are anonymous, and results show only once the survey is closed and enough people have answered.", "擴大追蹤前，先了解同事的感受。回覆不記名，並只在調查結束且足夠人數回覆後才顯示結果。";
    open_survey: "Open a survey", "開始調查";
    survey_default_title: "Read tracking: how does it feel?", "閱讀追蹤：你的感受如何？";
    closes_optional: "Closes (optional)", "截止時間（可選）";
    survey_who: "Who is asked", "調查對象";
    survey_who_hint: "Tick departments (sub-departments included). None ticked: everyone.", "勾選部門（包括下屬部門）。不勾選即所有人。";
    survey_questions_are: "Questions: \"Do you feel monitored?\" and \"Has read tracking helped you?\", each 1 to 5, and an optional comment.", "問題：「你是否覺得被監察？」及「閱讀追蹤對你有沒有幫助？」，各以 1 至 5 評分，另可留言。";
    survey_opened: "Survey opened. People in scope see it in their navigation.", "調查已開始，相關同事會在選單中看到。";
    no_surveys: "No survey yet.", "暫時沒有調查。";
    answers_so_far: "answers so far", "份回覆";
    answers: "Answers", "回覆數";
    survey_suppressed_before: "Results appear once the survey is closed and at least", "為免任何回覆可追溯到個人，結果須待調查結束且最少";
    close_survey: "Close now", "立即結束";
    survey_suppressed_after: "people have answered, so that no answer can be traced to a person.", "人回覆後才會顯示。";
    mean_monitored: "Feels monitored (mean)", "覺得被監察（平均）";
    mean_helped: "Helped (mean)", "有幫助（平均）";
    comments: "Comments", "留言";
    pulse_survey: "Anonymous pulse survey", "不記名意見調查";
    survey_anonymous: "Your answer is stored without your name: readtrack keeps only that you answered, so you are not asked twice.", "你的回覆不會連同你的名字儲存：readtrack 只記錄你已回覆，以免重複詢問。";
    q_monitored: "Do you feel monitored?", "你是否覺得被監察？";
    q_helped: "Has read tracking helped you?", "閱讀追蹤對你有沒有幫助？";
    q_comment: "Anything else? (optional)", "其他意見？（可選）";
    scale_not_at_all: "not at all", "完全沒有";
    scale_very: "very", "非常";
    scale_a_lot: "a lot", "很大";
    survey_submit: "Send my answer", "提交回覆";
    survey_thanks: "Thank you: your answer is in.", "謝謝，你的回覆已收到。";
    survey_answered_before: "You have answered this survey. Thank you.", "你已回覆此調查，謝謝。";
    survey_already_answered: "You have already answered this survey; each person answers once.", "你已回覆此調查；每人只可回覆一次。";
    survey_pick_scores: "Choose a score from 1 to 5 for both questions.", "請為兩條問題各選 1 至 5 分。";
    survey_next: "Next survey", "下一個調查";
    analytics_title: "Analytics", "分析";
    analytics_intro_before: "How notices are read, by department. Groups of fewer than", "按部門顯示通告的閱讀情況。少於";
    analytics_intro_after: "people are never reported, and nobody is scored across notices.", "人的組別不會被報告，亦不會跨通告為任何人評分。";
    analytics_scoped: "You see your own department and those under it.", "你只會看到你的部門及其下屬部門。";
    period: "Period", "期間";
    from_day: "From", "由";
    to_day: "To", "至";
    chart_ttr_title: "Time to read by department", "各部門閱讀所需時間";
    chart_ttr_hint: "Median and 90th percentile from sending to reading, for notices sent in the period, lagging departments first.", "由發送至閱讀的中位數及第 90 百分位數（期間內發送的通告），落後的部門排先。";
    chart_ttr_desc: "Horizontal bars per department; the department lagging most is", "每個部門一條橫棒；最落後的部門是";
    lagging_first: "Lagging most:", "最落後：";
    no_reads_yet: "no reads yet", "尚未有人閱讀";
    median: "Median", "中位數";
    p90: "90th percentile", "第 90 百分位";
    time_to_read: "Time to read", "閱讀所需時間";
    read_rate: "Read rate", "閱讀率";
    ack_rate: "Confirmed", "確認率";
    fewer_than: "fewer than", "少於";
    people_suffix: "people", "人";
    no_figures: "No tracked notices in this period.", "此期間沒有追蹤通告。";
    chart_rate_title: "Read rate over time", "閱讀率走勢";
    chart_rate_hint: "The share of recipients who have read the notices sent each day.", "每日發送的通告中，已閱讀的收件人比例。";
    chart_rate_desc: "Read rate of each day's notices, from first to last day:", "每日通告的閱讀率，由首日至最後一日：";
    show_as_table: "Show as a table", "以表格顯示";
    compare_title: "Before and after", "前後比較";
    compare_hint: "Compare a period before a change (such as the start of a pilot) with one after it.", "比較某項改變（例如開始試行）之前及之後的期間。";
    before: "Before", "之前";
    after: "After", "之後";
    compare: "Compare", "比較";
    measure: "Measure", "指標";
    change: "Change", "變化";
    median_time_to_read: "Median time to read", "閱讀時間中位數";
    median_time_to_ack: "Median time to confirm", "確認時間中位數";
    reminders_per_notice: "Reminders per notice", "每則通告提醒次數";
    unread_at_deadline: "Unread at the deadline", "限期時仍未讀";
    compare_suppressed_before: "A period reached fewer than", "其中一段期間的通告少於";
    compare_suppressed_after: "people, so its figures are not shown.", "人，因此不顯示其數字。";
    period_backwards: "The last day must not be before the first.", "最後一日不可早於首日。";
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
