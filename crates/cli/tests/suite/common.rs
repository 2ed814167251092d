//! Shared harness for the sandbox tests: runs the real `cordon` binary as root and as an
//! unprivileged user (`setpriv --reuid=65534 --regid=65534 --clear-groups`), in temp
//! directories that uid 65534 can read, with the tools checked up front so a missing tool
//! fails the test instead of skipping it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The unprivileged uid/gid the rootless runs use.
pub const NOBODY: u32 = 65534;

/// The interpreter the escape attempts are written in (inside the default policy's /usr).
pub const PYTHON: &str = "/usr/bin/python3";

/// Who runs cordon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// As root (the agent is mapped to an unprivileged id).
    Root,
    /// As uid/gid 65534 without supplementary groups.
    Rootless,
}

/// Both modes, for tests that must hold in each.
pub const MODES: [Mode; 2] = [Mode::Root, Mode::Rootless];

/// Fails the test (never skips it) when a tool the test drives is missing.
pub fn require(tool: &str) {
    let found = Path::new(tool).is_absolute() && Path::new(tool).exists()
        || std::env::var_os("PATH")
            .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).exists()))
            .unwrap_or(false);
    assert!(
        found,
        "required tool {tool} is missing: install it (scripts/test does)"
    );
}

/// The outcome of one cordon invocation.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Asserts exit 0 and returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "cordon failed: {self:#?}");
        &self.stdout
    }
}

/// A `cordon` command line, run as `mode`.
pub struct Cordon {
    mode: Mode,
    args: Vec<std::ffi::OsString>,
    env: Vec<(String, String)>,
    stdin: Option<Vec<u8>>,
}

/// `cordon <args...>` as `mode`.
pub fn cordon<I, S>(mode: Mode, args: I) -> Cordon
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Cordon {
        mode,
        args: args
            .into_iter()
            .map(|a| a.as_ref().to_os_string())
            .collect(),
        env: Vec::new(),
        stdin: None,
    }
}

impl Cordon {
    /// Sets a variable in cordon's own environment.
    pub fn env(mut self, key: &str, value: &str) -> Cordon {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Feeds `bytes` on stdin (otherwise stdin is /dev/null).
    pub fn stdin(mut self, bytes: &[u8]) -> Cordon {
        self.stdin = Some(bytes.to_vec());
        self
    }

    pub fn run(self) -> Run {
        let bin = cordon_bin(self.mode);
        let mut cmd = match self.mode {
            Mode::Root => Command::new(bin),
            Mode::Rootless => {
                require("setpriv");
                let mut cmd = Command::new("setpriv");
                cmd.args([
                    format!("--reuid={NOBODY}"),
                    format!("--regid={NOBODY}"),
                    "--clear-groups".into(),
                ]);
                cmd.arg(bin);
                cmd
            }
        };
        cmd.args(&self.args).current_dir("/");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let output = match self.stdin {
            None => cmd.stdin(Stdio::null()).output(),
            Some(bytes) => {
                cmd.stdin(Stdio::piped());
                let mut child = cmd.spawn().expect("spawn cordon");
                let mut input = child.stdin.take().expect("stdin");
                std::io::Write::write_all(&mut input, &bytes).expect("write stdin");
                drop(input);
                child.wait_with_output()
            }
        };
        Run::from(output.expect("run cordon"))
    }
}

/// Whether uid 65534 can reach and execute `path` ("other" needs x on every ancestor).
fn world_executable(path: &Path) -> bool {
    let mode = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.permissions().mode())
            .unwrap_or(0)
    };
    mode(path) & 0o005 == 0o005 && path.ancestors().skip(1).all(|dir| mode(dir) & 0o001 != 0)
}

/// The cordon binary as `mode` can run it. The build directory may sit below a private
/// directory (a CI checkout under /root): then the rootless runs use a world-executable
/// copy in /var/tmp, shared by all test processes of the same build (keyed by size and
/// modification time, published with an atomic rename).
pub fn cordon_bin(mode: Mode) -> PathBuf {
    let built = Path::new(env!("CARGO_BIN_EXE_cordon"));
    if mode == Mode::Root || world_executable(built) {
        return built.to_path_buf();
    }
    let meta = std::fs::metadata(built).expect("stat cordon");
    let stamp = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let copy = PathBuf::from(format!("/var/tmp/cordon-test-bin-{}-{stamp}", meta.len()));
    if !copy.exists() {
        let partial = PathBuf::from(format!("{}.{}", copy.display(), std::process::id()));
        std::fs::copy(built, &partial).expect("copy cordon");
        std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::fs::rename(&partial, &copy).expect("publish the copy");
    }
    copy
}

/// `cordon run [extra...] -- /bin/sh -c script` as `mode`.
pub fn sh(mode: Mode, extra: &[&str], script: &str) -> Run {
    let mut args: Vec<&str> = vec!["run"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--", "/bin/sh", "-c", script]);
    cordon(mode, args).run()
}

/// `cordon run [extra...] -- python3 -c code` as `mode`.
pub fn py(mode: Mode, extra: &[&str], code: &str) -> Run {
    require(PYTHON);
    let mut args: Vec<&str> = vec!["run"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--", PYTHON, "-c", code]);
    cordon(mode, args).run()
}

/// A temp directory uid 65534 can enter and read (and write, with `writable`), outside
/// /tmp (which the sandbox always replaces, so a test there would prove nothing).
pub struct WorldDir {
    dir: tempfile::TempDir,
}

impl WorldDir {
    pub fn new(writable: bool) -> WorldDir {
        let dir = tempfile::Builder::new()
            .prefix("cordon-test-")
            .tempdir_in("/var/tmp")
            .expect("temp dir in /var/tmp");
        let mode = if writable { 0o777 } else { 0o755 };
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(mode))
            .expect("chmod temp dir");
        WorldDir { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a world-readable file (creating parents world-readable).
    pub fn file(&self, relative: &str, content: &str) -> PathBuf {
        let path = self.dir.path().join(relative);
        let mut dir = path.parent().map(Path::to_path_buf);
        let mut created = Vec::new();
        while let Some(d) = dir {
            if d.exists() {
                break;
            }
            created.push(d.clone());
            dir = d.parent().map(Path::to_path_buf);
        }
        for d in created.iter().rev() {
            std::fs::create_dir(d).expect("mkdir");
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        std::fs::write(&path, content).expect("write file");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        path
    }
}

/// The default policy's filesystem section with `extra_read_only`/`extra_read_write` added.
pub fn policy_yaml(extra_read_only: &[&Path], extra_read_write: &[&Path], tail: &str) -> String {
    let list = |paths: &[&Path]| {
        paths
            .iter()
            .map(|p| format!("    - {}\n", p.display()))
            .collect::<String>()
    };
    format!(
        "version: 1\nfilesystem_policy:\n  include_workdir: true\n  read_only:\n    - /usr\n    \
         - /bin\n    - /lib\n    - /lib64\n    - /etc\n{}  read_write:\n    - /tmp\n{}{tail}",
        list(extra_read_only),
        list(extra_read_write)
    )
}

/// A unique name for files an attempt would create on the host if it succeeded.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{nanos}", std::process::id())
}
