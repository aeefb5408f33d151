//! Sending rights: who may send notices, to which part of the organisation, at which
//! priority and with which tracking.
//!
//! Admins may send anything to anyone. Everyone else gets the widest of the grants that
//! apply to them: the one for staff (people who manage nobody), the one for managers
//! (people who are someone's manager), and the grants of the departments they belong to
//! (a department's grant covers its sub-departments: HR, internal communications). A new
//! organisation starts with staff sending nothing, managers sending to their own
//! department and below, and no department grants.

use crate::FieldError;
use crate::audience::Audience;
use crate::department::DepartmentTree;
use crate::ids::{DepartmentId, MemberId};
use crate::member::Role;
use crate::message::{Priority, Tracking};

/// Where a sender's notices may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reach {
    /// Nowhere: the person sends nothing.
    Nobody,
    /// Their own department and the departments below it, and the people in them.
    OwnDepartment,
    /// Anyone in the organisation.
    Everyone,
}

impl Reach {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Reach::Nobody => "nobody",
            Reach::OwnDepartment => "own_department",
            Reach::Everyone => "everyone",
        }
    }

    /// Parses the wire name.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        match raw {
            "nobody" => Ok(Self::Nobody),
            "own_department" => Ok(Self::OwnDepartment),
            "everyone" => Ok(Self::Everyone),
            _ => Err(FieldError::invalid(
                field,
                format!(
                    "`{field}` must be \"nobody\", \"own_department\" or \"everyone\", got {raw:?}"
                ),
            )),
        }
    }
}

/// What one group of people may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// Where their notices may go.
    pub reach: Reach,
    /// The highest priority they may give a notice.
    pub max_priority: Priority,
    /// The most tracking they may ask for.
    pub max_tracking: Tracking,
}

impl Grant {
    /// Sends nothing.
    pub const NOTHING: Grant = Grant {
        reach: Reach::Nobody,
        max_priority: Priority::Normal,
        max_tracking: Tracking::Off,
    };

    /// Sends anything to anyone (admins).
    pub const EVERYTHING: Grant = Grant {
        reach: Reach::Everyone,
        max_priority: Priority::Urgent,
        max_tracking: Tracking::PerPerson,
    };

    /// What a manager may send by default: anything, to their own department and below.
    pub const OWN_DEPARTMENT: Grant = Grant {
        reach: Reach::OwnDepartment,
        max_priority: Priority::Urgent,
        max_tracking: Tracking::PerPerson,
    };

    /// The wider of two grants, part by part.
    pub fn widest(self, other: Grant) -> Grant {
        Grant {
            reach: self.reach.max(other.reach),
            max_priority: self.max_priority.max(other.max_priority),
            max_tracking: self.max_tracking.max(other.max_tracking),
        }
    }

    /// Whether it lets its holder send anything at all.
    pub fn may_send(&self) -> bool {
        self.reach != Reach::Nobody
    }
}

/// A grant to the people of one department and its sub-departments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DepartmentGrant {
    /// The department.
    pub department: DepartmentId,
    /// What its people may send.
    pub grant: Grant,
}

/// The organisation's sending rights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendingRights {
    /// People who manage nobody (store staff, drivers).
    pub staff: Grant,
    /// People who are someone's manager.
    pub managers: Grant,
    /// Departments whose people may send more (HR, communications).
    pub departments: Vec<DepartmentGrant>,
    /// The people, besides admins, who may send emergency notices (typhoon, safety).
    pub emergency_senders: Vec<MemberId>,
}

impl Default for SendingRights {
    fn default() -> Self {
        Self {
            staff: Grant::NOTHING,
            managers: Grant::OWN_DEPARTMENT,
            departments: Vec::new(),
            emergency_senders: Vec::new(),
        }
    }
}

/// A grant as written in a request.
#[derive(Debug, Clone, Default)]
pub struct GrantInput {
    /// `nobody`, `own_department` or `everyone`.
    pub reach: String,
    /// `normal`, `important` or `urgent`.
    pub max_priority: String,
    /// `off`, `aggregate` or `per_person`.
    pub max_tracking: String,
}

