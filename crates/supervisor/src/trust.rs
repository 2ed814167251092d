//! The sandbox's trust store, as the supervisor wires it (TLS inspection, issue 5): one CA
//! per sandbox whose private key stays in the supervisor's directory, and a combined
//! bundle (system roots + that CA) mounted read-only over the standard bundle paths
//! inside the sandbox and named by the usual environment variables, so clients inside
//! trust the leaves the proxy mints for inspected endpoints and `inference.local`.

use std::ffi::OsString;
use std::path::Path;
use std::sync::Arc;

use cordon_egress::l7::Inspection;
use cordon_egress::tls::{SandboxCa, SystemRoots, TrustBundle, UpstreamTls, bundle};
use cordon_sandbox::SandboxSpec;

use crate::error::SupervisorError;
use crate::scratch::ScratchFile;

/// Where the bundle is named inside the sandbox (Debian's path; the others are mounts
/// of the same file).
const BUNDLE_INSIDE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The CA and bundle of one sandbox start.
#[derive(Debug)]
pub(crate) struct TrustPlan {
    ca: Arc<SandboxCa>,
    upstream: UpstreamTls,
    /// The world-readable bundle file mounted into the sandbox; removed on drop.
    _bundle: ScratchFile,
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
        let ca = SandboxCa::load_or_generate(ca_dir).map_err(tls_error)?;
        TrustPlan::with_ca(name, ca, upstream_ca, spec)
    }

    /// As [`TrustPlan::prepare`], with a CA minted for this run only and never written
    /// to disk (`cordon run`: it dies with the supervisor).
    pub(crate) fn prepare_ephemeral(
        name: &str,
        upstream_ca: Option<&Path>,
        spec: &mut SandboxSpec,
    ) -> Result<TrustPlan, SupervisorError> {
        let ca = SandboxCa::generate().map_err(tls_error)?;
        TrustPlan::with_ca(name, ca, upstream_ca, spec)
    }

    fn with_ca(
        name: &str,
        ca: SandboxCa,
        upstream_ca: Option<&Path>,
        spec: &mut SandboxSpec,
    ) -> Result<TrustPlan, SupervisorError> {
        let tls = tls_error;
        let extra = match upstream_ca {
            Some(path) => {
                Some(std::fs::read_to_string(path).map_err(|e| SupervisorError::state(path, e))?)
            }
            None => None,
        };
        let system = SystemRoots::load(Path::new("/"));
        // The roots just read serve upstream verification too: asking
        // rustls-native-certs again would re-read the hashed certificate directory,
        // several milliseconds of every sandbox start.
        let upstream = UpstreamTls::from_system_pem(&system.pem, extra.as_deref()).map_err(tls)?;
        let pem = TrustBundle::build(&ca, &system);
        let bundle = ScratchFile::create(name, "ca.pem", &pem.pem)?;
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
        })
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

fn tls_error(err: cordon_egress::tls::TlsError) -> SupervisorError {
    SupervisorError::Trust(err.to_string())
}

/// A bundle target can only be mounted where the sandbox sees the host directory that
/// holds it (a policy without `/etc` gets no bundle mount, only the variables).
pub(crate) fn covered(spec: &SandboxSpec, target: &Path) -> bool {
    spec.read_only
        .iter()
        .chain(spec.read_write.iter())
        .any(|allowed| target.starts_with(allowed) && allowed != target)
}
