//! `cordon logs`: the main process's stdout and stderr as written, `--tail`, `--json`,
//! `--audit`, size rotation, and `--follow` reading on across rotations until the sandbox
//! stops, without losing a line.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use super::{Fleet, eventually};
use crate::suite::common::Mode;

/// Waits for /sandbox/go, then writes 40 bursts of 10 stdout lines and one stderr line.
const WRITER: &str = "while [ ! -e /sandbox/go ]; do sleep 0.01; done\n\
i=0; while [ $i -lt 40 ]; do j=0; while [ $j -lt 10 ]; do echo \"line-$i-$j\"; j=$((j+1)); done; \
echo \"err-$i\" >&2; i=$((i+1)); sleep 0.03; done\nexec sleep 600\n";

#[test]
fn logs_rotate_by_size_and_follow_survives_rotation() {
    let fleet = Fleet::new(Mode::Rootless);
    fleet
        .run([
            "create",
            "chatty",
            "--log-max-size",
            "4K",
            "--",
            "/bin/sh",
            "-c",
            WRITER,
        ])
        .ok();
    let follow = fleet.spawn(&["logs", "chatty", "--follow"]);
    std::fs::write(fleet.sandbox_dir("chatty").join("workdir/go"), "").unwrap();
    assert!(
        eventually(|| {
            let all = fleet.run(["logs", "chatty", "--json"]).stdout;
            all.contains("\"line-39-9\"") && all.contains("\"err-39\"")
        }),
        "the writer did not finish"
    );
    let logs = fleet.sandbox_dir("chatty").join("logs");
    let rotated = logs.join("main.jsonl.1");
    assert!(rotated.exists(), "no rotation happened");
    for file in [logs.join("main.jsonl"), rotated] {
        assert!(
            std::fs::metadata(&file).unwrap().len() <= 4096,
            "{}",
            file.display()
        );
    }
    fleet.run(["stop", "chatty", "--timeout", "0"]).ok();
    let out = follow.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let want: Vec<String> = (0..40)
        .flat_map(|i| (0..10).map(move |j| format!("line-{i}-{j}")))
        .collect();
    let got: Vec<&str> = stdout.lines().collect();
    assert_eq!(got, want, "follow lost or reordered lines across rotations");
    let stderr = String::from_utf8(out.stderr).unwrap();
    let errs: Vec<String> = (0..40).map(|i| format!("err-{i}")).collect();
    assert_eq!(stderr.lines().collect::<Vec<_>>(), errs);

    // --tail N counts lines of both streams (each stream in order; the two streams are
    // read by separate pipes, so their interleaving is as the supervisor read them);
    // --json keeps the stream and the time.
    let tail = fleet.run(["logs", "chatty", "--tail", "30", "--json"]);
    let records: Vec<serde_json::Value> = tail
        .ok()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 30);
    let last = |stream: &str| {
        records
            .iter()
            .rev()
            .find(|r| r["stream"] == stream)
            .map(|r| r["line"].as_str().unwrap().to_owned())
    };
    assert_eq!(last("stdout").as_deref(), Some("line-39-9"));
    assert_eq!(last("stderr").as_deref(), Some("err-39"));
    assert!(records[0]["time"].as_u64().unwrap() > 0);
    let plain = fleet.run(["logs", "chatty", "--tail", "30"]);
    assert!(plain.ok().ends_with("line-39-8\nline-39-9\n"), "{plain:?}");
    assert!(plain.stderr.ends_with("err-39\n"), "{plain:?}");
    assert_eq!(
        plain.ok().lines().count() + plain.stderr.lines().count(),
        30
    );
    // The audit log is there too (empty of decisions: nothing was fetched).
    assert_eq!(fleet.run(["logs", "chatty", "--audit"]).code, 0);
}
