use std::path::{Path, PathBuf};

use super::*;

fn steps_at(plan: &MountPlan) -> Vec<String> {
    plan.steps
        .iter()
        .map(|s| s.at.display().to_string())
        .collect()
}

fn find<'a>(plan: &'a MountPlan, at: &str) -> Option<&'a Step> {
    plan.steps.iter().find(|s| s.at == Path::new(at))
}

#[test]
fn parents_come_before_children_and_own_mounts_are_always_there() {
    let input = PlanInput {
        read_only: vec!["/usr".into(), "/etc".into()],
        read_write: vec!["/usr/local".into()],
        ..PlanInput::default()
    };
    let plan = plan(&input, LandlockMode::BestEffort).unwrap();
    let at = steps_at(&plan);
    let pos = |p: &str| at.iter().position(|a| a == p).unwrap();
    assert!(pos("/usr") < pos("/usr/local"));
    assert!(pos("/dev") < pos("/dev/null"));
    assert!(pos("/dev") < pos("/dev/pts"));
    for own in ["/tmp", "/proc", "/dev", "/dev/shm", "/dev/ptmx"] {
        assert!(at.contains(&own.to_string()), "{own} missing: {at:?}");
    }
    // /usr/local sits inside the bind of /usr: its mount point must exist, never be created.
    assert!(!find(&plan, "/usr/local").unwrap().create);
    assert!(find(&plan, "/usr").unwrap().create);
    assert!(matches!(
        find(&plan, "/usr/local").unwrap().action,
        Action::Bind {
            read_only: false,
            ..
        }
    ));
}

#[test]
fn host_symlinks_are_recreated_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real");
    std::fs::create_dir(&real).unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink("real", &link).unwrap();
    let input = PlanInput {
        read_only: vec![link.clone(), link.join("below")],
        ..PlanInput::default()
    };
    let plan = plan(&input, LandlockMode::BestEffort).unwrap();
    let step = find(&plan, link.to_str().unwrap()).unwrap();
    assert_eq!(step.action, Action::Symlink(PathBuf::from("real")));
    // Nothing is ever placed below a symlink (it could point anywhere while building).
    assert!(find(&plan, link.join("below").to_str().unwrap()).is_none());
}

#[test]
fn sandbox_owned_paths_in_the_policy_are_not_bound_from_the_host() {
    let input = PlanInput {
        read_only: vec!["/proc".into(), "/dev/urandom".into()],
        read_write: vec!["/tmp".into(), "/dev/null".into()],
        ..PlanInput::default()
    };
    let plan = plan(&input, LandlockMode::BestEffort).unwrap();
    assert_eq!(find(&plan, "/proc").unwrap().action, Action::Proc);
    assert_eq!(
        find(&plan, "/tmp").unwrap().action,
        Action::Tmpfs(TmpfsKind::Scratch)
    );
    // /dev/null is the sandbox's device bind, not a second policy bind.
    assert_eq!(
        plan.steps
            .iter()
            .filter(|s| s.at == Path::new("/dev/null"))
            .count(),
        1
    );
    assert!(!plan.sources.contains(&PathBuf::from("/proc")));
}

#[test]
fn missing_paths_warn_in_best_effort_and_fail_in_hard_requirement() {
    let input = PlanInput {
        read_only: vec!["/definitely/not/here".into()],
        ..PlanInput::default()
    };
    let plan = plan(&input, LandlockMode::BestEffort).unwrap();
    assert!(
        plan.warnings
            .iter()
            .any(|w| w.contains("/definitely/not/here"))
    );
    assert!(
        !plan
            .landlock_read
            .contains(&PathBuf::from("/definitely/not/here"))
    );
    let err = super::plan(&input, LandlockMode::HardRequirement).unwrap_err();
    assert!(err.to_string().contains("/definitely/not/here"), "{err}");
}

