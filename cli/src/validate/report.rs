// SPDX-License-Identifier: MPL-2.0
//! What the validator found: findings (each an error or a warning, with the file it is about
//! and what is wrong), counts of what was checked, and the verdict.

use serde::Serialize;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The output is not sound (or, comparing two, not interchangeable).
    Error,
    /// Worth knowing; does not make the output invalid (e.g. a check that could not run).
    Warning,
}

/// One thing found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// The check that found it, e.g. `hls-pdt`, `storage-sha256`, `compare-manifest`.
    pub check: String,
    /// The file it is about, relative to the directory.
    pub file: String,
    pub message: String,
}

/// What was looked at.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub playlists: usize,
    pub mpds: usize,
    pub segments: usize,
    pub storage_entries: usize,
}

/// The validator's answer for one directory, or for two compared.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub directories: Vec<String>,
    pub counts: Counts,
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn new(directories: Vec<String>) -> Report {
        Report {
            directories,
            ..Report::default()
        }
    }

    pub fn error(&mut self, check: &str, file: &str, message: impl Into<String>) {
        self.findings.push(Finding {
            severity: Severity::Error,
            check: check.to_owned(),
            file: file.to_owned(),
            message: message.into(),
        });
    }

    pub fn warning(&mut self, check: &str, file: &str, message: impl Into<String>) {
        self.findings.push(Finding {
            severity: Severity::Warning,
            check: check.to_owned(),
            file: file.to_owned(),
            message: message.into(),
        });
    }

    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
    }

    /// No error.
    pub fn passed(&self) -> bool {
        self.errors().next().is_none()
    }

    /// True when some error came from check `check`.
    pub fn has(&self, check: &str) -> bool {
        self.errors().any(|f| f.check == check)
    }

    /// One line: VALID or INVALID, what was checked, and the first error.
    pub fn verdict_line(&self) -> String {
        let what = format!(
            "{} playlist(s), {} MPD(s), {} segment(s), {} storage entries",
            self.counts.playlists,
            self.counts.mpds,
            self.counts.segments,
            self.counts.storage_entries
        );
        let subject = if self.directories.len() == 2 {
            format!(
                "{} and {} are interchangeable",
                self.directories[0], self.directories[1]
            )
        } else {
            self.directories
                .first()
                .map(String::as_str)
                .unwrap_or("")
                .to_string()
        };
        match self.errors().next() {
            None => format!("VALID: {subject} ({what})"),
            Some(first) => {
                let more = self.errors().count() - 1;
                let subject = if self.directories.len() == 2 {
                    format!(
                        "{} and {} are not interchangeable",
                        self.directories[0], self.directories[1]
                    )
                } else {
                    subject
                };
                format!(
                    "INVALID: {subject}: {} [{}] {}{}",
                    first.file,
                    first.check,
                    first.message,
                    if more > 0 {
                        format!(" (and {more} more)")
                    } else {
                        String::new()
                    }
                )
            }
        }
    }
}
