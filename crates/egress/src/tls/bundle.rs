//! The trust bundle a sandbox sees: the host's system roots plus the sandbox CA, as
//! one PEM file the supervisor mounts read-only over the distribution's standard
//! bundle paths inside the sandbox and names in the usual environment variables.
//!
//! Why the system roots stay in: tools that read the bundle replace their defaults
//! with it (`SSL_CERT_FILE`, `REQUESTS_CA_BUNDLE`, ...), and connections to hosts that
//! are *not* inspected still verify the real server certificate inside the sandbox.
//! Why mount over the standard paths as well as set variables: statically configured
//! clients (OpenSSL's compiled-in default file, Go, rustls-native-certs) read those
//! paths and ignore most variables.
//!
//! This module produces data (the file, the paths, the variables); the supervisor
//! does the mounting through the sandbox spec's read-only file mounts.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustls_pki_types::CertificateDer;

use super::{SandboxCa, TlsError};

/// File name of the combined bundle in the supervisor's state directory.
pub const BUNDLE_FILE: &str = "ca-bundle.pem";

/// The standard locations of the system PEM bundle, most common first. The
/// supervisor mounts the combined bundle over each one that exists in the sandbox's
/// view ([`mount_targets`]); the first readable one is also where the system roots
/// are read from ([`SystemRoots::load`]).
pub const SYSTEM_BUNDLE_PATHS: &[&str] = &[
    // Debian, Ubuntu, Alpine (ca-certificates package), Arch, Gentoo.
    "/etc/ssl/certs/ca-certificates.crt",
    // RHEL, Fedora, CentOS, Amazon Linux: the file update-ca-trust writes ...
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    // ... and the compatibility names that point to it.
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/pki/tls/cert.pem",
    // openSUSE, SLES.
    "/etc/ssl/ca-bundle.pem",
    // Alpine's and LibreSSL's default file (often a symlink to the first entry).
    "/etc/ssl/cert.pem",
];

/// Environment variables that name a CA bundle file, set for the agent to the
/// bundle's path inside the sandbox: OpenSSL and everything linked to it
/// (`SSL_CERT_FILE`), Python requests (`REQUESTS_CA_BUNDLE`), curl
/// (`CURL_CA_BUNDLE`), Node (`NODE_EXTRA_CA_CERTS`, additive to its built-in roots),
/// git (`GIT_SSL_CAINFO`), pip (`PIP_CERT`) and the AWS SDKs and CLI
/// (`AWS_CA_BUNDLE`).
pub const CA_BUNDLE_ENV_VARS: &[&str] = &[
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "NODE_EXTRA_CA_CERTS",
    "GIT_SSL_CAINFO",
    "PIP_CERT",
    "AWS_CA_BUNDLE",
];

/// The variables of [`CA_BUNDLE_ENV_VARS`], each set to `bundle_path` (the bundle's
/// path as the sandbox sees it).
pub fn env_vars(bundle_path: &str) -> Vec<(&'static str, String)> {
    CA_BUNDLE_ENV_VARS
        .iter()
        .map(|name| (*name, bundle_path.to_owned()))
        .collect()
}

/// The standard bundle files that exist under `root` (`/` for a sandbox sharing the
/// host's filesystem), symlinks resolved and duplicates removed, as absolute paths
/// inside that root: the places to mount the combined bundle over. A path that is a
/// symlink is represented by its target, because a mount lands on the target anyway.
pub fn mount_targets(root: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    for path in SYSTEM_BUNDLE_PATHS {
        let full = root.join(path.trim_start_matches('/'));
        let Ok(real) = fs::canonicalize(&full) else {
            continue;
        };
        if !real.is_file() {
            continue;
        }
        let Ok(inside) = real.strip_prefix(root) else {
            // A symlink leading out of `root`: not a file the sandbox can see there.
            continue;
        };
        let inside = Path::new("/").join(inside);
        if !out.contains(&inside) {
            out.push(inside);
        }
    }
    out
}

/// The host's root certificates, as PEM, with where they came from.
#[derive(Debug, Clone)]
pub struct SystemRoots {
    /// Concatenated PEM certificates (possibly empty).
    pub pem: String,
    /// How many certificates `pem` holds.
    pub count: usize,
    /// Where they came from: a bundle path, `rustls-native-certs`, or `none`.
    pub source: String,
}

impl SystemRoots {
    /// Reads the first standard bundle file under `root` that holds at least one
    /// certificate; failing that, asks `rustls-native-certs` (which also reads
    /// hashed certificate directories); failing that, returns no roots (the bundle
    /// then holds only the sandbox CA, and the caller should warn).
    pub fn load(root: &Path) -> SystemRoots {
        for path in SYSTEM_BUNDLE_PATHS {
            let full = root.join(path.trim_start_matches('/'));
            let Ok(text) = fs::read_to_string(&full) else {
                continue;
            };
            let count = count_certificates(&text);
            if count > 0 {
                return SystemRoots {
                    pem: text,
                    count,
                    source: full.display().to_string(),
                };
            }
        }
        let native = rustls_native_certs::load_native_certs();
        if !native.certs.is_empty() {
            let mut pem = String::new();
            for cert in &native.certs {
                pem.push_str(&der_to_pem(cert));
            }
            return SystemRoots {
                pem,
                count: native.certs.len(),
                source: "rustls-native-certs".into(),
            };
        }
        SystemRoots {
            pem: String::new(),
            count: 0,
            source: "none".into(),
        }
    }
}

/// The combined bundle: system roots followed by the sandbox CA.
#[derive(Debug, Clone)]
pub struct TrustBundle {
    /// The PEM text to write.
    pub pem: String,
    /// Certificates from the system.
    pub system_count: usize,
}

