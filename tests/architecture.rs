//! The layout rules of ARCHITECTURE.md, checked: which crate may use which, no source
//! file over 600 lines, stored states only through their enums. No service needed.

use std::path::{Path, PathBuf};

/// The Kefu crates each crate depends on (normal dependencies only).
fn kefu_dependencies(manifest: &str) -> Vec<String> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(manifest)).unwrap();
    let mut section = String::new();
    let mut found = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line.to_owned();
        } else if section == "[dependencies]" && line.starts_with("kefu-") {
            found.push(line.split(['.', ' ', '=']).next().unwrap().to_owned());
        }
    }
    found.sort();
    found
}

#[test]
fn tiers_depend_only_downwards() {
    assert_eq!(
        kefu_dependencies("common/Cargo.toml"),
        Vec::<String>::new(),
        "common uses no other tier"
    );
    assert_eq!(
        kefu_dependencies("migrations/Cargo.toml"),
        Vec::<String>::new(),
        "migrations stand alone"
    );
    assert_eq!(
        kefu_dependencies("workers/Cargo.toml"),
        ["kefu-common"],
        "workers never use the ingest"
    );
    assert_eq!(
        kefu_dependencies("ingest/Cargo.toml"),
        ["kefu-common", "kefu-migrations"],
        "the ingest never uses the workers (migrations: /ready reports pending ones)"
    );
    assert_eq!(
        kefu_dependencies("Cargo.toml"),
        ["kefu-common", "kefu-ingest", "kefu-migrations", "kefu-workers"],
        "only the binary ties the tiers together"
    );
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn all_sources() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["common/src", "ingest/src", "workers/src", "migrations/src", "src"] {
        sources(&root.join(dir), &mut files);
    }
    files
}

#[test]
fn no_source_file_is_over_600_lines() {
    let long: Vec<String> = all_sources()
        .into_iter()
        .filter_map(|path| {
            let lines = std::fs::read_to_string(&path).unwrap().lines().count();
            (lines > 600).then(|| format!("{} ({lines} lines)", path.display()))
        })
        .collect();
    assert!(long.is_empty(), "split these: {long:?}");
}

/// Stored states are written as numbers only in `common/src/domain/states.rs`.
#[test]
fn stored_states_go_through_their_enums() {
    let casts: Vec<String> = all_sources()
        .into_iter()
        .filter(|p| !p.ends_with("domain/states.rs") && !p.to_string_lossy().contains("migrations/src"))
        .flat_map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            text.lines()
                .enumerate()
                .filter(|(_, l)| l.contains(" as i16"))
                .map(|(n, _)| format!("{}:{}", path.display(), n + 1))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(casts.is_empty(), "raw casts of stored states: {casts:?}");
}
