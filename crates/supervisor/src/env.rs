//! The agent's environment: an allow-list of host variables plus what `--env` asks for.
//! Everything else stays outside, in particular credentials the invoker has exported
//! (`AWS_SECRET_ACCESS_KEY`, `GITHUB_TOKEN`...): a secret-looking name passes only when
//! named explicitly, and then with a warning.

use std::ffi::{OsStr, OsString};

use cordon_sandbox::WORKDIR_INSIDE;

use crate::error::SupervisorError;

/// Host variables passed through unchanged when set.
const ALLOWED: &[&str] = &["PATH", "LANG", "TERM", "TZ", "COLORTERM", "NO_COLOR"];

/// Prefixes of host variables passed through (`LC_ALL`, `LC_CTYPE`...).
const ALLOWED_PREFIXES: &[&str] = &["LC_"];

/// Name fragments that mark a variable as a likely credential.
const SECRET_MARKERS: &[&str] = &["KEY", "TOKEN", "SECRET", "PASSWORD", "CREDENTIAL", "AUTH"];

/// `PATH` inside when the host has none.
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// One `--env` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvArg {
    /// `--env NAME=VALUE`.
    Set(OsString, OsString),
    /// `--env NAME`: pass the host's value.
    Pass(OsString),
}

impl EnvArg {
    /// Parses `NAME=VALUE` or `NAME`.
    pub fn parse(arg: &str) -> Result<EnvArg, SupervisorError> {
        let (name, value) = match arg.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (arg, None),
        };
        if name.is_empty() || name.contains('\0') {
            return Err(SupervisorError::Env(arg.to_string()));
        }
        Ok(match value {
            Some(value) => EnvArg::Set(name.into(), value.into()),
            None => EnvArg::Pass(name.into()),
        })
    }

    fn name(&self) -> &OsStr {
        match self {
            EnvArg::Set(name, _) | EnvArg::Pass(name) => name,
        }
    }
}

fn looks_secret(name: &OsStr) -> bool {
    let upper = name.to_string_lossy().to_ascii_uppercase();
    SECRET_MARKERS.iter().any(|m| upper.contains(m))
}

fn allowed(name: &OsStr) -> bool {
    let name = name.to_string_lossy();
    ALLOWED.contains(&name.as_ref()) || ALLOWED_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Builds the agent's environment from the host's and the `--env` arguments; returns it
/// with warnings for the user (secret-looking names passed on request).
pub fn filter_env(
    host: impl IntoIterator<Item = (OsString, OsString)>,
    args: &[EnvArg],
) -> (Vec<(OsString, OsString)>, Vec<String>) {
    let host: Vec<(OsString, OsString)> = host.into_iter().collect();
    let host_value = |name: &OsStr| host.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let mut env: Vec<(OsString, OsString)> = Vec::new();
    let set = |env: &mut Vec<(OsString, OsString)>, name: OsString, value: OsString| {
        env.retain(|(k, _)| *k != name);
        env.push((name, value));
    };
    for (name, value) in &host {
        if allowed(name) && !looks_secret(name) {
            set(&mut env, name.clone(), value.clone());
        }
    }
    if !env.iter().any(|(k, _)| k == "PATH") {
        set(&mut env, "PATH".into(), DEFAULT_PATH.into());
    }
    set(&mut env, "HOME".into(), WORKDIR_INSIDE.into());
    let mut warnings = Vec::new();
    for arg in args {
        let name = arg.name().to_os_string();
        let value = match arg {
            EnvArg::Set(_, value) => Some(value.clone()),
            EnvArg::Pass(name) => host_value(name),
        };
        let Some(value) = value else {
            warnings.push(format!(
                "--env {}: not set on the host; not passed",
                name.to_string_lossy()
            ));
            continue;
        };
        if looks_secret(&name) {
            warnings.push(format!(
                "passing {} into the sandbox: its name looks like a secret, and the agent can read it",
                name.to_string_lossy()
            ));
        }
        set(&mut env, name, value);
    }
    (env, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> Vec<(OsString, OsString)> {
        [
            ("PATH", "/usr/bin"),
            ("HOME", "/root"),
            ("LANG", "C.UTF-8"),
            ("LC_ALL", "C"),
            ("TERM", "xterm"),
            ("AWS_SECRET_ACCESS_KEY", "hunter2"),
            ("GITHUB_TOKEN", "ghp_x"),
            ("SSH_AUTH_SOCK", "/tmp/agent"),
            ("EDITOR", "vi"),
        ]
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect()
    }

    fn get<'a>(env: &'a [(OsString, OsString)], name: &str) -> Option<&'a OsString> {
        env.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    #[test]
    fn only_the_allow_list_passes_and_home_is_the_workdir() {
        let (env, warnings) = filter_env(host(), &[]);
        assert_eq!(get(&env, "PATH").unwrap(), "/usr/bin");
        assert_eq!(get(&env, "HOME").unwrap(), "/sandbox");
        assert_eq!(get(&env, "LC_ALL").unwrap(), "C");
        for hidden in [
            "AWS_SECRET_ACCESS_KEY",
            "GITHUB_TOKEN",
            "SSH_AUTH_SOCK",
            "EDITOR",
        ] {
            assert!(get(&env, hidden).is_none(), "{hidden} leaked");
        }
        assert!(warnings.is_empty());
    }

    #[test]
    fn a_secret_passes_only_when_named_and_with_a_warning() {
        let args = [
            EnvArg::parse("GITHUB_TOKEN").unwrap(),
            EnvArg::parse("EDITOR=nano").unwrap(),
        ];
        let (env, warnings) = filter_env(host(), &args);
        assert_eq!(get(&env, "GITHUB_TOKEN").unwrap(), "ghp_x");
        assert_eq!(get(&env, "EDITOR").unwrap(), "nano");
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("GITHUB_TOKEN"));
        assert!(
            !warnings[0].contains("ghp_x"),
            "a warning must never show the value"
        );
    }

    #[test]
    fn malformed_env_arguments_are_rejected() {
        assert!(EnvArg::parse("=x").is_err());
        assert!(EnvArg::parse("").is_err());
        assert_eq!(
            EnvArg::parse("A=b=c").unwrap(),
            EnvArg::Set("A".into(), "b=c".into())
        );
    }
}
