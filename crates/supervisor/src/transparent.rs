//! Transparent capture, as the supervisor wires it (docs/transparent.md): programs
//! that ignore the proxy variables are redirected inside the sandbox (cordon-sandbox
//! `capture/`) and served by the same egress proxy (cordon-egress `transparent`),
//! with the sandbox's resolver pointed at the policy DNS.
//!
//! Two steps around `Sandbox::spawn`, like the proxy itself:
//! [`TransparentPlan::prepare`] (single-threaded, before the spawn) asks the sandbox
//! for capture when `network_settings.transparent` is on and mounts a generated
//! `/etc/resolv.conf` (`nameserver 127.0.0.1`); [`TransparentPlan::serve`] (inside the
//! runtime, after `RunningEgress::start`) hands the capture sockets to the proxy and
//! returns the status line for `-v`.

use std::path::PathBuf;

use cordon_egress::TransparentConfig;
use cordon_policy::Policy;
use cordon_sandbox::{CaptureSpec, Sandbox, SandboxSpec};

use crate::error::SupervisorError;
use crate::proxy::RunningEgress;
use crate::scratch::ScratchFile;

/// The resolver configuration the sandbox sees: the policy DNS on its own loopback.
/// `attempts`/`timeout` keep a lookup of a refused name quick (it is answered at once
/// anyway; they only matter if the stub is gone).
pub const RESOLV_CONF: &str = "# cordon: the policy DNS stub (answers only names the policy could allow)\n\
nameserver 127.0.0.1\noptions timeout:2 attempts:2\n";

/// Where the sandbox's resolver configuration is read.
const RESOLV_CONF_PATH: &str = "/etc/resolv.conf";

/// Capture for one sandbox, between the spec and the running proxy.
#[derive(Debug)]
pub(crate) struct TransparentPlan {
    /// Capture was asked of the sandbox (the policy has it on).
    enabled: bool,
    /// The generated resolv.conf on the host, bind-mounted read-only; removed when
    /// the plan is dropped (the mount keeps the file alive inside).
    resolv: Option<ScratchFile>,
    /// Why the resolver configuration was left alone, if it was.
    warning: Option<String>,
}

impl TransparentPlan {
    /// Asks `spec` for capture when `policy` has `network_settings.transparent` on
    /// (the default): the capture sockets and rules, and `/etc/resolv.conf` naming the
    /// policy DNS. Before `Sandbox::spawn`, while the process is single-threaded.
    pub(crate) fn prepare(
        policy: &Policy,
        name: &str,
        spec: &mut SandboxSpec,
    ) -> Result<TransparentPlan, SupervisorError> {
        if !policy.network_settings.transparent {
            return Ok(TransparentPlan {
                enabled: false,
                resolv: None,
                warning: None,
            });
        }
        spec.transparent = Some(CaptureSpec::DEFAULT);
        // A host resolv.conf that is a symlink (systemd-resolved) cannot be mounted
        // over inside a read-only /etc; DNS to any address on port 53 is still
        // captured, a loopback stub address (127.0.0.53) is not.
        let host_is_link =
            std::fs::symlink_metadata(RESOLV_CONF_PATH).is_ok_and(|m| m.file_type().is_symlink());
        if host_is_link {
            return Ok(TransparentPlan {
                enabled: true,
                resolv: None,
                warning: Some(format!(
                    "{RESOLV_CONF_PATH} is a symlink on the host and was left as it is inside; \
                     resolvers it names on loopback cannot reach the policy DNS"
                )),
            });
        }
        let file = ScratchFile::create(name, "resolv.conf", RESOLV_CONF)?;
        spec.extra_ro_files
            .push((PathBuf::from(RESOLV_CONF_PATH), file.path.clone()));
        Ok(TransparentPlan {
            enabled: true,
            resolv: Some(file),
            warning: None,
        })
    }

    /// Serves the capture sockets the sandbox handed over with `egress`'s proxy and
    /// returns the status line (`-v`, `cordon status`). Inside the runtime, after
    /// `RunningEgress::start`.
    pub(crate) fn serve(
        self,
        sandbox: &mut Sandbox,
        egress: &RunningEgress,
    ) -> Result<CaptureStatus, SupervisorError> {
        drop(self.resolv); // mounted by now
        if !self.enabled {
            return Ok(CaptureStatus {
                active: false,
                line: "transparent capture: off (network_settings.transparent: false)".into(),
                warning: None,
            });
        }
        let Some(capture) = sandbox.take_capture() else {
            return Ok(CaptureStatus {
                active: false,
                line: "transparent capture: off (the sandbox handed over no capture sockets)"
                    .into(),
                warning: None,
            });
        };
        let addrs: Vec<String> = capture
            .tcp
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .map(|a| a.to_string())
            .collect();
        let dns = capture
            .dns
            .local_addr()
            .map_or_else(|_| "?".into(), |a| a.to_string());
        let active = capture.active;
        let detail = capture.detail.clone();
        egress.proxy().serve_transparent(TransparentConfig {
            listeners: capture.tcp,
            dns: Some(capture.dns),
            ipv6: capture.ipv6,
            active,
        })?;
        let line = if active {
            format!(
                "transparent capture: active; captured TCP served on {}, policy DNS on {dns}",
                addrs.join(" and ")
            )
        } else {
            format!("transparent capture: inactive ({detail}); policy DNS on {dns}")
        };
        Ok(CaptureStatus {
            active,
            line,
            warning: self.warning,
        })
    }
}

/// Whether capture runs, in words.
#[derive(Debug, Clone)]
pub(crate) struct CaptureStatus {
    /// Redirect rules in place and served.
    #[allow(dead_code)] // for the control API's status of named sandboxes
    pub active: bool,
    /// The `-v` / status line.
    pub line: String,
    /// Something the user should see even without `-v`.
    pub warning: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{RunRequest, sandbox_spec};

    fn spec(policy: &Policy) -> SandboxSpec {
        sandbox_spec(
            policy,
            RunRequest {
                name: "t".into(),
                command: vec!["true".into()],
                env: Vec::new(),
                workdir: None,
                tty: false,
                stdin: false,
                verbose: false,
            },
        )
    }

    #[test]
    fn capture_is_asked_by_default_with_a_resolver_file() {
        let policy = cordon_policy::default_policy();
        let mut spec = spec(&policy);
        let plan = TransparentPlan::prepare(&policy, "t", &mut spec).unwrap();
        assert_eq!(spec.transparent, Some(CaptureSpec::DEFAULT));
        let file = plan.resolv.as_ref().unwrap().path.clone();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), RESOLV_CONF);
        assert!(
            spec.extra_ro_files
                .contains(&(PathBuf::from("/etc/resolv.conf"), file.clone()))
        );
        drop(plan);
        assert!(!file.exists(), "removed with the plan");
    }

    #[test]
    fn transparent_false_asks_for_nothing() {
        let loaded = cordon_policy::parse_str(
            "version: 1\nnetwork_settings:\n  transparent: false\n",
            "test",
        )
        .unwrap();
        let mut spec = spec(&loaded.policy);
        let plan = TransparentPlan::prepare(&loaded.policy, "t", &mut spec).unwrap();
        assert_eq!(spec.transparent, None);
        assert!(spec.extra_ro_files.is_empty());
        assert!(!plan.enabled);
    }
}
