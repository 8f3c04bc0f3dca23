//! The mixed corpus token counts are checked and measured on: the repository's own Markdown,
//! Rust, SQL, JavaScript, TypeScript, Python and JSON (about 2.5 MB of prose and code), and
//! the pathological inputs (long runs of one character, CJK, emoji, combining marks).

use std::path::Path;

/// The repository's text files, in a stable order, concatenated.
pub fn mixed() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for dir in [
        "",
        "core/src",
        "core/src/llm",
        "core/src/memory",
        "core/src/models",
        "core/src/routing",
        "core/src/skills",
        "core/src/store",
        "core/src/telemetry",
        "migrations/postgres",
        "migrations/sqlite",
        "bindings-node",
        "bindings-node/src",
        "bindings-node/__test__",
        "bindings-python/python/keel",
        "bindings-python/tests",
        "docs",
        "testdata",
        "bench",
        "examples/node",
        "examples/python",
    ] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let text_file = path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                ["md", "rs", "sql", "mjs", "js", "ts", "py", "json", "pyi"].contains(&e)
            });
            if text_file {
                files.push(path);
            }
        }
    }
    files.sort();
    files
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .collect()
}

/// `n` copies of `unit`.
pub fn run(unit: &str, n: usize) -> String {
    unit.repeat(n)
}

/// About `bytes` of CJK prose without repeats of the same phrase order.
pub fn cjk(bytes: usize) -> String {
    let words = [
        "会議",
        "準備",
        "取引先",
        "売上",
        "見込み",
        "提案書",
        "確認",
        "来週",
        "担当者",
        "契約",
        "更新",
        "价格",
        "客户",
        "合同",
        "报告",
        "회의",
        "고객",
        "계약",
    ];
    let mut out = String::new();
    let mut i = 0usize;
    while out.len() < bytes {
        out.push_str(words[(i * 7 + i / 5) % words.len()]);
        if i % 11 == 10 {
            out.push('。');
        }
        i += 1;
    }
    out
}

/// About `bytes` of emoji, with skin tones, flags and joiners.
pub fn emoji(bytes: usize) -> String {
    let units = ["😀", "👍🏽", "🇯🇵", "👩‍💻", "🎉", "❤️", " ", "🚀🚀", "👨‍👩‍👧"];
    let mut out = String::new();
    let mut i = 0usize;
    while out.len() < bytes {
        out.push_str(units[(i * 5 + i / 3) % units.len()]);
        i += 1;
    }
    out
}
