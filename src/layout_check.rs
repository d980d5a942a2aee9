//! The layout rule of docs/architecture.md, checked on the source files:
//! core imports only core; sources and the emulator never import a face or
//! the failover; failover never imports a face; and no two modules import
//! each other. main.rs only parses and hands over: it imports faces alone.
//! A file over 1,000 code lines says why at its top ([`OVER_MARKER`]).
//! Test modules and comments are ignored.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, as a path relative to `src`.
fn rust_files(src: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(src, &p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            if let Ok(rel) = p.strip_prefix(src) {
                out.push(rel.to_path_buf());
            }
        }
    }
}

/// The module path of a file: `core/model.rs` → [core, model];
/// `core/vpc/mod.rs` → [core, vpc]; `lib.rs` → [].
fn module_of(file: &Path) -> Vec<String> {
    let mut parts: Vec<String> = file
        .iter()
        .map(|s| s.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The code of a file without its test module and comments.
fn code_of(text: &str) -> String {
    let body = text.split("#[cfg(test)]").next().unwrap_or_default();
    body.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Module paths a piece of code names: `crate::a::b::{c, d::e}` gives
/// [a,b,c] and [a,b,d,e]; `super::x` is resolved against `module`.
fn referenced_paths(code: &str, module: &[String]) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let bytes: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let rest: String = bytes[i..bytes.len().min(i + 7)].iter().collect();
        let prev_ok = i == 0 || !(bytes[i - 1].is_alphanumeric() || bytes[i - 1] == '_');
        let base: Option<(Vec<String>, usize)> = if prev_ok && rest.starts_with("crate::") {
            Some((Vec::new(), 7))
        } else if prev_ok && rest.starts_with("super::") {
            // `super` of a file module is its parent; chains of super:: too.
            let mut parent = module.to_vec();
            parent.pop();
            let mut j = i + 7;
            while bytes[j..].iter().collect::<String>().starts_with("super::") {
                parent.pop();
                j += 7;
            }
            Some((parent, j - i))
        } else {
            None
        };
        let Some((prefix, skip)) = base else {
            i += 1;
            continue;
        };
        i += skip;
        let (paths, used) = parse_tree(&bytes[i..], prefix);
        found.extend(paths);
        i += used.max(1);
    }
    found
}

/// Parses `a::b::{c, d::e}` (one use tree) into full paths.
fn parse_tree(s: &[char], prefix: Vec<String>) -> (Vec<Vec<String>>, usize) {
    let mut path = prefix;
    let mut i = 0;
    loop {
        let start = i;
        while i < s.len() && (s[i].is_alphanumeric() || s[i] == '_') {
            i += 1;
        }
        if i > start {
            path.push(s[start..i].iter().collect());
        }
        if i + 1 < s.len() && s[i] == ':' && s[i + 1] == ':' {
            i += 2;
            if i < s.len() && s[i] == '{' {
                i += 1;
                let mut out = Vec::new();
                loop {
                    while i < s.len() && (s[i].is_whitespace() || s[i] == ',') {
                        i += 1;
                    }
                    if i >= s.len() || s[i] == '}' {
                        return (out, i + 1);
                    }
                    let (sub, used) = parse_tree(&s[i..], path.clone());
                    out.extend(sub);
                    i += used.max(1);
                }
            }
            continue;
        }
        return (vec![path], i);
    }
}

/// The file module a path lands in: its longest prefix that is a module.
fn resolve(path: &[String], modules: &BTreeSet<Vec<String>>) -> Option<Vec<String>> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| modules.contains(p))
}

/// Module → the modules it imports (itself and its own children excluded).
fn import_graph() -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &src, &mut files);
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(f)).collect();
    let mut graph = BTreeMap::new();
    for f in &files {
        if f.starts_with("main.rs") || f.starts_with("layout_check.rs") {
            continue;
        }
        let module = module_of(f);
        let text = std::fs::read_to_string(src.join(f)).unwrap_or_default();
        let mut imports = BTreeSet::new();
        for p in referenced_paths(&code_of(&text), &module) {
            if let Some(target) = resolve(&p, &modules) {
                if !target.starts_with(&module) {
                    imports.insert(target);
                }
            }
        }
        graph.insert(module, imports);
    }
    graph
}

