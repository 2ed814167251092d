//! The sandbox's certificate authority: minted once per sandbox, kept by the
//! supervisor, trusted only inside that sandbox.
//!
//! Why one CA per sandbox: a leaf minted for one sandbox is worthless in another, and
//! deleting a sandbox retires its CA with it. Why the key never enters the sandbox:
//! whoever holds it can impersonate any host to the agent, so it lives in the
//! supervisor's state directory (mode 0600, directory 0700), which no sandbox mounts.
//!
//! The CA is an ECDSA P-256 key with `pathLenConstraint = 0` (it can sign leaves but
//! no intermediate). Its subject is derived from its own public key
//! (`cordon sandbox CA <first 8 bytes of SHA-256(SPKI)>`), so loading needs only the
//! two PEM files: the issuer is rebuilt from the key, and a probe leaf is verified
//! against the stored certificate to prove the pair still belongs together.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData,
};
use rustls::client::danger::ServerCertVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, UnixTime};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use super::TlsError;

/// File name of the CA certificate (PEM) in the supervisor's state directory. Safe to
/// copy anywhere; it is what the sandbox trusts.
pub const CA_CERT_FILE: &str = "ca.pem";
/// File name of the CA private key (PEM, PKCS#8), mode 0600. Never mounted into a
/// sandbox.
pub const CA_KEY_FILE: &str = "ca-key.pem";

/// How long a sandbox CA is valid. Ten years: a CA expiring under a long-lived named
/// sandbox would break every inspected connection at once, and the CA is worthless
/// outside its sandbox anyway.
const CA_VALIDITY: Duration = Duration::days(3650);
/// Backdating of `notBefore`, so a sandbox whose clock lags the host's a little still
/// accepts fresh certificates.
pub(crate) const BACKDATE: Duration = Duration::days(1);

/// The sandbox CA: its certificate and the signing half kept by the supervisor.
pub struct SandboxCa {
    issuer: Issuer<'static, KeyPair>,
    cert_der: CertificateDer<'static>,
    cert_pem: String,
}

impl std::fmt::Debug for SandboxCa {
    /// Prints the fingerprint only: the key must never reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxCa")
            .field("sha256", &self.fingerprint_sha256())
            .finish_non_exhaustive()
    }
}

impl SandboxCa {
    /// Mints a new CA (fresh P-256 key, self-signed, valid from yesterday for ten
    /// years).
    pub fn generate() -> Result<SandboxCa, TlsError> {
        let key = KeyPair::generate().map_err(|e| TlsError::mint("sandbox CA key", e))?;
        let mut params = issuer_params(&key);
        let now = OffsetDateTime::now_utc();
        params.not_before = now - BACKDATE;
        params.not_after = now + CA_VALIDITY;
        let cert = params
            .self_signed(&key)
            .map_err(|e| TlsError::mint("sandbox CA", e))?;
        let cert_pem = cert.pem();
        let cert_der = cert.der().clone();
        Ok(SandboxCa {
            issuer: Issuer::new(params, key),
            cert_der,
            cert_pem,
        })
    }

    /// Rebuilds a CA from its certificate and key PEM (as written by [`Self::save`]).
    /// `origin` names the source in errors. Fails when the two do not belong together.
    pub fn from_pem(cert_pem: &str, key_pem: &str, origin: &Path) -> Result<SandboxCa, TlsError> {
        let invalid = |message: String| TlsError::InvalidCa {
            path: origin.to_path_buf(),
            message,
        };
        let key = KeyPair::from_pem(key_pem)
            .map_err(|e| invalid(format!("the key does not parse: {e}")))?;
        let cert_der = CertificateDer::from_pem_slice(cert_pem.as_bytes())
            .map_err(|e| invalid(format!("the certificate does not parse: {e}")))?;
        let spki = key.subject_public_key_info();
        if !contains(cert_der.as_ref(), &spki) {
            return Err(invalid(
                "the certificate was not issued for this key (public keys differ)".into(),
            ));
        }
        let ca = SandboxCa {
            issuer: Issuer::new(issuer_params(&key), key),
            cert_der,
            cert_pem: cert_pem.to_owned(),
        };
        ca.check_signs_for_itself()
            .map_err(|message| invalid(format!("a probe leaf does not verify: {message}")))?;
        Ok(ca)
    }

