//! `cordon create` and `cordon start`: lay out the sandbox's directory, then detach a
//! supervisor and wait until it reports the main process running (or why not).
//!
//! `create` is all or nothing: the directory is built under a temporary name and renamed
//! into place without replacing anything (`RENAME_NOREPLACE`), which is also what makes
//! names unique per user under concurrent calls; if the sandbox then fails to start, the
//! directory is removed again.

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use cordon_egress::StaticHosts;
use cordon_sandbox::IdMapping;

use crate::env::{EnvArg, filter_env};
use crate::error::{FailureKind, SupervisorError};
use crate::lifecycle::remove::remove_tree;
use crate::lifecycle::supervise::SUPERVISE_COMMAND;
use crate::spec::identity;
use crate::state::{
    Durability, Meta, RestartPolicy, SandboxDir, StateRoot, check_sandbox_name, create_private_dir,
    write_json,
};
use crate::workdir::random_hex;

/// What `cordon create` was asked.
#[derive(Debug, Clone)]
pub struct CreateOptions {
    pub name: String,
    /// `--policy FILE` (the built-in default policy when absent).
    pub policy_file: Option<PathBuf>,
    /// `--workdir DIR`: bind this directory at `/sandbox` (default: the sandbox's own).
    pub workdir: Option<PathBuf>,
    pub env: Vec<EnvArg>,
    pub restart: RestartPolicy,
    /// Rotate logs and the audit log past this many bytes.
    pub log_max_bytes: u64,
    /// `--add-host NAME:IP` entries.
    pub add_hosts: Vec<String>,
    /// The main process; empty with `agent.profile` set = the profile's command.
    pub command: Vec<OsString>,
    /// `--agent`, `--agent-bin`, `--preset`, `--provider`/`--model` (see `agents`).
    pub agent: crate::agents::AgentOptions,
    /// `--secret ENV=PROVIDER` specs (see `credentials`).
    pub secrets: Vec<String>,
}

/// The profile's variables, and `PATH` with the agent's directories first.
fn agent_env(env: &mut Vec<(String, String)>, prepared: &crate::agents::Prepared) {
    for (name, value) in &prepared.env {
        env.retain(|(k, _)| k != name);
        env.push((name.clone(), value.clone()));
    }
    if let Some((_, path)) = env.iter_mut().find(|(k, _)| k == "PATH") {
        *path = crate::agents::prepend_path(path, &prepared.path_dirs);
    }
}

/// How a start went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Started {
    /// The main process runs.
    Running,
    /// A supervisor was running it already.
    AlreadyRunning,
}

fn utf8(value: &OsString, what: &str) -> Result<String, SupervisorError> {
    value
        .to_str()
        .map(str::to_owned)
        .ok_or_else(|| SupervisorError::StartFailed {
            kind: FailureKind::Cordon,
            message: format!("{what} {value:?} is not valid UTF-8"),
        })
}