impl TrustBundle {
    /// System roots, then a comment line and the sandbox CA certificate.
    pub fn build(ca: &SandboxCa, system: &SystemRoots) -> TrustBundle {
        let mut pem = String::with_capacity(system.pem.len() + ca.cert_pem().len() + 128);
        pem.push_str(&system.pem);
        if !pem.is_empty() && !pem.ends_with('\n') {
            pem.push('\n');
        }
        pem.push_str(&format!(
            "# cordon sandbox CA (SHA-256 {})\n",
            ca.fingerprint_sha256()
        ));
        pem.push_str(ca.cert_pem());
        if !pem.ends_with('\n') {
            pem.push('\n');
        }
        TrustBundle {
            pem,
            system_count: system.count,
        }
    }

    /// Writes the bundle as `dir/ca-bundle.pem`, mode 0644 (the sandbox's user must
    /// read it through the mount; it holds no secret), replacing any previous one.
    pub fn write(&self, dir: &Path) -> Result<PathBuf, TlsError> {
        let path = dir.join(BUNDLE_FILE);
        let tmp = dir.join(format!("{BUNDLE_FILE}.tmp"));
        let io = |source| TlsError::Io {
            action: "cannot write",
            path: path.clone(),
            source,
        };
        let _ = fs::remove_file(&tmp);
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&tmp)
            .map_err(io)?;
        file.write_all(self.pem.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        drop(file);
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o644)).map_err(io)?;
        fs::rename(&tmp, &path).map_err(io)?;
        Ok(path)
    }
}

/// How many certificates a PEM text holds (unparsable sections are not counted).
/// Counts the PEM certificate blocks by their markers, without decoding them: every
/// sandbox start reads the system bundle, and base64-decoding some 150 certificates
/// just to count them was a measurable part of it. Whoever trusts the roots decodes
/// (and checks) them anyway.
fn count_certificates(pem: &str) -> usize {
    pem.matches("-----BEGIN CERTIFICATE-----").count()
}

/// PEM-encodes one DER certificate (RFC 7468: base64, 64 columns).
fn der_to_pem(der: &CertificateDer<'_>) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = der.as_ref();
    let mut b64 = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 0x3f) as usize]));
            } else {
                b64.push('=');
            }
        }
    }
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_pki_types::pem::PemObject;

    #[test]
    fn bundle_holds_system_roots_and_the_sandbox_ca() {
        let ca = SandboxCa::generate().unwrap();
        let system = SystemRoots::load(Path::new("/"));
        assert!(
            system.count > 10,
            "this machine has a system bundle: {system:?}"
        );
        let bundle = TrustBundle::build(&ca, &system);
        assert_eq!(count_certificates(&bundle.pem), system.count + 1);
        assert!(bundle.pem.ends_with(ca.cert_pem()));

        let dir = tempfile::tempdir().unwrap();
        let path = bundle.write(dir.path()).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
        // openssl accepts the file as a CA file and finds the sandbox CA in it.
        let ca_path = dir.path().join("ca.pem");
        fs::write(&ca_path, ca.cert_pem()).unwrap();
        let out = std::process::Command::new("openssl")
            .args(["verify", "-CAfile"])
            .arg(&path)
            .arg(&ca_path)
            .output()
            .expect("openssl must be installed for this test");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn der_to_pem_round_trips() {
        let ca = SandboxCa::generate().unwrap();
        let pem = der_to_pem(ca.cert_der());
        let back = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
        assert_eq!(back.as_ref(), ca.cert_der().as_ref());
        assert!(pem.lines().all(|l| l.len() <= 64));
    }

    #[test]
    fn mount_targets_resolve_symlinks_and_skip_missing_paths() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        fs::create_dir_all(r.join("etc/ssl/certs")).unwrap();
        fs::write(r.join("etc/ssl/certs/ca-certificates.crt"), "x").unwrap();
        std::os::unix::fs::symlink("certs/ca-certificates.crt", r.join("etc/ssl/cert.pem"))
            .unwrap();
        fs::create_dir_all(r.join("etc/pki/tls/certs")).unwrap();
        std::os::unix::fs::symlink("/nowhere", r.join("etc/pki/tls/certs/ca-bundle.crt")).unwrap();
        let targets = mount_targets(r);
        assert_eq!(
            targets,
            vec![PathBuf::from("/etc/ssl/certs/ca-certificates.crt")]
        );
    }

    #[test]
    fn system_roots_fall_back_when_no_standard_file_exists() {
        let empty = tempfile::tempdir().unwrap();
        let roots = SystemRoots::load(empty.path());
        // rustls-native-certs finds the host's roots (it does not look under `root`).
        assert_ne!(roots.source, empty.path().display().to_string());
        assert_eq!(count_certificates(&roots.pem), roots.count);
    }

    #[test]
    fn env_vars_name_every_client() {
        let vars = env_vars("/etc/ssl/certs/ca-certificates.crt");
        let names: Vec<_> = vars.iter().map(|(k, _)| *k).collect();
        for expected in [
            "SSL_CERT_FILE",
            "REQUESTS_CA_BUNDLE",
            "CURL_CA_BUNDLE",
            "NODE_EXTRA_CA_CERTS",
            "GIT_SSL_CAINFO",
            "PIP_CERT",
            "AWS_CA_BUNDLE",
        ] {
            assert!(names.contains(&expected), "{expected}");
        }
        assert!(
            vars.iter()
                .all(|(_, v)| v == "/etc/ssl/certs/ca-certificates.crt")
        );
    }
}