/// Sending rights as written in a request.
#[derive(Debug, Clone, Default)]
pub struct SendingRightsInput {
    /// For people who manage nobody.
    pub staff: GrantInput,
    /// For managers.
    pub managers: GrantInput,
    /// Department id and grant, per department.
    pub departments: Vec<(String, GrantInput)>,
    /// Member ids of the people who may send emergencies.
    pub emergency_senders: Vec<String>,
}

impl Grant {
    /// Parses a grant, naming `{field}.reach` and so on on error.
    pub fn parse(field: &str, input: &GrantInput) -> Result<Self, FieldError> {
        Ok(Grant {
            reach: Reach::parse(&format!("{field}.reach"), &input.reach)?,
            max_priority: Priority::parse(&format!("{field}.max_priority"), &input.max_priority)?,
            max_tracking: Tracking::parse(&format!("{field}.max_tracking"), &input.max_tracking)?,
        })
    }
}

impl SendingRights {
    /// Parses the rights of a request (`sending_rights.…` names a bad part); the
    /// departments still need [`SendingRights::check_departments`] against the directory.
    pub fn parse(input: &SendingRightsInput) -> Result<Self, FieldError> {
        let departments = input
            .departments
            .iter()
            .enumerate()
            .map(|(i, (id, grant))| {
                let field = format!("sending_rights.departments[{i}]");
                Ok(DepartmentGrant {
                    department: DepartmentId::parse(&format!("{field}.department_id"), id)?,
                    grant: Grant::parse(&field, grant)?,
                })
            })
            .collect::<Result<Vec<_>, FieldError>>()?;
        let mut emergency_senders = Vec::new();
        for (i, raw) in input.emergency_senders.iter().enumerate() {
            let id = MemberId::parse(&format!("sending_rights.emergency_senders[{i}]"), raw)?;
            if !emergency_senders.contains(&id) {
                emergency_senders.push(id);
            }
        }
        Ok(SendingRights {
            staff: Grant::parse("sending_rights.staff", &input.staff)?,
            managers: Grant::parse("sending_rights.managers", &input.managers)?,
            departments,
            emergency_senders,
        })
    }
}

/// Most department grants an organisation may list.
pub const MAX_DEPARTMENT_GRANTS: usize = 200;

/// Who is sending, as far as the rights care.
#[derive(Debug, Clone, Copy)]
pub struct Sender {
    /// Their role.
    pub role: Role,
    /// Their department.
    pub department: DepartmentId,
    /// Whether anyone active names them as manager.
    pub manages_anyone: bool,
}

/// Why a notice may not be sent: a message for the sender and the field it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The request field at fault (`priority`, `audience.departments[2]`, …).
    pub field: String,
    /// What the sender may do instead.
    pub message: String,
}

impl SendingRights {
    /// Rights under which everyone may send anything (what organisations created before
    /// sending rights existed keep until an admin narrows them).
    pub fn everyone_sends_everything() -> Self {
        Self {
            staff: Grant::EVERYTHING,
            managers: Grant::EVERYTHING,
            departments: Vec::new(),
            emergency_senders: Vec::new(),
        }
    }

    /// Whether `sender` may mark a notice as an emergency: admins, and the people named.
    pub fn may_send_emergency(&self, sender: MemberId, role: Role) -> bool {
        role == Role::Admin || self.emergency_senders.contains(&sender)
    }

    /// What `sender` may send.
    pub fn grant_for(&self, sender: &Sender, tree: &DepartmentTree) -> Grant {
        if sender.role == Role::Admin {
            return Grant::EVERYTHING;
        }
        let mut grant = self.staff;
        if sender.manages_anyone {
            grant = grant.widest(self.managers);
        }
        for d in &self.departments {
            if tree.is_within(sender.department, d.department) {
                grant = grant.widest(d.grant);
            }
        }
        grant
    }

    /// Checks the emergency senders against the directory: `known` holds those of them
    /// that are members of the organisation; anyone else is refused by position.
    pub fn check_emergency_senders(&self, known: &[MemberId]) -> Result<(), FieldError> {
        match self
            .emergency_senders
            .iter()
            .position(|m| !known.contains(m))
        {
            Some(i) => {
                let field = format!("sending_rights.emergency_senders[{i}]");
                Err(FieldError::invalid(
                    &field,
                    format!(
                        "`{field}` {} is not a member of this organisation",
                        self.emergency_senders[i]
                    ),
                ))
            }
            None => Ok(()),
        }
    }

