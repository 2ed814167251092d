//! The writer thread and the sink handle the proxy emits into.
//!
//! A dedicated OS thread (not a tokio task) owns the file: writes may block on a slow
//! disk and must never stall the runtime that relays traffic. Between the two sits a
//! bounded channel; `emit` never blocks: a full channel drops the event, counts it, and
//! the writer writes one `audit_dropped` line with the count when it next runs.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;

use crate::counters::{AuditCounters, CounterSnapshot};
use crate::event::{AuditEvent, now_ms};
use crate::ocsf::to_json_line;

/// Events that may wait for the writer. At the limit new events are dropped and
/// counted (never blocking the proxy); 8192 lines is several seconds of a busy agent
/// and about 8 MB of memory at worst.
pub const AUDIT_CHANNEL_CAPACITY: usize = 8192;

/// Errors of the audit log.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The log file could not be opened.
    #[error("cannot open audit log {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The writer thread could not be started.
    #[error("cannot start the audit writer thread: {0}")]
    Spawn(io::Error),
    /// Writing failed; events after the failure were lost.
    #[error("writing the audit log failed: {0}")]
    Write(io::Error),
}

/// How the log file is kept.
#[derive(Debug, Clone)]
pub struct AuditLogOptions {
    /// Channel capacity (see [`AUDIT_CHANNEL_CAPACITY`]).
    pub capacity: usize,
    /// Rotate when the file grows past this many bytes: the current file becomes
    /// `FILE.1` (replacing an older one) and a new file starts. `None` = never.
    pub rotate_bytes: Option<u64>,
}

impl Default for AuditLogOptions {
    fn default() -> Self {
        AuditLogOptions {
            capacity: AUDIT_CHANNEL_CAPACITY,
            rotate_bytes: None,
        }
    }
}

enum Message {
    Event(AuditEvent),
    /// Flush and reply (used by `flush` so tests and `close` see every line).
    Flush(SyncSender<()>),
}

struct Shared {
    counters: AuditCounters,
    /// Drops not yet reported in an `audit_dropped` line.
    unreported_drops: AtomicU64,
}

/// The cheap, cloneable handle every component emits events into.
#[derive(Clone)]
pub struct AuditSink {
    tx: Option<SyncSender<Message>>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for AuditSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditSink")
            .field("enabled", &self.tx.is_some())
            .field("counters", &self.shared.counters.snapshot())
            .finish()
    }
}

impl AuditSink {
    /// A sink that only counts (no `--audit` file was given).
    pub fn counting_only() -> AuditSink {
        AuditSink {
            tx: None,
            shared: Arc::new(Shared {
                counters: AuditCounters::default(),
                unreported_drops: AtomicU64::new(0),
            }),
        }
    }

    /// Records one event: counts it, then queues it for the writer without blocking.
    pub fn emit(&self, event: AuditEvent) {
        self.shared.counters.record(&event);
        let Some(tx) = &self.tx else { return };
        match tx.try_send(Message::Event(event)) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.shared.counters.record_drop();
                self.shared.unreported_drops.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The decision counters so far.
    pub fn counters(&self) -> CounterSnapshot {
        self.shared.counters.snapshot()
    }

    /// Waits until everything emitted before this call is written and flushed.
    /// Blocking: call from a plain thread or `spawn_blocking`.
    pub fn flush(&self) {
        let Some(tx) = &self.tx else { return };
        let (done_tx, done_rx) = sync_channel(1);
        if tx.send(Message::Flush(done_tx)).is_ok() {
            let _ = done_rx.recv();
        }
    }
}

/// An open audit log: the writer thread plus the sink feeding it.
pub struct AuditLog {
    sink: AuditSink,
    thread: Option<JoinHandle<Result<(), AuditError>>>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("sink", &self.sink)
            .finish()
    }
}

impl AuditLog {
    /// Opens (appending, mode 0600) `path` and starts the writer thread.
    pub fn open(path: &Path, options: AuditLogOptions) -> Result<AuditLog, AuditError> {
        let file = open_append(path)?;
        let target = Target::File {
            path: path.to_owned(),
            size: file.metadata().map(|m| m.len()).unwrap_or(0),
            out: BufWriter::new(file),
            rotate_bytes: options.rotate_bytes,
        };
        AuditLog::start(target, options.capacity)
    }

    /// Writes to any writer (stderr, a pipe, a test buffer) instead of a file.
    pub fn to_writer(out: Box<dyn Write + Send>, capacity: usize) -> Result<AuditLog, AuditError> {
        AuditLog::start(Target::Writer(out), capacity)
    }

    fn start(target: Target, capacity: usize) -> Result<AuditLog, AuditError> {
        let (tx, rx) = sync_channel(capacity.max(1));
        let shared = Arc::new(Shared {
            counters: AuditCounters::default(),
            unreported_drops: AtomicU64::new(0),
        });
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("cordon-audit".into())
            .spawn(move || run(target, rx, &thread_shared))
            .map_err(AuditError::Spawn)?;
        Ok(AuditLog {
            sink: AuditSink {
                tx: Some(tx),
                shared,
            },
            thread: Some(thread),
        })
    }

    /// A handle to emit events with.
    pub fn sink(&self) -> AuditSink {
        self.sink.clone()
    }

