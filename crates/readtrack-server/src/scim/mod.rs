//! SCIM 2.0 at `/scim/v2` (RFC 7644): the discovery documents, Users (members) and
//! Groups (departments) for an identity provider holding a `scim` token. Handlers parse
//! the JSON into the domain's SCIM value, call the service and write the resource out;
//! every answer is `application/scim+json` and every error a SCIM Error body.

pub mod discovery;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use readtrack_domain::scim::{ENTERPRISE_SCHEMA, GROUP_SCHEMA, USER_SCHEMA, Value as ScimValue};
use readtrack_service::auth::Caller;
use readtrack_service::records::TokenKind;
use readtrack_service::scim::{ScimGroup, ScimPage, ScimUser};
use serde_json::{Value, json};

use crate::convert::time;
use crate::error::ApiError;
use crate::extract::token_with_source;
use crate::state::ServerState;

const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const SEARCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
const CONTENT_TYPE: &str = "application/scim+json";
/// The page size when the client names none.
const DEFAULT_COUNT: u32 = 100;

/// The `/scim/v2` routes; anything else under it is a SCIM 404.
pub fn routes() -> Router<ServerState> {
    Router::new()
        .route(
            "/ServiceProviderConfig",
            read_only(get(service_provider_config)),
        )
        .route("/ResourceTypes", read_only(get(resource_types)))
        .route("/ResourceTypes/{id}", read_only(get(resource_type)))
        .route("/Schemas", read_only(get(schemas)))
        .route("/Schemas/{id}", read_only(get(schema)))
        .route(
            "/Users",
            get(list_users).post(create_user).fallback(not_allowed),
        )
        .route("/Users/.search", post(search_users).fallback(not_allowed))
        .route(
            "/Users/{id}",
            get(get_user)
                .put(replace_user)
                .patch(patch_user)
                .delete(delete_user)
                .fallback(not_allowed),
        )
        .route(
            "/Groups",
            get(list_groups).post(create_group).fallback(not_allowed),
        )
        .route("/Groups/.search", post(search_groups).fallback(not_allowed))
        .route(
            "/Groups/{id}",
            get(get_group)
                .put(replace_group)
                .patch(patch_group)
                .delete(delete_group)
                .fallback(not_allowed),
        )
        .route("/.search", post(search_everything).fallback(not_allowed))
        .route("/", axum::routing::any(unknown_path))
        .route("/{*rest}", axum::routing::any(unknown_path))
        .fallback(unknown_path)
}

/// Discovery endpoints only answer GET (405 otherwise, as RFC 7644 §4 asks).
fn read_only(r: MethodRouter<ServerState>) -> MethodRouter<ServerState> {
    r.fallback(not_allowed)
}

/// A SCIM Error answer (RFC 7644 §3.12).
#[derive(Debug)]
pub struct ScimError {
    status: StatusCode,
    scim_type: Option<&'static str>,
    detail: String,
}

impl ScimError {
    fn new(status: StatusCode, scim_type: Option<&'static str>, detail: impl Into<String>) -> Self {
        Self {
            status,
            scim_type,
            detail: detail.into(),
        }
    }
}

impl From<ApiError> for ScimError {
    fn from(e: ApiError) -> Self {
        use readtrack_domain::scim::scim_type as t;
        let named = [
            t::INVALID_FILTER,
            t::INVALID_PATH,
            t::INVALID_VALUE,
            t::INVALID_SYNTAX,
            t::MUTABILITY,
            t::NO_TARGET,
        ]
        .into_iter()
        .find(|n| *n == e.code);
        let scim_type = match e.status {
            StatusCode::BAD_REQUEST => named.or(Some(t::INVALID_VALUE)),
            StatusCode::CONFLICT => Some("uniqueness"),
            _ => None,
        };
        // A 5xx keeps its cause for the one log line; its message is already opaque.
        let mut out = ScimError::new(e.status, scim_type, e.message.clone());
        if e.status.is_server_error() {
            out.detail = "internal error".into();
        }
        out
    }
}

