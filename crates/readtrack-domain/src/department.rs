//! The department tree: subtree expansion and `/`-separated paths.

use std::collections::{HashMap, HashSet};

use crate::FieldError;
use crate::ids::DepartmentId;

/// One department as the tree needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Department {
    /// Identity.
    pub id: DepartmentId,
    /// Display name, unique among its siblings.
    pub name: String,
    /// The parent, or `None` at the top.
    pub parent_id: Option<DepartmentId>,
}

/// An organisation's departments, indexed for walking down and up.
#[derive(Debug, Default)]
pub struct DepartmentTree {
    children: HashMap<Option<DepartmentId>, Vec<DepartmentId>>,
    by_id: HashMap<DepartmentId, Department>,
}

impl DepartmentTree {
    /// Builds the tree from a flat list.
    pub fn new(departments: impl IntoIterator<Item = Department>) -> Self {
        let mut tree = Self::default();
        for d in departments {
            tree.children.entry(d.parent_id).or_default().push(d.id);
            tree.by_id.insert(d.id, d);
        }
        tree
    }

    /// Whether the department exists.
    pub fn contains(&self, id: DepartmentId) -> bool {
        self.by_id.contains_key(&id)
    }

    /// A department by id.
    pub fn get(&self, id: DepartmentId) -> Option<&Department> {
        self.by_id.get(&id)
    }

    /// The departments in the subtrees rooted at `roots`, roots included, each once.
    /// Cycles (which the storage layer never creates) cannot loop forever.
    pub fn subtrees(&self, roots: &[DepartmentId]) -> Vec<DepartmentId> {
        let mut seen = HashSet::new();
        let mut stack: Vec<DepartmentId> = roots.to_vec();
        let mut out = Vec::new();
        while let Some(id) = stack.pop() {
            if !seen.insert(id) {
                continue;
            }
            out.push(id);
            if let Some(kids) = self.children.get(&Some(id)) {
                stack.extend(kids.iter().copied());
            }
        }
        out.sort();
        out
    }

    /// Whether `descendant` is `ancestor` or lies below it.
    pub fn is_within(&self, descendant: DepartmentId, ancestor: DepartmentId) -> bool {
        let mut cur = Some(descendant);
        let mut steps = 0;
        while let Some(id) = cur {
            if id == ancestor {
                return true;
            }
            steps += 1;
            if steps > self.by_id.len() {
                return false;
            }
            cur = self.by_id.get(&id).and_then(|d| d.parent_id);
        }
        false
    }

    /// Would making `parent` the parent of `child` create a cycle?
    pub fn would_cycle(&self, child: DepartmentId, parent: DepartmentId) -> bool {
        self.is_within(parent, child)
    }

    /// The department at a `/`-separated path of names, if it exists.
    pub fn find_path(&self, path: &[String]) -> Option<DepartmentId> {
        let mut parent = None;
        for name in path {
            let kids = self.children.get(&parent)?;
            parent = Some(
                *kids
                    .iter()
                    .find(|id| self.by_id[*id].name.eq_ignore_ascii_case(name))?,
            );
        }
        parent
    }

    /// The `/`-separated path of a department (`Logistics/Kwai Chung Warehouse`).
    pub fn path_of(&self, id: DepartmentId) -> String {
        let mut names = Vec::new();
        let mut cur = Some(id);
        while let Some(d) = cur.and_then(|id| self.by_id.get(&id)) {
            names.push(d.name.as_str());
            if names.len() > self.by_id.len() {
                break;
            }
            cur = d.parent_id;
        }
        names.reverse();
        names.join("/")
    }

    /// All departments.
    pub fn all(&self) -> impl Iterator<Item = &Department> {
        self.by_id.values()
    }
}

/// Parses a `/`-separated department path (`Retail/Kowloon/Mong Kok`).
pub fn parse_path(field: &str, raw: &str) -> Result<Vec<String>, FieldError> {
    let parts: Vec<String> = raw.split('/').map(|p| p.trim().to_string()).collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(FieldError::invalid(
            field,
            format!(
                "`{field}` must be a `/`-separated department path without empty parts, got {raw:?}"
            ),
        ));
    }
    if parts.len() > 16 {
        return Err(FieldError::invalid(
            field,
            format!("`{field}` is nested deeper than 16 levels"),
        ));
    }
    parts
        .iter()
        .map(|p| crate::text::name(field, p))
        .collect::<Result<Vec<_>, _>>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dept(id: i64, name: &str, parent: Option<i64>) -> Department {
        Department {
            id: DepartmentId(id),
            name: name.into(),
            parent_id: parent.map(DepartmentId),
        }
    }

    fn sample() -> DepartmentTree {
        DepartmentTree::new([
            dept(1, "Retail", None),
            dept(2, "Kowloon", Some(1)),
            dept(3, "Mong Kok", Some(2)),
            dept(4, "Logistics", None),
        ])
    }

    #[test]
    fn a_subtree_includes_every_descendant_once() {
        let t = sample();
        assert_eq!(
            t.subtrees(&[DepartmentId(1), DepartmentId(2)]),
            vec![DepartmentId(1), DepartmentId(2), DepartmentId(3)]
        );
        assert_eq!(t.subtrees(&[DepartmentId(4)]), vec![DepartmentId(4)]);
    }

    #[test]
    fn paths_are_found_case_insensitively_and_printed() {
        let t = sample();
        let path = parse_path("department", "retail / kowloon/MONG KOK").unwrap();
        assert_eq!(t.find_path(&path), Some(DepartmentId(3)));
        assert_eq!(t.path_of(DepartmentId(3)), "Retail/Kowloon/Mong Kok");
        assert!(parse_path("department", "Retail//Kowloon").is_err());
    }

    #[test]
    fn moving_a_department_under_its_own_child_is_a_cycle() {
        let t = sample();
        assert!(t.would_cycle(DepartmentId(1), DepartmentId(3)));
        assert!(!t.would_cycle(DepartmentId(3), DepartmentId(4)));
        assert!(t.is_within(DepartmentId(3), DepartmentId(1)));
    }
}
