//! The main process's output: written by the supervisor as JSON lines with size rotation,
//! read back by `cordon logs` (tail, follow across rotations).
//!
//! Why the supervisor sits in between (pipes) instead of handing the agent a log file:
//! rotation by size needs one writer that counts bytes; an agent writing a file directly
//! could grow it without bound. Each line is one record `{"time","stream","line"}`, so
//! `--json` shows which stream a line came from and when.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::SupervisorError;
use crate::state::SandboxDir;

/// Default size at which `main.jsonl` and `audit.jsonl` rotate.
pub const DEFAULT_LOG_MAX_BYTES: u64 = 10 * 1024 * 1024;

/// A line longer than this is cut into several records (a program printing without
/// newlines cannot make the supervisor buffer without bound).
const MAX_LINE: usize = 16 * 1024;

/// How often `--follow` looks for new lines.
const FOLLOW_POLL: Duration = Duration::from_millis(50);

/// One line of output.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Record {
    /// Milliseconds since the epoch, when the supervisor read it.
    pub time: u64,
    /// `stdout` or `stderr`.
    pub stream: String,
    /// The line without its newline (invalid UTF-8 replaced).
    pub line: String,
}

/// An append-only log that rotates past `max` bytes (`FILE` -> `FILE.1`).
#[derive(Debug)]
pub(crate) struct LogFile {
    path: PathBuf,
    file: File,
    size: u64,
    max: u64,
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

/// The rotated predecessor of `path`.
pub(crate) fn rotated(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}

impl LogFile {
    pub(crate) fn open(path: &Path, max: u64) -> io::Result<LogFile> {
        let file = open_append(path)?;
        let size = file.metadata()?.len();
        Ok(LogFile {
            path: path.to_owned(),
            file,
            size,
            max: max.max(1),
        })
    }

    fn write_record(&mut self, record: &Record) -> io::Result<()> {
        let mut line = serde_json::to_vec(record).map_err(io::Error::other)?;
        line.push(b'\n');
        if self.size > 0 && self.size + line.len() as u64 > self.max {
            std::fs::rename(&self.path, rotated(&self.path))?;
            self.file = open_append(&self.path)?;
            self.size = 0;
        }
        self.file.write_all(&line)?;
        self.size += line.len() as u64;
        Ok(())
    }
}

/// Copies `pipe` into `log` line by line, as `stream`, until end-of-file (when the last
/// process holding the pipe's other end is gone).
pub(crate) fn pump(
    pipe: File,
    stream: &'static str,
    log: Arc<Mutex<LogFile>>,
) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("cordon-log-{stream}"))
        .spawn(move || {
            let mut reader = BufReader::new(pipe);
            let mut line = Vec::new();
            loop {
                line.clear();
                let read = (&mut reader)
                    .take(MAX_LINE as u64)
                    .read_until(b'\n', &mut line);
                match read {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                if line.last() == Some(&b'\n') {
                    line.pop();
                }
                let record = Record {
                    time: cordon_audit::now_ms(),
                    stream: stream.to_owned(),
                    line: String::from_utf8_lossy(&line).into_owned(),
                };
                if let Ok(mut log) = log.lock() {
                    let _ = log.write_record(&record);
                }
            }
        })
}

/// What `cordon logs` shows.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogOptions {
    /// Keep printing new lines until the sandbox stops.
    pub follow: bool,
    /// Only the last N lines first.
    pub tail: Option<usize>,
    /// The audit log instead of the main process's output.
    pub audit: bool,
    /// Print records as JSON lines (the audit log always is).
    pub json: bool,
}

/// Complete lines of `path` from `offset`, and the offset after the last one.
fn read_lines(file: &mut File, offset: u64) -> io::Result<(Vec<String>, u64)> {
    file.seek(SeekFrom::Start(offset))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let text = String::from_utf8_lossy(&bytes[..complete]);
    Ok((
        text.lines().map(str::to_owned).collect(),
        offset + complete as u64,
    ))
}

fn print_line(
    line: &str,
    options: &LogOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<()> {
    if options.audit || options.json {
        return writeln!(out, "{line}");
    }
    match serde_json::from_str::<Record>(line) {
        Ok(record) if record.stream == "stderr" => writeln!(err, "{}", record.line),
        Ok(record) => writeln!(out, "{}", record.line),
        Err(_) => Ok(()), // a line cut by a crash: skip it
    }
}

/// Prints the sandbox's logs (see [`LogOptions`]) to `out`/`err`.
pub fn print_logs(
    dir: &SandboxDir,
    options: LogOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), SupervisorError> {
    let path = if options.audit {
        dir.audit_path()
    } else {
        dir.log_path()
    };
    let io_err = |e: io::Error| SupervisorError::state(&path, e);
    let mut lines = Vec::new();
    if let Ok(mut old) = File::open(rotated(&path)) {
        lines.extend(read_lines(&mut old, 0).map_err(io_err)?.0);
    }
    let mut current = match File::open(&path) {
        Ok(file) => Some(file),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_err(e)),
    };
    let mut offset = 0;
    if let Some(file) = &mut current {
        let (more, end) = read_lines(file, 0).map_err(io_err)?;
        lines.extend(more);
        offset = end;
    }
    let skip = options.tail.map_or(0, |n| lines.len().saturating_sub(n));
    for line in &lines[skip..] {
        print_line(line, &options, out, err).map_err(io_err)?;
    }
    out.flush().map_err(io_err)?;
    if !options.follow {
        return Ok(());
    }
    loop {
        let alive = dir.supervisor_alive()?;
        if let Some(file) = &mut current {
            let (more, end) = read_lines(file, offset).map_err(io_err)?;
            offset = end;
            for line in &more {
                print_line(line, &options, out, err).map_err(io_err)?;
            }
            out.flush().map_err(io_err)?;
        }
        // Rotated (or created): the old file was read to its end above; go on with the new.
        let same = match (&current, std::fs::metadata(&path)) {
            (Some(file), Ok(meta)) => file.metadata().map(|m| m.ino()).ok() == Some(meta.ino()),
            (None, Ok(_)) => false,
            (_, Err(_)) => true,
        };
        if !same {
            // Lines the writer added to the old file just before renaming it.
            if let Some(file) = &mut current {
                for line in &read_lines(file, offset).map_err(io_err)?.0 {
                    print_line(line, &options, out, err).map_err(io_err)?;
                }
            }
            current = File::open(&path).ok();
            offset = 0;
            continue;
        }
        if !alive {
            return Ok(());
        }
        std::thread::sleep(FOLLOW_POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_past_the_limit_and_keeps_one_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("main.jsonl");
        let mut log = LogFile::open(&path, 200).unwrap();
        for i in 0..10 {
            log.write_record(&Record {
                time: 1,
                stream: "stdout".into(),
                line: format!("line {i}"),
            })
            .unwrap();
        }
        assert!(rotated(&path).exists());
        assert!(std::fs::metadata(&path).unwrap().len() <= 200);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("line 9"));
    }
}