impl From<readtrack_service::ServiceError> for ScimError {
    fn from(e: readtrack_service::ServiceError) -> Self {
        ApiError::from(e).into()
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status.as_u16().to_string(),
            "detail": self.detail,
        });
        if let Some(t) = self.scim_type {
            body["scimType"] = json!(t);
        }
        let mut res = scim_json(self.status, &body);
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"scim\""),
            );
        }
        res
    }
}

fn scim_json(status: StatusCode, body: &Value) -> Response {
    let mut res = (status, body.to_string()).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    res
}

type ScimResult<T = Response> = Result<T, ScimError>;

/// The caller of a SCIM request: a `scim` token in `Authorization: Bearer` (401 without
/// one, 403 for any other kind of token).
pub struct ScimCaller {
    caller: Caller,
    /// The absolute `/scim/v2` URL, for `meta.location` and `$ref`.
    base: String,
}

impl FromRequestParts<ServerState> for ScimCaller {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, state: &ServerState) -> ScimResult<Self> {
        let token = match token_with_source(parts) {
            Some((t, crate::extract::TokenSource::Bearer)) => t,
            _ => {
                return Err(ScimError::new(
                    StatusCode::UNAUTHORIZED,
                    None,
                    "send `Authorization: Bearer <token>` with a token of scope \"scim\"",
                ));
            }
        };
        let caller = state
            .app
            .authenticate(&token)
            .await
            .map_err(ScimError::from)?;
        if caller.token_kind != TokenKind::Scim {
            return Err(ScimError::new(
                StatusCode::FORBIDDEN,
                None,
                "only a token of scope \"scim\" may provision; an admin creates one with POST /api/v1/tokens",
            ));
        }
        Ok(ScimCaller {
            caller,
            base: base_url(parts),
        })
    }
}

fn base_url(parts: &Parts) -> String {
    let https = parts
        .extensions
        .get::<crate::client_addr::Client>()
        .is_some_and(|c| c.https);
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
        })
        .unwrap_or("localhost");
    format!("{}://{host}/scim/v2", if https { "https" } else { "http" })
}

/// `Content-Type` is `application/scim+json` or `application/json`; the body a JSON
/// object, turned into the domain's value.
fn body_value(body: &Bytes) -> ScimResult<ScimValue> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        ScimError::new(
            StatusCode::BAD_REQUEST,
            Some("invalidSyntax"),
            format!("the body is not JSON: {e}"),
        )
    })?;
    Ok(to_domain(v))
}

