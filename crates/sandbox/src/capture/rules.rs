//! The packet-filter rules of transparent capture, installed in the sandbox's own
//! network namespace with the namespace's own CAP_NET_ADMIN (so it works rootless):
//!
//! - every TCP connection not addressed to loopback is redirected (nat `output`) to the
//!   transparent listener on loopback, where the supervisor serves it;
//! - UDP to port 53 anywhere is redirected to the DNS stub (so `dig @8.8.8.8` still
//!   gets the policy's answers);
//! - everything else leaving loopback is refused: other UDP and TCP that somehow
//!   escaped the redirect are rejected (an immediate error, not a hang), ICMP and any
//!   other protocol dropped.
//!
//! `nft -f -` is preferred (one atomic transaction); without `nft`,
//! `iptables-restore`/`ip6tables-restore` (atomic per table). The tool is a host
//! binary run by init before `pivot_root`, with CAP_NET_ADMIN passed as an ambient
//! capability because init's uid inside is not 0 (an `execve` would drop it
//! otherwise). The agent never holds the capability, so it cannot change the rules.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rustix::thread::CapabilitySet;

use super::CaptureSpec;

/// Where the rule tools are looked up (fixed: init runs before the agent's PATH
/// means anything, and never searches a directory the agent could write).
const TOOL_DIRS: [&str; 5] = ["/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin"];

/// Which tool installed the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tool {
    /// `nft`, one ruleset for both families.
    Nft(PathBuf),
    /// `iptables-restore` and `ip6tables-restore` (the nft-backed ones when present).
    Iptables { v4: PathBuf, v6: Option<PathBuf> },
}

impl Tool {
    /// The first tool found on this host, `None` when there is none.
    pub(crate) fn find() -> Option<Tool> {
        if let Some(nft) = find_binary(&["nft"]) {
            return Some(Tool::Nft(nft));
        }
        let v4 = find_binary(&["iptables-nft-restore", "iptables-restore"])?;
        let v6 = find_binary(&["ip6tables-nft-restore", "ip6tables-restore"]);
        Some(Tool::Iptables { v4, v6 })
    }

    /// The name shown in `-v` and status lines.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Tool::Nft(_) => "nft",
            Tool::Iptables { .. } => "iptables",
        }
    }

    /// Installs the capture rules in the current network namespace. Returns whether
    /// IPv6 is covered too.
    pub(crate) fn install(&self, spec: CaptureSpec) -> Result<bool, String> {
        match self {
            Tool::Nft(nft) => {
                run(nft, &["-f", "-"], &nft_ruleset(spec))?;
                Ok(true)
            }
            Tool::Iptables { v4, v6 } => {
                run(v4, &[], &iptables_ruleset(spec, IpFamily::V4))?;
                match v6 {
                    Some(v6) => {
                        run(v6, &[], &iptables_ruleset(spec, IpFamily::V6))?;
                        Ok(true)
                    }
                    None => Ok(false),
                }
            }
        }
    }
}

fn find_binary(names: &[&str]) -> Option<PathBuf> {
    names.iter().find_map(|name| {
        TOOL_DIRS
            .iter()
            .map(|dir| Path::new(dir).join(name))
            .find(|path| path.is_file())
    })
}

/// The nftables ruleset (family `inet`: IPv4 and IPv6 in one table).
pub(crate) fn nft_ruleset(spec: CaptureSpec) -> String {
    format!(
        "table inet cordon_capture {{\n\
         \tchain divert {{\n\
         \t\ttype nat hook output priority -100; policy accept;\n\
         \t\tip daddr 127.0.0.0/8 return\n\
         \t\tip6 daddr ::1 return\n\
         \t\tmeta l4proto tcp redirect to :{tcp}\n\
         \t\tudp dport 53 redirect to :{dns}\n\
         \t}}\n\
         \tchain confine {{\n\
         \t\ttype filter hook output priority 0; policy drop;\n\
         \t\tip daddr 127.0.0.0/8 accept\n\
         \t\tip6 daddr ::1 accept\n\
         \t\tmeta l4proto udp reject\n\
         \t\tmeta l4proto tcp reject with tcp reset\n\
         \t}}\n\
         }}\n",
        tcp = spec.tcp_port,
        dns = spec.dns_port,
    )
}

/// Which `*tables-restore` input to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IpFamily {
    V4,
    V6,
}

