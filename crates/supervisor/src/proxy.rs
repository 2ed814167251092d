//! The egress proxy of one sandbox, as the supervisor wires it: the listener address
//! inside the sandbox, the proxy variables the agent gets, and starting/stopping
//! `cordon_egress::EgressProxy` on the listener the sandbox handed over.
//!
//! Split in two steps around `Sandbox::spawn`: [`EgressPlan::prepare`] does everything
//! that can fail on bad input (compile the policy, parse `--add-host`, check the audit
//! file can be opened) while the process is still single-threaded and nothing has
//! started; [`RunningEgress::start`] runs after the spawn, inside the tokio runtime.

use std::ffi::OsString;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use cordon_audit::{AuditLog, AuditLogOptions, AuditSink};
use cordon_egress::{
    EgressConfig, EgressProxy, EgressStats, PeerScope, PolicyHandle, SockDiag, StaticHosts,
};
use cordon_policy::{CompiledPolicy, Policy};
use cordon_sandbox::Sandbox;

use crate::error::SupervisorError;

/// Where the proxy listens inside every sandbox: squid's well-known port on the
/// sandbox's own loopback (each sandbox has its own network namespace, so every
/// sandbox can use the same address).
pub const PROXY_LISTEN: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 3128);

/// The proxy variables of the agent (upper and lower case; `NO_PROXY` = loopback only),
/// as the egress layer defines them.
pub(crate) fn proxy_env(addr: SocketAddrV4) -> Vec<(OsString, OsString)> {
    cordon_egress::agent_proxy_env(addr.into())
        .into_iter()
        .map(|(name, value)| (name.into(), value.into()))
        .collect()
}

/// Sets `vars` in `env`, replacing variables of the same name.
pub(crate) fn override_env(env: &mut Vec<(OsString, OsString)>, vars: Vec<(OsString, OsString)>) {
    for (name, value) in vars {
        env.retain(|(k, _)| *k != name);
        env.push((name, value));
    }
}

/// Where audit lines go.
#[derive(Debug, Clone)]
pub struct AuditTarget {
    /// The JSONL file (`None`: decisions are only counted).
    pub path: Option<PathBuf>,
    /// Rotate the file past this many bytes (`FILE` -> `FILE.1`).
    pub rotate_bytes: Option<u64>,
}

/// Everything checked before the sandbox exists.
#[derive(Debug)]
pub(crate) struct EgressPlan {
    compiled: CompiledPolicy,
    hosts: StaticHosts,
    audit: AuditTarget,
    /// TLS inspection with the sandbox CA (set by the caller after `prepare`).
    pub(crate) inspection: Option<cordon_egress::l7::Inspection>,
    /// `--secret` placeholders and their real values (set by the caller; default none).
    pub(crate) credentials: std::sync::Arc<cordon_secrets::Substitutor>,
}

impl EgressPlan {
    /// Compiles the policy, parses the `NAME:IP` host mappings and makes sure the audit
    /// file can be opened (so a typo fails before the agent starts).
    pub(crate) fn prepare(
        policy: &Policy,
        add_hosts: &[String],
        audit: AuditTarget,
    ) -> Result<EgressPlan, SupervisorError> {
        let compiled = CompiledPolicy::compile(policy)
            .map_err(|err| SupervisorError::Policy(err.to_string()))?;
        let mut hosts = StaticHosts::new();
        for entry in add_hosts {
            hosts.add_entry(entry)?;
        }
        if let Some(path) = &audit.path {
            check_writable(path)?;
        }
        Ok(EgressPlan {
            compiled,
            hosts,
            audit,
            inspection: None,
            credentials: std::sync::Arc::default(),
        })
    }
}

fn check_writable(path: &Path) -> Result<(), SupervisorError> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map(drop)
        .map_err(|source| SupervisorError::AuditFile {
            path: path.to_path_buf(),
            source,
        })
}