#[test]
fn arrows_point_from_faces_and_sources_to_core() {
    // (folder, folders it may import besides itself)
    let allowed: [(&str, &[&str]); 5] = [
        ("core", &[]),
        ("sources", &["core"]),
        ("failover", &["core", "sources"]),
        // cloudsim: the `vipdeck cloudsim` command's arguments and entry.
        ("faces", &["core", "sources", "failover", "cloudsim"]),
        ("cloudsim", &["core"]),
    ];
    let graph = import_graph();
    assert!(graph.len() > 40, "found the modules: {}", graph.len());
    let mut wrong = Vec::new();
    for (module, imports) in &graph {
        let Some(top) = module.first() else { continue };
        let Some((_, may)) = allowed.iter().find(|(f, _)| f == top) else {
            wrong.push(format!("{} is outside the layout", module.join("::")));
            continue;
        };
        for target in imports {
            let Some(t) = target.first() else { continue };
            if t != top && !may.contains(&t.as_str()) {
                wrong.push(format!(
                    "{} imports {}",
                    module.join("::"),
                    target.join("::")
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "arrows the wrong way:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_two_modules_import_each_other() {
    let graph = import_graph();
    let mut cycles = Vec::new();
    for (a, imports) in &graph {
        for b in imports {
            if a < b && graph.get(b).is_some_and(|bi| bi.contains(a)) {
                cycles.push(format!("{} <-> {}", a.join("::"), b.join("::")));
            }
        }
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

/// The paths main.rs names under `vipdeck::`.
fn main_imports(code: &str) -> Vec<Vec<String>> {
    let chars: Vec<char> = code.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let rest: String = chars[i..chars.len().min(i + 9)].iter().collect();
        let prev_ok = i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
        if prev_ok && rest == "vipdeck::" {
            let (paths, used) = parse_tree(&chars[i + 9..], Vec::new());
            found.extend(paths);
            i += 9 + used.max(1);
        } else {
            i += 1;
        }
    }
    found
}

#[test]
fn main_imports_faces_only() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let text = std::fs::read_to_string(src.join("main.rs")).unwrap_or_default();
    let paths = main_imports(&code_of(&text));
    assert!(!paths.is_empty(), "main.rs hands over to vipdeck::faces");
    let wrong: Vec<String> = paths
        .iter()
        .filter(|p| p.first().map(String::as_str) != Some("faces"))
        .map(|p| format!("vipdeck::{}", p.join("::")))
        .collect();
    assert!(
        wrong.is_empty(),
        "main.rs imports only vipdeck::faces; it names:\n{}",
        wrong.join("\n")
    );
}

/// The code lines a file counts: before its test module, without comment
/// lines (blank lines count as code, as the checker reads them).
fn code_lines(text: &str) -> usize {
    code_of(text).lines().count()
}

/// Files this long must say why at their top.
const MAX_LINES: usize = 1000;

/// The reason a long file gives, in its first lines: `//! Over 1,000 lines because …`.
const OVER_MARKER: &str = "//! Over 1,000 lines because ";

/// Every file over [`MAX_LINES`] code lines that does not say why at its
/// top, with its count.
fn long_files_without_a_reason() -> Vec<(String, usize)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &src, &mut files);
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(src.join(&f)).unwrap_or_default();
        let n = code_lines(&text);
        let has_reason = text
            .lines()
            .take_while(|l| l.starts_with("//!") || l.trim().is_empty())
            .any(|l| l.starts_with(OVER_MARKER));
        let name = f.to_string_lossy().into_owned();
        if n > MAX_LINES && !has_reason {
            out.push((name, n));
        }
    }
    out
}

#[test]
fn a_file_over_1000_lines_says_why_at_its_top() {
    let wrong = long_files_without_a_reason();
    assert!(
        wrong.is_empty(),
        "over {MAX_LINES} code lines without `{OVER_MARKER}…` at the top:\n{}",
        wrong
            .iter()
            .map(|(f, n)| format!("{f}: {n} lines"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn the_line_rule_counts_code_before_the_tests_without_comments() {
    let text = "//! doc\nfn a() {}\n// note\n\nfn b() {}\n#[cfg(test)]\nmod tests {}\n";
    assert_eq!(code_lines(text), 3);
    let paths: Vec<String> =
        main_imports("use vipdeck::faces::cli::{self, args::Cli};\nvipdeck::core::x();")
            .iter()
            .map(|p| p.join("::"))
            .collect();
    assert_eq!(
        paths,
        ["faces::cli::self", "faces::cli::args::Cli", "core::x"]
    );
}

#[test]
fn the_checker_sees_use_trees_and_super() {
    let m = vec!["faces".to_string(), "tui".to_string(), "app".to_string()];
    let paths = referenced_paths(
        "use crate::core::{model::Update, verdict};\nuse super::theme::Theme;",
        &m,
    );
    let joined: Vec<String> = paths.iter().map(|p| p.join("::")).collect();
    assert_eq!(
        joined,
        [
            "core::model::Update",
            "core::verdict",
            "faces::tui::theme::Theme"
        ]
    );
}
