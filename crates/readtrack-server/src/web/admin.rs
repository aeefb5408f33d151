//! Admin: the directory (departments, members, adding one) and the CSV import with its
//! per-line error report.

use askama::Template;
use axum::Form;
use axum::extract::{Multipart, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use readtrack_domain::ids::DepartmentId;
use readtrack_domain::import::ChangeKind;
use readtrack_service::directory::{ImportOutcome, MemberPatchInput, NewMemberInput};
use readtrack_service::records::{MemberFilter, Page};
use serde::Deserialize;

use crate::error::ApiError;
use crate::state::ServerState;
use crate::web::chrome::{Chrome, error_page, render};
use crate::web::compose::tree_order;
use crate::web::format::{self, ShownTime};
use crate::web::i18n::Tr;
use crate::web::session::{Viewer, invitation_url, percent_encode};

/// Members per directory page.
const PAGE: u32 = 50;

/// Import changes listed on the page (the counts are complete).
const IMPORT_CHANGES_LISTED: usize = 200;

/// A department line of the tree.
#[derive(Debug, Clone)]
pub struct DeptLine {
    /// Id.
    pub id: String,
    /// Own name.
    pub name: String,
    /// Depth, capped for styling.
    pub depth: usize,
    /// The one being filtered on.
    pub current: bool,
}

/// A member line.
#[derive(Debug, Clone)]
pub struct MemberLine {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Email.
    pub email: String,
    /// Department name.
    pub department: String,
    /// Role as words.
    pub role: &'static str,
    /// Still active.
    pub active: bool,
    /// Until when their open invitation works, if they have one.
    pub invited_until: Option<ShownTime>,
    /// The mail server's answer when it refused their address for good.
    pub email_refused: Option<String>,
}

/// An invitation just made, shown once on the page for the admin to hand over.
#[derive(Debug, Clone)]
pub struct InvitedNotice {
    /// Who.
    pub name: String,
    /// The link.
    pub url: String,
    /// Until when it works.
    pub expires: ShownTime,
    /// The address it was also emailed to, if it was.
    pub emailed_to: Option<String>,
}

/// What the import did, for the report.
#[derive(Debug, Clone)]
pub struct ImportReport {
    /// Nothing written because of errors.
    pub refused: bool,
    /// Only checked.
    pub dry_run: bool,
    /// Members created.
    pub created: u64,
    /// Members updated.
    pub updated: u64,
    /// Departments created.
    pub departments_created: u64,
    /// The first changes, row by row: (line, address, "new" or the fields that change).
    pub changes: Vec<(u64, String, String)>,
    /// More changes than listed.
    pub more_changes: u64,
    /// Per-line problems.
    pub errors: Vec<(u64, String)>,
}

#[derive(Template)]
#[template(path = "directory.html")]
struct DirectoryPage {
    ctx: Chrome,
    t: &'static Tr,
    departments: Vec<DeptLine>,
    members: Vec<MemberLine>,
    q: String,
    department_id: String,
    next_href: Option<String>,
    notice: Option<&'static str>,
    error: Option<String>,
    import: Option<ImportReport>,
    invited: Option<InvitedNotice>,
    /// Who can be emailed, when the server sends email.
    reach: Option<String>,
}

/// Directory filters.
#[derive(Debug, Deserialize, Default)]
pub struct DirectoryQuery {
    /// Name or email containing.
    pub q: Option<String>,
    /// Only this department.
    pub department_id: Option<String>,
    /// Members after this id.
    pub after: Option<String>,
    /// What just succeeded (`member`, `department`).
    pub done: Option<String>,
}

/// What every admin page starts with: the viewer must be an admin, and the page needs the
/// organisation's departments; either failure is the page to answer instead.
pub(crate) async fn admin_departments(
    s: &ServerState,
    v: &Viewer,
) -> Result<Vec<readtrack_domain::department::Department>, Response> {
    if let Err(e) = v.caller.require_admin() {
        return Err(error_page(v.lang, e.into()));
    }
    s.app
        .departments(&v.caller)
        .await
        .map_err(|e| error_page(v.lang, e.into()))
}

async fn directory_page(
    s: &ServerState,
    v: &Viewer,
    q: DirectoryQuery,
    error: Option<String>,
    import: Option<ImportReport>,
    status: StatusCode,
) -> Response {
    directory_page_with(s, v, q, error, import, None, status).await
}

/// [`directory_page`], showing an invitation just made.
async fn directory_page_with(
    s: &ServerState,
    v: &Viewer,
    q: DirectoryQuery,
    error: Option<String>,
    import: Option<ImportReport>,
    invited: Option<InvitedNotice>,
    status: StatusCode,
) -> Response {
    let departments = match admin_departments(s, v).await {
        Ok(d) => d,
        Err(page) => return page,
    };
    let t = v.t();
    let department_id = q.department_id.clone().unwrap_or_default();
    let dept_filter = department_id.parse::<DepartmentId>().ok();
    let query = q.q.clone().unwrap_or_default();
    let after = q
        .after
        .as_deref()
        .and_then(|a| a.parse::<i64>().ok())
        .filter(|a| *a > 0);
    let filter = MemberFilter {
        department_id: dept_filter,
        query: Some(query.trim().chars().take(100).collect::<String>()).filter(|q| !q.is_empty()),
    };
    let mut members = match s
        .app
        .members(
            &v.caller,
            filter,
            Page {
                limit: PAGE + 1,
                after,
            },
        )
        .await
    {
        Ok(m) => m,
        Err(e) => return error_page(v.lang, e.into()),
    };
    let next_href = if members.len() > PAGE as usize {
        members.truncate(PAGE as usize);
        members.last().map(|m| {
            format!(
                "/admin/directory?q={}&department_id={}&after={}",
                percent_encode(&query),
                percent_encode(&department_id),
                m.id
            )
        })
    } else {
        None
    };
    let open: std::collections::HashMap<_, _> = match s.app.open_invitations(&v.caller).await {
        Ok(list) => list.into_iter().collect(),
        Err(e) => return error_page(v.lang, e.into()),
    };
    let reach = if s.app.sends_email() {
        match s.app.reachability(&v.caller).await {
            Ok(r) => Some(
                t.email_reach
                    .replace("{n}", &(r.active - r.email_refused).to_string())
                    .replace("{active}", &r.active.to_string())
                    .replace("{refused}", &r.email_refused.to_string())
                    .replace("{off}", &r.reminders_off.to_string()),
            ),
            Err(e) => return error_page(v.lang, e.into()),
        }
    } else {
        None
    };
    let refused: std::collections::HashMap<_, _> = match s.app.unreachable_by_email(&v.caller).await
    {
        Ok(list) => list.into_iter().collect(),
        Err(e) => return error_page(v.lang, e.into()),
    };
    let name_of = |id: DepartmentId| {
        departments
            .iter()
            .find(|d| d.id == id)
            .map(|d| d.name.clone())
            .unwrap_or_default()
    };
    let page = DirectoryPage {
        ctx: Chrome::for_viewer(v, "/admin/directory"),
        t,
        members: members
            .iter()
            .map(|m| MemberLine {
                id: m.id.to_string(),
                name: m.name.clone(),
                email: m.email.clone(),
                department: name_of(m.department_id),
                role: t.role_label(m.role.as_str()),
                active: m.active,
                invited_until: open.get(&m.id).map(|at| format::minutes(*at, &v.zone)),
                email_refused: refused.get(&m.id).cloned(),
            })
            .collect(),
        departments: tree_order(&departments)
            .into_iter()
            .map(|(d, depth)| DeptLine {
                current: Some(d.id) == dept_filter,
                id: d.id.to_string(),
                name: d.name,
                depth: depth.min(6),
            })
            .collect(),
        q: query,
        department_id,
        next_href,
        notice: match q.done.as_deref() {
            Some("member") => Some(t.member_added),
            Some("saved") => Some(t.member_saved),
            Some("deactivated") => Some(t.member_deactivated),
            Some("reactivated") => Some(t.member_reactivated),
            Some("department") => Some(t.department_added),
            _ => None,
        },
        error,
        import,
        invited,
        reach,
    };
    render(status, &page)
}

/// `GET /admin/directory`.
pub async fn directory(
    State(s): State<ServerState>,
    v: Viewer,
    Query(q): Query<DirectoryQuery>,
) -> Response {
    directory_page(&s, &v, q, None, None, StatusCode::OK).await
}

/// The add-department form.
#[derive(Debug, Deserialize)]
pub struct DepartmentForm {
    name: String,
    #[serde(default)]
    parent_id: String,
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

/// The directory again, saying the form expired (its CSRF token did not match).
async fn form_expired(s: &ServerState, v: &Viewer) -> Response {
    let said = Some(v.t().form_expired.to_string());
    directory_page(
        s,
        v,
        DirectoryQuery::default(),
        said,
        None,
        StatusCode::FORBIDDEN,
    )
    .await
}

/// After a directory form: back to the page saying what was `done`; a refusal (a client
/// error) shown on the page with its status; anything else as the error page.
async fn form_outcome<T>(
    s: &ServerState,
    v: &Viewer,
    result: Result<T, readtrack_service::ServiceError>,
    done: &str,
) -> Response {
    match result {
        Ok(_) => Redirect::to(&format!("/admin/directory?done={done}")).into_response(),
        Err(e) => {
            let e = ApiError::from(e);
            if e.status.is_client_error() {
                let (said, status) = (Some(e.message), e.status);
                directory_page(s, v, DirectoryQuery::default(), said, None, status).await
            } else {
                error_page(v.lang, e)
            }
        }
    }
}

/// `POST /admin/departments`.
pub async fn add_department(
    State(s): State<ServerState>,
    v: Viewer,
    Form(f): Form<DepartmentForm>,
) -> Response {
    if !v.csrf_ok(&f.csrf) {
        return form_expired(&s, &v).await;
    }
    let parent = Some(f.parent_id.as_str()).filter(|p| !p.is_empty());
    let result = s.app.create_department(&v.caller, &f.name, parent).await;
    form_outcome(&s, &v, result, "department").await
}

/// The add-member form.
#[derive(Debug, Deserialize)]
pub struct MemberForm {
    name: String,
    email: String,
    department_id: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    time_zone: String,
    #[serde(default)]
    phone: String,
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

/// `POST /admin/members`.
pub async fn add_member(
    State(s): State<ServerState>,
    v: Viewer,
    Form(f): Form<MemberForm>,
) -> Response {
    if !v.csrf_ok(&f.csrf) {
        return form_expired(&s, &v).await;
    }
    let input = NewMemberInput {
        name: f.name,
        email: f.email,
        department_id: f.department_id,
        manager_id: None,
        backup_id: None,
        role: Some(f.role).filter(|r| !r.is_empty()),
        password: Some(f.password).filter(|p| !p.is_empty()),
        time_zone: Some(f.time_zone).filter(|z| !z.trim().is_empty()),
        phone: Some(f.phone).filter(|p| !p.trim().is_empty()),
        external_id: None,
    };
    let result = s.app.create_member(&v.caller, input).await;
    form_outcome(&s, &v, result, "member").await
}

/// The deactivate / reactivate button of a member's row.
#[derive(Debug, Deserialize)]
pub struct ActiveForm {
    /// `true` to reactivate, `false` to deactivate.
    active: bool,
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

/// `POST /admin/members/{id}/active`: deactivates a leaver (their sessions and streams
/// end, their history stays, nothing new reaches them) or reactivates them.
pub async fn set_active(
    State(s): State<ServerState>,
    v: Viewer,
    axum::extract::Path(id): axum::extract::Path<String>,
    Form(f): Form<ActiveForm>,
) -> Response {
    if !v.csrf_ok(&f.csrf) {
        return form_expired(&s, &v).await;
    }
    let input = MemberPatchInput {
        active: Some(f.active),
        ..Default::default()
    };
    let result = s.app.update_member(&v.caller, &id, input).await;
    let done = if f.active {
        "reactivated"
    } else {
        "deactivated"
    };
    form_outcome(&s, &v, result, done).await
}

/// The invite button of a member's row.
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

/// `POST /admin/members/{id}/invite`: a new one-time link for the member to choose their
/// password, shown once on the directory page for the admin to hand over.
pub async fn invite(
    State(s): State<ServerState>,
    v: Viewer,
    axum::extract::Path(id): axum::extract::Path<String>,
    parts: axum::http::request::Parts,
    Form(f): Form<CsrfForm>,
) -> Response {
    if !v.csrf_ok(&f.csrf) {
        return form_expired(&s, &v).await;
    }
    let invited = async {
        let invitation = s.app.invite(&v.caller, &id).await?;
        let member = s.app.member(&v.caller, &id).await?;
        Ok::<_, readtrack_service::ServiceError>(InvitedNotice {
            name: member.name,
            url: invitation_url(&parts, &invitation.secret),
            expires: format::minutes(invitation.expires_at, &v.zone),
            emailed_to: invitation.emailed.then_some(member.email),
        })
    }
    .await;
    match invited {
        Ok(notice) => {
            directory_page_with(
                &s,
                &v,
                DirectoryQuery::default(),
                None,
                None,
                Some(notice),
                StatusCode::OK,
            )
            .await
        }
        Err(e) => form_outcome::<()>(&s, &v, Err(e), "").await,
    }
}

/// `POST /admin/import` (multipart: `file`, `dry_run`, `deactivate_missing`, `_csrf`).
pub async fn import(State(s): State<ServerState>, v: Viewer, mut form: Multipart) -> Response {
    let mut csrf = String::new();
    let mut dry_run = false;
    let mut deactivate_missing = false;
    let mut file: Option<Vec<u8>> = None;
    loop {
        match form.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or("").to_string();
                match field.bytes().await {
                    Ok(bytes) => match name.as_str() {
                        "_csrf" => csrf = String::from_utf8_lossy(&bytes).into_owned(),
                        "dry_run" => dry_run = true,
                        "deactivate_missing" => deactivate_missing = true,
                        "file" => file = Some(bytes.to_vec()),
                        _ => {}
                    },
                    Err(e) => {
                        let msg = e.body_text();
                        return directory_page(
                            &s,
                            &v,
                            DirectoryQuery::default(),
                            Some(msg),
                            None,
                            e.status(),
                        )
                        .await;
                    }
                }
            }
            Ok(None) => break,
            Err(e) => {
                let msg = e.body_text();
                return directory_page(
                    &s,
                    &v,
                    DirectoryQuery::default(),
                    Some(msg),
                    None,
                    e.status(),
                )
                .await;
            }
        }
    }
    if !v.csrf_ok(&csrf) {
        return form_expired(&s, &v).await;
    }
    let report = |errors: Vec<(u64, String)>| ImportReport {
        refused: true,
        dry_run,
        created: 0,
        updated: 0,
        departments_created: 0,
        changes: vec![],
        more_changes: 0,
        errors,
    };
    let Some(text) = file.as_deref().map(std::str::from_utf8) else {
        let r = report(vec![(1, "choose a CSV file to import".into())]);
        return directory_page(
            &s,
            &v,
            DirectoryQuery::default(),
            None,
            Some(r),
            StatusCode::BAD_REQUEST,
        )
        .await;
    };
    let Ok(text) = text else {
        let r = report(vec![(
            1,
            "the file is not UTF-8 text; save it as CSV UTF-8".into(),
        )]);
        return directory_page(
            &s,
            &v,
            DirectoryQuery::default(),
            None,
            Some(r),
            StatusCode::BAD_REQUEST,
        )
        .await;
    };
    match s
        .app
        .import_members_with(&v.caller, text, dry_run, deactivate_missing)
        .await
    {
        Ok(ImportOutcome::Done(c)) => {
            let t = v.t();
            let r = ImportReport {
                refused: false,
                dry_run,
                created: c.created,
                updated: c.updated,
                departments_created: c.departments_created,
                changes: c
                    .changes
                    .iter()
                    .take(IMPORT_CHANGES_LISTED)
                    .map(|x| {
                        let what = match x.kind {
                            ChangeKind::Create => t.import_new_member.to_string(),
                            ChangeKind::Deactivate => t.import_deactivated.to_string(),
                            ChangeKind::Update => x.fields.join(", "),
                        };
                        (x.line, x.email.clone(), what)
                    })
                    .collect(),
                more_changes: c.changes.len().saturating_sub(IMPORT_CHANGES_LISTED) as u64,
                errors: vec![],
            };
            directory_page(
                &s,
                &v,
                DirectoryQuery::default(),
                None,
                Some(r),
                StatusCode::OK,
            )
            .await
        }
        Ok(ImportOutcome::Refused(errors)) => {
            let r = report(errors.into_iter().map(|e| (e.line, e.message)).collect());
            directory_page(
                &s,
                &v,
                DirectoryQuery::default(),
                None,
                Some(r),
                StatusCode::BAD_REQUEST,
            )
            .await
        }
        Err(e) => error_page(v.lang, e.into()),
    }
}

/// A member's record as the edit form holds it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct MemberValues {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    department_id: String,
    #[serde(default)]
    manager_email: String,
    #[serde(default)]
    backup_email: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    time_zone: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    external_id: String,
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

#[derive(Template)]
#[template(path = "member_edit.html")]
struct MemberEditPage {
    ctx: Chrome,
    t: &'static Tr,
    id: String,
    v: MemberValues,
    departments: Vec<crate::web::compose::DeptOption>,
    error: Option<String>,
}

async fn member_form(
    s: &ServerState,
    v: &Viewer,
    id: &str,
    values: MemberValues,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let departments = match admin_departments(s, v).await {
        Ok(d) => d,
        Err(page) => return page,
    };
    let departments = tree_order(&departments)
        .into_iter()
        .map(|(d, depth)| crate::web::compose::DeptOption {
            checked: d.id.to_string() == values.department_id,
            id: d.id.to_string(),
            name: d.name,
            depth: depth.min(6),
        })
        .collect();
    let page = MemberEditPage {
        ctx: Chrome::for_viewer(v, "/admin/directory"),
        t: v.t(),
        id: id.to_string(),
        v: values,
        departments,
        error,
    };
    render(status, &page)
}

/// The address of a member of the caller's organisation, by id (empty when none).
async fn email_of(
    s: &ServerState,
    v: &Viewer,
    id: Option<readtrack_domain::ids::MemberId>,
) -> String {
    match id {
        Some(id) => s
            .app
            .member(&v.caller, &id.to_string())
            .await
            .map(|m| m.email)
            .unwrap_or_default(),
        None => String::new(),
    }
}

/// `GET /admin/members/{id}`: a member's record to change (admin).
pub async fn member_page(
    State(s): State<ServerState>,
    v: Viewer,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    if let Err(e) = v.caller.require_admin() {
        return error_page(v.lang, e.into());
    }
    let m = match s.app.member(&v.caller, &id).await {
        Ok(m) => m,
        Err(e) => return error_page(v.lang, e.into()),
    };
    let values = MemberValues {
        name: m.name.clone(),
        email: m.email.clone(),
        department_id: m.department_id.to_string(),
        manager_email: email_of(&s, &v, m.manager_id).await,
        backup_email: email_of(&s, &v, m.backup_id).await,
        role: m.role.as_str().to_string(),
        time_zone: m.time_zone.clone().unwrap_or_default(),
        phone: m.phone.clone().unwrap_or_default(),
        external_id: m.external_id.clone().unwrap_or_default(),
        csrf: String::new(),
    };
    member_form(&s, &v, &id, values, None, StatusCode::OK).await
}

/// The id of the member of the caller's organisation with this address, for the
/// manager and backup fields; `None` for an empty field, 400 naming it when nobody has it.
async fn member_by_email(
    s: &ServerState,
    v: &Viewer,
    field: &str,
    email: &str,
) -> Result<Option<String>, readtrack_service::ServiceError> {
    let email = email.trim();
    if email.is_empty() {
        return Ok(None);
    }
    let found = s
        .app
        .members(
            &v.caller,
            MemberFilter {
                department_id: None,
                query: Some(email.to_string()),
            },
            Page {
                limit: 50,
                after: None,
            },
        )
        .await?;
    found
        .into_iter()
        .find(|m| m.email.eq_ignore_ascii_case(email))
        .map(|m| Some(m.id.to_string()))
        .ok_or_else(|| {
            readtrack_service::ServiceError::invalid(
                field,
                format!("`{field}` {email} is not a member of this organisation"),
            )
        })
}

/// `POST /admin/members/{id}`: saves the record (admin); a refusal is shown on the form,
/// which keeps what was typed.
pub async fn save_member(
    State(s): State<ServerState>,
    v: Viewer,
    axum::extract::Path(id): axum::extract::Path<String>,
    Form(f): Form<MemberValues>,
) -> Response {
    if !v.csrf_ok(&f.csrf) {
        let said = Some(v.t().form_expired.to_string());
        return member_form(&s, &v, &id, f, said, StatusCode::FORBIDDEN).await;
    }
    let result = async {
        let manager = member_by_email(&s, &v, "manager_email", &f.manager_email).await?;
        let backup = member_by_email(&s, &v, "backup_email", &f.backup_email).await?;
        let blank = |x: &str| Some(Some(x.trim().to_string()).filter(|x| !x.is_empty()));
        let input = MemberPatchInput {
            name: Some(f.name.clone()),
            email: Some(f.email.clone()),
            department_id: Some(f.department_id.clone()),
            manager_id: Some(manager),
            backup_id: Some(backup),
            role: Some(f.role.clone()),
            password: None,
            time_zone: blank(&f.time_zone),
            active: None,
            phone: blank(&f.phone),
            external_id: blank(&f.external_id),
        };
        s.app.update_member(&v.caller, &id, input).await
    }
    .await;
    match result {
        Ok(_) => Redirect::to("/admin/directory?done=saved").into_response(),
        Err(e) => {
            let e = ApiError::from(e);
            if e.status.is_client_error() {
                let status = e.status;
                member_form(&s, &v, &id, f, Some(e.message), status).await
            } else {
                error_page(v.lang, e)
            }
        }
    }
}
