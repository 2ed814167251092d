//! cordon-secrets: the only home of real secrets.
//!
//! Real credentials (provider API keys, service tokens) live here and nowhere else:
//! at rest in a 0600 file in the user's configuration directory ([`CredentialStore`]),
//! in memory as zeroize-on-drop [`SecretValue`]s whose `Debug` shows a fingerprint
//! only. The sandbox never receives a real value: it gets opaque [`Placeholder`]s,
//! which the proxy swaps for the real value ([`Substitutor`]) only on requests to
//! endpoints whose policy entry binds that credential, and refuses everywhere else.
//! [`Redactor`] scrubs any value that still finds its way into text.
//!
//! This crate depends on no other cordon crate; the inference router and the egress
//! proxy call it, the supervisor wires it.
//!
//! # Layout
//! - `value`: [`SecretValue`] and its [`Fingerprint`].
//! - `name`: the shape of credential names.
//! - `config_dir`: the per-user directory, atomic 0600 writes, the lock.
//! - `store`: [`CredentialStore`] (`credentials.json`).
//! - `placeholder`: placeholders, the per-sandbox set, the fast detector.
//! - `substitute`: placeholder → value where policy binds it, refusal elsewhere.
//! - `redact`: [`Redactor`].
//! - `error`: [`SecretsError`].
#![forbid(unsafe_code)]

mod config_dir;
mod error;
mod name;
mod placeholder;
mod redact;
mod store;
mod substitute;
mod value;

pub use config_dir::{ConfigDir, DirLock};
pub use error::SecretsError;
pub use name::{MAX_NAME_CHARS, validate_name};
pub use placeholder::{
    PLACEHOLDER_LEN, PLACEHOLDER_PREFIX, Placeholder, PlaceholderBinding, PlaceholderScanner,
    Placeholders, contains_placeholder, find_placeholder, headers_contain_placeholder,
    parse_secret_spec,
};
pub use redact::Redactor;
pub use store::{CREDENTIALS_FILE, CredentialStore};
pub use substitute::{PlaceholderRefusal, Substituted, Substitutor};
pub use value::{Fingerprint, MAX_SECRET_BYTES, SecretValue};
