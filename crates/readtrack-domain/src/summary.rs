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
}

impl Summary {
    /// Recipients who have not read it yet.
    pub fn unread(&self) -> i64 {
        self.recipients - self.read
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
