//! The agent's seccomp-bpf filters. A deny-list: the syscalls below answer an error, every
//! other syscall is allowed (Landlock, namespaces and dropped capabilities do the rest).
//! `docs/security.md` gives the reason for each entry; keep the two in step.
//!
//! Three filters are stacked, because each seccompiler filter has one match action:
//! 1. the deny-list, answering `EPERM`;
//! 2. `clone3` and `openat2` answering `ENOSYS`: their flags live in memory a filter
//!    cannot read, and `ENOSYS` makes libc fall back to `clone`/`openat`, whose arguments
//!    filter 1 inspects;
//! 3. a guard answering `ENOSYS` to x32-ABI syscall numbers (bit 30 set), which would
//!    otherwise reach the same kernel entry points under numbers no rule names.
//!
//! When filters disagree the kernel takes the most restrictive action, so the stack is
//! exactly the union of the three.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen as Len, SeccompCmpOp as Op, SeccompCondition,
    SeccompFilter, SeccompRule, TargetArch, sock_filter,
};

#[cfg(target_arch = "x86_64")]
const ARCH: TargetArch = TargetArch::x86_64;
#[cfg(target_arch = "aarch64")]
const ARCH: TargetArch = TargetArch::aarch64;

/// Syscalls denied outright, by name (for `-v` and the docs) and number.
pub const DENIED: &[(&str, i64)] = &[
    ("ptrace", libc::SYS_ptrace),
    ("process_vm_readv", libc::SYS_process_vm_readv),
    ("process_vm_writev", libc::SYS_process_vm_writev),
    ("pidfd_getfd", libc::SYS_pidfd_getfd),
    ("mount", libc::SYS_mount),
    ("umount2", libc::SYS_umount2),
    ("pivot_root", libc::SYS_pivot_root),
    ("move_mount", libc::SYS_move_mount),
    ("open_tree", libc::SYS_open_tree),
    ("fsopen", libc::SYS_fsopen),
    ("fsmount", libc::SYS_fsmount),
    ("fsconfig", libc::SYS_fsconfig),
    ("fspick", libc::SYS_fspick),
    ("mount_setattr", libc::SYS_mount_setattr),
    ("unshare", libc::SYS_unshare),
    ("setns", libc::SYS_setns),
    ("bpf", libc::SYS_bpf),
    ("perf_event_open", libc::SYS_perf_event_open),
    ("kexec_load", libc::SYS_kexec_load),
    ("kexec_file_load", libc::SYS_kexec_file_load),
    ("init_module", libc::SYS_init_module),
    ("finit_module", libc::SYS_finit_module),
    ("delete_module", libc::SYS_delete_module),
    ("keyctl", libc::SYS_keyctl),
    ("add_key", libc::SYS_add_key),
    ("request_key", libc::SYS_request_key),
    ("userfaultfd", libc::SYS_userfaultfd),
    ("io_uring_setup", libc::SYS_io_uring_setup),
    ("io_uring_enter", libc::SYS_io_uring_enter),
    ("io_uring_register", libc::SYS_io_uring_register),
    ("acct", libc::SYS_acct),
    ("swapon", libc::SYS_swapon),
    ("swapoff", libc::SYS_swapoff),
    ("reboot", libc::SYS_reboot),
    ("settimeofday", libc::SYS_settimeofday),
    ("clock_settime", libc::SYS_clock_settime),
    ("clock_adjtime", libc::SYS_clock_adjtime),
    ("adjtimex", libc::SYS_adjtimex),
    ("quotactl", libc::SYS_quotactl),
    ("quotactl_fd", libc::SYS_quotactl_fd),
    ("open_by_handle_at", libc::SYS_open_by_handle_at),
    ("name_to_handle_at", libc::SYS_name_to_handle_at),
    ("syslog", libc::SYS_syslog),
    ("vhangup", libc::SYS_vhangup),
    #[cfg(target_arch = "x86_64")]
    ("iopl", libc::SYS_iopl),
    #[cfg(target_arch = "x86_64")]
    ("ioperm", libc::SYS_ioperm),
    #[cfg(target_arch = "x86_64")]
    ("uselib", libc::SYS_uselib),
];

/// Syscalls denied only for some arguments (described for `-v` and the docs).
pub const DENIED_WITH_ARGUMENTS: &[&str] = &[
    "clone with a namespace flag",
    "clone3 (ENOSYS: libc falls back to clone)",
    "socket(AF_PACKET, ...)",
    "socket(AF_INET/AF_INET6, SOCK_RAW or SOCK_PACKET, ...)",
    "ioctl(TIOCSTI)",
    "ioctl(TIOCLINUX)",
    "personality other than a query or PER_LINUX",
    "chmod/fchmod/fchmodat/fchmodat2, creating open/openat/creat/mknod/mknodat with a setuid or setgid bit",
    "openat2 (ENOSYS: libc falls back to openat, whose mode is checked)",
    "x32-ABI syscall numbers (ENOSYS)",
];