fn to_domain(v: Value) -> ScimValue {
    match v {
        Value::Null => ScimValue::Null,
        Value::Bool(b) => ScimValue::Bool(b),
        Value::Number(n) => ScimValue::Number(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => ScimValue::Str(s),
        Value::Array(items) => ScimValue::List(items.into_iter().map(to_domain).collect()),
        Value::Object(m) => ScimValue::Map(m.into_iter().map(|(k, v)| (k, to_domain(v))).collect()),
    }
}

fn if_match(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn user_json(u: &ScimUser, base: &str) -> Value {
    let a = &u.attrs;
    let location = format!("{base}/Users/{}", u.id);
    let mut v = json!({
        "schemas": [USER_SCHEMA, ENTERPRISE_SCHEMA],
        "id": u.id.to_string(),
        "userName": a.email,
        "name": {"formatted": a.name},
        "displayName": a.name,
        "active": a.active,
        "emails": [{"value": a.email}],
        "meta": {
            "resourceType": "User",
            "created": time(u.created_at),
            "lastModified": time(u.updated_at),
            "location": location,
            "version": u.version,
        },
    });
    if let Some(x) = &a.external_id {
        v["externalId"] = json!(x);
    }
    if let Some(p) = &a.phone {
        v["phoneNumbers"] = json!([{"value": p}]);
    }
    let mut ext = json!({});
    if let Some(d) = &a.department {
        ext["department"] = json!(d);
    }
    if let Some(m) = &a.manager {
        ext["manager"] = json!({"value": m, "$ref": format!("{base}/Users/{m}")});
    }
    v[ENTERPRISE_SCHEMA] = ext;
    v
}

fn group_json(g: &ScimGroup, base: &str) -> Value {
    let mut v = json!({
        "schemas": [GROUP_SCHEMA],
        "id": g.id.to_string(),
        "displayName": g.attrs.name,
        "members": g.attrs.members.iter()
            .map(|m| json!({"value": m, "$ref": format!("{base}/Users/{m}")}))
            .collect::<Vec<_>>(),
        "meta": {
            "resourceType": "Group",
            "created": time(g.created_at),
            "lastModified": time(g.updated_at),
            "location": format!("{base}/Groups/{}", g.id),
            "version": g.version,
        },
    });
    if let Some(x) = &g.attrs.external_id {
        v["externalId"] = json!(x);
    }
    v
}

/// `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5), comma-separated paths,
/// schema URNs allowed as prefixes.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Shape {
    attributes: Option<String>,
    #[serde(rename = "excludedAttributes")]
    excluded_attributes: Option<String>,
}

/// The query of a listing.
#[derive(Debug, Default, serde::Deserialize)]
pub struct ListQuery {
    filter: Option<String>,
    #[serde(rename = "startIndex")]
    start_index: Option<String>,
    count: Option<String>,
    attributes: Option<String>,
    #[serde(rename = "excludedAttributes")]
    excluded_attributes: Option<String>,
}

fn split_paths(raw: &Option<String>) -> Vec<String> {
    raw.as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// A path relative to the resource: (extension URN or "", attribute, sub-attribute).
fn path_parts(path: &str) -> (String, String, Option<String>) {
    for urn in [ENTERPRISE_SCHEMA, USER_SCHEMA, GROUP_SCHEMA] {
        if path.len() > urn.len() && path[..urn.len()].eq_ignore_ascii_case(urn) {
            let rest = path[urn.len()..].trim_start_matches(':');
            let (a, s) = split_sub(rest);
            let ext = if urn == ENTERPRISE_SCHEMA { urn } else { "" };
            return (ext.to_string(), a, s);
        }
        if path.eq_ignore_ascii_case(urn) {
            return (String::new(), urn.to_string(), None);
        }
    }
    let (a, s) = split_sub(path);
    (String::new(), a, s)
}

fn split_sub(p: &str) -> (String, Option<String>) {
    match p.split_once('.') {
        Some((a, s)) => (a.to_string(), Some(s.to_string())),
        None => (p.to_string(), None),
    }
}

fn key_of<'a>(obj: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a String> {
    obj.keys().find(|k| k.eq_ignore_ascii_case(name))
}

/// Applies `attributes` (only those, plus `id` and `schemas`, which are always
/// returned) or `excludedAttributes` to a resource.
fn shape(mut resource: Value, attributes: &[String], excluded: &[String]) -> Value {
    let Some(obj) = resource.as_object_mut() else {
        return resource;
    };
    if !attributes.is_empty() {
        let mut out = serde_json::Map::new();
        for k in ["schemas", "id"] {
            if let Some(v) = obj.get(k) {
                out.insert(k.to_string(), v.clone());
            }
        }
        for path in attributes {
            let (ext, a, sub) = path_parts(path);
            let (src, dst): (Option<&serde_json::Map<String, Value>>, String) = if ext.is_empty() {
                (Some(&*obj), String::new())
            } else {
                (obj.get(&ext).and_then(Value::as_object), ext.clone())
            };
            let Some(src) = src else { continue };
            // A bare extension URN asks for the whole extension.
            if a.eq_ignore_ascii_case(ENTERPRISE_SCHEMA) {
                if let Some(v) = obj.get(ENTERPRISE_SCHEMA) {
                    out.insert(ENTERPRISE_SCHEMA.into(), v.clone());
                }
                continue;
            }
            let Some(key) = key_of(src, &a) else { continue };
            let value = match (&sub, &src[key]) {
                (None, v) => v.clone(),
                (Some(s), Value::Object(m)) => match key_of(m, s) {
                    Some(sk) => json!({ sk.clone(): m[sk].clone() }),
                    None => continue,
                },
                (Some(s), Value::Array(items)) => Value::Array(
                    items
                        .iter()
                        .filter_map(|i| {
                            let m = i.as_object()?;
                            let sk = key_of(m, s)?;
                            Some(json!({ sk.clone(): m[sk].clone() }))
                        })
                        .collect(),
                ),
                (Some(_), v) => v.clone(),
            };
            let target = if dst.is_empty() {
                &mut out
            } else {
                out.entry(dst.clone())
                    .or_insert_with(|| json!({}))
                    .as_object_mut()
                    .expect("an extension is an object")
            };
            target.insert(key.clone(), value);
        }
        return Value::Object(out);
    }
    for path in excluded {
        let (ext, a, sub) = path_parts(path);
        if a.eq_ignore_ascii_case(ENTERPRISE_SCHEMA) {
            obj.remove(ENTERPRISE_SCHEMA);
            continue;
        }
        let target = if ext.is_empty() {
            Some(&mut *obj)
        } else {
            obj.get_mut(&ext).and_then(Value::as_object_mut)
        };
        let Some(target) = target else { continue };
        let Some(key) = key_of(target, &a).cloned() else {
            continue;
        };
        if ["id", "schemas"].contains(&key.as_str()) {
            continue;
        }
        match sub {
            None => {
                target.remove(&key);
            }
            Some(s) => {
                if let Some(m) = target.get_mut(&key).and_then(Value::as_object_mut)
                    && let Some(sk) = key_of(m, &s).cloned()
                {
                    m.remove(&sk);
                }
            }
        }
    }
    resource
}

fn page_numbers(start_index: Option<&str>, count: Option<&str>) -> ScimResult<(u64, u32)> {
    let bad = |what: &str| {
        ScimError::new(
            StatusCode::BAD_REQUEST,
            Some("invalidValue"),
            format!("`{what}` must be a whole number"),
        )
    };
    let start = match start_index {
        None | Some("") => 1,
        Some(s) => s
            .trim()
            .parse::<i64>()
            .map_err(|_| bad("startIndex"))?
            .max(1) as u64,
    };
    let count = match count {
        None | Some("") => DEFAULT_COUNT,
        Some(s) => s
            .trim()
            .parse::<i64>()
            .map_err(|_| bad("count"))?
            .clamp(0, i64::from(u32::MAX)) as u32,
    };
    Ok((start, count))
}

fn list_json<T>(
    page: ScimPage<T>,
    base: &str,
    render: fn(&T, &str) -> Value,
    attributes: &[String],
    excluded: &[String],
) -> Response {
    let resources: Vec<Value> = page
        .items
        .iter()
        .map(|r| shape(render(r, base), attributes, excluded))
        .collect();
    scim_json(
        StatusCode::OK,
        &json!({
            "schemas": [LIST_SCHEMA],
            "totalResults": page.total,
            "startIndex": page.start_index,
            "itemsPerPage": resources.len(),
            "Resources": resources,
        }),
    )
}

fn resource_response(status: StatusCode, body: Value, version: &str) -> Response {
    let location = body["meta"]["location"].as_str().unwrap_or("").to_string();
    let mut res = scim_json(status, &body);
    if let Ok(v) = HeaderValue::from_str(version) {
        res.headers_mut().insert(header::ETAG, v);
    }
    if status == StatusCode::CREATED
        && let Ok(v) = HeaderValue::from_str(&location)
    {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

async fn service_provider_config(s: ScimCaller) -> Response {
    scim_json(StatusCode::OK, &discovery::service_provider_config(&s.base))
}

fn listing(items: Vec<Value>) -> Response {
    scim_json(
        StatusCode::OK,
        &json!({
            "schemas": [LIST_SCHEMA],
            "totalResults": items.len(),
            "startIndex": 1,
            "itemsPerPage": items.len(),
            "Resources": items,
        }),
    )
}

async fn resource_types(s: ScimCaller) -> Response {
    listing(discovery::resource_types(&s.base))
}

async fn resource_type(s: ScimCaller, Path(id): Path<String>) -> ScimResult {
    discovery::resource_types(&s.base)
        .into_iter()
        .find(|r| r["id"] == id.as_str())
        .map(|r| scim_json(StatusCode::OK, &r))
        .ok_or_else(|| {
            ScimError::new(
                StatusCode::NOT_FOUND,
                None,
                format!("no resource type {id:?}"),
            )
        })
}

async fn schemas(s: ScimCaller) -> Response {
    listing(discovery::schemas(&s.base))
}

async fn schema(s: ScimCaller, Path(id): Path<String>) -> ScimResult {
    discovery::schemas(&s.base)
        .into_iter()
        .find(|r| r["id"] == id.as_str())
        .map(|r| scim_json(StatusCode::OK, &r))
        .ok_or_else(|| ScimError::new(StatusCode::NOT_FOUND, None, format!("no schema {id:?}")))
}

async fn list_users(
    s: ScimCaller,
    State(st): State<ServerState>,
    Query(q): Query<ListQuery>,
) -> ScimResult {
    let (start, count) = page_numbers(q.start_index.as_deref(), q.count.as_deref())?;
    let page = st
        .app
        .scim_users(&s.caller, q.filter.as_deref(), start, count)
        .await?;
    Ok(list_json(
        page,
        &s.base,
        user_json,
        &split_paths(&q.attributes),
        &split_paths(&q.excluded_attributes),
    ))
}

/// A SearchRequest body (RFC 7644 §3.4.3), read into the listing's query.
fn search_query(body: &Bytes) -> ScimResult<ListQuery> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        ScimError::new(
            StatusCode::BAD_REQUEST,
            Some("invalidSyntax"),
            format!("the body is not JSON: {e}"),
        )
    })?;
    let schemas_ok = v["schemas"]
        .as_array()
        .is_some_and(|s| s.iter().any(|x| x == SEARCH_SCHEMA));
    if !schemas_ok {
        return Err(ScimError::new(
            StatusCode::BAD_REQUEST,
            Some("invalidSyntax"),
            format!("a search is a SearchRequest: `schemas` must be [\"{SEARCH_SCHEMA}\"]"),
        ));
    }
    let text = |k: &str| match &v[k] {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Array(items) => Some(
            items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(","),
        ),
        _ => None,
    };
    Ok(ListQuery {
        filter: text("filter"),
        start_index: text("startIndex"),
        count: text("count"),
        attributes: text("attributes"),
        excluded_attributes: text("excludedAttributes"),
    })
}