    /// Writes `ca.pem` (0644) and `ca-key.pem` (0600) into `dir` (created 0700 if
    /// missing), each through a temporary file and a rename so a crash never leaves a
    /// half-written key. Returns the certificate's path.
    pub fn save(&self, dir: &Path) -> Result<PathBuf, TlsError> {
        if !dir.exists() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|source| TlsError::Io {
                    action: "cannot create",
                    path: dir.to_path_buf(),
                    source,
                })?;
        }
        let key_pem = self.issuer.key().serialize_pem();
        write_atomic(&dir.join(CA_KEY_FILE), key_pem.as_bytes(), 0o600)?;
        let cert_path = dir.join(CA_CERT_FILE);
        write_atomic(&cert_path, self.cert_pem.as_bytes(), 0o644)?;
        Ok(cert_path)
    }

    /// Loads the CA saved in `dir`. Refuses a key file readable by group or others:
    /// a leaked sandbox CA key lets its holder read the sandbox's HTTPS traffic.
    pub fn load(dir: &Path) -> Result<SandboxCa, TlsError> {
        let key_path = dir.join(CA_KEY_FILE);
        let cert_path = dir.join(CA_CERT_FILE);
        let read = |path: &Path| {
            fs::read_to_string(path).map_err(|source| TlsError::Io {
                action: "cannot read",
                path: path.to_path_buf(),
                source,
            })
        };
        let meta = fs::metadata(&key_path).map_err(|source| TlsError::Io {
            action: "cannot read",
            path: key_path.clone(),
            source,
        })?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(TlsError::KeyPermissions {
                path: key_path,
                mode,
            });
        }
        let key_pem = read(&key_path)?;
        let cert_pem = read(&cert_path)?;
        SandboxCa::from_pem(&cert_pem, &key_pem, &cert_path)
    }

    /// Loads the CA in `dir`, or mints and saves one when there is none yet: what a
    /// supervisor calls when it creates (or re-attaches to) a sandbox.
    pub fn load_or_generate(dir: &Path) -> Result<SandboxCa, TlsError> {
        if dir.join(CA_KEY_FILE).exists() || dir.join(CA_CERT_FILE).exists() {
            return SandboxCa::load(dir);
        }
        let ca = SandboxCa::generate()?;
        ca.save(dir)?;
        Ok(ca)
    }

    /// The CA certificate in PEM: what goes into the sandbox's trust bundle.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate in DER (the end of every leaf chain).
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// SHA-256 of the certificate, uppercase hex pairs joined by `:` (the format of
    /// `openssl x509 -fingerprint -sha256`), for `cordon status`.
    pub fn fingerprint_sha256(&self) -> String {
        let digest = Sha256::digest(self.cert_der.as_ref());
        let mut out = String::with_capacity(digest.len() * 3);
        for (i, byte) in digest.iter().enumerate() {
            if i > 0 {
                out.push(':');
            }
            out.push_str(&format!("{byte:02X}"));
        }
        out
    }

    /// The signing half, for [`super::mint`].
    pub(crate) fn issuer(&self) -> &Issuer<'static, KeyPair> {
        &self.issuer
    }

    /// Mints a throw-away leaf and verifies it against this CA's certificate with the
    /// same verifier clients use (webpki).
    fn check_signs_for_itself(&self) -> Result<(), String> {
        let leaf =
            super::mint::mint_leaf(self, "probe.cordon.invalid").map_err(|e| e.to_string())?;
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(self.cert_der.clone())
            .map_err(|e| e.to_string())?;
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            super::provider(),
        )
        .build()
        .map_err(|e| e.to_string())?;
        let name = rustls_pki_types::ServerName::try_from("probe.cordon.invalid")
            .map_err(|e| e.to_string())?;
        verifier
            .verify_server_cert(&leaf.cert[0], &[], &name, &[], UnixTime::now())
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// The parts of the CA's parameters that signing depends on (subject, key usages,
/// key identifier method), derived from the key alone.
fn issuer_params(key: &KeyPair) -> CertificateParams {
    let digest = Sha256::digest(key.subject_public_key_info());
    let id: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("cordon sandbox CA {id}"));
    dn.push(DnType::OrganizationName, "cordon");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Writes `bytes` to `path` with `mode` via a temporary file in the same directory
