use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};

use super::*;
use crate::mounts::plan::{Action, MountPlan, Step, TmpfsKind};

/// Records every call; answers `node` from a set of existing paths, which creation adds to.
#[derive(Default)]
struct Recorder {
    calls: Vec<String>,
    existing: BTreeSet<PathBuf>,
    fail_on: Option<&'static str>,
}

impl Recorder {
    fn record(&mut self, call: String) -> io::Result<()> {
        let failing = self.fail_on.is_some_and(|f| call.starts_with(f));
        self.calls.push(call);
        if failing {
            Err(io::Error::from_raw_os_error(libc::EPERM))
        } else {
            Ok(())
        }
    }
}

impl MountOps for Recorder {
    fn make_private(&mut self) -> io::Result<()> {
        self.record("private /".into())
    }
    fn mount_tmpfs(&mut self, at: &Path, kind: TmpfsKind) -> io::Result<()> {
        self.record(format!("tmpfs {} {kind:?}", at.display()))
    }
    fn mount_root_tmpfs(&mut self, at: &Path) -> io::Result<()> {
        self.record(format!("root-tmpfs {}", at.display()))
    }
    fn node(&mut self, path: &Path) -> io::Result<Option<bool>> {
        Ok(self.existing.contains(path).then_some(true))
    }
    fn create_dir_all(&mut self, path: &Path) -> io::Result<()> {
        self.existing.insert(path.to_path_buf());
        self.record(format!("mkdir {}", path.display()))
    }
    fn create_file(&mut self, path: &Path) -> io::Result<()> {
        self.record(format!("touch {}", path.display()))
    }
    fn bind(&mut self, source: usize, at: &Path) -> io::Result<()> {
        self.record(format!("bind #{source} {}", at.display()))
    }
    fn restrict(&mut self, at: &Path, read_only: bool, devices: bool) -> io::Result<()> {
        self.record(format!(
            "restrict {} ro={read_only} dev={devices}",
            at.display()
        ))
    }
    fn symlink(&mut self, points_to: &Path, at: &Path) -> io::Result<()> {
        self.record(format!(
            "symlink {} -> {}",
            at.display(),
            points_to.display()
        ))
    }
    fn mount_proc(&mut self, at: &Path) -> io::Result<()> {
        self.record(format!("proc {}", at.display()))
    }
    fn mount_devpts(&mut self, at: &Path) -> io::Result<()> {
        self.record(format!("devpts {}", at.display()))
    }
    fn pivot(&mut self, new_root: &Path) -> io::Result<()> {
        self.record(format!("pivot {}", new_root.display()))
    }
    fn remount_read_only(&mut self, at: &Path) -> io::Result<()> {
        self.record(format!("ro {}", at.display()))
    }
}

fn step(at: &str, create: bool, action: Action) -> Step {
    Step {
        at: at.into(),
        create,
        action,
    }
}

fn sample() -> MountPlan {
    MountPlan {
        sources: vec!["/usr".into(), "/usr/local".into()],
        steps: vec![
            step("/tmp", true, Action::Tmpfs(TmpfsKind::Scratch)),
            step(
                "/usr",
                true,
                Action::Bind {
                    source: 0,
                    read_only: true,
                    dir: true,
                    devices: false,
                },
            ),
            step(
                "/usr/local",
                false,
                Action::Bind {
                    source: 1,
                    read_only: false,
                    dir: true,
                    devices: false,
                },
            ),
            step("/lib", true, Action::Symlink("usr/lib".into())),
            step("/proc", true, Action::Proc),
        ],
        ..MountPlan::default()
    }
}

#[test]
fn sequence_is_private_root_steps_pivot_then_read_only() {
    let mut ops = Recorder::default();
    // /usr/local exists inside the bind of /usr.
    ops.existing.insert("/tmp/usr/local".into());
    apply(&mut ops, &sample()).unwrap();
    assert_eq!(
        ops.calls,
        [
            "private /",
            "root-tmpfs /tmp",
            "mkdir /tmp/tmp",
            "tmpfs /tmp/tmp Scratch",
            "mkdir /tmp/usr",
            "bind #0 /tmp/usr",
            "restrict /tmp/usr ro=true dev=false",
            "bind #1 /tmp/usr/local",
            "restrict /tmp/usr/local ro=false dev=false",
            "mkdir /tmp",
            "symlink /tmp/lib -> usr/lib",
            "mkdir /tmp/proc",
            "proc /tmp/proc",
            "pivot /tmp",
            "ro /",
            "ro /dev",
        ]
    );
}

#[test]
fn never_creates_a_mount_point_inside_a_host_bind() {
    let mut ops = Recorder::default();
    let err = apply(&mut ops, &sample()).unwrap_err();
    assert!(err.step.contains("/usr/local"), "{err}");
    assert!(!ops.calls.iter().any(|c| c == "mkdir /tmp/usr/local"));
    assert!(!ops.calls.iter().any(|c| c.starts_with("pivot")));
}

#[test]
fn a_failed_step_stops_before_pivot_and_names_the_step() {
    let mut ops = Recorder {
        fail_on: Some("restrict /tmp/usr "),
        ..Recorder::default()
    };
    ops.existing.insert("/tmp/usr/local".into());
    let err = apply(&mut ops, &sample()).unwrap_err();
    assert_eq!(err.step, "restrict /usr");
    assert!(!ops.calls.iter().any(|c| c.starts_with("bind #1")));
    assert!(!ops.calls.iter().any(|c| c.starts_with("pivot")));
}