#[test]
fn workdir_is_bound_read_write_at_sandbox_and_given_to_landlock() {
    let dir = tempfile::tempdir().unwrap();
    let input = PlanInput {
        workdir: Some(dir.path().to_path_buf()),
        ..PlanInput::default()
    };
    let plan = plan(&input, LandlockMode::BestEffort).unwrap();
    let step = find(&plan, "/sandbox").unwrap();
    assert!(matches!(
        step.action,
        Action::Bind {
            read_only: false,
            dir: true,
            ..
        }
    ));
    assert!(plan.landlock_write.contains(&PathBuf::from("/sandbox")));
    assert!(plan.landlock_write.contains(&PathBuf::from("/tmp")));
}

#[test]
fn root_in_the_policy_expands_to_its_entries() {
    let input = PlanInput {
        read_only: vec!["/".into()],
        ..PlanInput::default()
    };
    let plan = plan(&input, LandlockMode::BestEffort).unwrap();
    assert!(find(&plan, "/").is_none());
    assert!(find(&plan, "/usr").is_some() || find(&plan, "/etc").is_some());
    assert_eq!(
        find(&plan, "/tmp").unwrap().action,
        Action::Tmpfs(TmpfsKind::Scratch)
    );
}

#[test]
fn merged_usr_links_are_recreated_when_their_target_is_visible() {
    let root = tempfile::tempdir().unwrap();
    for dir in ["usr/bin", "usr/lib64", "sbin"] {
        std::fs::create_dir_all(root.path().join(dir)).unwrap();
    }
    std::os::unix::fs::symlink("usr/bin", root.path().join("bin")).unwrap();
    std::os::unix::fs::symlink("usr/lib64", root.path().join("lib64")).unwrap();
    std::os::unix::fs::symlink("/opt/lib", root.path().join("lib")).unwrap();
    std::os::unix::fs::symlink("usr/../etc", root.path().join("lib32")).unwrap();
    let mut entries = BTreeMap::new();
    let usr = Entry::Host {
        source: "/usr".into(),
        read_only: true,
        dir: true,
        devices: false,
    };
    entries.insert(PathBuf::from("/usr"), usr);
    merged_usr_links(root.path(), &mut entries);
    let link = |at: &str| match entries.get(Path::new(at)) {
        Some(Entry::Symlink(to)) => Some(to.display().to_string()),
        _ => None,
    };
    assert_eq!(link("/bin").as_deref(), Some("usr/bin"));
    assert_eq!(link("/lib64").as_deref(), Some("usr/lib64"));
    // Not a link on the host, a target the policy does not show, a `..` target: left out.
    assert!(!entries.contains_key(Path::new("/sbin")));
    assert!(!entries.contains_key(Path::new("/lib")));
    assert!(!entries.contains_key(Path::new("/lib32")));
}