/// Creates the sandbox and starts it. Returns warnings for the user (secret-looking
/// variables passed on request).
pub fn create(
    root: &StateRoot,
    options: CreateOptions,
) -> Result<(Started, Vec<String>), SupervisorError> {
    check_sandbox_name(&options.name)?;
    let (policy, policy_text, policy_source) = match &options.policy_file {
        None => (
            cordon_policy::default_policy(),
            cordon_policy::DEFAULT_POLICY_YAML.to_owned(),
            "default".to_owned(),
        ),
        Some(path) => {
            let loaded = cordon_policy::load_file(path)
                .map_err(|e| SupervisorError::Policy(e.to_string()))?;
            let text = std::fs::read_to_string(path)
                .map_err(|e| SupervisorError::Policy(format!("{}: {e}", path.display())))?;
            let source = std::path::absolute(path)
                .unwrap_or_else(|_| path.clone())
                .display()
                .to_string();
            (loaded.policy, text, source)
        }
    };
    let prepared = if options.agent.is_empty() {
        None
    } else {
        let base = options
            .policy_file
            .is_some()
            .then(|| (policy.clone(), policy_text.clone(), policy_source.clone()));
        let host_path = std::env::var_os("PATH");
        Some(crate::agents::prepare(
            &options.name,
            &options.agent,
            base,
            host_path.as_deref(),
        )?)
    };
    let (policy, policy_text, policy_source) = match &prepared {
        Some(p) => (
            p.policy.clone(),
            p.policy_text.clone(),
            p.policy_source.clone(),
        ),
        None => (policy, policy_text, policy_source),
    };
    let command = match prepared.as_ref().and_then(|p| p.command.clone()) {
        Some(command) if options.command.is_empty() => command,
        _ if options.command.is_empty() => {
            return Err(SupervisorError::StartFailed {
                kind: FailureKind::Cordon,
                message: "no command given".into(),
            });
        }
        _ => options
            .command
            .iter()
            .map(|a| utf8(a, "argument"))
            .collect::<Result<Vec<_>, _>>()?,
    };
    let secrets = crate::credentials::records(&crate::credentials::issue(&options.secrets)?);
    let mut hosts = StaticHosts::new();
    for entry in &options.add_hosts {
        hosts.add_entry(entry)?;
    }
    let (env, warnings) = filter_env(std::env::vars_os(), &options.env);
    let mut env = env
        .iter()
        .map(|(k, v)| Ok((utf8(k, "variable")?, utf8(v, "value of")?)))
        .collect::<Result<Vec<_>, SupervisorError>>()?;
    if let Some(prepared) = &prepared {
        agent_env(&mut env, prepared);
    }
    if let Some(dir) = &options.workdir {
        crate::workdir::Workdir::given(dir)?;
    }

    let final_path = root.sandboxes().join(&options.name);
    if final_path.exists() {
        return Err(SupervisorError::AlreadyExists(options.name));
    }
    let staging = root
        .sandboxes()
        .join(format!(".{}.creating-{}", options.name, random_hex(4)));
    let built = (|| {
        create_private_dir(&staging.join("logs"))
            .map_err(|e| SupervisorError::state(&staging, e))?;
        // As root the agent is an unprivileged mapped id: what it owns is given to it.
        let ids = IdMapping::for_invoker(identity(&policy))?;
        let owner = ids.rootful.then_some((ids.host_uid, ids.host_gid));
        let (workdir, owned, host_workdir) = match &options.workdir {
            Some(dir) => {
                let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
                (dir.clone(), false, dir)
            }
            None => {
                let dir = staging.join("workdir");
                create_private_dir(&dir).map_err(|e| SupervisorError::state(&dir, e))?;
                if let Some((uid, gid)) = owner {
                    std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
                        .map_err(|e| SupervisorError::state(&dir, e))?;
                }
                (final_path.join("workdir"), true, dir)
            }
        };
        let extra_ro_files = match &prepared {
            Some(prepared) => crate::agents::install(
                prepared,
                &host_workdir,
                &staging.join("agent"),
                &final_path.join("agent"),
                owner,
            )?,
            None => Vec::new(),
        };
        let meta = Meta {
            version: 1,
            name: options.name.clone(),
            created_at_ms: cordon_audit::now_ms(),
            command,
            env,
            workdir,
            workdir_owned: owned,
            restart: options.restart,
            log_max_bytes: options.log_max_bytes,
            add_hosts: options.add_hosts.clone(),
            policy_source,
            extra_ro_files,
            secrets,
        };
        // Synced by the supervisor once the sandbox runs (off the caller's path).
        let later = Durability::Later;
        crate::state::write_atomic(&staging.join("policy.yaml"), policy_text.as_bytes(), later)?;
        write_json(&staging.join("meta.json"), &meta, later)
    })();
    if let Err(err) = built {
        remove_tree(&staging);
        return Err(err);
    }
    let placed = rustix::fs::renameat_with(
        rustix::fs::CWD,
        &staging,
        rustix::fs::CWD,
        &final_path,
        rustix::fs::RenameFlags::NOREPLACE,
    );
    if let Err(e) = placed {
        remove_tree(&staging);
        return Err(match e {
            rustix::io::Errno::EXIST | rustix::io::Errno::NOTEMPTY => {
                SupervisorError::AlreadyExists(options.name)
            }
            e => SupervisorError::state(&final_path, e.into()),
        });
    }
    let dir = root.sandbox(&options.name)?;
    match start_supervisor(&dir) {
        Ok(started) => Ok((started, warnings)),
        Err(err) => {
            remove_tree(dir.path());
            Err(err)
        }
    }
}

/// `cordon start NAME`: the same sandbox (workdir, policy, name) with a new supervisor.
pub fn start(root: &StateRoot, name: &str) -> Result<Started, SupervisorError> {
    let dir = root.sandbox(name)?;
    if dir.supervisor_alive()? {
        return Ok(Started::AlreadyRunning);
    }
    start_supervisor(&dir)
}

fn failure_kind(word: &str) -> FailureKind {
    match word {
        "not_found" => FailureKind::CommandNotFound,
        "not_executable" => FailureKind::CommandNotExecutable,
        "invalid" => FailureKind::Invalid,
        _ => FailureKind::Cordon,
    }
}

/// Detaches `cordon __supervise NAME` and waits for its readiness line.
fn start_supervisor(dir: &SandboxDir) -> Result<Started, SupervisorError> {
    let log_path = dir.supervisor_log_path();
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&log_path)
        .map_err(|e| SupervisorError::state(&log_path, e))?;
    let exe = std::env::current_exe().map_err(SupervisorError::Runtime)?;
    let mut child = Command::new(exe)
        .arg(SUPERVISE_COMMAND)
        .arg(dir.name())
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .map_err(SupervisorError::Runtime)?;
    let mut answer = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_string(&mut answer);
    }
    let line = answer.lines().next().unwrap_or("");
    if line == "ok" {
        return Ok(Started::Running);
    }
    if line.starts_with("ok ") {
        return Ok(Started::AlreadyRunning);
    }
    let _ = child.wait(); // it exited: reap it
    let Some(rest) = line.strip_prefix("error ") else {
        return Err(SupervisorError::StartFailed {
            kind: FailureKind::Cordon,
            message: format!(
                "the supervisor exited without starting the sandbox (see {})",
                log_path.display()
            ),
        });
    };
    let (kind, message) = rest.split_once(' ').unwrap_or((rest, ""));
    Err(SupervisorError::StartFailed {
        kind: failure_kind(kind),
        message: message.replace('\u{1f}', "\n"),
    })
}