    /// Checks the department grants against the directory: each names an existing
    /// department, at most once.
    pub fn check_departments(&self, tree: &DepartmentTree) -> Result<(), FieldError> {
        if self.departments.len() > MAX_DEPARTMENT_GRANTS {
            return Err(FieldError::invalid(
                "sending_rights.departments",
                format!(
                    "`sending_rights.departments` may list at most {MAX_DEPARTMENT_GRANTS} departments"
                ),
            ));
        }
        for (i, d) in self.departments.iter().enumerate() {
            let field = format!("sending_rights.departments[{i}].department_id");
            if !tree.contains(d.department) {
                return Err(FieldError::invalid(
                    &field,
                    format!(
                        "`{field}` {} is not a department of this organisation",
                        d.department
                    ),
                ));
            }
            if self.departments[..i]
                .iter()
                .any(|e| e.department == d.department)
            {
                return Err(FieldError::invalid(
                    &field,
                    format!("`{field}` {} is listed twice", d.department),
                ));
            }
        }
        Ok(())
    }
}

/// Checks a notice against what its sender may send. `member_departments` gives the
/// department of each member the audience names, in the audience's order.
pub fn check_notice(
    grant: &Grant,
    sender_department: DepartmentId,
    tree: &DepartmentTree,
    priority: Priority,
    tracking: Tracking,
    audience: &Audience,
    member_departments: &[DepartmentId],
) -> Result<(), Refusal> {
    if !grant.may_send() {
        return Err(Refusal {
            field: "audience".into(),
            message: "you may not send notices in this organisation; an administrator can give you sending rights".into(),
        });
    }
    if priority > grant.max_priority {
        return Err(Refusal {
            field: "priority".into(),
            message: format!(
                "you may send notices up to priority \"{}\"; `priority` \"{}\" is above it",
                grant.max_priority.as_str(),
                priority.as_str()
            ),
        });
    }
    if tracking > grant.max_tracking {
        return Err(Refusal {
            field: "tracking".into(),
            message: format!(
                "you may ask for tracking up to \"{}\"; `tracking` \"{}\" is above it",
                grant.max_tracking.as_str(),
                tracking.as_str()
            ),
        });
    }
    if grant.reach == Reach::OwnDepartment {
        let inside = |d: DepartmentId| tree.is_within(d, sender_department);
        let own = tree
            .get(sender_department)
            .map(|d| d.name.clone())
            .unwrap_or_default();
        let outside = |field: String| Refusal {
            message: format!(
                "you may send only to your own department ({own}) and the departments below it; `{field}` is outside it"
            ),
            field,
        };
        if let Some(i) = audience.departments.iter().position(|d| !inside(*d)) {
            return Err(outside(format!("audience.departments[{i}]")));
        }
        if let Some(i) = member_departments.iter().position(|d| !inside(*d)) {
            return Err(outside(format!("audience.members[{i}]")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::department::Department;
    use crate::ids::DepartmentId;

    fn dept(id: i64, parent: Option<i64>, name: &str) -> Department {
        Department {
            id: DepartmentId(id),
            name: name.into(),
            parent_id: parent.map(DepartmentId),
        }
    }

    /// Company (1) → Retail (2) → Kowloon store (3); Company → HR (4).
    fn tree() -> DepartmentTree {
        DepartmentTree::new([
            dept(1, None, "Company"),
            dept(2, Some(1), "Retail"),
            dept(3, Some(2), "Kowloon store"),
            dept(4, Some(1), "HR"),
        ])
    }

    fn sender(role: Role, department: i64, manages_anyone: bool) -> Sender {
        Sender {
            role,
            department: DepartmentId(department),
            manages_anyone,
        }
    }

    fn audience(departments: &[i64]) -> Audience {
        Audience {
            members: vec![],
            departments: departments.iter().copied().map(DepartmentId).collect(),
        }
    }

    #[test]
    fn the_defaults_let_staff_send_nothing_managers_their_subtree_and_admins_everything() {
        let rights = SendingRights::default();
        let t = tree();
        let clerk = rights.grant_for(&sender(Role::Member, 3, false), &t);
        assert_eq!(clerk, Grant::NOTHING);
        let auditor = rights.grant_for(&sender(Role::Auditor, 4, false), &t);
        assert_eq!(auditor, Grant::NOTHING);
        let manager = rights.grant_for(&sender(Role::Member, 2, true), &t);
        assert_eq!(manager, Grant::OWN_DEPARTMENT);
        let admin = rights.grant_for(&sender(Role::Admin, 3, false), &t);
        assert_eq!(admin, Grant::EVERYTHING);

        let urgent = |grant: &Grant, from: i64, to: &[i64]| {
            check_notice(
                grant,
                DepartmentId(from),
                &t,
                Priority::Urgent,
                Tracking::PerPerson,
                &audience(to),
                &[],
            )
        };
        assert_eq!(
            urgent(&clerk, 3, &[3]).unwrap_err().field,
            "audience",
            "a clerk may not even send to their own store"
        );
        assert!(urgent(&manager, 2, &[2, 3]).is_ok(), "their own subtree");
        let refused = urgent(&manager, 2, &[3, 1]).unwrap_err();
        assert_eq!(refused.field, "audience.departments[1]");
        assert!(refused.message.contains("Retail"), "{refused:?}");
        assert!(urgent(&admin, 3, &[1]).is_ok());
    }

    #[test]
    fn a_department_grant_covers_its_subtree_and_widens_part_by_part() {
        let t = tree();
        let rights = SendingRights {
            staff: Grant {
                reach: Reach::OwnDepartment,
                max_priority: Priority::Normal,
                max_tracking: Tracking::Aggregate,
            },
            managers: Grant::OWN_DEPARTMENT,
            departments: vec![DepartmentGrant {
                department: DepartmentId(4),
                grant: Grant {
                    reach: Reach::Everyone,
                    max_priority: Priority::Important,
                    max_tracking: Tracking::Off,
                },
            }],
            emergency_senders: vec![],
        };
        let hr = rights.grant_for(&sender(Role::Member, 4, false), &t);
        assert_eq!(
            hr,
            Grant {
                reach: Reach::Everyone,
                max_priority: Priority::Important,
                max_tracking: Tracking::Aggregate,
            }
        );
        let check = |p, tr| check_notice(&hr, DepartmentId(4), &t, p, tr, &audience(&[1]), &[]);
        assert!(check(Priority::Important, Tracking::Aggregate).is_ok());
        assert_eq!(
            check(Priority::Urgent, Tracking::Aggregate)
                .unwrap_err()
                .field,
            "priority"
        );
        assert_eq!(
            check(Priority::Normal, Tracking::PerPerson)
                .unwrap_err()
                .field,
            "tracking"
        );
        // A member named outside the subtree is refused by position.
        let staff = rights.grant_for(&sender(Role::Member, 3, false), &t);
        let named = Audience {
            members: vec![crate::ids::MemberId(7), crate::ids::MemberId(8)],
            departments: vec![],
        };
        let refused = check_notice(
            &staff,
            DepartmentId(3),
            &t,
            Priority::Normal,
            Tracking::Off,
            &named,
            &[DepartmentId(3), DepartmentId(4)],
        )
        .unwrap_err();
        assert_eq!(refused.field, "audience.members[1]");
    }

    #[test]
    fn department_grants_must_name_known_departments_once() {
        let t = tree();
        let grant = |d| DepartmentGrant {
            department: DepartmentId(d),
            grant: Grant::EVERYTHING,
        };
        let mut rights = SendingRights {
            departments: vec![grant(4), grant(9)],
            ..SendingRights::default()
        };
        assert_eq!(
            rights.check_departments(&t).unwrap_err().field,
            "sending_rights.departments[1].department_id"
        );
        rights.departments = vec![grant(4), grant(4)];
        assert!(rights.check_departments(&t).is_err());
        rights.departments = vec![grant(4), grant(2)];
        assert!(rights.check_departments(&t).is_ok());
    }
}