/// The same rules in `iptables-restore` form, for one family.
pub(crate) fn iptables_ruleset(spec: CaptureSpec, family: IpFamily) -> String {
    let loopback = match family {
        IpFamily::V4 => "127.0.0.0/8",
        IpFamily::V6 => "::1/128",
    };
    format!(
        "*nat\n\
         :PREROUTING ACCEPT [0:0]\n\
         :INPUT ACCEPT [0:0]\n\
         :OUTPUT ACCEPT [0:0]\n\
         :POSTROUTING ACCEPT [0:0]\n\
         -A OUTPUT -d {loopback} -j RETURN\n\
         -A OUTPUT -p tcp -j REDIRECT --to-ports {tcp}\n\
         -A OUTPUT -p udp --dport 53 -j REDIRECT --to-ports {dns}\n\
         COMMIT\n\
         *filter\n\
         :INPUT ACCEPT [0:0]\n\
         :FORWARD DROP [0:0]\n\
         :OUTPUT DROP [0:0]\n\
         -A OUTPUT -d {loopback} -j ACCEPT\n\
         -A OUTPUT -p udp -j REJECT\n\
         -A OUTPUT -p tcp -j REJECT --reject-with tcp-reset\n\
         COMMIT\n",
        tcp = spec.tcp_port,
        dns = spec.dns_port,
    )
}

/// The rule tool ran as a child of init, so it took pid 2 (and 3) of the sandbox's
/// pid namespace; the agent must still be pid 2 (as documented and tested). With the
/// helpers reaped, the next pid to hand out is set back to 2 through `ns_last_pid`,
/// which init may write: it holds CAP_SYS_ADMIN over the pid namespace's owner. On a
/// kernel without it (no CONFIG_CHECKPOINT_RESTORE) the agent is simply pid 3.
pub(crate) fn reuse_helper_pids() {
    let _ = std::fs::write("/proc/sys/kernel/ns_last_pid", "1");
}

/// Runs `tool args` with `input` on stdin and CAP_NET_ADMIN in its ambient set.
fn run(tool: &Path, args: &[&str], input: &str) -> Result<(), String> {
    let shown = tool.display();
    let output = with_ambient_net_admin(|| {
        let mut child = Command::new(tool)
            .args(args)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(input.as_bytes())?;
        }
        child.wait_with_output()
    })
    .map_err(|e| format!("{shown}: {e}"))?
    .map_err(|e| format!("{shown}: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let first = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    Err(format!("{shown} failed ({}): {first}", output.status))
}

/// Runs `f` with CAP_NET_ADMIN raised in the ambient set (it is in init's permitted
/// set inside the user namespace), so a program `f` starts keeps it across `execve`;
/// lowered again afterwards.
fn with_ambient_net_admin<T>(f: impl FnOnce() -> T) -> io::Result<T> {
    let mut sets = rustix::thread::capabilities(None)?;
    let inheritable = sets.inheritable;
    sets.inheritable |= CapabilitySet::NET_ADMIN;
    rustix::thread::set_capabilities(None, sets)?;
    rustix::thread::configure_capability_in_ambient_set(CapabilitySet::NET_ADMIN, true)?;
    let result = f();
    let _ = rustix::thread::configure_capability_in_ambient_set(CapabilitySet::NET_ADMIN, false);
    sets.inheritable = inheritable;
    let _ = rustix::thread::set_capabilities(None, sets);
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: CaptureSpec = CaptureSpec {
        tcp_port: 3129,
        dns_port: 53,
    };

    /// Feeds a ruleset to a real tool inside a throwaway user + network namespace
    /// (`unshare -Urn`), exactly as init does, then runs `list` there; returns its
    /// output. A syntax error fails here rather than at a sandbox's start.
    fn load_in_fresh_namespace(tool: &str, args: &str, input: &str, list: &str) -> String {
        let path = find_binary(&[tool]).unwrap_or_else(|| {
            panic!("`{tool}` is required for this test (apt-get install nftables iptables)")
        });
        let script = format!("{} {args} && {list}", path.display());
        let mut child = Command::new("unshare")
            .args(["-Urn", "sh", "-c", &script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("unshare (util-linux) is required");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{tool} refused the ruleset: {}\n{input}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[test]
    fn nft_accepts_the_ruleset() {
        let listed = load_in_fresh_namespace("nft", "-f -", &nft_ruleset(SPEC), "nft list ruleset");
        assert!(listed.contains("redirect to :3129"), "{listed}");
        assert!(listed.contains("udp dport 53 redirect to :53"), "{listed}");
    }

    #[test]
    fn iptables_restore_accepts_both_families() {
        for (tool, family) in [
            ("iptables-nft-restore", IpFamily::V4),
            ("ip6tables-nft-restore", IpFamily::V6),
        ] {
            let listed = load_in_fresh_namespace(tool, "", &iptables_ruleset(SPEC, family), "true");
            assert!(listed.is_empty(), "{listed}");
        }
    }

    #[test]
    fn a_tool_is_found_on_this_host() {
        assert!(matches!(Tool::find(), Some(Tool::Nft(_))));
    }
}
