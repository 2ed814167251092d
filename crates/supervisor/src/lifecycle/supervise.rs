//! The supervisor of a named sandbox: the process `cordon create`/`start` detaches
//! (`cordon __supervise NAME`), one per sandbox, the only process of it outside.
//!
//! Order matters, as in `cordon run`: everything that can fail on input is checked, then
//! the sandbox is spawned while the process is single-threaded, then the threads start
//! (proxy runtime, audit writer, log pumps, control and exec servers). The main thread
//! waits for the main process; when it ends the restart policy decides between recording
//! `stopped` and starting over. Starting over re-executes this program: a process that
//! has started threads can never again create a user namespace.
//!
//! Readiness: the caller reads this process's stdout until end-of-file; one line says
//! `ok` or `error KIND MESSAGE`. After that, stdout and stderr go to
//! `logs/supervisor.log`.

use std::ffi::OsString;
use std::fs::File;
use std::io::Write;
use std::os::fd::{IntoRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cordon_control::api::{EgressInfo, Limits, LiveStatus, PolicyInfo};
use cordon_control::exec::ExecListener;
use cordon_control::{PeerChecked, bind_control};
use cordon_sandbox::{Notice, Sandbox};

use crate::error::{FailureKind, SupervisorError};
use crate::lifecycle::logs::{LogFile, pump};
use crate::lifecycle::{api, exec_server};
use crate::proxy::{AuditTarget, EgressPlan, PROXY_LISTEN, RunningEgress, override_env, proxy_env};
use crate::run::proxy_runtime;
use crate::spec::{RunRequest, sandbox_spec};
use crate::state::{SandboxDir, State, StateRoot, boot_id};
use crate::transparent::TransparentPlan;
use crate::trust::TrustPlan;

/// The hidden subcommand that runs a supervisor (`cordon __supervise NAME`).
pub const SUPERVISE_COMMAND: &str = "__supervise";

/// Flag of [`SUPERVISE_COMMAND`] for a start by the restart policy.
pub const RESTARTED_FLAG: &str = "--restarted";

/// Flag of [`SUPERVISE_COMMAND`] naming the inherited descriptor of the held
/// `supervisor.lock` (a restart keeps the lock through the re-exec, so the sandbox never
/// looks stopped in between).
pub const LOCK_FD_FLAG: &str = "--lock-fd";

/// How often a supervisor in restart back-off looks for a `cordon stop`.
const BACKOFF_POLL: Duration = Duration::from_millis(20);

/// Longest wait between two restarts of a main process that keeps failing.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// First wait before a restart; doubles with each consecutive restart.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// A main process that ran at least this long resets the backoff.
const STABLE_RUN: Duration = Duration::from_secs(10);

/// The caller's end of the readiness pipe (our original stdout).
struct Ready(Option<File>);

impl Ready {
    fn say(&mut self, line: &str) {
        if let Some(mut file) = self.0.take() {
            let _ = writeln!(file, "{line}");
        }
    }
}

fn kind_word(kind: FailureKind) -> &'static str {
    match kind {
        FailureKind::CommandNotFound => "not_found",
        FailureKind::CommandNotExecutable => "not_executable",
        FailureKind::Invalid => "invalid",
        FailureKind::Cordon => "cordon",
    }
}

/// The held `supervisor.lock`.
enum Lock {
    /// Taken by this process.
    Owned(File),
    /// Inherited through a restart's re-exec: open for the life of the process, never
    /// closed (closing it would release the lock).
    Inherited(RawFd),
}

impl Lock {
    /// The descriptor, made inheritable, for the re-exec.
    fn into_inheritable(self) -> Result<RawFd, SupervisorError> {
        match self {
            Lock::Owned(file) => {
                rustix::io::fcntl_setfd(&file, rustix::io::FdFlags::empty())
                    .map_err(|e| SupervisorError::Runtime(e.into()))?;
                Ok(file.into_raw_fd())
            }
            Lock::Inherited(fd) => Ok(fd),
        }
    }
}

