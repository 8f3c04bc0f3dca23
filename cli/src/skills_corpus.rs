//! `keel skills import` and `keel skills export --portable`: reading the platform's corpus as
//! it is, and writing a copy any Agent Skills host accepts.

use std::path::Path;

use keel::skills::{ImportStatus, export_portable, import_report};

use crate::output::{Ctx, Done, print_json};
use crate::skills::{progress_bar, refuse_errors};

/// Runs `work` with a `progress(done, total)` that drives a bar on a terminal (none with
/// `--json`), and clears the bar after.
fn with_progress<T>(json: bool, work: impl FnOnce(&mut dyn FnMut(usize, usize)) -> T) -> T {
    let bar = progress_bar(json);
    let result = work(&mut |done, total| {
        if let Some(bar) = &bar {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    result
}

/// `keel skills import PATH`: a table of the files with a finding, then the totals.
pub fn import(ctx: &Ctx, path: &Path) -> Done {
    let report = with_progress(ctx.json, |progress| import_report(path, progress))?;
    if ctx.json {
        print_json(&report);
        return Ok(());
    }
    println!("{:<8} {:<40} {:<8} why", "status", "skill", "ns");
    for file in report
        .files
        .iter()
        .filter(|f| f.status != ImportStatus::Loads)
    {
        let codes: Vec<String> = file
            .codes
            .iter()
            .map(|(code, n)| match n {
                1 => (*code).to_owned(),
                n => format!("{code} ×{n}"),
            })
            .collect();
        let skill = file.key.clone().unwrap_or_else(|| file.file.clone());
        println!(
            "{:<8} {:<40} {:<8} {}",
            file.status.as_str(),
            skill,
            file.namespace.unwrap_or("-"),
            codes.join(", ")
        );
    }
    let totals: Vec<String> = report
        .codes
        .iter()
        .map(|(code, n)| format!("{code} {n}"))
        .collect();
    println!(
        "{}: {} file(s): {} load, {} warned, {} refused{}",
        path.display(),
        report.files.len(),
        report.loads,
        report.warned,
        report.refused,
        if totals.is_empty() {
            String::new()
        } else {
            format!(" ({})", totals.join(", "))
        }
    );
    Ok(())
}

/// `keel skills export --portable PATH OUT`: every change, then what was written.
pub fn export(ctx: &Ctx, path: &Path, out: &Path) -> Done {
    let report = with_progress(ctx.json, |progress| export_portable(path, out, progress))?;
    if ctx.json {
        print_json(&report);
    } else {
        for change in &report.changes {
            println!("{}: {}: {}", change.file, change.code, change.message);
        }
        for finding in report.skipped.iter().chain(&report.diagnostics) {
            println!("{finding}");
        }
        println!(
            "{}: wrote {} skill(s), {} file(s), {} change(s), {} finding(s) skipped",
            out.display(),
            report.skills,
            report.files,
            report.changes.len(),
            report.skipped.len()
        );
    }
    refuse_errors(
        report
            .skipped
            .into_iter()
            .chain(report.diagnostics)
            .collect(),
    )
}
