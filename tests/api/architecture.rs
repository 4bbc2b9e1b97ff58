//! The second wall, checked on the source: only `src/tenant/` and `src/system/`
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

/// Files elsewhere that name a database type without querying: the classifier of
/// database errors reads `sqlx` errors to tell an unreachable database from a bug.
const ALLOWED_FILES: &[&str] = &["src/error/unreachable.rs"];

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
            || ALLOWED_FILES.contains(&relative_text.as_str())
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

/// The capabilities: the modules that own GraphQL fields, i.e. declare a query or
/// mutation root (`pub struct ContactQuery;`) that the schema merges. Found, not listed,
/// so a new capability needs no line here.
fn capabilities() -> Vec<String> {
    let mut found: Vec<String> = sources()
        .into_iter()
        .filter(|(relative, _)| relative.ends_with("/mod.rs") && relative.matches('/').count() == 2)
        .filter(|(_, text)| {
            text.lines().any(|line| {
                let line = line.trim();
                line.starts_with("pub struct ")
                    && (line.ends_with("Query;") || line.ends_with("Mutation;"))
            })
        })
        .filter_map(|(relative, _)| module_of(&relative))
        .collect();
    found.dedup();
    found
}

/// The one circle the design has: a contact lists its conversations, a conversation
/// names its contact.
const ALLOWED_CIRCLE: &[&str] = &["contacts", "conversations"];

/// The top-level module a source file belongs to (`src/tenant/global/mod.rs` → `tenant`).
fn module_of(relative: &str) -> Option<String> {
    let inside = relative.strip_prefix("src/")?;
    let first = inside.split('/').next()?;
    let name = first.trim_end_matches(".rs");
    (!matches!(name, "lib" | "main")).then(|| name.to_owned())
}

/// The code of a file, without comments (line comments and doc comments).
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(number, line)| (number + 1, line.split("//").next().unwrap_or("")))
}

/// The code a file builds into the gateway: unit tests (from `#[cfg(test)]` on, and
/// `tests.rs` files) may reach across layers to set up what they check.
fn shipped_lines<'a>(relative: &str, text: &'a str) -> Vec<(usize, &'a str)> {
    if relative.ends_with("/tests.rs") {
        return Vec::new();
    }
    code_lines(text)
        .take_while(|(_, code)| code.trim() != "#[cfg(test)]")
        .collect()
}

/// Every source file, with its path relative to the crate.
fn sources() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|file| {
            let relative = file
                .strip_prefix(root)
                .expect("inside the crate")
                .to_string_lossy()
                .replace('\\', "/");
            let text = std::fs::read_to_string(&file).expect("read source");
            (relative, text)
        })
        .collect()
}

/// The modules each top-level module names through `crate::` paths.
fn import_graph() -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    let mut graph: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
        Default::default();
    for (relative, text) in sources() {
        let Some(module) = module_of(&relative) else {
            continue;
        };
        let imports = graph.entry(module.clone()).or_default();
        for (_, code) in shipped_lines(&relative, &text) {
            for (index, _) in code.match_indices("crate::") {
                // `tenantgate::crate::` never occurs; skip `$crate::` of macros.
                if code[..index].ends_with('$') {
                    continue;
                }
                let rest = &code[index + "crate::".len()..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && name != module && name != "lock" {
                    imports.insert(name);
                }
            }
            // `use crate::{a, b}` names several at once.
            if let Some(group) = code.trim_start().strip_prefix("use crate::{") {
                for name in group.split([',', '}']) {
                    let name = name.trim().split("::").next().unwrap_or("").trim();
                    if !name.is_empty() && name != module && name != "self" {
                        imports.insert(name.to_owned());
                    }
                }
            }
        }
    }
    graph
}

/// The strongly connected groups of more than one module (Tarjan's algorithm).
fn circles(
    graph: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
) -> Vec<Vec<String>> {
    struct Walk<'a> {
        graph: &'a std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
        index: std::collections::HashMap<&'a str, usize>,
        low: std::collections::HashMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: std::collections::HashSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, node: &'a str) {
            let next = self.index.len();
            self.index.insert(node, next);
            self.low.insert(node, next);
            self.stack.push(node);
            self.on_stack.insert(node);
            for target in self.graph.get(node).into_iter().flatten() {
                let target = target.as_str();
                if !self.graph.contains_key(target) {
                    continue;
                }
                if !self.index.contains_key(target) {
                    self.visit(target);
                    let low = self.low[node].min(self.low[target]);
                    self.low.insert(node, low);
                } else if self.on_stack.contains(target) {
                    let low = self.low[node].min(self.index[target]);
                    self.low.insert(node, low);
                }
            }
            if self.low[node] == self.index[node] {
                let mut group = Vec::new();
                while let Some(member) = self.stack.pop() {
                    self.on_stack.remove(member);
                    group.push(member.to_owned());
                    if member == node {
                        break;
                    }
                }
                if group.len() > 1 {
                    group.sort();
                    self.found.push(group);
                }
            }
        }
    }
    let mut walk = Walk {
        graph,
        index: Default::default(),
        low: Default::default(),
        stack: Vec::new(),
        on_stack: Default::default(),
        found: Vec::new(),
    };
    for node in graph.keys() {
        if !walk.index.contains_key(node.as_str()) {
            walk.visit(node);
        }
    }
    walk.found
}

