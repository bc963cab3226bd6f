//! The layer rule of `ARCHITECTURE.md`, checked against the code: every `crate::` (or, in the
//! command line, `xsolla_recon::`) path in `src/` must name a module of a lower layer or the
//! file's own module. The table is read from `ARCHITECTURE.md` itself, so the document and the
//! check cannot drift apart.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// One row of the layer table: its number and the paths it covers.
#[derive(Debug)]
struct Layer {
    number: u32,
    modules: Vec<String>,
    paths: Vec<String>,
}

/// The layer table of `ARCHITECTURE.md`: `| layer | module | path | owns |` rows.
fn layers() -> Vec<Layer> {
    let text = std::fs::read_to_string(Path::new(ROOT).join("ARCHITECTURE.md"))
        .expect("ARCHITECTURE.md is readable");
    let mut out = Vec::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // "", layer, module, path, owns, ""
        if cells.len() < 5 {
            continue;
        }
        let Ok(number) = cells[1].parse::<u32>() else {
            continue;
        };
        let modules = cells[2].split(',').map(|m| m.trim().to_owned()).collect();
        let paths = cells[3]
            .split(',')
            .map(|p| p.trim().trim_matches('`').to_owned())
            .collect();
        out.push(Layer {
            number,
            modules,
            paths,
        });
    }
    assert!(
        out.len() >= 5,
        "ARCHITECTURE.md: no layer table found ({} rows)",
        out.len()
    );
    out
}

/// Which layer and module a source file belongs to: the longest matching path wins.
fn owner<'a>(layers: &'a [Layer], rel: &str) -> Option<(&'a Layer, String)> {
    let mut best: Option<(&Layer, String, usize)> = None;
    for l in layers {
        for (i, p) in l.paths.iter().enumerate() {
            let hit = if p.ends_with('/') {
                rel.starts_with(p.as_str())
            } else {
                rel == p
            };
            if hit && best.as_ref().is_none_or(|b| p.len() > b.2) {
                let module = l.modules.get(i).unwrap_or(&l.modules[0]).clone();
                best = Some((l, module, p.len()));
            }
        }
    }
    best.map(|(l, m, _)| (l, m))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The file's code without tests, comments and string contents, line by line (line numbers
/// kept): tests may import anything, and a path in a comment or a message is no import.
fn code_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_block_comment = false;
    let lines: Vec<&str> = text.lines().collect();
    for (i, raw) in lines.iter().enumerate() {
        let t = raw.trim();
        if t == "#[cfg(test)]" || t.starts_with("#[cfg(all(test") {
            // A test module runs to the end of the file in this code base.
            if lines
                .get(i + 1)
                .is_some_and(|n| n.trim_start().starts_with("mod "))
            {
                break;
            }
        }
        let mut line = String::new();
        let mut chars = raw.chars().peekable();
        let mut in_str = false;
        while let Some(c) = chars.next() {
            if in_block_comment {
                if c == '*' && chars.peek() == Some(&'/') {
                    chars.next();
                    in_block_comment = false;
                }
                continue;
            }
            if in_str {
                if c == '\\' {
                    chars.next();
                } else if c == '"' {
                    in_str = false;
                    line.push('"');
                }
                continue;
            }
            match c {
                '/' if chars.peek() == Some(&'/') => break,
                '/' if chars.peek() == Some(&'*') => {
                    chars.next();
                    in_block_comment = true;
                }
                '"' => {
                    in_str = true;
                    line.push('"');
                }
                _ => line.push(c),
            }
        }
        out.push(line);
    }
    out
}

/// The top-level modules a line's paths name under `prefix::` (`crate` or `xsolla_recon`),
/// including those inside a `prefix::{a::…, b}` group.
fn named_modules(line: &str, prefix: &str) -> Vec<String> {
    let mut found = Vec::new();
    let pat = format!("{prefix}::");
    let mut rest = line;
    while let Some(at) = rest.find(&pat) {
        let before = rest[..at].chars().last();
        rest = &rest[at + pat.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level names of the group: split on commas outside nested braces.
            let mut depth = 0;
            let mut name = String::new();
            let mut taking = true;
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        if !name.is_empty() {
                            found.push(std::mem::take(&mut name));
                        }
                        taking = true;
                        continue;
                    }
                    _ => {}
                }
                if depth == 0 && taking {
                    if c.is_alphanumeric() || c == '_' {
                        name.push(c);
                    } else if !c.is_whitespace() || !name.is_empty() {
                        taking = false;
                    }
                }
            }
            if !name.is_empty() {
                found.push(name);
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.push(name);
            }
        }
    }
    found
}

/// Every import in `src/` that goes up or sideways, as `file:line: …`.
fn violations() -> Vec<String> {
    let layers = layers();
    let by_module: BTreeMap<&str, &Layer> = layers
        .iter()
        .flat_map(|l| l.modules.iter().map(move |m| (m.as_str(), l)))
        .collect();
    let mut files = Vec::new();
    rust_files(&Path::new(ROOT).join("src"), &mut files);
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let rel = f
            .strip_prefix(ROOT)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        // The crate root only declares the layers; tests may import anything.
        if rel == "src/lib.rs" || rel.ends_with("/tests.rs") || rel.contains("/tests/") {
            continue;
        }
        let (layer, module) = owner(&layers, &rel).unwrap_or_else(|| {
            panic!("{rel}: in no layer of ARCHITECTURE.md; add it to the table")
        });
        // The library is `crate::` inside it; the command line reaches it as `xsolla_recon::`.
        let prefix = if layer.modules.iter().any(|m| m == "cli") {
            "xsolla_recon"
        } else {
            "crate"
        };
        let text = std::fs::read_to_string(&f).unwrap();
        for (i, line) in code_lines(&text).iter().enumerate() {
            for target in named_modules(line, prefix) {
                if target == module {
                    continue;
                }
                let Some(to) = by_module.get(target.as_str()) else {
                    continue; // a macro helper (`crate::__kind_ty`) or a re-export
                };
                let why = if to.number > layer.number {
                    "goes up"
                } else if to.number == layer.number {
                    "goes sideways"
                } else {
                    continue;
                };
                out.push(format!(
                    "{rel}:{}: {module} (layer {}) imports {target} (layer {}): {why}",
                    i + 1,
                    layer.number,
                    to.number
                ));
            }
        }
    }
    out
}

#[test]
fn every_import_goes_down_the_layers_of_architecture_md() {
    let v = violations();
    assert!(
        v.is_empty(),
        "{} import(s) against ARCHITECTURE.md:\n{}",
        v.len(),
        v.join("\n")
    );
}

#[test]
fn the_layer_check_sees_grouped_and_plain_paths() {
    assert_eq!(
        named_modules(
            "use crate::{job::config::Config, domain::window::Window};",
            "crate"
        ),
        ["job", "domain"]
    );
    assert_eq!(
        named_modules("let x = crate::report::html::esc(s);", "crate"),
        ["report"]
    );
    assert_eq!(
        named_modules("$crate::xsolla::record::Column", "crate"),
        Vec::<String>::new()
    );
    let code = code_lines("let a = 1; // crate::job\nlet s = \"crate::job\";\n");
    assert!(code.iter().all(|l| !l.contains("crate::job")), "{code:?}");
}
