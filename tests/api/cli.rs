//! The binary as an operator runs it: `serve` with no configuration, `schema`, `migrate`.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_tenantgate");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

#[tokio::test]
async fn serve_runs_with_no_configuration_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let port = free_port();
    let mut child = Command::new(BINARY)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .env_remove("TENANTGATE_MASTER_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start tenantgate serve");

    let client = reqwest::Client::new();
    let started = Instant::now();
    let ready = loop {
        if let Ok(response) = client
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
        {
            break response.status().as_u16() == 200;
        }
        if started.elapsed() > Duration::from_secs(30) {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(ready, "the gateway did not become ready");

    let page = client
        .get(format!("http://127.0.0.1:{port}/graphql"))
        .header("accept", "text/html")
        .send()
        .await
        .expect("GraphiQL");
    assert_eq!(page.status().as_u16(), 200);

    // The embedded default: a database file and an owner-only key file beside it.
    assert!(dir.path().join("tenantgate.db").exists());
    let key = std::fs::metadata(dir.path().join("tenantgate.db.key")).expect("key file");
    assert_eq!(key.permissions().mode() & 0o777, 0o600);

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("send SIGTERM");
    assert!(killed.success());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no graceful shutdown"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exit status {status}");
}

#[test]
fn schema_prints_the_committed_sdl_and_migrate_applies_migrations() {
    let output = Command::new(BINARY)
        .arg("schema")
        .output()
        .expect("run schema");
    assert!(output.status.success());
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .expect("schema.graphql");
    assert_eq!(String::from_utf8_lossy(&output.stdout), committed);

    let dir = tempfile::tempdir().expect("temporary folder");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("migrated.db").display()
    );
    for _ in 0..2 {
        let status = Command::new(BINARY)
            .arg("migrate")
            .env("DATABASE_URL", &url)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run migrate");
        assert!(status.success(), "migrate must be repeatable");
    }
    for (argument, name) in [
        ("purge-expired", "PURGE_EXPIRED"),
        ("enforce-retention", "ENFORCE_RETENTION"),
    ] {
        let job = Command::new(BINARY)
            .args(["job", "run", argument])
            .env("DATABASE_URL", &url)
            .stderr(Stdio::null())
            .output()
            .expect("run a job");
        assert!(job.status.success(), "{argument}");
        let report: serde_json::Value = serde_json::from_slice(&job.stdout).expect("a JSON report");
        assert_eq!(report["job"], name);
        assert_eq!(report["failures"], 0);
    }
}
