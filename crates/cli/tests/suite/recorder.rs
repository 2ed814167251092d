//! A local test server that records every request it receives as one JSON line
//! (stdlib python on 127.0.0.1: the inference tests' fake provider, the credential
//! tests' origin), so a test asserts on exactly what reached the network.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use super::common::{PYTHON, WorldDir, require};

/// A recording server process; killed when dropped.
pub struct Recorder {
    child: Child,
    pub port: u16,
    record: PathBuf,
    _dir: WorldDir,
}

impl Recorder {
    /// Starts `python3 SCRIPT ARGS` where `args` gets the record file's path; the
    /// script prints the port it listens on as its first line.
    pub fn start(script: &Path, args: impl FnOnce(&Path) -> Vec<OsString>) -> Recorder {
        require(PYTHON);
        let dir = WorldDir::new(true);
        let record = dir.path().join("requests.jsonl");
        let mut child = Command::new(PYTHON)
            .arg(script)
            .args(args(&record))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", script.display()));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{} printed {line:?}, not a port", script.display()));
        Recorder {
            child,
            port,
            record,
            _dir: dir,
        }
    }

    /// The requests received, oldest first.
    pub fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.record)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
