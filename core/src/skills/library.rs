//! A folder of skills validated as a whole, in either layout:
//! - Keel's, `<root>/<namespace>/<key>/SKILL.md`: the folder decides the namespace (a
//!   `namespace` in the file that disagrees is an error);
//! - the platform corpus's, `<root>/atomic/<key>/SKILL.md` and `<root>/sequences/<key>/SKILL.md`:
//!   the file's `namespace` (top level or `metadata`) decides, default `shared`, and a skill
//!   under `sequences/` is a sequence.
//!
//! Beyond each file's own findings: keys are unique across the library, sequences and
//! `@skill/…` references name skills that exist, and sequences do not run in a cycle;
//! `linked_skills` and `deprecated_by` naming no skill of the library are warnings.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::format::{
    Diagnostic, Namespace, ParseOptions, Severity, SkillDoc, SkillType, parse_with, references,
};

/// A skill of a library, with where it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LibrarySkill {
    /// The namespace (its folder).
    pub namespace: Namespace,
    /// The SKILL.md path.
    pub path: PathBuf,
    /// The file's bytes, for content hashing.
    #[serde(skip)]
    pub content: Vec<u8>,
    /// The parsed skill.
    pub doc: SkillDoc,
    /// Its documents for `@name/doc` inclusion: `references/*.md`, by file name.
    pub documents: BTreeMap<String, String>,
}

impl LibrarySkill {
    /// The version identity: SHA-256 (hex) of the SKILL.md bytes and every document (name and
    /// text, in name order). Any edit to either is a new version.
    pub fn content_hash(&self) -> String {
        content_hash(&self.content, &self.documents)
    }
}

