//! The README's "First conversation" runs verbatim: its shell blocks, extracted from
//! README.md, are executed in order by bash against a fresh `kefu serve` on the
//! embedded default (SQLite + embedded queue), in the directory `kefu serve` runs in.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::free_addr;

/// The ```sh blocks of the README section with this heading, in order.
fn shell_blocks(readme: &str, heading: &str) -> Vec<String> {
    let start = readme
        .find(heading)
        .unwrap_or_else(|| panic!("README.md has no {heading:?}"));
    let section = &readme[start + heading.len()..];
    let section = &section[..section.find("\n## ").unwrap_or(section.len())];
    let mut blocks = Vec::new();
    let mut rest = section;
    while let Some(open) = rest.find("```sh\n") {
        let body = &rest[open + 6..];
        let close = body.find("\n```").expect("an unclosed ```sh block");
        blocks.push(body[..close].to_owned());
        rest = &body[close + 4..];
    }
    blocks
}

/// Stops `kefu serve` however the test ends.
struct Serve(std::process::Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn quick_start_gives_the_run_and_test_commands() {
    let readme = include_str!("../README.md");
    let quick = shell_blocks(readme, "## Quick start");
    assert!(quick[0].contains("cargo run --release -- serve"), "{}", quick[0]);
    assert!(quick[0].contains("cargo test --workspace"), "{}", quick[0]);
    // CI runs the README's test command.
    assert!(include_str!("../.ci/run").contains("\ncargo test --workspace"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_first_conversation_runs_verbatim_embedded_sqlite() {
    let blocks = shell_blocks(include_str!("../README.md"), "## First conversation");
    assert!(blocks.len() >= 8, "the walkthrough has its blocks: {}", blocks.len());
    let dir = std::env::temp_dir().join(format!("kefu-readme-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let kefu = Path::new(env!("CARGO_BIN_EXE_kefu"));
    let addr = free_addr();
    let base = format!("http://{addr}");

    // The quick start's `kefu serve`, with nothing configured but the port.
    let serve = Command::new(kefu)
        .arg("serve")
        .current_dir(&dir)
        .env_remove("KEFU_DATABASE_URL")
        .env_remove("KEFU_AMQP_URL")
        .env("KEFU_HTTP_ADDR", &addr)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start kefu serve");
    let _serve = Serve(serve);
    let http = reqwest::Client::new();
    let started = Instant::now();
    while !http
        .get(format!("{base}/ready"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "kefu serve did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The blocks as pasted into one shell; `kefu` resolves to the binary under test
    // (the README's own PATH entry, ./target/release, does not exist here).
    let script = blocks.join("\n");
    let path = format!(
        "{}:{}",
        kefu.parent().unwrap().display(),
        std::env::var("PATH").unwrap()
    );
    let hook_port = free_addr().rsplit(':').next().unwrap().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("bash")
            .args(["-euo", "pipefail", "-c", &script])
            .current_dir(&dir)
            .env("PATH", path)
            .env("KEFU", &base)
            .env("HOOK_PORT", hook_port)
            .env_remove("KEFU_DATABASE_URL")
            .env_remove("KEFU_AMQP_URL")
            .output()
            .expect("run bash")
    })
    .await
    .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "the README blocks failed:\n{stdout}\n{stderr}");
    let expect = [
        "\"serv_id\":\"alice\"",
        "My parcel has not arrived",
        "stored byte for byte",
        "Order 1234, sent last week.",
        "\"errcode\":0",
        "\"item_id\"",
        "\"title\":\"Shipping\"",
        // The user's SSE stream and the webhook receiver saw the end of the conversation.
        "event: message",
        "Found it: it arrives tomorrow.",
        "kefu.question.finished",
    ];
    for needle in expect {
        assert!(
            stdout.contains(needle),
            "no {needle:?} in the walkthrough's output:\n{stdout}\n{stderr}"
        );
    }
    assert!(!stdout.contains("\"status\":300"), "a block was refused:\n{stdout}");
}