#[test]
fn policy_paths_below_sandbox_name_the_workdir() {
    let workdir = tempfile::tempdir().unwrap();
    std::fs::create_dir(workdir.path().join("config")).unwrap();
    std::fs::create_dir(workdir.path().join("data")).unwrap();
    std::os::unix::fs::symlink("/etc", workdir.path().join("planted")).unwrap();
    let input = PlanInput {
        read_only: vec![
            "/sandbox/config".into(),
            "/sandbox/planted".into(),
            "/sandbox/planted/ssl".into(),
            "/sandbox/missing".into(),
        ],
        read_write: vec!["/sandbox".into(), "/sandbox/data".into()],
        workdir: Some(workdir.path().to_path_buf()),
        ..PlanInput::default()
    };
    let plan = plan(&input, LandlockMode::BestEffort).unwrap();
    let config = find(&plan, "/sandbox/config").unwrap();
    assert!(!config.create, "inside the workdir bind: never created");
    let source = match config.action {
        Action::Bind {
            source,
            read_only: true,
            ..
        } => source,
        ref other => panic!("{other:?}"),
    };
    let canonical = std::fs::canonicalize(workdir.path()).unwrap();
    assert_eq!(plan.sources[source], canonical.join("config"));
    assert!(
        plan.landlock_read
            .contains(&PathBuf::from("/sandbox/config"))
    );
    assert!(matches!(
        find(&plan, "/sandbox/data").unwrap().action,
        Action::Bind {
            read_only: false,
            ..
        }
    ));
    // A link the agent could have planted never becomes a bind of what it points at.
    assert!(find(&plan, "/sandbox/planted").is_none());
    assert!(find(&plan, "/sandbox/planted/ssl").is_none());
    assert!(!plan.sources.contains(&PathBuf::from("/etc")));
    assert!(!plan.sources.contains(&PathBuf::from("/etc/ssl")));
    let warnings = plan.warnings.join("\n");
    assert!(
        warnings.contains("/sandbox/planted: is a symlink"),
        "{warnings}"
    );
    assert!(
        warnings.contains("/sandbox/missing does not exist in the workdir"),
        "{warnings}"
    );
    assert!(!warnings.contains("/sandbox does not exist"), "{warnings}");
    // The workdir itself is bound once, read-write.
    assert_eq!(
        plan.steps
            .iter()
            .filter(|s| s.at == Path::new("/sandbox"))
            .count(),
        1
    );

    let without = PlanInput {
        workdir: None,
        ..input
    };
    let skipped = super::plan(&without, LandlockMode::BestEffort).unwrap();
    assert!(find(&skipped, "/sandbox/config").is_none());
    assert!(
        skipped
            .warnings
            .join("\n")
            .contains("include_workdir: false")
    );
}

#[test]
fn the_directory_of_a_read_only_file_in_the_workdir_is_pinned_unless_it_is_a_link() {
    let workdir = tempfile::tempdir().unwrap();
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::create_dir_all(workdir.path().join(".agent/deep")).unwrap();
    std::fs::write(workdir.path().join(".agent/config.json"), "{}").unwrap();
    std::fs::write(workdir.path().join(".agent/deep/c.json"), "{}").unwrap();
    std::os::unix::fs::symlink("/etc", workdir.path().join(".planted")).unwrap();
    let input = PlanInput {
        workdir: Some(workdir.path().to_path_buf()),
        extra_ro_files: vec![
            ("/sandbox/.agent/config.json".into(), config.path().into()),
            ("/sandbox/.planted/config.json".into(), config.path().into()),
            ("/sandbox/top.json".into(), config.path().into()),
            ("/sandbox/.agent/deep/c.json".into(), config.path().into()),
        ],
        ..PlanInput::default()
    };
    let plan = plan(&input, LandlockMode::BestEffort).unwrap();
    // The state directory becomes a mount point (read-write, bound onto itself), then
    // the file is mounted read-only inside it.
    let pinned = find(&plan, "/sandbox/.agent").unwrap();
    let source = match pinned.action {
        Action::Bind {
            source,
            read_only: false,
            dir: true,
            ..
        } => source,
        ref other => panic!("{other:?}"),
    };
    let canonical = std::fs::canonicalize(workdir.path()).unwrap();
    assert_eq!(plan.sources[source], canonical.join(".agent"));
    let steps = steps_at(&plan);
    let dir_at = steps.iter().position(|s| s == "/sandbox/.agent").unwrap();
    let file_at = steps
        .iter()
        .position(|s| s == "/sandbox/.agent/config.json")
        .unwrap();
    assert!(dir_at < file_at, "{steps:?}");
    // A deeper file pins every directory on the way, each before what it holds.
    let deep_at = steps
        .iter()
        .position(|s| s == "/sandbox/.agent/deep")
        .unwrap();
    assert!(dir_at < deep_at, "{steps:?}");
    // A symlink in the workdir is never followed to pin what it points at; the
    // workdir itself is not bound twice.
    assert!(find(&plan, "/sandbox/.planted").is_none());
    assert!(!plan.sources.contains(&PathBuf::from("/etc")));
    assert_eq!(steps.iter().filter(|s| *s == "/sandbox").count(), 1);
}
