//! The second wall, checked on the source: only `src/tenant/` (and later `src/system/`)
//! may hold the SeaORM traits and handles that query entities directly. Everywhere
//! else, tenant rows are reachable only through a `TenantDb`.

use std::path::{Path, PathBuf};

/// What would let code query an entity or run SQL without the tenant guard.
const FORBIDDEN: &[&str] = &[
    "EntityTrait",
    "ActiveModelTrait",
    "ConnectionTrait",
    "TransactionTrait",
    "ModelTrait",
    "LoaderTrait",
    "DatabaseConnection",
    "DatabaseTransaction",
    "sea_orm::prelude",
    "sea_orm::entity::prelude",
    "sea_orm::*",
    "sea_orm::Database",
    "Statement::",
    "execute_unprepared",
    "find_by_id",
    "sqlx::",
];

const ALLOWED_FOLDERS: &[&str] = &["src/tenant", "src/system"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read source folder") {
        let path = entry.expect("folder entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn only_the_tenant_guard_queries_entities() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    assert!(
        files.len() > 10,
        "the scan found too few files to be meaningful"
    );
    let mut violations = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(root).expect("inside the crate");
        let relative_text = relative.to_string_lossy().replace('\\', "/");
        if ALLOWED_FOLDERS
            .iter()
            .any(|allowed| relative_text.starts_with(allowed))
        {
            continue;
        }
        let text = std::fs::read_to_string(file).expect("read source");
        for (number, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for needle in FORBIDDEN {
                if code.contains(needle) {
                    violations.push(format!("{relative_text}:{}: `{needle}`", number + 1));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "entities may only be queried through src/tenant/ (TenantDb, GlobalDb):\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_scan_would_catch_a_direct_query() {
    let offending = "use sea_orm::EntityTrait; contact::Entity::find().all(&db)";
    assert!(FORBIDDEN.iter().any(|needle| offending.contains(needle)));
}