/// `fchmodat2` (Linux 6.6): one number on every architecture, not in libc for all of them.
const SYS_FCHMODAT2: i64 = 452;

/// Mode bits that make an executable run as its owner or group. Refused whenever a file
/// gets them: inside they grant nothing (`no_new_privs`, `nosuid`), but a file in an
/// idmapped workdir (as root, `mounts/idmapped.rs`) is owned by root on the host, where
/// the bit would be honoured.
const SET_ID_BITS: [u64; 2] = [libc::S_ISUID as u64, libc::S_ISGID as u64];

/// Namespace flags `clone` may not carry.
const NAMESPACE_FLAGS: [u64; 7] = [
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWCGROUP as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
];

/// `ioctl` requests that inject input into, or reconfigure, a terminal another process reads.
const TIOCSTI: u64 = 0x5412;
const TIOCLINUX: u64 = 0x541C;
/// `SOCK_PACKET`: the obsolete packet-socket type still accepted for AF_INET.
const SOCK_PACKET: u64 = 10;
/// Mask of the socket type without `SOCK_NONBLOCK`/`SOCK_CLOEXEC`.
const SOCK_TYPE_MASK: u64 = 0xf;
/// The personality query value (`personality(0xffffffff)` reads without changing).
const PERSONALITY_QUERY: u64 = 0xffff_ffff;
/// x32 syscalls are numbered from this bit up.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// The compiled filters, built by the supervisor before the sandbox starts (so a build
/// error is reported as cordon's own failure) and installed by the agent right before exec.
#[derive(Debug, Clone)]
pub(crate) struct SeccompFilters {
    programs: Vec<BpfProgram>,
}

fn cond(arg: u8, len: Len, op: Op, value: u64) -> Result<SeccompCondition, String> {
    SeccompCondition::new(arg, len, op, value).map_err(|e| format!("seccomp condition: {e}"))
}

fn rule(conditions: Vec<SeccompCondition>) -> Result<SeccompRule, String> {
    SeccompRule::new(conditions).map_err(|e| format!("seccomp rule: {e}"))
}

fn deny_list() -> Result<BTreeMap<i64, Vec<SeccompRule>>, String> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> =
        DENIED.iter().map(|&(_, nr)| (nr, Vec::new())).collect();

    let clone = NAMESPACE_FLAGS
        .iter()
        .map(|&flag| rule(vec![cond(0, Len::Qword, Op::MaskedEq(flag), flag)?]))
        .collect::<Result<Vec<_>, _>>()?;
    rules.insert(libc::SYS_clone, clone);

    let raw_type = |family: i32, kind: u64| -> Result<SeccompRule, String> {
        rule(vec![
            cond(0, Len::Dword, Op::Eq, family as u64)?,
            cond(1, Len::Dword, Op::MaskedEq(SOCK_TYPE_MASK), kind)?,
        ])
    };
    rules.insert(
        libc::SYS_socket,
        vec![
            rule(vec![cond(0, Len::Dword, Op::Eq, libc::AF_PACKET as u64)?])?,
            raw_type(libc::AF_INET, libc::SOCK_RAW as u64)?,
            raw_type(libc::AF_INET6, libc::SOCK_RAW as u64)?,
            raw_type(libc::AF_INET, SOCK_PACKET)?,
            raw_type(libc::AF_INET6, SOCK_PACKET)?,
        ],
    );

    // The kernel reads the ioctl request as 32 bits: compare 32 bits, or a value with high
    // bits set would slip past the rule and still reach TIOCSTI.
    rules.insert(
        libc::SYS_ioctl,
        vec![
            rule(vec![cond(1, Len::Dword, Op::Eq, TIOCSTI)?])?,
            rule(vec![cond(1, Len::Dword, Op::Eq, TIOCLINUX)?])?,
        ],
    );

    for (nr, rules_for) in set_id_rules()? {
        rules.insert(nr, rules_for);
    }

    rules.insert(
        libc::SYS_personality,
        vec![rule(vec![
            cond(0, Len::Dword, Op::Ne, 0)?,
            cond(0, Len::Dword, Op::Ne, PERSONALITY_QUERY)?,
        ])?],
    );
    Ok(rules)
}