/// Takes the lock, or adopts the one a restart handed over (checked to be our lock file).
fn take_lock(dir: &SandboxDir, inherited: Option<RawFd>) -> Result<Option<Lock>, SupervisorError> {
    if let Some(fd) = inherited {
        let target = std::fs::read_link(format!("/proc/self/fd/{fd}")).ok();
        if target.as_deref() == Some(dir.path().join("supervisor.lock").as_path()) {
            return Ok(Some(Lock::Inherited(fd)));
        }
    }
    Ok(dir.try_lock_supervisor()?.map(Lock::Owned))
}

/// Runs the supervisor of `name` until its sandbox stops; returns the exit code of this
/// process (it only returns on stop, failure or when no restart is due).
pub fn supervise(
    name: &str,
    restarted: bool,
    lock_fd: Option<RawFd>,
) -> Result<u8, SupervisorError> {
    // Our stdout is the caller's readiness pipe; keep a private copy of it.
    let ready_fd: OwnedFd = rustix::io::fcntl_dupfd_cloexec(rustix::stdio::stdout(), 3)
        .map_err(|e| SupervisorError::Runtime(e.into()))?;
    let mut ready = Ready((!restarted).then(|| File::from(ready_fd)));
    let _ = rustix::process::setsid();
    let root = StateRoot::for_current_user()?;
    let dir = Arc::new(root.sandbox(name)?);
    let Some(lock) = take_lock(&dir, lock_fd)? else {
        ready.say("ok already running");
        return Ok(0);
    };
    if !restarted {
        dir.update_state(|s| s.stop_requested = false)?;
    }
    match run_once(&dir, restarted, &mut ready) {
        Ok(Next::Exit(code)) => Ok(code),
        Ok(Next::Restart) => {
            let fd = lock.into_inheritable()?;
            let err = std::process::Command::new("/proc/self/exe")
                .args([SUPERVISE_COMMAND, name, RESTARTED_FLAG, LOCK_FD_FLAG])
                .arg(fd.to_string())
                .exec();
            let _ = dir.update_state(|s| {
                s.state = State::Stopped;
                s.reason = Some(format!("restart failed: {err}"));
            });
            Err(SupervisorError::Runtime(err))
        }
        Err(err) => {
            ready.say(&format!(
                "error {} {}",
                kind_word(err.kind()),
                err.to_string().replace('\n', "\u{1f}")
            ));
            let message = err.to_string();
            let _ = dir.update_state(|s| {
                s.state = State::Stopped;
                s.supervisor_pid = None;
                s.init_pid = None;
                s.reason = Some(format!("start failed: {message}"));
            });
            Err(err)
        }
    }
}

enum Next {
    Exit(u8),
    Restart,
}

/// Points our stdout and stderr at `file`.
fn redirect_stdio(file: &File) {
    let _ = rustix::stdio::dup2_stdout(file);
    let _ = rustix::stdio::dup2_stderr(file);
}

