//! The layout's promise, checked: modules follow the data's path, no module imports one that
//! imports it back (between top-level modules, and between the files of a folder), and the
//! library never names the command line's dependencies.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src is readable") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `prefix` + identifier in `text`, e.g. `crate::endpoint` gives `endpoint`.
fn names_after<'t>(text: &'t str, prefix: &str) -> Vec<&'t str> {
    text.match_indices(prefix)
        .map(|(at, _)| {
            let rest = &text[at + prefix.len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .filter(|name| !name.is_empty())
        .collect()
}

/// A cycle in `edges`, if there is one.
fn cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut found = path[start..].to_vec();
            found.push(node.to_owned());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, edges, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|node| visit(node, edges, &mut Vec::new(), &mut done))
}

struct Source {
    /// Path below `src/`, e.g. `endpoint/url.rs`.
    relative: PathBuf,
    text: String,
}

fn library_sources() -> Vec<Source> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files
        .into_iter()
        .filter_map(|path| {
            let relative = path.strip_prefix(&src).ok()?.to_path_buf();
            if relative.starts_with("bin") || relative == Path::new("lib.rs") {
                return None;
            }
            let text = std::fs::read_to_string(&path).expect("source is readable");
            Some(Source { relative, text })
        })
        .collect()
}

fn top_module(relative: &Path) -> String {
    let first = relative
        .components()
        .next()
        .and_then(|c| c.as_os_str().to_str())
        .unwrap_or_default();
    first.trim_end_matches(".rs").to_owned()
}

#[test]
fn top_level_modules_import_each_other_without_cycles() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for source in library_sources() {
        let from = top_module(&source.relative);
        for to in names_after(&source.text, "crate::") {
            if to != from {
                edges.entry(from.clone()).or_default().insert(to.to_owned());
            }
        }
    }
    assert!(edges.len() > 8, "the walk found too little: {edges:?}");
    assert!(edges["execute"].contains("endpoint"), "{edges:?}");
    assert_eq!(cycle(&edges), None, "{edges:#?}");
}

#[test]
fn the_files_of_a_folder_import_each_other_without_cycles() {
    let sources = library_sources();
    let folders: BTreeSet<String> = sources
        .iter()
        .filter(|s| s.relative.components().count() > 1)
        .map(|s| top_module(&s.relative))
        .collect();
    assert!(folders.contains("endpoint") && folders.contains("execute"));
    for folder in folders {
        let files: Vec<&Source> = sources
            .iter()
            .filter(|s| s.relative.starts_with(&folder) && s.relative.components().count() == 2)
            .collect();
        let stem = |s: &Source| {
            s.relative
                .file_stem()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_owned()
        };
        let siblings: BTreeSet<String> = files
            .iter()
            .map(|s| stem(s))
            .filter(|n| n != "mod")
            .collect();
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for source in files.iter().filter(|s| stem(s) != "mod") {
            let from = stem(source);
            let by_crate = format!("crate::{folder}::");
            let targets = names_after(&source.text, "super::")
                .into_iter()
                .chain(names_after(&source.text, &by_crate));
            for to in targets.filter(|to| siblings.contains(*to) && *to != from) {
                edges.entry(from.clone()).or_default().insert(to.to_owned());
            }
        }
        assert_eq!(cycle(&edges), None, "{folder}/: {edges:#?}");
    }
}

#[test]
fn a_cycle_is_found_when_there_is_one() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    edges.entry("a".into()).or_default().insert("b".into());
    edges.entry("b".into()).or_default().insert("c".into());
    assert_eq!(cycle(&edges), None);
    edges.entry("c".into()).or_default().insert("a".into());
    assert_eq!(
        cycle(&edges),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
}

#[test]
fn the_library_names_no_dependency_of_the_command_line() {
    for source in library_sources() {
        for forbidden in ["clap::", "tracing_subscriber::"] {
            assert!(
                !source.text.contains(forbidden),
                "{} uses {forbidden}: that belongs in src/bin/",
                source.relative.display()
            );
        }
    }
}