/// Rules refusing a setuid or setgid bit on a file: every `chmod` variant (mode in
/// argument `mode_arg`), and every call that creates a file with a mode (`flags_arg` holds
/// the open flags, when the mode only matters with `O_CREAT`/`O_TMPFILE`).
fn set_id_rules() -> Result<Vec<(i64, Vec<SeccompRule>)>, String> {
    // (syscall, argument holding the mode, argument holding open flags)
    let mut calls: Vec<(i64, u8, Option<u8>)> = vec![
        (libc::SYS_fchmod, 1, None),
        (libc::SYS_fchmodat, 2, None),
        (SYS_FCHMODAT2, 2, None),
        (libc::SYS_openat, 3, Some(2)),
        (libc::SYS_mknodat, 2, None),
    ];
    #[cfg(target_arch = "x86_64")]
    calls.extend([
        (libc::SYS_chmod, 1, None),
        (libc::SYS_creat, 1, None),
        (libc::SYS_open, 2, Some(1)),
        (libc::SYS_mknod, 1, None),
    ]);
    let creating = [libc::O_CREAT as u64, libc::O_TMPFILE as u64];
    calls
        .into_iter()
        .map(|(nr, mode_arg, flags_arg)| {
            let mut out = Vec::new();
            for bit in SET_ID_BITS {
                let mode = cond(mode_arg, Len::Dword, Op::MaskedEq(bit), bit)?;
                match flags_arg {
                    None => out.push(rule(vec![mode])?),
                    Some(flags_arg) => {
                        for flag in creating {
                            out.push(rule(vec![
                                cond(flags_arg, Len::Dword, Op::MaskedEq(flag), flag)?,
                                mode.clone(),
                            ])?);
                        }
                    }
                }
            }
            Ok((nr, out))
        })
        .collect()
}

fn compile(
    rules: BTreeMap<i64, Vec<SeccompRule>>,
    errno: libc::c_int,
) -> Result<BpfProgram, String> {
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(errno as u32),
        ARCH,
    )
    .map_err(|e| format!("seccomp filter: {e}"))?;
    filter
        .try_into()
        .map_err(|e: seccompiler::BackendError| format!("seccomp compile: {e}"))
}

/// A hand-written program: any syscall number with the x32 bit set answers `ENOSYS`.
fn x32_guard() -> BpfProgram {
    // BPF_LD | BPF_W | BPF_ABS (BPF_LD and BPF_W are 0).
    const BPF_LD_W_ABS: u16 = 0x20;
    // BPF_JMP | BPF_JGE | BPF_K.
    const BPF_JGE_K: u16 = 0x05 | 0x30;
    const BPF_RET_K: u16 = 0x06;
    let stmt = |code, k| sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    };
    vec![
        stmt(BPF_LD_W_ABS, 0), // seccomp_data.nr
        sock_filter {
            code: BPF_JGE_K,
            jt: 0,
            jf: 1,
            k: X32_SYSCALL_BIT,
        },
        stmt(BPF_RET_K, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32),
        stmt(BPF_RET_K, libc::SECCOMP_RET_ALLOW),
    ]
}

impl SeccompFilters {
    /// Compiles the three filters.
    pub(crate) fn build() -> Result<SeccompFilters, String> {
        let deny = compile(deny_list()?, libc::EPERM)?;
        // openat2's mode sits in a struct a filter cannot read: answer ENOSYS, and the
        // caller falls back to openat.
        let clone3 = compile(
            BTreeMap::from([
                (libc::SYS_clone3, Vec::new()),
                (libc::SYS_openat2, Vec::new()),
            ]),
            libc::ENOSYS,
        )?;
        Ok(SeccompFilters {
            programs: vec![x32_guard(), clone3, deny],
        })
    }

    /// Installs the filters on the calling thread (needs `no_new_privs`).
    pub(crate) fn install(&self) -> Result<String, String> {
        for program in &self.programs {
            seccompiler::apply_filter(program).map_err(|e| format!("install seccomp: {e}"))?;
        }
        Ok(format!(
            "seccomp: {} syscalls denied (EPERM) plus {}",
            DENIED.len(),
            DENIED_WITH_ARGUMENTS.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_compile_for_this_architecture() {
        let filters = SeccompFilters::build().unwrap();
        assert_eq!(filters.programs.len(), 3);
        assert!(filters.programs.iter().all(|p| !p.is_empty()));
    }

    #[test]
    fn every_issue_listed_syscall_is_denied() {
        let names: Vec<&str> = DENIED.iter().map(|(n, _)| *n).collect();
        for required in [
            "ptrace",
            "process_vm_readv",
            "process_vm_writev",
            "mount",
            "umount2",
            "pivot_root",
            "move_mount",
            "open_tree",
            "fsopen",
            "fsmount",
            "fsconfig",
            "unshare",
            "setns",
            "bpf",
            "perf_event_open",
            "kexec_load",
            "kexec_file_load",
            "init_module",
            "finit_module",
            "delete_module",
            "keyctl",
            "add_key",
            "request_key",
            "userfaultfd",
            "io_uring_setup",
            "acct",
            "swapon",
            "swapoff",
            "reboot",
            "settimeofday",
            "clock_settime",
            "adjtimex",
            "quotactl",
            "open_by_handle_at",
            "name_to_handle_at",
        ] {
            assert!(
                names.contains(&required),
                "{required} missing from the deny-list"
            );
        }
    }
}
