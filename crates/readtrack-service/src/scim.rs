//! SCIM 2.0 provisioning (RFC 7643/7644): an identity provider creates, changes and
//! deprovisions members (Users) and departments (Groups) with a `scim` token.
//!
//! Every change goes through the directory operations an admin uses, so the same rules
//! hold: deprovisioning (`active: false`, or deleting a User) is the ordinary
//! deactivation, which ends the person's sessions, tokens and open streams, keeps their
//! history and sends them nothing new. A User deleted over SCIM is also marked, so SCIM
//! answers 404 for it from then on (an admin still sees the inactive member); creating
//! the same address again brings that member back with their history.

use jiff::Timestamp;
use readtrack_domain::FieldError;
use readtrack_domain::department::Department;
use readtrack_domain::ids::{DepartmentId, MemberId};
use readtrack_domain::scim::{Filter, GroupAttrs, UserAttrs, Value, parse_patch, scim_type};
use readtrack_storage::{ProvisionedDepartment, ProvisionedFilter, ProvisionedMember, TokenKind};

use crate::App;
use crate::auth::Caller;
use crate::directory::{MemberPatchInput, NewMemberInput};
use crate::error::{Result, ServiceError};

/// A User as provisioning shows it.
#[derive(Debug, Clone)]
pub struct ScimUser {
    /// The member's id.
    pub id: MemberId,
    /// What SCIM shows of them.
    pub attrs: UserAttrs,
    /// `meta.created`.
    pub created_at: Timestamp,
    /// `meta.lastModified`.
    pub updated_at: Timestamp,
    /// `meta.version`, also the ETag.
    pub version: String,
}

/// A Group (a department) as provisioning shows it.
#[derive(Debug, Clone)]
pub struct ScimGroup {
    /// The department's id.
    pub id: DepartmentId,
    /// What SCIM shows of it.
    pub attrs: GroupAttrs,
    /// `meta.created`.
    pub created_at: Timestamp,
    /// `meta.lastModified`.
    pub updated_at: Timestamp,
    /// `meta.version`, also the ETag.
    pub version: String,
}

/// One page of a listing: `total` matches, `items` from the 1-based `start_index`.
#[derive(Debug, Clone)]
pub struct ScimPage<T> {
    /// How many match in all (`totalResults`).
    pub total: u64,
    /// The first item's 1-based position (`startIndex`).
    pub start_index: u64,
    /// The page.
    pub items: Vec<T>,
}

/// The most a page holds (`ServiceProviderConfig` `filter.maxResults`).
pub const MAX_PAGE: u32 = 200;

fn user_of(p: ProvisionedMember) -> ScimUser {
    let m = p.member;
    let attrs = UserAttrs {
        email: m.email,
        name: m.name,
        external_id: m.external_id,
        active: m.active,
        phone: m.phone,
        department: Some(p.department_name),
        manager: m.manager_id.map(|id| id.to_string()),
    };
    ScimUser {
        id: m.id,
        version: attrs.version(),
        attrs,
        created_at: p.created_at,
        updated_at: p.updated_at,
    }
}

fn group_of(d: ProvisionedDepartment) -> ScimGroup {
    let attrs = GroupAttrs {
        name: d.department.name,
        external_id: d.external_id,
        members: d.members.iter().map(|m| m.to_string()).collect(),
    };
    ScimGroup {
        id: d.department.id,
        version: attrs.version(),
        attrs,
        created_at: d.created_at,
        updated_at: d.updated_at,
    }
}

/// `If-Match`: `*` or the current version (weak or not), else 412.
fn check_version(if_match: Option<&str>, current: &str) -> Result<()> {
    let Some(wanted) = if_match else {
        return Ok(());
    };
    let bare = |v: &str| {
        v.trim()
            .trim_start_matches("W/")
            .trim_matches('"')
            .to_string()
    };
    let current = bare(current);
    if wanted
        .split(',')
        .any(|w| w.trim() == "*" || bare(w) == current)
    {
        Ok(())
    } else {
        Err(ServiceError::PreconditionFailed(
            "the resource changed since that version was read (If-Match); read it again".into(),
        ))
    }
}

