//! Resource limits through a cgroup v2 child group, used only when the caller's own cgroup is
//! delegated to it: cgroup v2 is mounted, offers the needed controllers, they are (or can be)
//! enabled for children, and the caller may create a child group. Anything less (a hybrid
//! v1 host, an undelegated systemd scope) falls back to rlimits (`limits.rs`), and `-v` says so.
//! The group is created before the sandbox starts, the init process is moved in before it
//! runs anything, and the group is removed when the sandbox is gone.

use std::path::{Path, PathBuf};

use crate::spec::Resources;

/// Period of `cpu.max`, in microseconds (the kernel's default).
const CPU_PERIOD_US: u64 = 100_000;

/// A cgroup created for one sandbox; removed on drop.
#[derive(Debug)]
pub(crate) struct Cgroup {
    dir: PathBuf,
}

/// The mount point of the cgroup v2 hierarchy, from `/proc/self/mountinfo`.
fn cgroup2_mount(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        if right.split_whitespace().next()? != "cgroup2" {
            return None;
        }
        left.split_whitespace().nth(4).map(PathBuf::from)
    })
}

/// The caller's cgroup v2 path, from `/proc/self/cgroup` (`0::/path`).
fn own_cgroup(proc_cgroup: &str) -> Option<&str> {
    proc_cgroup
        .lines()
        .find_map(|line| line.strip_prefix("0::"))
}

/// Controllers the requested limits need.
fn needed(resources: &Resources) -> Vec<&'static str> {
    let mut out = Vec::new();
    if resources.memory_bytes.is_some() {
        out.push("memory");
    }
    if resources.pids.is_some() {
        out.push("pids");
    }
    if resources.cpu.is_some() {
        out.push("cpu");
    }
    out
}

/// The files and values that express the limits.
fn limit_files(resources: &Resources) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some(bytes) = resources.memory_bytes {
        out.push(("memory.max", bytes.to_string()));
        out.push(("memory.swap.max", "0".to_string()));
    }
    if let Some(pids) = resources.pids {
        out.push(("pids.max", pids.to_string()));
    }
    if let Some(cpu) = resources.cpu {
        let quota = ((cpu * CPU_PERIOD_US as f64).round() as u64).max(1000);
        out.push(("cpu.max", format!("{quota} {CPU_PERIOD_US}")));
    }
    out
}

fn words(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

impl Cgroup {
    /// Creates `cordon-<name>` below the caller's cgroup with the limits written, or says
    /// why a delegated subtree is not available.
    pub(crate) fn create(name: &str, resources: &Resources) -> Result<Cgroup, String> {
        let wanted = needed(resources);
        if wanted.is_empty() {
            return Err("no limits requested".into());
        }
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mount = cgroup2_mount(&mountinfo).ok_or("no cgroup v2 hierarchy is mounted")?;
        let proc_cgroup = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        let own = own_cgroup(&proc_cgroup).ok_or("this process has no cgroup v2 path")?;
        let parent = mount.join(own.trim_start_matches('/'));
        let available = words(&parent.join("cgroup.controllers"));
        if let Some(missing) = wanted.iter().find(|c| !available.iter().any(|a| a == *c)) {
            return Err(format!(
                "cgroup v2 at {} offers no {missing} controller (not delegated, or a hybrid v1 host)",
                parent.display()
            ));
        }
        let enabled = words(&parent.join("cgroup.subtree_control"));
        for controller in &wanted {
            if !enabled.iter().any(|e| e == controller) {
                std::fs::write(
                    parent.join("cgroup.subtree_control"),
                    format!("+{controller}"),
                )
                .map_err(|e| {
                    format!(
                        "cannot enable {controller} for child groups of {}: {e}",
                        parent.display()
                    )
                })?;
            }
        }
        let dir = parent.join(format!("cordon-{name}"));
        std::fs::create_dir(&dir)
            .map_err(|e| format!("cannot create {}: {e} (not delegated?)", dir.display()))?;
        let cgroup = Cgroup { dir };
        for (file, value) in limit_files(resources) {
            let path = cgroup.dir.join(file);
            if file == "memory.swap.max" && !path.exists() {
                continue; // no swap accounting on this kernel
            }
            std::fs::write(&path, &value)
                .map_err(|e| format!("write {value} to {}: {e}", path.display()))?;
        }
        Ok(cgroup)
    }

    /// Moves process `pid` into the group.
    pub(crate) fn add(&self, pid: i32) -> std::io::Result<()> {
        std::fs::write(self.dir.join("cgroup.procs"), pid.to_string())
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        // The sandbox's processes are gone once init is reaped, but their exit is accounted
        // asynchronously: retry briefly before leaving the (empty) group behind.
        for _ in 0..50 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_cgroup2_mount_among_v1_mounts() {
        let mountinfo = "\
30 24 0:26 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw,nsdelegate
32 30 0:28 / /sys/fs/cgroup/pids rw shared:11 - cgroup cgroup rw,pids";
        assert_eq!(
            cgroup2_mount(mountinfo),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        assert_eq!(cgroup2_mount("1 2 0:1 / / rw - ext4 /dev/sda rw"), None);
    }

    #[test]
    fn reads_the_v2_path_of_this_process() {
        assert_eq!(
            own_cgroup("9:pids:/\n0::/user.slice/x.scope\n"),
            Some("/user.slice/x.scope")
        );
        assert_eq!(own_cgroup("9:pids:/\n"), None);
    }

    #[test]
    fn limits_become_cgroup_files() {
        let files = limit_files(&Resources {
            memory_bytes: Some(1 << 30),
            pids: Some(64),
            cpu: Some(1.5),
        });
        assert!(files.contains(&("memory.max", "1073741824".into())));
        assert!(files.contains(&("pids.max", "64".into())));
        assert!(files.contains(&("cpu.max", "150000 100000".into())));
    }
}
