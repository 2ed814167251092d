//! `/etc/passwd` and `/etc/group` as the sandbox shows them: the agent's uid and gid
//! are named `sandbox` (home `/sandbox`), as in OpenShell's image, and the host's
//! account list (user names, who shares which group) stays out of the sandbox. Only
//! `root` and `nobody` are kept besides, which is what ids outside the user namespace's
//! map show as. Mounted read-only over the host's files when the policy shows `/etc`
//! and they are plain files.

use std::path::Path;

use cordon_sandbox::SandboxSpec;

use crate::error::SupervisorError;
use crate::scratch::ScratchFile;

/// The generated files; they must live until the sandbox has mounted them.
#[derive(Debug, Default)]
pub(crate) struct AccountFiles {
    _files: Vec<ScratchFile>,
}

impl AccountFiles {
    /// Writes the files and adds their mounts to `spec` (when `/etc` is shown at all).
    pub(crate) fn prepare(
        name: &str,
        spec: &mut SandboxSpec,
    ) -> Result<AccountFiles, SupervisorError> {
        let mut files = Vec::new();
        let (passwd, group) = contents(spec.identity.uid, spec.identity.gid);
        for (path, content) in [("/etc/passwd", passwd), ("/etc/group", group)] {
            let target = Path::new(path);
            // A symlinked file (NixOS's /etc/static) may lead out of what the
            // sandbox shows, where nothing can be mounted: left as it is.
            let plain_file =
                std::fs::symlink_metadata(target).is_ok_and(|meta| meta.file_type().is_file());
            if !crate::trust::covered(spec, target) || !plain_file {
                continue;
            }
            let file = ScratchFile::create(name, &path[5..], &content)?;
            spec.extra_ro_files
                .push((target.to_path_buf(), file.path.clone()));
            files.push(file);
        }
        Ok(AccountFiles { _files: files })
    }
}

/// The two files' contents for the agent's `uid` and `gid`.
fn contents(uid: u32, gid: u32) -> (String, String) {
    let mut passwd = String::from("root:x:0:0:root:/root:/usr/sbin/nologin\n");
    let mut group = String::from("root:x:0:\n");
    if uid != 65534 {
        passwd.push_str("nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
    }
    if gid != 65534 {
        group.push_str("nogroup:x:65534:\n");
    }
    passwd.push_str(&format!(
        "sandbox:x:{uid}:{gid}:cordon sandbox:/sandbox:/bin/sh\n"
    ));
    group.push_str(&format!("sandbox:x:{gid}:\n"));
    (passwd, group)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agent_is_sandbox_and_host_accounts_stay_out() {
        let (passwd, group) = contents(1000, 1000);
        assert!(passwd.contains("\nsandbox:x:1000:1000:cordon sandbox:/sandbox:/bin/sh\n"));
        assert_eq!(passwd.lines().count(), 3);
        assert!(group.contains("\nsandbox:x:1000:\n"));
        // nobody's ids given to the agent are not listed twice.
        let (passwd, group) = contents(65534, 65534);
        assert_eq!(passwd.matches(":65534:").count(), 1);
        assert_eq!(group.matches(":65534:").count(), 1);
    }
}