fn not_found_id<T>(
    parse: fn(&str, &str) -> std::result::Result<T, FieldError>,
    raw: &str,
    what: &'static str,
) -> Result<T> {
    parse("id", raw).map_err(|_| ServiceError::NotFound(what))
}

impl App {
    /// Only a SCIM token, held by an admin, provisions.
    fn require_scim(caller: &Caller) -> Result<()> {
        if caller.token_kind != TokenKind::Scim {
            return Err(ServiceError::Forbidden(
                "SCIM provisioning needs a token with scope \"scim\"".into(),
            ));
        }
        caller.require_admin()
    }

    /// Users, one page; `filter` is `userName eq "…"` or `externalId eq "…"`.
    pub async fn scim_users(
        &self,
        caller: &Caller,
        filter: Option<&str>,
        start_index: u64,
        count: u32,
    ) -> Result<ScimPage<ScimUser>> {
        Self::require_scim(caller)?;
        let mut wanted = ProvisionedFilter::default();
        if let Some(raw) = filter.filter(|f| !f.trim().is_empty()) {
            let f = Filter::parse(raw)?;
            match f.attribute.as_str() {
                "username" | "emails" | "emails.value" => wanted.email = Some(f.value),
                "externalid" => wanted.external_id = Some(f.value),
                other => {
                    return Err(ServiceError::Invalid(FieldError::with_code(
                        "filter",
                        scim_type::INVALID_FILTER,
                        format!("Users can be filtered by userName or externalId, not {other:?}"),
                    )));
                }
            }
        }
        let start_index = start_index.max(1);
        let (total, rows) = self
            .storage()
            .provisioned_members(
                caller.org_id(),
                &wanted,
                start_index - 1,
                count.min(MAX_PAGE),
            )
            .await?;
        Ok(ScimPage {
            total,
            start_index,
            items: rows.into_iter().map(user_of).collect(),
        })
    }

    /// One User; 404 for members an identity provider deleted.
    pub async fn scim_user(&self, caller: &Caller, id: &str) -> Result<ScimUser> {
        Self::require_scim(caller)?;
        let id = not_found_id(MemberId::parse, id, "User")?;
        self.scim_user_by_id(caller, id).await
    }

    async fn scim_user_by_id(&self, caller: &Caller, id: MemberId) -> Result<ScimUser> {
        self.storage()
            .provisioned_member(caller.org_id(), id)
            .await?
            .map(user_of)
            .ok_or(ServiceError::NotFound("User"))
    }

    /// Creates a User (or brings back one an identity provider deleted, history kept).
    pub async fn scim_create_user(&self, caller: &Caller, body: &Value) -> Result<ScimUser> {
        Self::require_scim(caller)?;
        let attrs = UserAttrs::from_resource(body)?;
        let org = caller.org_id();
        if let Some(id) = self
            .storage()
            .deleted_member_by_email(org, &attrs.email)
            .await?
        {
            self.storage()
                .undelete_member(org, id, self.clock().now())
                .await?;
            let current = self.scim_user_by_id(caller, id).await?;
            let user = self.scim_write_user(caller, current, attrs).await?;
            self.audit(
                caller,
                "scim.user.created",
                format!("member:{id}"),
                vec![id],
            )
            .await?;
            return Ok(user);
        }
        let department = self
            .scim_department_named(caller, attrs.department.as_deref())
            .await?;
        let member = self
            .create_member(
                caller,
                NewMemberInput {
                    name: attrs.name.clone(),
                    email: attrs.email.clone(),
                    department_id: department.to_string(),
                    manager_id: attrs.manager.clone(),
                    phone: attrs.phone.clone(),
                    external_id: attrs.external_id.clone(),
                    ..NewMemberInput::default()
                },
            )
            .await?;
        self.audit(
            caller,
            "scim.user.created",
            format!("member:{}", member.id),
            vec![member.id],
        )
        .await?;
        let created = self.scim_user_by_id(caller, member.id).await?;
        if attrs.active {
            return Ok(created);
        }
        self.scim_write_user(caller, created, attrs).await
    }

