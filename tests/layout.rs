//! The layout's rules, checked on the sources: the top-level modules of
//! `src/`, and the files of each folder, import each other without a loop, no file is over 600 lines, the
//! crate root holds at most 30 names, and no doc comment only restates its
//! item's name.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// The modules of `dir` (its files and folders; not `mod.rs` or `lib.rs`)
/// and, for each, the others its code names right after one of `prefixes`
/// (`crate::`; in a folder, `super::` too), comments left out. A group
/// (`super::{a, b::C}`) names each of its first segments.
fn imports(dir: &Path, prefixes: &[String]) -> BTreeMap<String, BTreeSet<String>> {
    let mut modules: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        if name == "lib" || name == "mod" {
            continue;
        }
        let files = if path.is_dir() {
            rust_files(&path)
        } else {
            vec![path]
        };
        modules.insert(name, files);
    }
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    let ident = |text: &str| -> String {
        text.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect()
    };
    modules
        .into_iter()
        .map(|(module, files)| {
            let mut uses = BTreeSet::new();
            for file in files {
                let text = std::fs::read_to_string(file).unwrap();
                let code: String = text
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("//"))
                    .map(|l| format!("{l}\n"))
                    .collect();
                for prefix in prefixes {
                    for (at, _) in code.match_indices(prefix.as_str()) {
                        let rest = &code[at + prefix.len()..];
                        let mut named = vec![ident(rest)];
                        if let Some(group) = rest.strip_prefix('{') {
                            let mut depth = 0;
                            let mut start = 0;
                            for (i, c) in group.char_indices() {
                                match c {
                                    '{' => depth += 1,
                                    '}' if depth == 0 => {
                                        named.push(ident(&group[start..i]));
                                        break;
                                    }
                                    '}' => depth -= 1,
                                    ',' if depth == 0 => {
                                        named.push(ident(&group[start..i]));
                                        start = i + 1;
                                    }
                                    _ => {}
                                }
                            }
                        }
                        uses.extend(
                            named
                                .into_iter()
                                .filter(|name| names.contains(name) && *name != module),
                        );
                    }
                }
            }
            (module, uses)
        })
        .collect()
}

/// Fails on a module that reaches itself through what it imports.
fn assert_no_loop(imports: &BTreeMap<String, BTreeSet<String>>, within: &str) {
    for start in imports.keys() {
        let mut seen = BTreeSet::new();
        let mut stack = vec![vec![start.clone()]];
        while let Some(trail) = stack.pop() {
            for next in &imports[trail.last().unwrap()] {
                let mut longer = trail.clone();
                longer.push(next.clone());
                assert!(
                    next != start,
                    "an import loop in {within}: {}",
                    longer.join(" -> ")
                );
                if seen.insert(next.clone()) {
                    stack.push(longer);
                }
            }
        }
    }
}

#[test]
fn the_top_level_modules_import_each_other_without_a_loop() {
    let imports = imports(Path::new("src"), &["crate::".to_owned()]);
    assert!(imports["chain"].contains("config"));
    assert_no_loop(&imports, "src/");
}

/// Inside each folder too: `container/`'s files once imported each other
/// in a circle through shared helpers.
#[test]
fn the_files_of_each_folder_import_each_other_without_a_loop() {
    let mut folders = 0;
    for entry in std::fs::read_dir("src").unwrap() {
        let dir = entry.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        folders += 1;
        let name = dir.file_name().unwrap().to_str().unwrap();
        let imports = imports(&dir, &["super::".to_owned(), format!("crate::{name}::")]);
        assert_no_loop(&imports, &dir.display().to_string());
    }
    assert!(folders > 10, "{folders} folders");
    let container = imports(Path::new("src/container"), &["super::".to_owned()]);
    assert!(container["start"].contains("definition") && container["compose"].contains("labels"));
}

#[test]
fn no_source_file_is_over_600_lines() {
    let long: Vec<String> = rust_files(Path::new("src"))
        .into_iter()
        .filter_map(|file| {
            let lines = std::fs::read_to_string(&file).unwrap().lines().count();
            (lines > 600).then(|| format!("{} ({lines} lines)", file.display()))
        })
        .collect();
    assert!(long.is_empty(), "split by concept: {long:?}");
}

