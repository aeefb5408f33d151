//! Sending rights at work: what the caller may send (for the forms that hide the rest)
//! and the check every send passes, whichever surface it came from. The rule itself is
//! `readtrack_domain::rights`.

use readtrack_domain::department::DepartmentTree;
use readtrack_domain::ids::DepartmentId;
use readtrack_domain::message::NewMessage;
use readtrack_domain::rights::{self, Grant, Reach, Sender};
use readtrack_domain::settings::OrgSettings;

use crate::App;
use crate::auth::Caller;
use crate::error::{Result, ServiceError};

/// What the caller may send, in full.
#[derive(Debug, Clone)]
pub struct MaySend {
    /// The grant: reach, highest priority, most tracking.
    pub grant: Grant,
    /// With [`Reach::OwnDepartment`]: the departments they may send to (their own and
    /// those below it); empty otherwise.
    pub departments: Vec<DepartmentId>,
}

impl App {
    /// What `caller` may send under the organisation's rights.
    async fn grant_of(
        &self,
        caller: &Caller,
        settings: &OrgSettings,
        tree: &DepartmentTree,
    ) -> Result<Grant> {
        let manages_anyone = caller.member.role != readtrack_domain::member::Role::Admin
            && self.storage().manages_anyone(caller.id()).await?;
        let sender = Sender {
            role: caller.member.role,
            department: caller.member.department_id,
            manages_anyone,
        };
        Ok(settings.sending_rights.grant_for(&sender, tree))
    }

    /// Whether the caller may send anything at all (for the navigation), given whether
    /// they manage anyone, which the page already knows.
    pub async fn may_send_anything(&self, caller: &Caller, manages_anyone: bool) -> Result<bool> {
        let org = self.org(caller.org_id()).await?;
        let rights = &org.settings.sending_rights;
        let tree = if rights.departments.is_empty() {
            DepartmentTree::default()
        } else {
            DepartmentTree::new(self.storage().departments(caller.org_id()).await?)
        };
        let sender = Sender {
            role: caller.member.role,
            department: caller.member.department_id,
            manages_anyone,
        };
        Ok(rights.grant_for(&sender, &tree).may_send())
    }

    /// What the caller may send: for clients to offer only that.
    pub async fn may_send(&self, caller: &Caller) -> Result<MaySend> {
        let org = self.org(caller.org_id()).await?;
        let tree = DepartmentTree::new(self.storage().departments(caller.org_id()).await?);
        let grant = self.grant_of(caller, &org.settings, &tree).await?;
        let departments = if grant.reach == Reach::OwnDepartment {
            tree.subtrees(&[caller.member.department_id])
        } else {
            Vec::new()
        };
        Ok(MaySend { grant, departments })
    }

    /// Refuses (403) a notice its sender may not send: beyond their reach, priority or
    /// tracking. Every send passes here, from the API, the web form and the CLI alike.
    /// Tracking the sender left to the default is lowered to what they may ask for;
    /// tracking they chose is refused when it is more.
    pub(crate) async fn check_sending_rights(
        &self,
        caller: &Caller,
        settings: &OrgSettings,
        tree: &DepartmentTree,
        message: &mut NewMessage,
        tracking_chosen: bool,
    ) -> Result<()> {
        let grant = self.grant_of(caller, settings, tree).await?;
        if !tracking_chosen {
            message.tracking = message.tracking.min(grant.max_tracking);
        }
        // Named people count by their department; only needed when reach is limited.
        let member_departments =
            if grant.reach == Reach::OwnDepartment && !message.audience.members.is_empty() {
                let found = self
                    .storage()
                    .members_by_ids(caller.org_id(), &message.audience.members)
                    .await?;
                message
                    .audience
                    .members
                    .iter()
                    .map(|id| {
                        found
                            .iter()
                            .find(|m| m.id == *id)
                            .map(|m| m.department_id)
                            // Unknown people were refused by the audience check already.
                            .unwrap_or(DepartmentId(0))
                    })
                    .collect()
            } else {
                Vec::new()
            };
        rights::check_notice(
            &grant,
            caller.member.department_id,
            tree,
            message.priority,
            message.tracking,
            &message.audience,
            &member_departments,
        )
        .map_err(|refusal| ServiceError::Forbidden(refusal.message))
    }
}
