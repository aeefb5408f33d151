//! The counts a read board shows, kept incrementally by storage.

/// How many recipients reached each state. Counts are cumulative: an acknowledged
/// recipient also counts as delivered and read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Everyone the notice was sent to.
    pub recipients: i64,
    /// Recipients whose device has it.
    pub delivered: i64,
    /// Recipients who read it.
    pub read: i64,
    /// Recipients who confirmed it.
    pub acknowledged: i64,
    /// Recipients whose per-person data may not be shown to the viewer.
    pub hidden: i64,
    /// The tally of acknowledgement choices, in the notice's order (empty without choices).
    pub responses: Vec<(String, i64)>,
    /// The hidden recipients are fewer than the minimum group size, so nothing about
    /// them is counted: `delivered`, `read`, `acknowledged` and `responses` cover the
    /// people who may be shown, and the hidden ones are only in `recipients` and `hidden`.
    pub hidden_excluded: bool,
}

impl Summary {
    /// The recipients the counts cover: everyone, or only the people who may be shown
    /// when the hidden ones are too few to count ([`Summary::hidden_excluded`]). Shares
    /// of the counts (a progress bar, a percentage) are of this many.
    pub fn counted(&self) -> i64 {
        if self.hidden_excluded {
            self.recipients - self.hidden
        } else {
            self.recipients
        }
    }

    /// Recipients who have not read it yet (of those the counts cover).
    pub fn unread(&self) -> i64 {
        (self.counted() - self.read).max(0)
    }

    /// The summary with the states of hidden people left out, given the counts over the
    /// people who may be shown ([`ShownCounts`]).
    pub fn shown_only(&self, shown: &ShownCounts) -> Summary {
        Summary {
            recipients: self.recipients,
            delivered: shown.lines.iter().map(|l| l.delivered).sum(),
            read: shown.lines.iter().map(|l| l.read).sum(),
            acknowledged: shown.lines.iter().map(|l| l.acknowledged).sum(),
            hidden: self.hidden,
            responses: self
                .responses
                .iter()
                .map(|(label, _)| {
                    let n = shown
                        .responses
                        .iter()
                        .find(|(l, _)| l == label)
                        .map_or(0, |(_, n)| *n);
                    (label.clone(), n)
                })
                .collect(),
            hidden_excluded: true,
        }
    }
}

/// Counts over the recipients of a notice who may be shown, per department, for notices
/// whose hidden recipients are too few to count ([`Summary::hidden_excluded`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShownCounts {
    /// One line per department with a shown recipient.
    pub lines: Vec<ShownLine>,
    /// The tally of acknowledgement choices among them.
    pub responses: Vec<(String, i64)>,
}

/// Shown recipients of one department.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShownLine {
    /// The department.
    pub department_id: crate::ids::DepartmentId,
    /// Its name.
    pub name: String,
    /// Shown recipients in it.
    pub recipients: i64,
    /// Of them, delivered.
    pub delivered: i64,
    /// Of them, read.
    pub read: i64,
    /// Of them, acknowledged.
    pub acknowledged: i64,
}

impl ShownCounts {
    /// The department lines of the shown people.
    pub fn department_counts(&self) -> Vec<DepartmentCounts> {
        self.lines
            .iter()
            .map(|l| DepartmentCounts {
                department_id: l.department_id,
                name: l.name.clone(),
                recipients: l.recipients,
                read: l.read,
                acknowledged: l.acknowledged,
            })
            .collect()
    }
}

/// Per-department counts for a board.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepartmentCounts {
    /// The department the recipients belonged to when the notice was sent.
    pub department_id: crate::ids::DepartmentId,
    /// Its name.
    pub name: String,
    /// Recipients in it.
    pub recipients: i64,
    /// Of them, read.
    pub read: i64,
    /// Of them, acknowledged.
    pub acknowledged: i64,
}
