//! Reading a sandbox's audit log (`audit.jsonl`, OCSF lines, docs/audit.md) the way the
//! audit pane needs it: the last N lines first, then only what was appended, across
//! size rotations (`audit.jsonl` renamed to `audit.jsonl.1`, a new file started).
//!
//! A rotation keeps the inode: the file the cursor was reading is now `.1`, so its
//! unread end is read from there before the new file is read from the start.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use cordon_audit::Action;
use serde::Deserialize;

use crate::error::TuiError;
use crate::source::{AuditChunk, AuditCursor, AuditEntry, EntryKind};

/// Most bytes read from the end of a file for the initial tail (a huge log must not
/// stall the UI).
const TAIL_BYTES: u64 = 1 << 20;

/// The rotated predecessor of `path` (`audit.jsonl.1`).
fn rotated(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}

/// Complete lines of `file` from `offset` (at most `limit` bytes back from the end
/// when `limit` is set), and the offset after the last complete line.
fn read_from(file: &mut File, offset: u64, limit: Option<u64>) -> io::Result<(Vec<String>, u64)> {
    let len = file.metadata()?.len();
    let mut start = offset.min(len);
    if let Some(limit) = limit {
        start = start.max(len.saturating_sub(limit));
    }
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let mut text = String::from_utf8_lossy(&bytes[..complete]).into_owned();
    if start > offset && start > 0 {
        // Started mid-file: the first line is probably cut.
        text = text
            .split_once('\n')
            .map(|(_, rest)| rest.to_owned())
            .unwrap_or_default();
    }
    Ok((
        text.lines().map(str::to_owned).collect(),
        start + complete as u64,
    ))
}