fn run_once(
    dir: &Arc<SandboxDir>,
    restarted: bool,
    ready: &mut Ready,
) -> Result<Next, SupervisorError> {
    let name = dir.name().to_owned();
    let meta = dir.read_meta()?;
    let previous = dir.read_state()?;
    let supervisor_log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(dir.supervisor_log_path())
        .map_err(|e| SupervisorError::state(&dir.supervisor_log_path(), e))?;
    redirect_stdio(&supervisor_log); // stderr until now was the caller's choice
    let restarts = if restarted { previous.restarts + 1 } else { 0 };
    if restarted {
        let ran = previous
            .started_at_ms
            .map(|t| cordon_audit::now_ms().saturating_sub(t));
        let backoff = if ran.is_none_or(|ms| ms < STABLE_RUN.as_millis() as u64) {
            (FIRST_BACKOFF * 2u32.pow(previous.restarts.min(16))).min(MAX_BACKOFF)
        } else {
            Duration::ZERO
        };
        let until = std::time::Instant::now() + backoff;
        loop {
            if dir.read_state()?.stop_requested {
                dir.update_state(|s| {
                    s.state = State::Stopped;
                    s.supervisor_pid = None;
                    s.reason = Some(format!(
                        "stopped by `cordon stop` (main process exit code {})",
                        s.exit_code.map_or_else(|| "?".into(), |c| c.to_string())
                    ));
                })?;
                return Ok(Next::Exit(0));
            }
            if std::time::Instant::now() >= until {
                break;
            }
            std::thread::sleep(BACKOFF_POLL);
        }
    }
    let loaded = cordon_policy::load_file(&dir.policy_path())
        .map_err(|e| SupervisorError::PolicyInvalid(e.to_string()))?;
    let policy_text = std::fs::read_to_string(dir.policy_path())
        .map_err(|e| SupervisorError::state(&dir.policy_path(), e))?;
    let mut env: Vec<(OsString, OsString)> =
        meta.env.iter().map(|(k, v)| (k.into(), v.into())).collect();
    override_env(&mut env, proxy_env(PROXY_LISTEN));
    let placeholders = crate::credentials::restore(&meta.secrets)?;
    override_env(&mut env, crate::credentials::env(&placeholders));
    let mut spec = sandbox_spec(
        &loaded.policy,
        RunRequest {
            name: name.clone(),
            command: meta.command.iter().map(OsString::from).collect(),
            env,
            workdir: Some(meta.workdir.clone()),
            tty: false,
            stdin: false,
            verbose: false,
        },
    );
    spec.proxy_listen = Some(PROXY_LISTEN);
    spec.exec = true;
    if !meta.extra_ro_files.is_empty() {
        let ids = cordon_sandbox::IdMapping::for_invoker(spec.identity)?;
        let owner = ids.rootful.then_some((ids.host_uid, ids.host_gid));
        crate::agents::ensure_mount_points(&meta.workdir, &meta.extra_ro_files, owner)?;
        spec.extra_ro_files
            .extend(meta.extra_ro_files.iter().cloned());
    }
    let capture = TransparentPlan::prepare(&loaded.policy, &name, &mut spec)?;
    let accounts = crate::accounts::AccountFiles::prepare(&name, &mut spec)?;
    let mut plan = EgressPlan::prepare(
        &loaded.policy,
        &meta.add_hosts,
        AuditTarget {
            path: Some(dir.audit_path()),
            rotate_bytes: Some(meta.log_max_bytes),
        },
    )?;
    // The CA lives with the sandbox's state, so `start` keeps the same one.
    let trust = TrustPlan::prepare(&name, &dir.path().join("ca"), None, &mut spec)?;
    plan.inspection = Some(trust.inspection());
    let (credentials, secret_warnings) = crate::credentials::substitutor(placeholders);
    plan.credentials = Arc::new(credentials);
    let log = Arc::new(Mutex::new(
        LogFile::open(&dir.log_path(), meta.log_max_bytes)
            .map_err(|e| SupervisorError::state(&dir.log_path(), e))?,
    ));

    // The main process's stdout/stderr: pipes read by the log pumps. The sandbox inherits
    // our fds 1 and 2, so they point at the pipes exactly while it is spawned.
    let pipe = || {
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .map_err(|e| SupervisorError::Runtime(e.into()))
    };
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let _ = rustix::stdio::dup2_stdout(&out_w);
    let _ = rustix::stdio::dup2_stderr(&err_w);
    drop((out_w, err_w));
    let spawned = Sandbox::spawn(&spec);
    drop(accounts); // mounted by now
    redirect_stdio(&supervisor_log);
    let mut sandbox = spawned?;
    // Before any thread exists, so every thread (and a restart's re-exec) inherits it.
    let narrowed = crate::privileges::narrow(crate::privileges::Role::Named)?;
    // Threads may start from here on.
    cordon_egress::raise_descriptor_limit();
    let pumps = [
        pump(File::from(out_r), "stdout", Arc::clone(&log)),
        pump(File::from(err_r), "stderr", Arc::clone(&log)),
    ];
    let runtime = proxy_runtime()?;
    let egress = {
        let _context = runtime.enter();
        Arc::new(RunningEgress::start(&mut sandbox, &name, plan)?)
    };
    let capture = {
        let _context = runtime.enter();
        capture.serve(&mut sandbox, &egress)?
    };
    let started_at_ms = cordon_audit::now_ms();
    let init_pid = sandbox.init_pid();
    let stop_requested = Arc::new(AtomicBool::new(false));
    let (mut layers, mut warnings) = notices(sandbox.notices());
    layers.push(capture.line);
    layers.extend(narrowed);
    warnings.extend(capture.warning);
    for warning in secret_warnings {
        eprintln!("cordon: warning: {warning}");
        warnings.push(warning);
    }
    let api = Arc::new(api::Api {
        name: name.clone(),
        dir: Arc::clone(dir),
        egress: Arc::clone(&egress),
        signaller: sandbox.signaller()?,
        stop_requested: Arc::clone(&stop_requested),
        status: LiveStatus {
            name: name.clone(),
            supervisor_pid: std::process::id(),
            init_pid,
            main_pid: sandbox.agent_pid(),
            started_at_ms,
            restarts,
            policy: PolicyInfo {
                source: meta.policy_source.clone(),
                generation: 1,
            },
            egress: EgressInfo {
                proxy: PROXY_LISTEN.to_string(),
                allowed: 0,
                denied: 0,
                audit_denied: 0,
                reloads_rejected: 0,
                active_connections: 0,
                total_connections: 0,
            },
            layers,
            warnings,
            landlock_abi: cordon_sandbox::landlock_abi(),
            limits: Limits {
                memory_bytes: spec.resources.memory_bytes,
                pids: spec.resources.pids,
                cpu: spec.resources.cpu,
            },
            ca_fingerprint: Some(trust.fingerprint()),
            stopping: false,
            inference: None,
        },
        policy_text: Mutex::new((policy_text, meta.policy_source.clone())),
    });
    let uid = rustix::process::geteuid().as_raw();
    let (stop_server, server_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = {
        let _context = runtime.enter();
        let listener = bind_control(&dir.control_socket())?;
        runtime.spawn(cordon_control::serve(
            PeerChecked::new(listener, uid),
            api::router(Arc::clone(&api)),
            async move {
                let _ = server_stopped.await;
            },
        ))
    };
    if let Some(executor) = sandbox.executor() {
        let listener = ExecListener::bind(&dir.exec_socket())?;
        exec_server::serve(listener, executor, uid).map_err(SupervisorError::Runtime)?;
    }
    dir.update_state(|s| {
        s.state = State::Running;
        s.supervisor_pid = Some(std::process::id());
        s.init_pid = Some(init_pid);
        s.started_at_ms = Some(started_at_ms);
        s.boot_id = Some(boot_id());
        s.exit_code = None;
        s.reason = None;
        s.restarts = restarts;
    })?;
    ready.say("ok");
    // What `create` wrote without waiting for the disk, and the record just written.
    crate::state::sync_files(&[
        dir.meta_path(),
        dir.policy_path(),
        dir.state_path(),
        dir.path().to_path_buf(),
    ]);

    let status = sandbox.wait();

    // The sandbox is gone: no process of it is left (init's exit killed the pid namespace).
    let _ = stop_server.send(());
    let _ = runtime.block_on(server);
    drop(api);
    if let Ok(egress) = Arc::try_unwrap(egress) {
        runtime.block_on(egress.shutdown());
    }
    runtime.shutdown_timeout(Duration::from_secs(1));
    for path in api::sockets(dir) {
        let _ = std::fs::remove_file(path);
    }
    for pump in pumps.into_iter().flatten() {
        let _ = pump.join();
    }
    let code = status?.code();
    let stopped = stop_requested.load(Ordering::SeqCst) || dir.read_state()?.stop_requested;
    let restart = !stopped && meta.restart.restarts(code);
    dir.update_state(|s| {
        s.state = if restart {
            State::Restarting
        } else {
            State::Stopped
        };
        s.exit_code = Some(code);
        s.init_pid = None;
        s.reason = Some(if stopped {
            format!("stopped by `cordon stop` (main process exit code {code})")
        } else if restart {
            format!(
                "main process exited with code {code}; restarting ({})",
                meta.restart.as_str()
            )
        } else {
            format!("main process exited with code {code}")
        });
        if !restart {
            s.supervisor_pid = None;
        }
    })?;
    Ok(if restart {
        Next::Restart
    } else {
        Next::Exit(0)
    })
}

/// The layer lines and the warnings, as `status` shows them.
fn notices(notices: &[Notice]) -> (Vec<String>, Vec<String>) {
    let mut layers = Vec::new();
    let mut warnings = Vec::new();
    for notice in notices {
        match notice {
            Notice::Layer(text) => layers.push(text.clone()),
            Notice::Warning(text) => warnings.push(text.clone()),
        }
    }
    (layers, warnings)
}
