//! Previewing an audience: how many people a notice would reach, before it is sent.
//!
//! The count follows the same rules as sending (departments include their
//! sub-departments, a person reached twice counts once, inactive members and the sender
//! are left out) so the number a sender sees is the number the board will show.

use std::collections::HashSet;

use readtrack_domain::audience::{Audience, AudienceInput};
use readtrack_domain::ids::MemberId;
use readtrack_storage::{MemberFilter, Page};

use crate::App;
use crate::auth::Caller;
use crate::error::Result;

/// Members fetched per storage call while counting a department.
const PAGE: u32 = 1000;

/// What an audience amounts to right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AudiencePreview {
    /// People the notice would reach (each once, the sender excluded).
    pub recipients: u64,
    /// Departments covered, sub-departments included.
    pub departments: u64,
}

impl App {
    /// Counts the recipients `input` would reach if the caller sent a notice to it now.
    /// An empty audience counts zero rather than failing, so a picker can show "0" while
    /// the sender is still choosing; unknown ids are refused as sending would refuse them.
    pub async fn preview_audience(
        &self,
        caller: &Caller,
        input: &AudienceInput,
    ) -> Result<AudiencePreview> {
        if input.members.is_empty() && input.departments.is_empty() {
            return Ok(AudiencePreview::default());
        }
        let audience = Audience::parse(input)?;
        let (tree, named) = self.check_audience(caller, &audience).await?;
        let expanded = tree.subtrees(&audience.departments);
        let mut reached: HashSet<MemberId> = HashSet::new();
        for department in &expanded {
            let mut after = None;
            loop {
                let filter = MemberFilter {
                    department_id: Some(*department),
                    query: None,
                };
                let page = self
                    .storage()
                    .members(caller.org_id(), &filter, Page { limit: PAGE, after })
                    .await?;
                let n = page.len();
                after = page.last().map(|m| m.id.0);
                reached.extend(page.into_iter().filter(|m| m.active).map(|m| m.id));
                if n < PAGE as usize {
                    break;
                }
            }
        }
        // Only active members of the organisation count, exactly as at sending.
        reached.extend(named);
        reached.remove(&caller.id());
        Ok(AudiencePreview {
            recipients: reached.len() as u64,
            departments: expanded.len() as u64,
        })
    }
}
