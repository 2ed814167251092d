//! The sandbox's trust store, as the supervisor wires it (TLS inspection, issue 5): one CA
//! per sandbox whose private key stays in the supervisor's directory, and a combined
//! bundle (system roots + that CA) mounted read-only over the standard bundle paths
//! inside the sandbox and named by the usual environment variables, so clients inside
//! trust the leaves the proxy mints for inspected endpoints and `inference.local`.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cordon_egress::l7::Inspection;
use cordon_egress::tls::{SandboxCa, SystemRoots, TrustBundle, UpstreamTls, bundle};
use cordon_sandbox::SandboxSpec;

use crate::error::SupervisorError;
use crate::workdir::random_hex;

/// Where the bundle is named inside the sandbox (Debian's path; the others are mounts
/// of the same file).
const BUNDLE_INSIDE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The CA and bundle of one sandbox start.
#[derive(Debug)]
pub(crate) struct TrustPlan {
    ca: Arc<SandboxCa>,
    upstream: UpstreamTls,
    /// The world-readable bundle file mounted into the sandbox; removed on drop.
    _bundle: BundleFile,
    /// For `cordon run`: the private directory holding this run's CA, removed on drop.
    ephemeral: Option<PathBuf>,
}

impl Drop for TrustPlan {
    fn drop(&mut self) {
        if let Some(dir) = &self.ephemeral {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl TrustPlan {
    /// Loads (or mints) the CA kept in `ca_dir`, writes the bundle, and adds its mounts
    /// and variables to `spec`. `upstream_ca` is an extra PEM trusted for upstream
    /// connections (tests point it at their own test CA); certificate errors are never
    /// ignored.
    pub(crate) fn prepare(
        name: &str,
        ca_dir: &Path,
        upstream_ca: Option<&Path>,
        spec: &mut SandboxSpec,
    ) -> Result<TrustPlan, SupervisorError> {
        let tls = |e: cordon_egress::tls::TlsError| SupervisorError::Trust(e.to_string());
        let ca = SandboxCa::load_or_generate(ca_dir).map_err(tls)?;
        let extra = match upstream_ca {
            Some(path) => {
                Some(std::fs::read_to_string(path).map_err(|e| SupervisorError::state(path, e))?)
            }
            None => None,
        };
        let upstream = UpstreamTls::new(extra.as_deref()).map_err(tls)?;
        let pem = TrustBundle::build(&ca, &SystemRoots::load(Path::new("/")));
        let bundle = BundleFile::create(name, &pem)?;
        for target in bundle::mount_targets(Path::new("/")) {
            if covered(spec, &target) {
                spec.extra_ro_files.push((target, bundle.path.clone()));
            }
        }
        for (var, value) in bundle::env_vars(BUNDLE_INSIDE) {
            let var = OsString::from(var);
            spec.env.retain(|(k, _)| *k != var);
            spec.env.push((var, value.into()));
        }
        Ok(TrustPlan {
            ca: Arc::new(ca),
            upstream,
            _bundle: bundle,
            ephemeral: None,
        })
    }

    /// As [`TrustPlan::prepare`], with a CA minted for this run only, in a private
    /// directory removed when the plan is dropped (`cordon run`).
    pub(crate) fn prepare_ephemeral(
        name: &str,
        upstream_ca: Option<&Path>,
        spec: &mut SandboxSpec,
    ) -> Result<TrustPlan, SupervisorError> {
        let dir = std::env::temp_dir().join(format!("cordon-{name}-{}-ca", random_hex(6)));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| SupervisorError::state(&dir, e))?;
        match TrustPlan::prepare(name, &dir, upstream_ca, spec) {
            Ok(mut plan) => {
                plan.ephemeral = Some(dir);
                Ok(plan)
            }
            Err(err) => {
                let _ = std::fs::remove_dir_all(&dir);
                Err(err)
            }
        }
    }

    /// The proxy's inspection configuration (leaves signed by this sandbox's CA).
    pub(crate) fn inspection(&self) -> Inspection {
        Inspection::new(Arc::clone(&self.ca), self.upstream.clone())
    }

    /// The CA's SHA-256 fingerprint, for `-v` and `cordon status`.
    pub(crate) fn fingerprint(&self) -> String {
        self.ca.fingerprint_sha256()
    }
}

/// A bundle target can only be mounted where the sandbox sees the host directory that
/// holds it (a policy without `/etc` gets no bundle mount, only the variables).
fn covered(spec: &SandboxSpec, target: &Path) -> bool {
    spec.read_only
        .iter()
        .chain(spec.read_write.iter())
        .any(|allowed| target.starts_with(allowed) && allowed != target)
}

/// The bundle as a world-readable temporary file: init opens mount sources as the
/// sandbox's mapped user, which cannot traverse the supervisor's 0700 directories.
#[derive(Debug)]
struct BundleFile {
    path: PathBuf,
}

impl BundleFile {
    fn create(name: &str, bundle: &TrustBundle) -> Result<BundleFile, SupervisorError> {
        let path = std::env::temp_dir().join(format!("cordon-{name}-{}-ca.pem", random_hex(6)));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&path)
            .map_err(|e| SupervisorError::state(&path, e))?;
        file.write_all(bundle.pem.as_bytes())
            .map_err(|e| SupervisorError::state(&path, e))?;
        Ok(BundleFile { path })
    }
}

impl Drop for BundleFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