    /// Replaces a User (PUT): what is not sent is cleared, except the department, which
    /// stays unless named.
    pub async fn scim_replace_user(
        &self,
        caller: &Caller,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<ScimUser> {
        let current = self.scim_user(caller, id).await?;
        check_version(if_match, &current.version)?;
        let attrs = UserAttrs::from_resource(body)?;
        self.scim_write_user(caller, current, attrs).await
    }

    /// Changes a User with PATCH operations.
    pub async fn scim_patch_user(
        &self,
        caller: &Caller,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<ScimUser> {
        let current = self.scim_user(caller, id).await?;
        check_version(if_match, &current.version)?;
        let ops = parse_patch(body)?;
        let mut attrs = current.attrs.clone();
        attrs.apply(&ops)?;
        self.scim_write_user(caller, current, attrs).await
    }

    /// Deletes a User: deactivation (sessions, tokens and streams end, history stays),
    /// and SCIM forgets them.
    pub async fn scim_delete_user(
        &self,
        caller: &Caller,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<()> {
        let current = self.scim_user(caller, id).await?;
        check_version(if_match, &current.version)?;
        if current.attrs.active {
            let mut attrs = current.attrs.clone();
            attrs.active = false;
            self.scim_write_user(caller, current.clone(), attrs).await?;
        }
        self.storage()
            .mark_member_deleted(caller.org_id(), current.id, self.clock().now())
            .await?;
        self.audit(
            caller,
            "scim.user.deleted",
            format!("member:{}", current.id),
            vec![current.id],
        )
        .await
    }

    /// Writes what changed between `current` and `wanted` through the directory's own
    /// update (so deactivation ends sessions and streams as an admin's would).
    async fn scim_write_user(
        &self,
        caller: &Caller,
        current: ScimUser,
        wanted: UserAttrs,
    ) -> Result<ScimUser> {
        let was = &current.attrs;
        let changed = |a: &Option<String>, b: &Option<String>| (a != b).then(|| b.clone());
        let mut patch = MemberPatchInput {
            name: (was.name != wanted.name).then(|| wanted.name.clone()),
            email: (was.email != wanted.email).then(|| wanted.email.clone()),
            external_id: changed(&was.external_id, &wanted.external_id),
            phone: changed(&was.phone, &wanted.phone),
            manager_id: changed(&was.manager, &wanted.manager),
            active: (was.active != wanted.active).then_some(wanted.active),
            ..MemberPatchInput::default()
        };
        if let Some(name) = &wanted.department
            && was.department.as_deref() != Some(name.as_str())
        {
            let id = self.scim_department_named(caller, Some(name)).await?;
            patch.department_id = Some(id.to_string());
        }
        let id = current.id;
        let any = patch.name.is_some()
            || patch.email.is_some()
            || patch.external_id.is_some()
            || patch.phone.is_some()
            || patch.manager_id.is_some()
            || patch.active.is_some()
            || patch.department_id.is_some();
        if !any {
            return Ok(current);
        }
        let deactivating = patch.active == Some(false);
        let reactivating = patch.active == Some(true);
        self.update_member(caller, &id.to_string(), patch).await?;
        self.storage()
            .touch_member(caller.org_id(), id, self.clock().now())
            .await?;
        let action = if deactivating {
            "scim.user.deactivated"
        } else if reactivating {
            "scim.user.reactivated"
        } else {
            "scim.user.updated"
        };
        self.audit(caller, action, format!("member:{id}"), vec![id])
            .await?;
        self.scim_user_by_id(caller, id).await
    }

    /// The department a User's enterprise `department` names (the first with that name,
    /// created at the top level when there is none), or the organisation's first
    /// top-level department when none is named.
    async fn scim_department_named(
        &self,
        caller: &Caller,
        name: Option<&str>,
    ) -> Result<DepartmentId> {
        let all = self.storage().departments(caller.org_id()).await?;
        match name {
            Some(name) => {
                if let Some(d) = all.iter().find(|d| d.name.eq_ignore_ascii_case(name)) {
                    return Ok(d.id);
                }
                Ok(self.create_department(caller, name, None).await?.id)
            }
            None => home_department(&all, None),
        }
    }

    /// Groups (departments), one page; `filter` is `displayName eq "…"` or
    /// `externalId eq "…"`.
    pub async fn scim_groups(
        &self,
        caller: &Caller,
        filter: Option<&str>,
        start_index: u64,
        count: u32,
    ) -> Result<ScimPage<ScimGroup>> {
        Self::require_scim(caller)?;
        let filter = match filter.filter(|f| !f.trim().is_empty()) {
            Some(raw) => {
                let f = Filter::parse(raw)?;
                if !matches!(f.attribute.as_str(), "displayname" | "externalid") {
                    return Err(ServiceError::Invalid(FieldError::with_code(
                        "filter",
                        scim_type::INVALID_FILTER,
                        format!(
                            "Groups can be filtered by displayName or externalId, not {:?}",
                            f.attribute
                        ),
                    )));
                }
                Some(f)
            }
            None => None,
        };
        let all: Vec<ScimGroup> = self
            .storage()
            .provisioned_departments(caller.org_id())
            .await?
            .into_iter()
            .map(group_of)
            .filter(|g| match &filter {
                None => true,
                Some(f) if f.attribute == "displayname" => {
                    g.attrs.name.eq_ignore_ascii_case(&f.value)
                }
                Some(f) => g.attrs.external_id.as_deref() == Some(f.value.as_str()),
            })
            .collect();
        let start_index = start_index.max(1);
        let total = all.len() as u64;
        let items = all
            .into_iter()
            .skip(usize::try_from(start_index - 1).unwrap_or(usize::MAX))
            .take(count.min(MAX_PAGE) as usize)
            .collect();
        Ok(ScimPage {
            total,
            start_index,
            items,
        })
    }

    /// One Group.
    pub async fn scim_group(&self, caller: &Caller, id: &str) -> Result<ScimGroup> {
        Self::require_scim(caller)?;
        let id = not_found_id(DepartmentId::parse, id, "Group")?;
        self.scim_group_by_id(caller, id).await
    }

    async fn scim_group_by_id(&self, caller: &Caller, id: DepartmentId) -> Result<ScimGroup> {
        self.storage()
            .provisioned_departments(caller.org_id())
            .await?
            .into_iter()
            .find(|d| d.department.id == id)
            .map(group_of)
            .ok_or(ServiceError::NotFound("Group"))
    }

    /// Creates a Group: a top-level department, its members moved into it.
    pub async fn scim_create_group(&self, caller: &Caller, body: &Value) -> Result<ScimGroup> {
        Self::require_scim(caller)?;
        let attrs = GroupAttrs::from_resource(body)?;
        let dept = self.create_department(caller, &attrs.name, None).await?;
        self.audit(
            caller,
            "scim.group.created",
            format!("department:{}", dept.id),
            Vec::new(),
        )
        .await?;
        let current = self.scim_group_by_id(caller, dept.id).await?;
        self.scim_write_group(caller, current, attrs).await
    }

    /// Replaces a Group (PUT).
    pub async fn scim_replace_group(
        &self,
        caller: &Caller,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<ScimGroup> {
        let current = self.scim_group(caller, id).await?;
        check_version(if_match, &current.version)?;
        let attrs = GroupAttrs::from_resource(body)?;
        self.scim_write_group(caller, current, attrs).await
    }

    /// Changes a Group with PATCH operations (`members` added, removed or replaced).
    pub async fn scim_patch_group(
        &self,
        caller: &Caller,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<ScimGroup> {
        let current = self.scim_group(caller, id).await?;
        check_version(if_match, &current.version)?;
        let ops = parse_patch(body)?;
        let mut attrs = current.attrs.clone();
        attrs.apply(&ops)?;
        self.scim_write_group(caller, current, attrs).await
    }

    /// Deletes a Group: its members move to the organisation's first top-level
    /// department. Refused while notices' history or sub-departments refer to it.
    pub async fn scim_delete_group(
        &self,
        caller: &Caller,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<()> {
        let current = self.scim_group(caller, id).await?;
        check_version(if_match, &current.version)?;
        let all = self.storage().departments(caller.org_id()).await?;
        let home = home_department(&all, Some(current.id))?;
        self.storage()
            .delete_department(caller.org_id(), current.id, home)
            .await?;
        for m in &current.attrs.members {
            if let Ok(m) = MemberId::parse("members", m) {
                self.inner.tokens.forget_member(m);
            }
        }
        self.audit(
            caller,
            "scim.group.deleted",
            format!("department:{}", current.id),
            Vec::new(),
        )
        .await
    }

    /// Writes what changed: the name and identity provider id, then membership (a
    /// member added moves into the department; one removed moves to the organisation's
    /// first top-level department).
    async fn scim_write_group(
        &self,
        caller: &Caller,
        current: ScimGroup,
        wanted: GroupAttrs,
    ) -> Result<ScimGroup> {
        let id = current.id;
        let org = caller.org_id();
        // Check every new member before changing anything.
        let mut added = Vec::new();
        for raw in wanted
            .members
            .iter()
            .filter(|m| !current.attrs.members.contains(m))
        {
            let bad = || {
                ServiceError::Invalid(FieldError::with_code(
                    "members",
                    scim_type::INVALID_VALUE,
                    format!("`members` names {raw:?}, which is not a User here"),
                ))
            };
            let m = MemberId::parse("members", raw).map_err(|_| bad())?;
            self.storage()
                .provisioned_member(org, m)
                .await?
                .ok_or_else(bad)?;
            added.push(m);
        }
        let removed: Vec<MemberId> = current
            .attrs
            .members
            .iter()
            .filter(|m| !wanted.members.contains(m))
            .filter_map(|m| MemberId::parse("members", m).ok())
            .collect();
        let mut renamed = false;
        let mut moved = false;
        if wanted.name != current.attrs.name || wanted.external_id != current.attrs.external_id {
            self.storage()
                .update_department(
                    org,
                    id,
                    &wanted.name,
                    wanted.external_id.as_deref(),
                    self.clock().now(),
                )
                .await?;
            renamed = true;
        }
        let home = if removed.is_empty() {
            None
        } else {
            let all = self.storage().departments(org).await?;
            Some(home_department(&all, Some(id))?)
        };
        for (m, to) in added
            .iter()
            .map(|m| (*m, id))
            .chain(removed.iter().map(|m| (*m, home.unwrap_or(id))))
        {
            self.update_member(
                caller,
                &m.to_string(),
                MemberPatchInput {
                    department_id: Some(to.to_string()),
                    ..MemberPatchInput::default()
                },
            )
            .await?;
            moved = true;
        }
        if moved && !renamed {
            self.storage()
                .update_department(
                    org,
                    id,
                    &wanted.name,
                    wanted.external_id.as_deref(),
                    self.clock().now(),
                )
                .await?;
        }
        if moved || renamed {
            self.audit(
                caller,
                "scim.group.updated",
                format!("department:{id}"),
                [added, removed].concat(),
            )
            .await?;
        }
        self.scim_group_by_id(caller, id).await
    }
}

/// Where members go when their department does not say: the organisation's first
/// top-level department (other than `except`).
fn home_department(all: &[Department], except: Option<DepartmentId>) -> Result<DepartmentId> {
    all.iter()
        .filter(|d| d.parent_id.is_none() && Some(d.id) != except)
        .map(|d| d.id)
        .min_by_key(|d| d.0)
        .ok_or_else(|| {
            ServiceError::Conflict(
                "this is the organisation's only top-level department; its members have nowhere else to go".into(),
            )
        })
}