async fn search_users(s: ScimCaller, st: State<ServerState>, body: Bytes) -> ScimResult {
    let q = search_query(&body)?;
    list_users(s, st, Query(q)).await
}

async fn get_user(
    s: ScimCaller,
    State(st): State<ServerState>,
    Path(id): Path<String>,
    Query(q): Query<Shape>,
) -> ScimResult {
    let u = st.app.scim_user(&s.caller, &id).await?;
    let body = shape(
        user_json(&u, &s.base),
        &split_paths(&q.attributes),
        &split_paths(&q.excluded_attributes),
    );
    Ok(resource_response(StatusCode::OK, body, &u.version))
}

async fn create_user(s: ScimCaller, State(st): State<ServerState>, body: Bytes) -> ScimResult {
    let u = st
        .app
        .scim_create_user(&s.caller, &body_value(&body)?)
        .await?;
    Ok(resource_response(
        StatusCode::CREATED,
        user_json(&u, &s.base),
        &u.version,
    ))
}

async fn replace_user(
    s: ScimCaller,
    State(st): State<ServerState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ScimResult {
    let u = st
        .app
        .scim_replace_user(
            &s.caller,
            &id,
            &body_value(&body)?,
            if_match(&headers).as_deref(),
        )
        .await?;
    Ok(resource_response(
        StatusCode::OK,
        user_json(&u, &s.base),
        &u.version,
    ))
}

async fn patch_user(
    s: ScimCaller,
    State(st): State<ServerState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ScimResult {
    let u = st
        .app
        .scim_patch_user(
            &s.caller,
            &id,
            &body_value(&body)?,
            if_match(&headers).as_deref(),
        )
        .await?;
    Ok(resource_response(
        StatusCode::OK,
        user_json(&u, &s.base),
        &u.version,
    ))
}

async fn delete_user(
    s: ScimCaller,
    State(st): State<ServerState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ScimResult {
    st.app
        .scim_delete_user(&s.caller, &id, if_match(&headers).as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_groups(
    s: ScimCaller,
    State(st): State<ServerState>,
    Query(q): Query<ListQuery>,
) -> ScimResult {
    let (start, count) = page_numbers(q.start_index.as_deref(), q.count.as_deref())?;
    let page = st
        .app
        .scim_groups(&s.caller, q.filter.as_deref(), start, count)
        .await?;
    Ok(list_json(
        page,
        &s.base,
        group_json,
        &split_paths(&q.attributes),
        &split_paths(&q.excluded_attributes),
    ))
}

async fn search_groups(s: ScimCaller, st: State<ServerState>, body: Bytes) -> ScimResult {
    let q = search_query(&body)?;
    list_groups(s, st, Query(q)).await
}

async fn get_group(
    s: ScimCaller,
    State(st): State<ServerState>,
    Path(id): Path<String>,
    Query(q): Query<Shape>,
) -> ScimResult {
    let g = st.app.scim_group(&s.caller, &id).await?;
    let body = shape(
        group_json(&g, &s.base),
        &split_paths(&q.attributes),
        &split_paths(&q.excluded_attributes),
    );
    Ok(resource_response(StatusCode::OK, body, &g.version))
}

async fn create_group(s: ScimCaller, State(st): State<ServerState>, body: Bytes) -> ScimResult {
    let g = st
        .app
        .scim_create_group(&s.caller, &body_value(&body)?)
        .await?;
    Ok(resource_response(
        StatusCode::CREATED,
        group_json(&g, &s.base),
        &g.version,
    ))
}

async fn replace_group(
    s: ScimCaller,
    State(st): State<ServerState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ScimResult {
    let g = st
        .app
        .scim_replace_group(
            &s.caller,
            &id,
            &body_value(&body)?,
            if_match(&headers).as_deref(),
        )
        .await?;
    Ok(resource_response(
        StatusCode::OK,
        group_json(&g, &s.base),
        &g.version,
    ))
}

async fn patch_group(
    s: ScimCaller,
    State(st): State<ServerState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ScimResult {
    let g = st
        .app
        .scim_patch_group(
            &s.caller,
            &id,
            &body_value(&body)?,
            if_match(&headers).as_deref(),
        )
        .await?;
    Ok(resource_response(
        StatusCode::OK,
        group_json(&g, &s.base),
        &g.version,
    ))
}

async fn delete_group(
    s: ScimCaller,
    State(st): State<ServerState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ScimResult {
    st.app
        .scim_delete_group(&s.caller, &id, if_match(&headers).as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Searching Users and Groups at once: their ids are separate number series, so one
/// list could not tell a User from a Group of the same id; RFC 7644 §3.4.3 lets a
/// service provider decline (501).
async fn search_everything(_s: ScimCaller) -> ScimError {
    ScimError::new(
        StatusCode::NOT_IMPLEMENTED,
        None,
        "search Users and Groups separately: POST /scim/v2/Users/.search or /scim/v2/Groups/.search",
    )
}

async fn not_allowed() -> ScimError {
    ScimError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        None,
        "this SCIM endpoint does not take that method",
    )
}

async fn unknown_path() -> ScimError {
    ScimError::new(StatusCode::NOT_FOUND, None, "no such SCIM endpoint")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_keep_only_what_was_asked_and_excluded_ones_go() {
        let user = json!({
            "schemas": [USER_SCHEMA], "id": "3", "userName": "a@b.org",
            "name": {"formatted": "A"}, "displayName": "A",
            ENTERPRISE_SCHEMA: {"department": "Sales", "manager": {"value": "1"}},
        });
        let only = shape(
            user.clone(),
            &["userName".into(), format!("{ENTERPRISE_SCHEMA}:department")],
            &[],
        );
        assert_eq!(
            only,
            json!({"schemas": [USER_SCHEMA], "id": "3", "userName": "a@b.org",
                   ENTERPRISE_SCHEMA: {"department": "Sales"}})
        );
        let without = shape(user, &[], &["displayName".into(), "name.formatted".into()]);
        assert!(without.get("displayName").is_none());
        assert_eq!(without["name"], json!({}));
        assert_eq!(without["userName"], "a@b.org");
    }
}
