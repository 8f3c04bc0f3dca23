//! What a corpus would give Keel, file by file, before anything is synced: `keel skills
//! import`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::format::{Diagnostic, ParseOptions, Severity};
use super::library::load_library_with;
use crate::error::Result;

/// How one SKILL.md fares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ImportStatus {
    /// Loads with no finding.
    Loads,
    /// Loads, with warnings.
    Warned,
    /// Has an error: it would not sync.
    Refused,
}

impl ImportStatus {
    /// `loads`, `warned` or `refused`.
    pub fn as_str(self) -> &'static str {
        match self {
            ImportStatus::Loads => "loads",
            ImportStatus::Warned => "warned",
            ImportStatus::Refused => "refused",
        }
    }
}

/// One file of the corpus.
#[derive(Debug, Clone, Serialize)]
pub struct ImportFile {
    /// The file (or folder, for a finding about a folder).
    pub file: String,
    /// The skill key, when the file parsed.
    pub key: Option<String>,
    /// Its namespace, when the file parsed.
    pub namespace: Option<&'static str>,
    /// Loads, warned or refused.
    pub status: ImportStatus,
    /// Each finding's code with how many times it occurs, by code.
    pub codes: BTreeMap<&'static str, usize>,
    /// The findings themselves.
    pub diagnostics: Vec<Diagnostic>,
}

/// [`import_report`]'s result.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    /// Every file with a finding or a skill, in path order.
    pub files: Vec<ImportFile>,
    /// Files that load cleanly.
    pub loads: usize,
    /// Files that load with warnings.
    pub warned: usize,
    /// Files with an error.
    pub refused: usize,
    /// How many times each code occurs in the corpus.
    pub codes: BTreeMap<&'static str, usize>,
}

/// Reads the library at `root` (either layout) and reports each file: whether it loads, and
/// why it is warned or refused. `progress(done, total)` follows each skill folder.
///
/// # Errors
/// [`crate::Error::InvalidInput`] naming `root` when it cannot be read.
pub fn import_report(root: &Path, progress: impl FnMut(usize, usize)) -> Result<ImportReport> {
    let library = load_library_with(root, ParseOptions::default(), progress)?;
    let mut files: BTreeMap<String, ImportFile> = BTreeMap::new();
    for skill in &library.skills {
        let row = row(&mut files, &skill.path.display().to_string());
        row.key = Some(skill.doc.name.clone());
        row.namespace = Some(skill.namespace.as_str());
    }
    let mut report = ImportReport::default();
    for finding in library.diagnostics {
        let row = row(&mut files, &finding.file);
        *row.codes.entry(finding.code).or_default() += 1;
        *report.codes.entry(finding.code).or_default() += 1;
        row.status = match (row.status, finding.severity) {
            (_, Severity::Error) | (ImportStatus::Refused, _) => ImportStatus::Refused,
            _ => ImportStatus::Warned,
        };
        row.diagnostics.push(finding);
    }
    report.files = files.into_values().collect();
    for row in &report.files {
        match row.status {
            ImportStatus::Loads => report.loads += 1,
            ImportStatus::Warned => report.warned += 1,
            ImportStatus::Refused => report.refused += 1,
        }
    }
    Ok(report)
}

/// The row of `file`, added (loading cleanly, no key yet) the first time it is named.
fn row<'f>(files: &'f mut BTreeMap<String, ImportFile>, file: &str) -> &'f mut ImportFile {
    files.entry(file.to_owned()).or_insert_with(|| ImportFile {
        file: file.to_owned(),
        key: None,
        namespace: None,
        status: ImportStatus::Loads,
        codes: BTreeMap::new(),
        diagnostics: Vec::new(),
    })
}
