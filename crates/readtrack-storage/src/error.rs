//! Storage errors: what callers must tell apart (missing, conflicting) and the rest.

use readtrack_domain::FieldError;

/// Why a storage call failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The thing asked for does not exist.
    #[error("not found: {0}")]
    NotFound(&'static str),
    /// A uniqueness rule was hit (an email, a department name, a second setup).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The request refers to something that does not fit (a department of another org).
    #[error("{0}")]
    Invalid(FieldError),
    /// The database failed.
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// The database failed to migrate.
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Stored data could not be read back (a bug or a hand-edited database).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}
