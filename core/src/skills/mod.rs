//! Skills: the SKILL.md format and its validation.
//!
//! This is the first part of the skills capability: files are parsed and checked, each problem
//! reported with its line, column and a stable code. Versions, namespaces, org overrides,
//! compilation and sync build on [`SkillDoc`].

mod compile;
mod format;
mod library;

pub use compile::{Compiled, MAX_INCLUDE_DEPTH, compile, context_hash};
pub use format::{
    Diagnostic, MAX_DESCRIPTION, MAX_FILE_BYTES, MAX_FLOW_DEPTH, MAX_NAME, Namespace, Parsed,
    Priority, Severity, SkillDoc, Source, Trigger, parse, references,
};
pub use library::{Library, LibrarySkill, load_library};