#[test]
fn the_crate_root_holds_at_most_30_names() {
    let lib = std::fs::read_to_string("src/lib.rs").unwrap();
    let code: String = lib
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut names = BTreeSet::new();
    for statement in code.split(';') {
        let statement = statement.trim();
        // `#[cfg(..)]` lines may come first.
        let statement = statement
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .collect::<Vec<_>>()
            .join(" ");
        if let Some(module) = statement.strip_prefix("pub mod ") {
            names.insert(module.trim().to_owned());
        } else if let Some(path) = statement.strip_prefix("pub use ") {
            let list = match path.find('{') {
                Some(open) => &path[open + 1..path.rfind('}').unwrap()],
                None => path.rsplit("::").next().unwrap(),
            };
            names.extend(
                list.split(',')
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(str::to_owned),
            );
        }
    }
    assert!(names.contains("RealWebSocketTestConfig") && names.contains("fixtures"));
    assert!(
        names.len() <= 30,
        "{} names at the root: {names:?}",
        names.len()
    );
}

/// The words of an item's name: `max_retries` and `MaxRetries` are
/// `max`, `retries`.
fn name_words(name: &str) -> Vec<String> {
    let mut words = vec![String::new()];
    for c in name.chars() {
        if c == '_' {
            words.push(String::new());
        } else {
            if c.is_ascii_uppercase() && !words.last().unwrap().is_empty() {
                words.push(String::new());
            }
            words.last_mut().unwrap().push(c.to_ascii_lowercase());
        }
    }
    words.retain(|w| !w.is_empty());
    words
}

/// The name of the item a line declares: a function, type, constant,
/// module, field or variant.
fn declared_name(line: &str) -> Option<&str> {
    let mut rest = line.trim_start();
    if let Some(after) = rest.strip_prefix("pub") {
        rest = after
            .strip_prefix(|c: char| c == '(')
            .map_or(after, |inner| {
                &inner[inner.find(')').map_or(0, |at| at + 1)..]
            })
            .trim_start();
    }
    for keyword in ["async ", "const ", "unsafe "] {
        if rest.starts_with(keyword)
            && !rest[keyword.len()..].starts_with(|c: char| c.is_ascii_uppercase())
        {
            rest = &rest[keyword.len()..];
        }
    }
    for keyword in [
        "fn ", "struct ", "enum ", "trait ", "type ", "mod ", "const ", "static ",
    ] {
        if let Some(after) = rest.strip_prefix(keyword) {
            rest = after;
            break;
        }
    }
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    Some(&rest[..end]).filter(|name| !name.is_empty())
}

/// A doc comment of three words or fewer whose words are all its item's
/// name (`/// The URL.` on `url`) tells a reader nothing: say what they
/// need, or nothing (fields whose name says it all go undocumented).
#[test]
fn no_doc_comment_only_restates_its_items_name() {
    const FILLER: [&str; 6] = ["the", "a", "an", "its", "their", "this"];
    let singular = |w: &str| w.trim_end_matches('s').to_owned();
    let mut restating = Vec::new();
    for file in rust_files(Path::new("src")) {
        let text = std::fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let mut at = 0;
        while at < lines.len() {
            if !lines[at].trim_start().starts_with("///") {
                at += 1;
                continue;
            }
            let start = at;
            let mut doc = String::new();
            while at < lines.len() && lines[at].trim_start().starts_with("///") {
                doc.push_str(&lines[at].trim_start()[3..]);
                doc.push(' ');
                at += 1;
            }
            let item = lines[at..]
                .iter()
                .find(|l| !l.trim_start().starts_with("#["))
                .and_then(|l| declared_name(l));
            let words: Vec<String> = doc
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| !w.is_empty())
                .map(str::to_ascii_lowercase)
                .collect();
            let Some(name) = item else { continue };
            let name: Vec<String> = name_words(name).iter().map(|w| singular(w)).collect();
            if words.len() <= 3
                && words
                    .iter()
                    .filter(|w| !FILLER.contains(&w.as_str()))
                    .all(|w| name.contains(&singular(w)))
            {
                restating.push(format!("{}:{}: {}", file.display(), start + 1, doc.trim()));
            }
        }
    }
    assert!(
        restating.is_empty(),
        "doc comments that only restate their item's name:\n{}",
        restating.join("\n")
    );
}
