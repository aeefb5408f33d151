//! Departments, members and the CSV import.

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use readtrack_domain::ids::DepartmentId;
use readtrack_protocol::directory::*;
use readtrack_protocol::{ErrorBody, Page};
use readtrack_service::directory::{ImportOutcome, MemberPatchInput, NewMemberInput};
use readtrack_service::records::{MemberFilter, Page as StoragePage};
use serde::Deserialize;

use crate::convert;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, Auth, PageParams, body_bytes};
use crate::state::ServerState;

/// What a refused import answers: the report of every bad line, or, when the request
/// itself is malformed (its query string, say), the API's usual error. Documented as
/// either, because a client must be ready for both.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum ImportRefusal {
    /// Bad lines; nothing was written.
    Lines(ImportResult),
    /// A malformed request.
    Error(ErrorBody),
}

/// Creates a department (admin).
#[utoipa::path(post, path = "/api/v1/departments", tag = "directory", request_body = CreateDepartment, security(("bearer" = [])),
    responses((status = 201, body = Department), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_department(
    State(s): State<ServerState>,
    Auth(caller): Auth,
    ApiJson(req): ApiJson<CreateDepartment>,
) -> ApiResult<(StatusCode, Json<Department>)> {
    let d = s
        .app
        .create_department(&caller, &req.name, req.parent_id.as_deref())
        .await?;
    Ok((StatusCode::CREATED, Json(convert::department(&d))))
}

/// All departments (every member may read the directory).
#[utoipa::path(get, path = "/api/v1/departments", tag = "directory", security(("bearer" = [])), params(PageParams),
    responses((status = 200, body = Page<Department>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list_departments(
    State(s): State<ServerState>,
    Auth(caller): Auth,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<Department>>> {
    let limit = page.limit()?.max(1) as usize;
    let after = page.id_cursor()?.unwrap_or(0);
    let all = s.app.departments(&caller).await?;
    let mut items: Vec<Department> = all
        .iter()
        .filter(|d| d.id.0 > after)
        .take(limit + 1)
        .map(convert::department)
        .collect();
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|d| d.id.clone())
    } else {
        None
    };
    Ok(Json(Page { items, next_cursor }))
}

/// Creates a member (admin). A taken email is 409.
#[utoipa::path(post, path = "/api/v1/members", tag = "directory", request_body = CreateMember, security(("bearer" = [])),
    responses((status = 201, body = Member), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_member(
    State(s): State<ServerState>,
    Auth(caller): Auth,
    ApiJson(req): ApiJson<CreateMember>,
) -> ApiResult<(StatusCode, Json<Member>)> {
    let m = s
        .app
        .create_member(
            &caller,
            NewMemberInput {
                name: req.name,
                email: req.email,
                department_id: req.department_id,
                manager_id: req.manager_id,
                backup_id: req.backup_id,
                role: req.role,
                password: req.password,
                time_zone: req.time_zone,
                phone: req.phone,
                external_id: req.external_id,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(convert::member_seen_by(&m, &caller)),
    ))
}

/// Filters of the member list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MemberQuery {
    /// Page size, 1–500 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only members of this department.
    pub department_id: Option<String>,
    /// Name or email containing this text.
    pub q: Option<String>,
}

/// Members, by id.
#[utoipa::path(get, path = "/api/v1/members", tag = "directory", security(("bearer" = [])), params(MemberQuery),
    responses((status = 200, body = Page<Member>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list_members(
    State(s): State<ServerState>,
    Auth(caller): Auth,
    ApiQuery(q): ApiQuery<MemberQuery>,
) -> ApiResult<Json<Page<Member>>> {
    let page = PageParams {
        limit: q.limit,
        cursor: q.cursor,
    };
    let limit = page.limit()?;
    let department_id = q
        .department_id
        .as_deref()
        .filter(|d| !d.is_empty())
        .map(|d| DepartmentId::parse("department_id", d))
        .transpose()
        .map_err(readtrack_service::ServiceError::from)?;
    let query =
        q.q.filter(|t| !t.trim().is_empty())
            .map(|t| t.trim().chars().take(100).collect());
    let members = s
        .app
        .members(
            &caller,
            MemberFilter {
                department_id,
                query,
            },
            StoragePage {
                limit: limit + 1,
                after: page.id_cursor()?,
            },
        )
        .await?;
    let mut items: Vec<Member> = members
        .iter()
        .map(|m| convert::member_seen_by(m, &caller))
        .collect();
    let next_cursor = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|m| m.id.clone())
    } else {
        None
    };
    Ok(Json(Page { items, next_cursor }))
}

/// One member.
#[utoipa::path(get, path = "/api/v1/members/{id}", tag = "directory", security(("bearer" = [])),
    params(("id" = String, Path, description = "Member id")),
    responses((status = 200, body = Member), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_member(
    State(s): State<ServerState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<Member>> {
    Ok(Json(convert::member_seen_by(
        &s.app.member(&caller, &id).await?,
        &caller,
    )))
}

/// Changes a member (admin): absent fields stay, `null` clears.
#[utoipa::path(patch, path = "/api/v1/members/{id}", tag = "directory", request_body = UpdateMember, security(("bearer" = [])),
    params(("id" = String, Path, description = "Member id")),
    responses((status = 200, body = Member), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update_member(
    State(s): State<ServerState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateMember>,
) -> ApiResult<Json<Member>> {
    let m = s
        .app
        .update_member(
            &caller,
            &id,
            MemberPatchInput {
                name: req.name,
                email: req.email,
                department_id: req.department_id,
                manager_id: req.manager_id,
                backup_id: req.backup_id,
                role: req.role,
                password: req.password,
                time_zone: req.time_zone,
                active: req.active,
                phone: req.phone,
                external_id: req.external_id,
            },
        )
        .await?;
    Ok(Json(convert::member_seen_by(&m, &caller)))
}

/// Import options.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// Check and count, write nothing.
    pub dry_run: Option<bool>,
    /// Make the directory match the file: deactivate the active members it does not
    /// name (never the caller).
    pub deactivate_missing: Option<bool>,
}

/// Imports members from CSV (admin): header `name,email,department,manager_email,backup_email,role`,
/// optionally followed by `phone` and `external_id`; departments are `/`-separated paths
/// created as needed. The answer lists what changes for whom (`?dry_run=true` to review
/// before writing). Any bad line → 400 with the same body, and nothing is written.
#[utoipa::path(post, path = "/api/v1/members/import", tag = "directory", security(("bearer" = [])), params(ImportQuery),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = ImportResult), (status = 400, body = ImportRefusal), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn import_members(
    State(s): State<ServerState>,
    Auth(caller): Auth,
    ApiQuery(q): ApiQuery<ImportQuery>,
    req: Request,
) -> ApiResult<Response> {
    caller_is_admin(&caller)?;
    let bytes = body_bytes(req, &s).await?;
    let dry_run = q.dry_run.unwrap_or(false);
    let refused = |errors: Vec<ImportError>| {
        (
            StatusCode::BAD_REQUEST,
            Json(ImportResult {
                created: 0,
                updated: 0,
                errors,
                departments_created: 0,
                dry_run,
                changes: vec![],
                changes_truncated: false,
                deactivated: 0,
            }),
        )
            .into_response()
    };
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return Ok(refused(vec![ImportError {
            line: 1,
            message: "the file is not UTF-8 text; save it as CSV UTF-8".into(),
        }]));
    };
    let deactivate_missing = q.deactivate_missing.unwrap_or(false);
    match s
        .app
        .import_members_with(&caller, text, dry_run, deactivate_missing)
        .await?
    {
        ImportOutcome::Done(c) => Ok(Json(ImportResult {
            created: c.created,
            updated: c.updated,
            errors: vec![],
            departments_created: c.departments_created,
            dry_run,
            changes_truncated: c.changes.len() > IMPORT_CHANGES_SHOWN,
            deactivated: c.deactivated.len() as u64,
            changes: c
                .changes
                .iter()
                .take(IMPORT_CHANGES_SHOWN)
                .map(convert::import_change)
                .collect(),
        })
        .into_response()),
        ImportOutcome::Refused(errors) => Ok(refused(
            errors
                .into_iter()
                .map(|e| ImportError {
                    line: e.line,
                    message: e.message,
                })
                .collect(),
        )),
    }
}

fn caller_is_admin(caller: &readtrack_service::Caller) -> Result<(), ApiError> {
    caller.require_admin().map_err(ApiError::from)
}
