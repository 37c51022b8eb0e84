//! The crate's imports point down: a module uses only the modules listed
//! before it in [`BOTTOM_UP`] (its own submodules aside), never one after
//! it, so the crate's drawing stays a stack. This reads every source file
//! and fails on an import that points up. Test code is exempt: a test may
//! drive the whole crate.

use std::path::{Path, PathBuf};

/// The crate's modules, bottom up (as the crate documentation lists them).
const BOTTOM_UP: [&str; 14] = [
    "env",
    "exporter",
    "config",
    "hex",
    "debug_trace",
    "propagation",
    "sampling",
    "request",
    "client",
    "log_lines",
    "server",
    "ends_at_close",
    "setup",
    "lib",
];

/// Files that are test code throughout (declared under `#[cfg(test)]`, or
/// the `bench` or `fuzzing` feature).
const TEST_ONLY: [&str; 4] = [
    "testing.rs",
    "bench.rs",
    "fuzzing.rs",
    "propagation/conformance.rs",
];

/// Items the crate root re-exports, by the module that defines them: an
/// import through the root is an import of that module.
const REEXPORTED: [(&str, &str); 14] = [
    ("BatchConfig", "config"),
    ("Propagators", "config"),
    ("RootSampler", "config"),
    ("SamplerConfig", "config"),
    ("TelemetryConfig", "config"),
    ("ConfigError", "env"),
    ("OtlpConfig", "exporter"),
    ("TracesExporter", "exporter"),
    ("CurrentTrace", "request"),
    ("current_trace", "request"),
    ("TelemetryLayer", "server"),
    ("TelemetryService", "server"),
    ("Telemetry", "setup"),
    ("TelemetryError", "setup"),
];

/// The modules `code` names through `crate::`: the first name after it, or
/// after `crate::{` and each `,` at the top level of that group.
fn imported(code: &str) -> Vec<String> {
    let mut modules = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        let names: Vec<&str> = match rest.strip_prefix('{') {
            Some(group) => top_level_items(group),
            None => vec![rest],
        };
        for name in names {
            let name: String = name
                .trim_start()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let module = REEXPORTED
                .iter()
                .find(|(item, _)| *item == name)
                .map_or(name, |(_, module)| module.to_string());
            if !module.is_empty() && !modules.contains(&module) {
                modules.push(module);
            }
        }
    }
    modules
}

/// The items of `group` (what follows `{`) up to its closing `}`, split at
/// its top-level commas.
fn top_level_items(group: &str) -> Vec<&str> {
    let (mut depth, mut start, mut items) = (0, 0, Vec::new());
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                items.push(&group[start..i]);
                return items;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&group[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items
}

/// Every `.rs` file under `dir`.
fn source_files(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            source_files(&path, files);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
}

#[test]
fn no_module_imports_one_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    source_files(&src, &mut files);
    let mut upward = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        if TEST_ONLY.iter().any(|test| relative == Path::new(test)) {
            continue;
        }
        // The module is the file's first path segment (`propagation/b3.rs`
        // belongs to `propagation`).
        let first = relative.iter().next().unwrap().to_str().unwrap();
        let module = first.trim_end_matches(".rs");
        let level = BOTTOM_UP
            .iter()
            .position(|&name| name == module)
            .unwrap_or_else(|| panic!("{module} is not in BOTTOM_UP"));
        // Code only: tests may drive anything, and a comment may point
        // anywhere.
        let source = std::fs::read_to_string(file).unwrap();
        let code = source.split("#[cfg(test)]").next().unwrap();
        let code: Vec<&str> = code
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .collect();
        for used in imported(&code.join("\n")) {
            let used_level = BOTTOM_UP
                .iter()
                .position(|name| *name == used)
                .unwrap_or_else(|| panic!("{}: crate::{used} is not a module", file.display()));
            if used_level > level {
                upward.push(format!("{} imports {used}", relative.display()));
            }
        }
    }
    assert!(upward.is_empty(), "imports pointing up: {upward:#?}");
    assert!(files.len() > 12, "read {} files", files.len());
}

#[test]
fn the_reader_sees_grouped_and_inline_imports() {
    let code = "use crate::{hex::HexId, propagation::{B3, Ids}, TelemetryConfig};\n\
                fn f() { crate::request::current(); }";
    assert_eq!(imported(code), ["hex", "propagation", "config", "request"]);
}