#[test]
fn the_modules_import_each_other_without_circles() {
    let graph = import_graph();
    assert!(
        graph.len() > 20,
        "the scan found too few modules: {graph:?}"
    );
    let found = circles(&graph);
    let unexpected: Vec<_> = found
        .iter()
        .filter(|group| group.as_slice() != ALLOWED_CIRCLE)
        .collect();
    assert!(
        unexpected.is_empty(),
        "modules that import each other (only contacts ↔ conversations may): {unexpected:?}"
    );
}

#[test]
fn the_circle_check_would_catch_a_circle() {
    let mut graph = std::collections::BTreeMap::new();
    for (from, to) in [("tenant", "auth"), ("auth", "tenant"), ("http", "tenant")] {
        graph
            .entry(from.to_owned())
            .or_insert_with(std::collections::BTreeSet::new)
            .insert(to.to_owned());
    }
    assert_eq!(
        circles(&graph),
        vec![vec!["auth".to_owned(), "tenant".to_owned()]]
    );
}

#[test]
fn the_toolkit_and_the_layers_below_name_no_capability() {
    let graph = import_graph();
    let capabilities = capabilities();
    assert!(
        capabilities.len() >= 12,
        "too few capabilities found: {capabilities:?}"
    );
    for module in [
        "http",
        "pipeline",
        "state",
        "graphql",
        "tenant",
        "identity",
        "auth",
        "passwords",
        "policy",
        "error",
        "input",
        "config",
        "mail",
        "services",
    ] {
        let named: Vec<_> = graph
            .get(module)
            .into_iter()
            .flatten()
            .filter(|name| capabilities.contains(name))
            .collect();
        assert!(
            named.is_empty(),
            "`{module}` imports capabilities: {named:?}"
        );
    }
    // The schema names every capability; nothing else does.
    let schema = &graph["schema"];
    for capability in &capabilities {
        assert!(
            schema.contains(capability),
            "`schema` does not merge `{capability}`"
        );
    }
    for (module, names) in &graph {
        if module != "schema" {
            assert!(
                !capabilities
                    .iter()
                    .all(|c| names.contains(c) || c == module),
                "`{module}` names every capability: only `schema` may"
            );
        }
    }
}

#[test]
fn only_the_http_module_knows_axum() {
    let mut violations = Vec::new();
    for (relative, text) in sources() {
        if relative.starts_with("src/http/") {
            continue;
        }
        for (number, code) in code_lines(&text) {
            for needle in ["axum", "tower", "hyper"] {
                if code.contains(needle) {
                    violations.push(format!("{relative}:{number}: `{needle}`"));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "only src/http/ may use the HTTP framework:\n{}",
        violations.join("\n")
    );
}

/// Past this a file does more than one job.
const MAX_LINES: usize = 450;

#[test]
fn no_source_file_is_too_long() {
    let long: Vec<String> = sources()
        .into_iter()
        .filter(|(_, text)| text.lines().count() > MAX_LINES)
        .map(|(relative, text)| format!("{relative}: {} lines", text.lines().count()))
        .collect();
    assert!(
        long.is_empty(),
        "split these files (at most {MAX_LINES} lines each):\n{}",
        long.join("\n")
    );
}

#[test]
fn only_the_organizations_capability_writes_the_organization_row() {
    for (relative, text) in sources() {
        if relative.starts_with("src/organizations/") || relative.starts_with("src/tenant/") {
            continue;
        }
        for (number, code) in code_lines(&text) {
            for needle in ["write_organization(", "delete_organization("] {
                assert!(
                    !code.contains(needle),
                    "{relative}:{number}: the organization's row is changed only through \
                     `organizations` (its proofs and read-only rules)"
                );
            }
        }
    }
}

#[test]
fn the_database_binding_is_written_in_one_place() {
    for (relative, text) in sources() {
        if relative == "src/tenant/binding.rs" {
            continue;
        }
        for (number, code) in code_lines(&text) {
            assert!(
                !code.contains("set_config"),
                "{relative}:{number}: the role and `app.*` settings are set only in \
                 src/tenant/binding.rs"
            );
        }
    }
}

#[test]
fn only_a_page_written_ahead_answers_with_bytes() {
    // The answer writer copies a `Value::Binary` into the answer as it stands (a page
    // written ahead by `graphql::plain`): a field that answered with bytes of its own
    // would put them in the JSON unescaped.
    for (relative, text) in sources() {
        if relative.starts_with("src/graphql/plain/") || relative == "src/graphql/response.rs" {
            continue;
        }
        for (number, code) in shipped_lines(&relative, &text) {
            for needle in ["Value::Binary", "Bytes", "ConstValue::Binary"] {
                assert!(
                    !code.contains(needle),
                    "{relative}:{number}: no field answers with bytes (see src/graphql/plain/)"
                );
            }
        }
    }
}
