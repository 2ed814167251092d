//! The CLI's side of a running sandbox: `exec`/`connect` over the exec socket, `policy
//! get`/`policy set` over the control API (or the stored policy when it is stopped).

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use cordon_control::api::{self, PolicyApplied, PolicyDocument, SetPolicy};
use cordon_control::exec::{ExecConn, Frame};
use http::{Method, StatusCode};

use crate::error::{FailureKind, SupervisorError};
use crate::state::{Durability, StateRoot, write_json};

/// Runs `future` on a private single-threaded runtime (the CLI is otherwise synchronous).
pub(crate) fn block_on<F: std::future::Future>(future: F) -> Result<F::Output, SupervisorError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(SupervisorError::Runtime)?;
    Ok(runtime.block_on(future))
}

/// What `cordon exec` runs.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    pub command: Vec<String>,
    /// `-i`: the process reads our stdin (otherwise `/dev/null`).
    pub interactive: bool,
    /// `-t`: a pty inside the sandbox, relayed to our terminal.
    pub tty: bool,
}

/// Runs a command in the running sandbox `name` and returns its exit code.
pub fn exec(root: &StateRoot, name: &str, options: ExecOptions) -> Result<u8, SupervisorError> {
    let dir = root.sandbox(name)?;
    if !dir.supervisor_alive()? {
        return Err(SupervisorError::NotRunning(name.to_owned()));
    }
    let conn = ExecConn::connect(&dir.exec_socket())?;
    let frame = Frame::Exec {
        argv: options.command.clone(),
        tty: options.tty,
    };
    if options.tty {
        conn.send(&frame, &[])?;
    } else {
        let null = std::fs::File::open("/dev/null").map_err(SupervisorError::Runtime)?;
        let stdin = if options.interactive {
            rustix::stdio::stdin()
        } else {
            null.as_fd()
        };
        conn.send(
            &frame,
            &[stdin, rustix::stdio::stdout(), rustix::stdio::stderr()],
        )?;
    }
    let gone = || SupervisorError::SupervisorGone(name.to_owned());
    let master: Option<OwnedFd> = match conn.recv()? {
        Some((Frame::Started, mut fds)) => fds.pop(),
        Some((Frame::Failed { kind, message }, _)) => {
            return Err(SupervisorError::StartFailed {
                kind: match kind.as_str() {
                    "not_found" => FailureKind::CommandNotFound,
                    "not_executable" => FailureKind::CommandNotExecutable,
                    _ => FailureKind::Cordon,
                },
                message,
            });
        }
        _ => return Err(gone()),
    };
    let signals = conn.try_clone().map_err(SupervisorError::Runtime)?;
    cordon_sandbox::attach(master, options.interactive, conn.as_fd(), |signal| {
        let _ = signals.send(&Frame::Signal { signal }, &[]);
    })
    .map_err(SupervisorError::Runtime)?;
    match conn.recv()? {
        Some((Frame::Exited { code }, _)) => Ok(code),
        _ => Err(gone()),
    }
}

/// The policy in force for `name` (the stored one when it is not running).
pub fn policy_get(root: &StateRoot, name: &str) -> Result<String, SupervisorError> {
    let dir = root.sandbox(name)?;
    if dir.supervisor_alive()? {
        let client = cordon_control::Client::new(&dir.control_socket());
        if let Ok(Ok(reply)) = block_on(client.request(Method::GET, api::POLICY, None::<&()>))
            && reply.status.is_success()
        {
            return Ok(reply.json::<PolicyDocument>()?.yaml);
        }
    }
    std::fs::read_to_string(dir.policy_path())
        .map_err(|e| SupervisorError::state(&dir.policy_path(), e))
}

/// Installs the policy in `file` for `name`: hot-reloaded into a running sandbox (static
/// sections must not change), stored for the next start otherwise. Returns the new
/// generation when the sandbox runs and `wait` was asked.
pub fn policy_set(
    root: &StateRoot,
    name: &str,
    file: &Path,
    wait: bool,
) -> Result<Option<u64>, SupervisorError> {
    let source = std::path::absolute(file)
        .unwrap_or_else(|_| file.to_path_buf())
        .display()
        .to_string();
    let yaml = std::fs::read_to_string(file).map_err(|e| {
        SupervisorError::PolicyInvalid(format!("cannot read policy file {}: {e}", file.display()))
    })?;
    policy_set_text(root, name, yaml, source, wait)
}

/// As [`policy_set`], for a policy cordon composed itself (`preset apply`, `inference
/// set --sandbox`): `source` labels it in `status` and the audit log instead of a
/// temporary file's name.
pub fn policy_set_text(
    root: &StateRoot,
    name: &str,
    yaml: String,
    source: String,
    wait: bool,
) -> Result<Option<u64>, SupervisorError> {
    let dir = root.sandbox(name)?;
    if dir.supervisor_alive()? {
        // The supervisor validates (every problem with file:line:col) and audits a refusal.
        let client = cordon_control::Client::new(&dir.control_socket());
        let request = SetPolicy { yaml, source, wait };
        let reply = block_on(client.request(Method::PUT, api::POLICY, Some(&request)))??;
        return match reply.status {
            StatusCode::OK | StatusCode::ACCEPTED => Ok(reply.json::<PolicyApplied>()?.generation),
            StatusCode::CONFLICT => Err(SupervisorError::NeedsRestart(reply.error().message)),
            _ => Err(SupervisorError::PolicyInvalid(reply.error().message)),
        };
    }
    cordon_policy::parse_str(&yaml, &source).map_err(|e| {
        SupervisorError::PolicyInvalid(format!(
            "policy {source} rejected, previous policy kept:\n{e}"
        ))
    })?;
    dir.with_meta_lock(|| {
        crate::state::write_atomic(&dir.policy_path(), yaml.as_bytes(), Durability::Synced)?;
        let mut meta = dir.read_meta()?;
        meta.policy_source = source;
        write_json(&dir.meta_path(), &meta, Durability::Synced)
    })?;
    Ok(None)
}
