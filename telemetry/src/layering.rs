//! The crate's imports point down: a module uses only the modules listed
//! before it in [`BOTTOM_UP`] (its own submodules aside), never one after
//! it. This reads every source file and fails on an import that points up,
//! so the crate's drawing stays a stack. Test code is exempt: a test may
//! drive the whole crate.

use std::{collections::BTreeSet, path::Path};

/// The crate's modules, bottom up (as the crate documentation lists them).
const BOTTOM_UP: [&str; 13] = [
    "config",
    "debug_trace",
    "error_text",
    "hex",
    "propagation",
    "zipkin",
    "sampling",
    "request",
    "client",
    "log_lines",
    "server",
    "setup",
    "browser",
];

/// Items the crate root re-exports, by the module that defines them: an
/// import through the root is an import of that module.
const REEXPORTED: [(&str, &str); 12] = [
    ("BatchConfig", "config"),
    ("ConfigError", "config"),
    ("Propagators", "config"),
    ("RootSampler", "config"),
    ("SamplerConfig", "config"),
    ("TelemetryConfig", "config"),
    ("CurrentTrace", "request"),
    ("current_trace", "request"),
    ("TelemetryLayer", "server"),
    ("TelemetryService", "server"),
    ("Telemetry", "setup"),
    ("TelemetryError", "setup"),
];

/// The modules `code` names through `crate::`.
fn imported(code: &str) -> BTreeSet<String> {
    let mut modules = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let first_segments: Vec<&str> = match rest.strip_prefix('{') {
            // `use crate::{a::b, c, d::{e, f}};`: the first segment of each.
            Some(group) => {
                let mut depth = 0;
                let end = group
                    .char_indices()
                    .find(|&(_, c)| {
                        match c {
                            '{' => depth += 1,
                            '}' if depth == 0 => return true,
                            '}' => depth -= 1,
                            _ => {}
                        }
                        false
                    })
                    .map_or(group.len(), |(i, _)| i);
                let mut depth = 0;
                let mut items = vec![0];
                for (i, c) in group[..end].char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        ',' if depth == 0 => items.push(i + 1),
                        _ => {}
                    }
                }
                items.iter().map(|&start| &group[start..end]).collect()
            }
            None => vec![rest],
        };
        for segment in first_segments {
            let name: String = segment
                .trim_start()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if name.is_empty() {
                continue;
            }
            let module = REEXPORTED
                .iter()
                .find(|(item, _)| *item == name)
                .map_or(name.as_str(), |(_, module)| module);
            modules.insert(module.to_owned());
        }
    }
    modules
}

/// The module a source file belongs to, and its code outside tests (`None`
/// for a file that is test code throughout).
fn module_code(file: &Path, source: &str) -> Option<(String, String)> {
    let relative = file.strip_prefix(Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let relative = relative.expect("a file of src/");
    let module = relative
        .iter()
        .next()?
        .to_str()?
        .trim_end_matches(".rs")
        .to_owned();
    if ["lib", "layering", "testing", "bench"].contains(&module.as_str())
        || source.starts_with("//! The \"B3 in, B3 out\" table")
    {
        return None;
    }
    // Code only: a doc comment may point anywhere.
    let code = source.split("#[cfg(test)]").next().unwrap_or(source);
    let code: Vec<&str> = code
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect();
    Some((module, code.join("\n")))
}

fn source_files(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
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
    let mut files = Vec::new();
    source_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut upward = Vec::new();
    for file in &files {
        let source = std::fs::read_to_string(file).unwrap();
        let Some((module, code)) = module_code(file, &source) else {
            continue;
        };
        let level = BOTTOM_UP
            .iter()
            .position(|&name| name == module)
            .unwrap_or_else(|| panic!("{module} ({}) is not in BOTTOM_UP", file.display()));
        for used in imported(&code) {
            let used_level = BOTTOM_UP
                .iter()
                .position(|&name| name == used)
                .unwrap_or_else(|| panic!("{}: crate::{used} is not a module", file.display()));
            if used_level > level {
                upward.push(format!("{} imports {used}", file.display()));
            }
        }
    }
    assert!(upward.is_empty(), "imports pointing up: {upward:#?}");
    assert!(files.len() > 15, "read {} files", files.len());
}

#[test]
fn the_reader_sees_grouped_and_inline_imports() {
    let code = "use crate::{hex::HexId, propagation::{B3, Ids}, TelemetryConfig};\n\
                fn f() { crate::zipkin::write_spans(); }";
    let found: Vec<String> = imported(code).into_iter().collect();
    assert_eq!(found, ["config", "hex", "propagation", "zipkin"]);
}
