//! Every CSV the server writes goes through [`SpreadsheetCsv`], which neutralises each cell
//! a spreadsheet would run as a formula, so no export can forget to.

use std::borrow::Cow;

use crate::error::ApiError;

/// A CSV being written in memory.
pub struct SpreadsheetCsv {
    inner: csv::Writer<Vec<u8>>,
}

impl Default for SpreadsheetCsv {
    fn default() -> Self {
        Self::new()
    }
}

impl SpreadsheetCsv {
    /// An empty file.
    pub fn new() -> Self {
        Self {
            inner: csv::Writer::from_writer(Vec::new()),
        }
    }

    /// Appends one record; every field is neutralised.
    pub fn record<I, S>(&mut self, fields: I) -> Result<(), ApiError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let fields: Vec<String> = fields
            .into_iter()
            .map(|f| neutralised(f.as_ref()).into_owned())
            .collect();
        self.inner.write_record(&fields).map_err(internal)
    }

    /// The file's bytes.
    pub fn into_bytes(self) -> Result<Vec<u8>, ApiError> {
        self.inner
            .into_inner()
            .map_err(|e| internal(e.into_error().into()))
    }
}

fn internal(e: csv::Error) -> ApiError {
    ApiError::from(readtrack_service::ServiceError::internal(format!(
        "csv: {e}"
    )))
}

/// A cell a spreadsheet will not run as a formula: `=`, `+`, `-` and `@` lead a formula
/// (a tab or carriage return can hide one), so such a cell gets a leading `'`.
pub fn neutralised(s: &str) -> Cow<'_, str> {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{s}"))
    } else {
        Cow::Borrowed(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised_and_the_rest_kept() {
        let mut csv = SpreadsheetCsv::new();
        csv.record([
            "=HYPERLINK(\"x\")",
            "+1",
            "-2",
            "@SUM(A1)",
            "\t=1",
            "Kowloon",
            "0.5",
        ])
        .unwrap();
        let text = String::from_utf8(csv.into_bytes().unwrap()).unwrap();
        assert_eq!(
            text,
            "\"'=HYPERLINK(\"\"x\"\")\",'+1,'-2,'@SUM(A1),'\t=1,Kowloon,0.5\n"
        );
    }
}