/// The proxy serving one sandbox, and its audit log.
#[derive(Debug)]
pub(crate) struct RunningEgress {
    proxy: EgressProxy,
    /// The writer thread of `--audit FILE`; closed (flushed) at shutdown.
    log: Option<AuditLog>,
    sink: AuditSink,
    /// The router behind `inference.local` (for `cordon status`).
    inference: Option<cordon_inference::InferenceRouter>,
}

impl RunningEgress {
    /// Serves the sandbox's proxy listener. Must run inside a tokio runtime context, after
    /// the sandbox was spawned (threads start here).
    pub(crate) fn start(
        sandbox: &mut Sandbox,
        name: &str,
        plan: EgressPlan,
    ) -> Result<RunningEgress, SupervisorError> {
        let listener = sandbox
            .take_proxy_listener()
            .ok_or(SupervisorError::NoProxyListener)?;
        let log = match &plan.audit.path {
            Some(path) => Some(AuditLog::open(
                path,
                AuditLogOptions {
                    rotate_bytes: plan.audit.rotate_bytes,
                    ..AuditLogOptions::default()
                },
            )?),
            None => None,
        };
        let sink = log
            .as_ref()
            .map_or_else(AuditSink::counting_only, AuditLog::sink);
        // The agent stands for the sandbox: a rootless supervisor cannot read init's
        // namespace links (see `Sandbox::agent_pid`), and any process of the sandbox
        // names the same pid and network namespaces.
        let peers = PeerScope::Sandbox {
            init_pid: sandbox.agent_pid().unwrap_or(sandbox.init_pid()),
            sock_diag: sandbox.take_sock_diag().map(SockDiag::from_fd),
        };
        let policy = PolicyHandle::new(plan.compiled);
        // The inspection's upstream verifier already holds the system roots parsed
        // once for this start; re-reading the hashed certificate directory for the
        // router would cost every sandbox start several milliseconds.
        let upstream_tls = plan
            .inspection
            .as_ref()
            .map(|inspection| inspection.upstream().config().clone());
        let inference = crate::inference::router(name, &sink, &policy, upstream_tls);
        let mut config = EgressConfig::new(name, listener, policy, sink.clone(), peers);
        config.hosts = plan.hosts;
        config.inference = inference.clone();
        config.inspection = plan.inspection;
        config.credentials = plan.credentials;
        let proxy = EgressProxy::start(config)?;
        Ok(RunningEgress {
            proxy,
            log,
            sink,
            inference,
        })
    }

    /// The proxy itself (transparent capture is served by it too).
    pub(crate) fn proxy(&self) -> &EgressProxy {
        &self.proxy
    }

    /// The reloadable policy (for the file watcher and the control API).
    pub(crate) fn policy(&self) -> &PolicyHandle {
        self.proxy.policy()
    }

    /// Where decisions and reloads are recorded.
    pub(crate) fn audit(&self) -> &AuditSink {
        &self.sink
    }

    /// Route and usage against budget of `inference.local` (`None`: no router).
    pub(crate) fn inference_status(&self) -> Option<cordon_inference::InferenceStatus> {
        self.inference.as_ref().map(|router| router.status())
    }

    /// Current counters.
    #[allow(dead_code)] // read by the control API of named sandboxes
    pub(crate) fn stats(&self) -> EgressStats {
        self.proxy.stats()
    }

    /// Stops the proxy (open tunnels write their audit lines) and flushes the audit log.
    pub(crate) async fn shutdown(self) -> EgressStats {
        let stats = self.proxy.shutdown().await;
        if let Some(log) = self.log {
            drop(self.sink);
            let _ = tokio::task::spawn_blocking(move || log.close()).await;
        }
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overriding_replaces_a_variable_of_the_same_name() {
        let mut env = vec![("http_proxy".into(), "http://evil:1".into())];
        override_env(&mut env, proxy_env(PROXY_LISTEN));
        let values: Vec<_> = env.iter().filter(|(k, _)| k == "http_proxy").collect();
        assert_eq!(values.len(), 1);
        assert_eq!(values[0].1, "http://127.0.0.1:3128");
    }
}
