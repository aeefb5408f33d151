//! `POST /web/audience/preview`: how many people the picked audience reaches, shown
//! in the compose form before sending.

use axum::Json;
use axum::extract::State;
use readtrack_domain::audience::AudienceInput;
use readtrack_protocol::messages::AudienceBody;
use serde::Serialize;

use crate::error::ApiResult;
use crate::extract::{ApiJson, Auth};
use crate::state::ServerState;

/// The count.
#[derive(Debug, Serialize)]
pub struct AudienceCount {
    /// People reached, each once, the sender excluded.
    pub recipients: u64,
    /// Departments covered, sub-departments included.
    pub departments: u64,
}

/// Counts an audience (`{"members": [...], "departments": [...]}`) for the caller.
pub async fn preview(
    State(s): State<ServerState>,
    Auth(caller): Auth,
    ApiJson(body): ApiJson<AudienceBody>,
) -> ApiResult<Json<AudienceCount>> {
    let input = AudienceInput {
        members: body.members,
        departments: body.departments,
    };
    let p = s.app.preview_audience(&caller, &input).await?;
    Ok(Json(AudienceCount {
        recipients: p.recipients,
        departments: p.departments,
    }))
}