/// The version identity of a SKILL.md and its documents (see [`LibrarySkill::content_hash`]).
/// Each part is hashed after its length, so no two different sets of files give the same
/// input (a NUL inside a file cannot pass for a separator).
pub fn content_hash(skill_md: &[u8], documents: &BTreeMap<String, String>) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    let mut part = |bytes: &[u8]| {
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    part(skill_md);
    for (name, text) in documents {
        part(name.as_bytes());
        part(text.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A library and every finding in it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Library {
    /// Skills that parsed without error, ordered by namespace then name.
    pub skills: Vec<LibrarySkill>,
    /// Every finding, file by file.
    pub diagnostics: Vec<Diagnostic>,
}

impl Library {
    /// True when a finding is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }

    /// The skills no error finding names: a skill with an error found across the library (a
    /// missing reference, a cycle, a duplicate key) parsed, but is left out like a file that
    /// did not. What `sync` with `force` and `export` write.
    pub fn error_free(&self) -> impl Iterator<Item = &LibrarySkill> {
        self.skills.iter().filter(|s| {
            let file = s.path.display().to_string();
            !self
                .diagnostics
                .iter()
                .any(|d| d.severity == Severity::Error && d.file == file)
        })
    }
}

fn library_error(
    file: &Path,
    code: &'static str,
    field: Option<&str>,
    message: String,
) -> Diagnostic {
    Diagnostic {
        code,
        severity: Severity::Error,
        file: file.display().to_string(),
        line: 0,
        column: 0,
        field: field.map(str::to_owned),
        message,
    }
}

fn is_symlink(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

fn symlink_refused(path: &Path) -> Diagnostic {
    library_error(
        path,
        "symlink",
        None,
        "symbolic links are not followed in a skill library: a link could bring any file of \
         the machine into every org's prompt"
            .into(),
    )
}

/// The bytes of a library file: refused when it is a symbolic link or larger than a SKILL.md
/// may be.
fn read_file(path: &Path) -> std::result::Result<Vec<u8>, Diagnostic> {
    // One `lstat` answers both questions: a link, and how large.
    let meta = std::fs::symlink_metadata(path)
        .map_err(|e| library_error(path, "missing_file", None, e.to_string()))?;
    if meta.file_type().is_symlink() {
        return Err(symlink_refused(path));
    }
    let size = meta.len();
    if size > super::format::MAX_FILE_BYTES as u64 {
        return Err(library_error(
            path,
            "file_too_large",
            None,
            format!(
                "{size} bytes; the limit is {}",
                super::format::MAX_FILE_BYTES
            ),
        ));
    }
    std::fs::read(path).map_err(|e| library_error(path, "missing_file", None, e.to_string()))
}

/// The two layouts a library folder may use (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// `<namespace>/<key>/`: the folder names the namespace.
    Namespace(Namespace),
    /// `atomic/<key>/` or `sequences/<key>/` (`true`): the file names the namespace.
    Corpus(bool),
}

/// Reads and validates every SKILL.md of a library in either layout (see the module docs).
/// Symbolic links inside the library (folders, SKILL.md files, documents) are refused with
/// code `symlink`: nothing outside the folder can be read into a prompt.
///
/// # Errors
/// [`crate::Error::InvalidInput`] naming `root` when it cannot be read.
pub fn load_library(root: &Path) -> crate::Result<Library> {
    load_library_with(root, ParseOptions::default(), |_, _| {})
}

/// [`load_library`] with parse options (`portable`), calling `progress(done, total)` after each
/// skill folder.
///
/// # Errors
/// As [`load_library`].
pub fn load_library_with(
    root: &Path,
    options: ParseOptions,
    mut progress: impl FnMut(usize, usize),
) -> crate::Result<Library> {
    let mut library = Library::default();
    let read = |dir: &Path, diagnostics: &mut Vec<Diagnostic>| -> crate::Result<Vec<PathBuf>> {
        let mut entries = Vec::new();
        let listing = std::fs::read_dir(dir)
            .map_err(|e| crate::Error::invalid_input("root", format!("{}: {e}", dir.display())))?;
        // The listing's own file types: no `stat` per entry.
        for entry in listing.filter_map(std::result::Result::ok) {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_symlink() {
                diagnostics.push(symlink_refused(&entry.path()));
            } else if kind.is_dir() {
                entries.push(entry.path());
            }
        }
        entries.sort();
        Ok(entries)
    };
    let mut folders = Vec::new();
    for top in read(root, &mut library.diagnostics)? {
        let top_name = top.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let layout = match (Namespace::from_name(top_name), top_name) {
            (Some(namespace), _) => Layout::Namespace(namespace),
            (None, "atomic") => Layout::Corpus(false),
            (None, "sequences") => Layout::Corpus(true),
            (None, _) => {
                library.diagnostics.push(library_error(
                    &top,
                    "invalid_namespace",
                    None,
                    format!(
                        "`{top_name}` is neither a namespace folder (copilot, slack, fleet, shared) \
                         nor `atomic` or `sequences`"
                    ),
                ));
                continue;
            }
        };
        for skill_dir in read(&top, &mut library.diagnostics)? {
            folders.push((layout, skill_dir));
        }
    }
    let total = folders.len();
    for (done, (layout, skill_dir)) in folders.into_iter().enumerate() {
        if let Some(skill) = load_skill(&mut library.diagnostics, layout, &skill_dir, options) {
            library.skills.push(skill);
        }
        progress(done + 1, total);
    }
    library.skills.sort_by(|a, b| {
        (a.namespace.as_str(), &a.doc.name).cmp(&(b.namespace.as_str(), &b.doc.name))
    });
    check_references(&mut library);
    Ok(library)
}

/// One skill folder: its SKILL.md parsed and placed, and its documents.
fn load_skill(
    diagnostics: &mut Vec<Diagnostic>,
    layout: Layout,
    skill_dir: &Path,
    options: ParseOptions,
) -> Option<LibrarySkill> {
    let path = skill_dir.join("SKILL.md");
    let folder = skill_dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let content = read_file(&path).map_err(|d| diagnostics.push(d)).ok()?;
    let parsed = parse_with(&path.display().to_string(), Some(folder), &content, options);
    diagnostics.extend(parsed.diagnostics);
    let mut doc = parsed.skill?;
    let namespace = match layout {
        Layout::Namespace(namespace) => {
            if doc.namespace.is_some_and(|ns| ns != namespace) {
                diagnostics.push(library_error(
                    &path,
                    "namespace_mismatch",
                    Some("namespace"),
                    format!(
                        "the file says `{}` but sits in `{}/`",
                        doc.namespace.map_or("", |n| n.as_str()),
                        namespace.as_str()
                    ),
                ));
                return None;
            }
            namespace
        }
        Layout::Corpus(sequences) => {
            if sequences {
                doc.meta.skill_type = SkillType::Sequence;
            }
            doc.namespace.unwrap_or(Namespace::Shared)
        }
    };
    let documents = read_documents(skill_dir, diagnostics);
    Some(LibrarySkill {
        namespace,
        path,
        content,
        doc,
        documents,
    })
}

/// `<skill>/references/*.md`, by file name. A document that is not UTF-8 is reported and left
/// out.
fn read_documents(skill_dir: &Path, diagnostics: &mut Vec<Diagnostic>) -> BTreeMap<String, String> {
    let mut documents = BTreeMap::new();
    let folder = skill_dir.join("references");
    if is_symlink(&folder) {
        diagnostics.push(symlink_refused(&folder));
        return documents;
    }
    let Ok(entries) = std::fs::read_dir(&folder) else {
        return documents;
    };
    for entry in entries.filter_map(std::result::Result::ok) {
        let path = entry.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let linked_or_file = entry
            .file_type()
            .is_ok_and(|t| t.is_symlink() || t.is_file());
        if !name.ends_with(".md") || !linked_or_file {
            continue;
        }
        match read_file(&path).map(String::from_utf8) {
            Ok(Ok(text)) if text.contains('\0') => diagnostics.push(library_error(
                &path,
                "nul_character",
                None,
                "the document holds a NUL character (U+0000)".into(),
            )),
            Ok(Ok(text)) => {
                documents.insert(name.to_owned(), text);
            }
            Ok(Err(_)) => diagnostics.push(library_error(
                &path,
                "not_utf8",
                None,
                "the document is not UTF-8".into(),
            )),
            Err(diagnostic) => diagnostics.push(diagnostic),
        }
    }
    documents
}

fn check_references(library: &mut Library) {
    let mut by_name: HashMap<&str, &LibrarySkill> = HashMap::new();
    let mut findings = Vec::new();
    for skill in &library.skills {
        if let Some(first) = by_name.insert(&skill.doc.name, skill) {
            findings.push(library_error(
                &skill.path,
                "duplicate_name",
                Some("name"),
                format!("`{}` is also {}", skill.doc.name, first.path.display()),
            ));
        }
    }
    for skill in &library.skills {
        for name in &skill.doc.sequence {
            if !by_name.contains_key(name.as_str()) {
                findings.push(library_error(
                    &skill.path,
                    "missing_reference",
                    Some("metadata.sequence"),
                    format!("`{name}` is not a skill of this library"),
                ));
            }
        }
        let linked = skill.doc.meta.linked_skills.iter();
        for (field, name) in linked.map(|n| ("metadata.linked_skills", n)).chain(
            skill
                .doc
                .meta
                .deprecated_by
                .iter()
                .map(|n| ("metadata.deprecated_by", n)),
        ) {
            if !by_name.contains_key(name.as_str()) {
                let mut finding = library_error(
                    &skill.path,
                    "missing_reference",
                    Some(field),
                    format!("`{name}` is not a skill of this library"),
                );
                finding.severity = Severity::Warning;
                findings.push(finding);
            }
        }
        for (name, doc) in references(&skill.doc.body) {
            let message = match by_name.get(name) {
                None => format!("`{name}` is not a skill of this library"),
                Some(target) if !target.documents.contains_key(doc) => {
                    format!("`{name}` has no document `references/{doc}`")
                }
                Some(_) => continue,
            };
            findings.push(library_error(
                &skill.path,
                "missing_reference",
                Some("body"),
                message,
            ));
        }
    }
    // Sequences form a graph; a cycle would run forever.
    let graph: BTreeMap<&str, &[String]> = library
        .skills
        .iter()
        .map(|s| (s.doc.name.as_str(), s.doc.sequence.as_slice()))
        .collect();
    let mut state: HashMap<&str, u8> = HashMap::new(); // 1 = on the path, 2 = done
    for start in graph.keys() {
        let mut stack: Vec<(&str, usize)> = vec![(start, 0)];
        while let Some((node, next)) = stack.pop() {
            if next == 0 {
                if state.get(node) == Some(&2) {
                    continue;
                }
                state.insert(node, 1);
            }
            let children = graph.get(node).copied().unwrap_or_default();
            if let Some(child) = children.get(next) {
                stack.push((node, next + 1));
                match state.get(child.as_str()) {
                    Some(1) => {
                        if let Some(skill) = by_name.get(node) {
                            findings.push(library_error(
                                &skill.path,
                                "sequence_cycle",
                                Some("metadata.sequence"),
                                format!("`{node}` runs `{child}`, which leads back to `{node}`"),
                            ));
                        }
                    }
                    Some(_) => {}
                    None if graph.contains_key(child.as_str()) => stack.push((child.as_str(), 0)),
                    None => {}
                }
            } else {
                state.insert(node, 2);
            }
        }
    }
    library.diagnostics.extend(findings);
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::content_hash;

    fn docs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect()
    }

    #[test]
    fn the_version_identity_is_stable_and_sees_every_byte() {
        let base = content_hash(b"---\nname: a\n---\n", &docs(&[("x.md", "one")]));
        assert_eq!(base.len(), 64);
        assert_eq!(
            base,
            content_hash(b"---\nname: a\n---\n", &docs(&[("x.md", "one")]))
        );
        for other in [
            content_hash(b"---\nname: a\n---\n ", &docs(&[("x.md", "one")])),
            content_hash(b"---\nname: a\n---\n", &docs(&[("x.md", "one ")])),
            content_hash(b"---\nname: a\n---\n", &docs(&[("y.md", "one")])),
            content_hash(b"---\nname: a\n---\n", &docs(&[])),
        ] {
            assert_ne!(base, other);
        }
    }

    #[test]
    fn no_two_sets_of_files_share_an_identity() {
        // Each pair would be the same bytes if the parts were only joined with separators.
        let pairs = [
            (
                content_hash(b"", &docs(&[("a", "b")])),
                content_hash(b"\0a\0b", &docs(&[])),
            ),
            (
                content_hash(b"s", &docs(&[("a", "x\0b\0y")])),
                content_hash(b"s", &docs(&[("a", "x"), ("b", "y")])),
            ),
            (
                content_hash(b"s", &docs(&[("ab", "")])),
                content_hash(b"s", &docs(&[("a", "b")])),
            ),
        ];
        for (one, other) in pairs {
            assert_ne!(one, other);
        }
    }
}