/// and a rename; the temporary file is created with `mode` from the start, so the key
/// is never briefly world-readable.
fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), TlsError> {
    let tmp = path.with_extension("tmp");
    let io = |action, source| TlsError::Io {
        action,
        path: path.to_path_buf(),
        source,
    };
    let _ = fs::remove_file(&tmp);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(|e| io("cannot write", e))?;
    file.write_all(bytes).map_err(|e| io("cannot write", e))?;
    file.sync_all().map_err(|e| io("cannot write", e))?;
    drop(file);
    // The umask may have cleared bits of a 0644 certificate; set them exactly.
    fs::set_permissions(&tmp, fs::Permissions::from_mode(mode))
        .map_err(|e| io("cannot write", e))?;
    fs::rename(&tmp, path).map_err(|e| io("cannot write", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ca_round_trips_through_files() {
        let dir = tempfile::tempdir().unwrap();
        let ca = SandboxCa::generate().unwrap();
        let cert_path = ca.save(dir.path()).unwrap();
        assert_eq!(cert_path, dir.path().join(CA_CERT_FILE));
        let key_mode = fs::metadata(dir.path().join(CA_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(key_mode & 0o777, 0o600);
        let cert_mode = fs::metadata(&cert_path).unwrap().permissions().mode();
        assert_eq!(cert_mode & 0o777, 0o644);

        let loaded = SandboxCa::load(dir.path()).unwrap();
        assert_eq!(loaded.fingerprint_sha256(), ca.fingerprint_sha256());
        assert_eq!(loaded.cert_pem(), ca.cert_pem());
    }

    #[test]
    fn load_or_generate_keeps_an_existing_ca() {
        let dir = tempfile::tempdir().unwrap();
        let first = SandboxCa::load_or_generate(&dir.path().join("state")).unwrap();
        let second = SandboxCa::load_or_generate(&dir.path().join("state")).unwrap();
        assert_eq!(first.fingerprint_sha256(), second.fingerprint_sha256());
        let dir_mode = fs::metadata(dir.path().join("state"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o777, 0o700);
    }

    #[test]
    fn refuses_a_world_readable_key() {
        let dir = tempfile::tempdir().unwrap();
        SandboxCa::generate().unwrap().save(dir.path()).unwrap();
        let key = dir.path().join(CA_KEY_FILE);
        fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
        let err = SandboxCa::load(dir.path()).unwrap_err();
        assert!(
            matches!(err, TlsError::KeyPermissions { mode: 0o644, .. }),
            "{err}"
        );
        // The twin: the same files with the right mode load.
        fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
        SandboxCa::load(dir.path()).unwrap();
    }

    #[test]
    fn refuses_a_certificate_from_another_key() {
        let a = SandboxCa::generate().unwrap();
        let b = SandboxCa::generate().unwrap();
        let key_b = b.issuer().key().serialize_pem();
        let err = SandboxCa::from_pem(a.cert_pem(), &key_b, Path::new("x.pem")).unwrap_err();
        assert!(err.to_string().contains("public keys differ"), "{err}");
        SandboxCa::from_pem(b.cert_pem(), &key_b, Path::new("x.pem")).unwrap();
    }

    #[test]
    fn fingerprint_is_colon_separated_sha256() {
        let ca = SandboxCa::generate().unwrap();
        let fp = ca.fingerprint_sha256();
        assert_eq!(fp.len(), 32 * 3 - 1);
        assert!(fp.split(':').all(|pair| {
            pair.len() == 2
                && pair
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase())
        }));
        assert!(!format!("{ca:?}").contains("PRIVATE"));
    }

    #[test]
    fn openssl_sees_a_path_length_zero_ca() {
        let dir = tempfile::tempdir().unwrap();
        let ca = SandboxCa::generate().unwrap();
        let path = ca.save(dir.path()).unwrap();
        let out = std::process::Command::new("openssl")
            .args(["x509", "-noout", "-text", "-fingerprint", "-sha256", "-in"])
            .arg(&path)
            .output()
            .expect("openssl must be installed for this test");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}");
        assert!(text.contains("CA:TRUE, pathlen:0"), "{text}");
        assert!(text.contains("Certificate Sign"), "{text}");
        assert!(text.contains(&ca.fingerprint_sha256()), "{text}");
    }
}
