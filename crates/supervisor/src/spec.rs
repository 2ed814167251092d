//! Policy -> `SandboxSpec`: the only place that knows both vocabularies.

use std::ffi::OsString;
use std::path::PathBuf;

use cordon_policy::{IdSpec, LandlockCompatibility, Policy};
use cordon_sandbox::{Identity, LandlockMode, Resources, SandboxSpec};

/// The per-run facts that do not come from the policy.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub name: String,
    pub command: Vec<OsString>,
    pub env: Vec<(OsString, OsString)>,
    /// Host directory for `/sandbox` (ignored when the policy sets `include_workdir: false`).
    pub workdir: Option<PathBuf>,
    pub tty: bool,
    pub stdin: bool,
    pub verbose: bool,
}

fn id(spec: IdSpec, sandbox: u32) -> u32 {
    match spec {
        IdSpec::Sandbox => sandbox,
        IdSpec::Id(id) => id,
    }
}

/// The ids the agent gets inside its user namespace, from the policy's `process` section.
pub(crate) fn identity(policy: &Policy) -> Identity {
    Identity {
        uid: id(policy.process.run_as_user, Identity::SANDBOX.uid),
        gid: id(policy.process.run_as_group, Identity::SANDBOX.gid),
    }
}

/// Whether the sandbox gets a workdir at `/sandbox`: `include_workdir`, or a policy that
/// lists `/sandbox` (or a path below it) itself, as OpenShell and NemoClaw policies do.
pub(crate) fn wants_workdir(policy: &Policy) -> bool {
    let fs = &policy.filesystem_policy;
    fs.include_workdir
        || fs
            .read_only
            .iter()
            .chain(fs.read_write.iter())
            .any(|path| path.starts_with("/sandbox"))
}

/// Maps the policy's static sections (filesystem, landlock, process, resources) and the
/// request onto the sandbox layer's spec. Network sections are the egress layer's.
pub fn sandbox_spec(policy: &Policy, request: RunRequest) -> SandboxSpec {
    let fs = &policy.filesystem_policy;
    SandboxSpec {
        name: request.name,
        command: request.command,
        env: request.env,
        workdir: request.workdir.filter(|_| wants_workdir(policy)),
        read_only: fs.read_only.clone(),
        read_write: fs.read_write.clone(),
        extra_ro_files: Vec::new(),
        landlock: match policy.landlock.compatibility {
            LandlockCompatibility::BestEffort => LandlockMode::BestEffort,
            LandlockCompatibility::HardRequirement => LandlockMode::HardRequirement,
        },
        resources: Resources {
            memory_bytes: policy.resources.memory_bytes,
            pids: policy.resources.pids,
            cpu: policy.resources.cpu,
        },
        identity: identity(policy),
        tty: request.tty,
        stdin: request.stdin,
        verbose: request.verbose,
        proxy_listen: None,
        transparent: None,
        exec: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> RunRequest {
        RunRequest {
            name: "t".into(),
            command: vec!["true".into()],
            env: Vec::new(),
            workdir: Some("/w".into()),
            tty: false,
            stdin: false,
            verbose: false,
        }
    }

    #[test]
    fn default_policy_maps_to_the_sandbox_identity_and_the_workdir() {
        let spec = sandbox_spec(&cordon_policy::default_policy(), request());
        assert_eq!(spec.identity, Identity::SANDBOX);
        assert_eq!(spec.workdir, Some(PathBuf::from("/w")));
        assert!(spec.read_only.contains(&PathBuf::from("/usr")));
        assert_eq!(spec.landlock, LandlockMode::BestEffort);
    }

    #[test]
    fn include_workdir_false_leaves_sandbox_out_and_ids_are_honoured() {
        let loaded = cordon_policy::parse_str(
            "version: 1\nfilesystem_policy:\n  include_workdir: false\n  read_only: [/usr]\n\
             process:\n  run_as_user: \"1234\"\n  run_as_group: \"1234\"\nresources:\n  pids: 64\n",
            "test",
        )
        .unwrap();
        let spec = sandbox_spec(&loaded.policy, request());
        assert_eq!(spec.workdir, None);
        assert_eq!(
            spec.identity,
            Identity {
                uid: 1234,
                gid: 1234
            }
        );
        assert_eq!(spec.resources.pids, Some(64));
    }
}