    /// Writes everything queued, stops the writer and returns the final counters.
    /// Events emitted by other sink clones after this are counted as dropped.
    pub fn close(mut self) -> Result<CounterSnapshot, AuditError> {
        self.sink.flush();
        // Dropping our sender lets the thread finish once the other clones go too;
        // we do not wait for them (the proxy may still hold clones), only for the
        // flush above, which covered everything emitted so far.
        self.sink.tx = None;
        // With no other clone alive (only the writer's own reference remains) the
        // channel is now closed and the thread ends promptly: wait for it, so its
        // error, if any, is reported.
        let last_user = Arc::strong_count(&self.sink.shared) <= 2;
        let result = match self.thread.take() {
            Some(thread) if last_user || thread.is_finished() => thread.join().unwrap_or(Ok(())),
            _ => Ok(()),
        };
        result.map(|()| self.sink.counters())
    }
}

fn open_append(path: &Path) -> Result<File, AuditError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| AuditError::Open {
            path: path.to_owned(),
            source,
        })
}

enum Target {
    File {
        path: PathBuf,
        out: BufWriter<File>,
        size: u64,
        rotate_bytes: Option<u64>,
    },
    Writer(Box<dyn Write + Send>),
}

impl Target {
    fn write_line(&mut self, line: &str) -> Result<(), AuditError> {
        match self {
            Target::Writer(out) => out.write_all(line.as_bytes()).map_err(AuditError::Write),
            Target::File {
                path,
                out,
                size,
                rotate_bytes,
            } => {
                if let Some(limit) = *rotate_bytes
                    && *size > 0
                    && *size + line.len() as u64 > limit
                {
                    out.flush().map_err(AuditError::Write)?;
                    let mut rotated = path.clone().into_os_string();
                    rotated.push(".1");
                    std::fs::rename(&*path, &rotated).map_err(AuditError::Write)?;
                    *out = BufWriter::new(open_append(path).map_err(|err| match err {
                        AuditError::Open { source, .. } => AuditError::Write(source),
                        other => other,
                    })?);
                    *size = 0;
                }
                out.write_all(line.as_bytes()).map_err(AuditError::Write)?;
                *size += line.len() as u64;
                Ok(())
            }
        }
    }

    fn flush(&mut self) -> Result<(), AuditError> {
        match self {
            Target::Writer(out) => out.flush(),
            Target::File { out, .. } => out.flush(),
        }
        .map_err(AuditError::Write)
    }
}

/// The writer loop: block for one message, then drain whatever else is queued before
/// flushing, so a burst costs one flush, and a quiet log is always on disk.
fn run(mut target: Target, rx: Receiver<Message>, shared: &Shared) -> Result<(), AuditError> {
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Event(event) => target.write_line(&to_json_line(&event))?,
                Message::Flush(done) => {
                    report_drops(&mut target, shared)?;
                    target.flush()?;
                    let _ = done.try_send(());
                }
            }
            next = rx.try_recv().ok();
        }
        report_drops(&mut target, shared)?;
        target.flush()?;
    }
    report_drops(&mut target, shared)?;
    target.flush()
}

fn report_drops(target: &mut Target, shared: &Shared) -> Result<(), AuditError> {
    let count = shared.unreported_drops.swap(0, Ordering::Relaxed);
    if count > 0 {
        target.write_line(&to_json_line(&AuditEvent::Dropped {
            time_ms: now_ms(),
            count,
        }))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Action, NetworkEvent, Transport};

    fn event(action: Action) -> AuditEvent {
        NetworkEvent::new("s", 1, action, Transport::Tunnel, "h.test", 443).into_event()
    }

    #[test]
    fn writes_one_line_per_event_and_counts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&path, AuditLogOptions::default()).unwrap();
        let sink = log.sink();
        sink.emit(event(Action::Allow));
        sink.emit(event(Action::Deny));
        drop(sink);
        let counts = log.close().unwrap();
        assert_eq!((counts.allowed, counts.denied, counts.dropped), (1, 1, 0));
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        for line in lines {
            serde_json::from_str::<serde_json::Value>(line).unwrap();
        }
        let mode = std::fs::metadata(&path).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
    }

    /// A writer that blocks until released, to fill the channel deterministically.
    struct Gate(
        std::sync::Arc<std::sync::Mutex<()>>,
        std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    );
    impl Write for Gate {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let _held = self.0.lock().unwrap();
            self.1.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn full_channel_drops_and_reports_instead_of_blocking() {
        let gate = std::sync::Arc::new(std::sync::Mutex::new(()));
        let out = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let held = gate.lock().unwrap();
        let log = AuditLog::to_writer(Box::new(Gate(gate.clone(), out.clone())), 4).unwrap();
        let sink = log.sink();
        for _ in 0..100 {
            sink.emit(event(Action::Allow)); // must not block
        }
        let counts = sink.counters();
        assert_eq!(counts.allowed, 100, "counters never drop");
        assert!(counts.dropped >= 90, "dropped {}", counts.dropped);
        drop(held);
        sink.flush();
        let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
        let dropped_line = text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|v| v["unmapped"]["action"] == "audit_dropped")
            .expect("an audit_dropped line");
        assert_eq!(dropped_line["unmapped"]["dropped"], counts.dropped);
    }

    #[test]
    fn rotates_past_the_size_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let options = AuditLogOptions {
            rotate_bytes: Some(2000),
            ..AuditLogOptions::default()
        };
        let log = AuditLog::open(&path, options).unwrap();
        let sink = log.sink();
        for _ in 0..10 {
            sink.emit(event(Action::Allow));
        }
        drop(sink);
        log.close().unwrap();
        let rotated = dir.path().join("audit.jsonl.1");
        assert!(rotated.exists());
        assert!(std::fs::metadata(&path).unwrap().len() <= 2000);
    }
}
