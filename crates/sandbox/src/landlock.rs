//! Landlock for the agent: the same read-only / read-write lists as the mounts, applied a
//! second time by a different kernel mechanism, plus scoping of abstract unix sockets and
//! signals where the kernel's ABI has it (6+). Runs inside the new root, so the rules name
//! the sandbox's paths.
//!
//! Semantics of the policy's `landlock.compatibility`:
//! - `best_effort`: use the kernel's ABI as it is; skip a path that cannot be opened with a
//!   warning; without Landlock in the kernel, run without it and say so;
//! - `hard_requirement`: every path must open and the ruleset must be fully enforced at the
//!   kernel's ABI, or the sandbox does not start.

use std::path::PathBuf;

use landlock::{
    ABI, Access, AccessFs, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus, Scope,
};

use crate::spec::LandlockMode;
use crate::sys;

/// First ABI with `LANDLOCK_SCOPE_*` (abstract unix sockets, signals).
const FIRST_SCOPED_ABI: i32 = 6;

/// What applying Landlock produced: a `-v` line and warnings for the user.
#[derive(Debug)]
pub(crate) struct Applied {
    pub layer: String,
    pub warnings: Vec<String>,
}

/// The kernel's Landlock ABI (0 = none).
pub(crate) fn kernel_abi() -> i32 {
    sys::landlock_abi()
}

fn mode_name(mode: LandlockMode) -> &'static str {
    match mode {
        LandlockMode::BestEffort => "best_effort",
        LandlockMode::HardRequirement => "hard_requirement",
    }
}

/// Restricts the calling thread (and everything it execs) to `read` and `write`.
pub(crate) fn restrict(
    read: &[PathBuf],
    write: &[PathBuf],
    mode: LandlockMode,
) -> Result<Applied, String> {
    let abi_number = kernel_abi();
    let mut warnings = Vec::new();
    if abi_number == 0 {
        if mode == LandlockMode::HardRequirement {
            return Err(
                "the kernel has no Landlock (needs Linux 5.13+ with landlock in the \
                        lsm= boot list); use landlock.compatibility: best_effort to run without it"
                    .into(),
            );
        }
        warnings.push("Landlock is not available in this kernel; running without it".into());
        return Ok(Applied {
            layer: "landlock: not applied (kernel has no Landlock), best_effort".into(),
            warnings,
        });
    }
    // Asking for exactly the kernel's ABI makes `hard_requirement` mean "everything this
    // kernel offers", and `best_effort` never asks for more than it can give.
    let abi = ABI::from(abi_number);
    let level = match mode {
        LandlockMode::BestEffort => CompatLevel::BestEffort,
        LandlockMode::HardRequirement => CompatLevel::HardRequirement,
    };
    let err = |e: landlock::RulesetError| format!("landlock: {e}");
    let mut ruleset = Ruleset::default()
        .set_compatibility(level)
        .handle_access(AccessFs::from_all(abi))
        .map_err(err)?;
    let scoped = abi_number >= FIRST_SCOPED_ABI;
    if scoped {
        ruleset = ruleset.scope(Scope::from_all(abi)).map_err(err)?;
    }
    let mut created = ruleset.create().map_err(err)?;

    // Listing the new root (`ls /`) must work: it is a tmpfs holding only what the policy
    // allowed, so directory listing beneath it reveals nothing the mounts did not already
    // expose. Only `ReadDir` is granted; reading files still needs a rule below.
    let root = PathFd::new("/").map_err(|e| format!("cannot open / for a rule: {e}"))?;
    created = created
        .add_rule(PathBeneath::new(root, AccessFs::ReadDir))
        .map_err(err)?;
    let mut rules = 1;
    let lists = [
        (read, AccessFs::from_read(abi)),
        (write, AccessFs::from_all(abi)),
    ];
    for (paths, access) in lists {
        for path in paths {
            let fd = match PathFd::new(path) {
                Ok(fd) => fd,
                Err(e) if mode == LandlockMode::HardRequirement => {
                    return Err(format!("cannot open {} for a rule: {e}", path.display()));
                }
                Err(e) => {
                    warnings.push(format!("landlock: skipped {}: {e}", path.display()));
                    continue;
                }
            };
            let is_dir = std::fs::metadata(path).map(|m| m.is_dir()).unwrap_or(true);
            let access = if is_dir {
                access
            } else {
                access & AccessFs::from_file(abi)
            };
            created = created
                .add_rule(PathBeneath::new(fd, access))
                .map_err(err)?;
            rules += 1;
        }
    }
    let status = created.restrict_self().map_err(err)?;
    let enforcement = match status.ruleset {
        RulesetStatus::FullyEnforced => "fully enforced",
        RulesetStatus::PartiallyEnforced => "partially enforced",
        RulesetStatus::NotEnforced => "not enforced",
    };
    if mode == LandlockMode::HardRequirement && status.ruleset != RulesetStatus::FullyEnforced {
        return Err(format!("ruleset {enforcement} at ABI {abi_number}"));
    }
    if status.ruleset != RulesetStatus::FullyEnforced {
        warnings.push(format!("Landlock ruleset {enforcement}"));
    }
    let scopes = if scoped {
        "abstract unix sockets and signals scoped"
    } else {
        "no scoping (ABI < 6)"
    };
    Ok(Applied {
        layer: format!(
            "landlock: ABI {abi_number}, {}, {enforcement}, {rules} path rules, {scopes}",
            mode_name(mode)
        ),
        warnings,
    })
}