fn open(path: &Path) -> Result<Option<File>, TuiError> {
    match File::open(path) {
        Ok(file) => Ok(Some(file)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(TuiError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

fn inode(file: &File) -> u64 {
    file.metadata().map(|m| m.ino()).unwrap_or(0)
}

/// Reads the audit log at `path`: after `cursor`, or the last `tail` entries.
pub fn read_audit(
    path: &Path,
    cursor: Option<AuditCursor>,
    tail: usize,
) -> Result<AuditChunk, TuiError> {
    let io_err = |path: &Path| {
        let path = path.to_owned();
        move |source| TuiError::Io { path, source }
    };
    let mut lines = Vec::new();
    let current = open(path)?;
    let current_ino = current.as_ref().map(inode);
    match cursor {
        Some(cursor) if Some(cursor.inode) == current_ino => {}
        Some(cursor) => {
            // Rotated since the last read: finish the old file first.
            let old_path = rotated(path);
            if let Some(mut old) = open(&old_path)?
                && inode(&old) == cursor.inode
            {
                lines.extend(
                    read_from(&mut old, cursor.offset, None)
                        .map_err(io_err(&old_path))?
                        .0,
                );
            }
        }
        None => {
            if let Some(mut old) = open(&rotated(path))? {
                let old_path = rotated(path);
                lines.extend(
                    read_from(&mut old, 0, Some(TAIL_BYTES))
                        .map_err(io_err(&old_path))?
                        .0,
                );
            }
        }
    }
    let mut next = AuditCursor::default();
    if let Some(mut file) = current {
        let ino = inode(&file);
        let (start, limit) = match cursor {
            Some(c) if c.inode == ino => (c.offset, None),
            Some(_) => (0, None),
            None => (0, Some(TAIL_BYTES)),
        };
        let (more, end) = read_from(&mut file, start, limit).map_err(io_err(path))?;
        lines.extend(more);
        next = AuditCursor {
            inode: ino,
            offset: end,
        };
    }
    let mut entries: Vec<AuditEntry> = lines.iter().filter_map(|l| parse_line(l)).collect();
    if cursor.is_none() && entries.len() > tail {
        entries.drain(..entries.len() - tail);
    }
    Ok(AuditChunk {
        entries,
        cursor: next,
    })
}

#[derive(Deserialize, Default)]
struct Line {
    #[serde(default)]
    time: u64,
    status_detail: Option<String>,
    message: Option<String>,
    dst_endpoint: Option<Endpoint>,
    actor: Option<Actor>,
    policy: Option<Policy>,
    http_request: Option<HttpRequest>,
    #[serde(default)]
    unmapped: Unmapped,
}

#[derive(Deserialize)]
struct Endpoint {
    hostname: Option<String>,
    port: Option<u16>,
}

#[derive(Deserialize)]
struct Actor {
    process: Option<Process>,
}

#[derive(Deserialize)]
struct Process {
    file: Option<FileRef>,
}

#[derive(Deserialize)]
struct FileRef {
    path: Option<String>,
}

#[derive(Deserialize)]
struct Policy {
    name: Option<String>,
}

#[derive(Deserialize)]
struct HttpRequest {
    http_method: Option<String>,
    url: Option<Url>,
}

#[derive(Deserialize)]
struct Url {
    path: Option<String>,
}

#[derive(Deserialize, Default)]
struct Unmapped {
    action: Option<String>,
    policy_generation: Option<u64>,
    dropped: Option<u64>,
}

/// One audit line as the pane shows it; `None` for a line that is not an audit event
/// (cut by a crash, or from a newer cordon with an unknown verb).
pub fn parse_line(line: &str) -> Option<AuditEntry> {
    let line: Line = serde_json::from_str(line).ok()?;
    let kind = match line.unmapped.action.as_deref()? {
        "allow" => EntryKind::Network(Action::Allow),
        "deny" => EntryKind::Network(Action::Deny),
        "audit-deny" => EntryKind::Network(Action::AuditDeny),
        "route" => EntryKind::Network(Action::Route),
        "policy-applied" => EntryKind::Policy { applied: true },
        "policy-rejected" => EntryKind::Policy { applied: false },
        "audit_dropped" => EntryKind::Dropped(line.unmapped.dropped.unwrap_or(0)),
        _ => return None,
    };
    let request = line.http_request.map(|r| {
        format!(
            "{} {}",
            r.http_method.unwrap_or_default(),
            r.url.and_then(|u| u.path).unwrap_or_default()
        )
    });
    Some(AuditEntry {
        time_ms: line.time,
        kind,
        host: line.dst_endpoint.as_ref().and_then(|d| d.hostname.clone()),
        port: line.dst_endpoint.as_ref().and_then(|d| d.port),
        binary: line
            .actor
            .and_then(|a| a.process)
            .and_then(|p| p.file)
            .and_then(|f| f.path),
        request,
        entry: line.policy.and_then(|p| p.name),
        detail: line.status_detail.or(line.message),
        generation: line.unmapped.policy_generation,
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use cordon_audit::{AuditEvent, ConfigEvent, ConfigOutcome, NetworkEvent, Transport};

    use super::*;

    fn deny(host: &str) -> String {
        let mut event = NetworkEvent::new("s", 2, Action::Deny, Transport::Tunnel, host, 443)
            .with_reason("no network_policies endpoint matches this host");
        event.binary = Some("/usr/bin/curl".into());
        cordon_audit::to_json_line(&AuditEvent::Network(Box::new(event)))
    }

    #[test]
    fn parses_what_the_audit_writer_writes() {
        let entry = parse_line(&deny("evil.test")).unwrap();
        assert_eq!(entry.kind, EntryKind::Network(Action::Deny));
        assert_eq!(entry.host.as_deref(), Some("evil.test"));
        assert_eq!(entry.port, Some(443));
        assert_eq!(entry.binary.as_deref(), Some("/usr/bin/curl"));
        assert_eq!(entry.generation, Some(2));
        assert!(entry.detail.unwrap().contains("no network_policies"));
        let config = ConfigEvent::new("s", 3, ConfigOutcome::Rejected, "p.yaml", "bad key");
        let entry = parse_line(&cordon_audit::to_json_line(&AuditEvent::Config(config))).unwrap();
        assert_eq!(entry.kind, EntryKind::Policy { applied: false });
        assert_eq!(entry.detail.as_deref(), Some("bad key"));
        assert_eq!(parse_line("{\"time\":1"), None);
    }

    #[test]
    fn tails_then_follows_across_a_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let mut file = std::fs::File::create(&path).unwrap();
        for i in 0..5 {
            file.write_all(deny(&format!("h{i}.test")).as_bytes())
                .unwrap();
        }
        let first = read_audit(&path, None, 3).unwrap();
        let hosts: Vec<_> = first
            .entries
            .iter()
            .map(|e| e.host.clone().unwrap())
            .collect();
        assert_eq!(hosts, ["h2.test", "h3.test", "h4.test"]);
        // Appended, and a half-written line that must wait for its newline.
        file.write_all(deny("h5.test").as_bytes()).unwrap();
        file.write_all(b"{\"time\":").unwrap();
        let second = read_audit(&path, Some(first.cursor), 3).unwrap();
        assert_eq!(second.entries.len(), 1);
        assert_eq!(second.entries[0].host.as_deref(), Some("h5.test"));
        // Finish the line, then rotate and write to a new file.
        file.write_all(&deny("h6.test").as_bytes()[8..]).unwrap();
        drop(file);
        std::fs::rename(&path, rotated(&path)).unwrap();
        std::fs::write(&path, deny("h7.test")).unwrap();
        let third = read_audit(&path, Some(second.cursor), 3).unwrap();
        let hosts: Vec<_> = third
            .entries
            .iter()
            .map(|e| e.host.clone().unwrap())
            .collect();
        assert_eq!(hosts, ["h6.test", "h7.test"]);
        assert!(
            read_audit(&path, Some(third.cursor), 3)
                .unwrap()
                .entries
                .is_empty()
        );
    }

    #[test]
    fn a_missing_log_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let chunk = read_audit(&dir.path().join("audit.jsonl"), None, 10).unwrap();
        assert!(chunk.entries.is_empty());
    }
}
