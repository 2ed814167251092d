//! The runner shared by the sandbox's `harness = false` tests. Creating a sandbox needs a
//! single-threaded process and libtest runs each test on a thread, so each of these test
//! binaries has its own `main`: it answers nextest's `--list`, honours a name filter,
//! runs the check as root, then runs itself again as uid 65534 through `setpriv`
//! (rootless).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Set in the rootless re-run, so it does not recurse.
const ROOTLESS_CHILD: &str = "CORDON_TEST_ROOTLESS_CHILD";

/// This binary, or a world-executable copy of it in /var/tmp when the build directory is
/// private (a CI checkout under /root), so uid 65534 can execute it.
fn runnable_by_nobody(exe: PathBuf, test: &str) -> PathBuf {
    let mode = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.permissions().mode())
            .unwrap_or(0)
    };
    if mode(&exe) & 0o005 == 0o005 && exe.ancestors().skip(1).all(|d| mode(d) & 0o001 != 0) {
        return exe;
    }
    let copy = PathBuf::from(format!("/var/tmp/cordon-{test}-{}", std::process::id()));
    std::fs::copy(&exe, &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    copy
}

/// The `main` of a single-check test binary named `test`: `check` runs as root, then
/// (unless this is the rootless re-run) as uid 65534.
pub fn run_root_and_rootless(test: &str, check: fn()) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        if !args.iter().any(|a| a == "--ignored") {
            println!("{test}: test");
        }
        return;
    }
    if args
        .iter()
        .find(|a| !a.starts_with('-'))
        .is_some_and(|filter| !test.contains(filter.as_str()))
    {
        return;
    }
    check();
    if std::env::var_os(ROOTLESS_CHILD).is_some() {
        return;
    }
    let exe = runnable_by_nobody(std::env::current_exe().unwrap(), test);
    let status = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&exe)
        .arg(test)
        .env(ROOTLESS_CHILD, "1")
        .current_dir("/")
        .status()
        .expect("setpriv is required for the rootless half of this test");
    if exe != std::env::current_exe().unwrap() {
        let _ = std::fs::remove_file(&exe);
    }
    assert!(status.success(), "rootless run failed: {status}");
    println!("test {test} ... ok (root and rootless)");
}
