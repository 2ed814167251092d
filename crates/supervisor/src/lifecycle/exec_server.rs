//! `exec.sock`: each connection is one `cordon exec` session (frames in
//! `cordon_control::exec`), served by a thread of its own: start the process through
//! init, hand back the pty master if any, pass signals on, report the exit status.

use std::ffi::OsString;
use std::os::fd::{AsFd, OwnedFd};

use cordon_control::exec::{ExecConn, ExecListener, Frame};
use cordon_sandbox::{ExecRequest, Executor, SandboxError};

/// Accepts sessions from processes of `uid` until the process exits.
pub(crate) fn serve(listener: ExecListener, executor: Executor, uid: u32) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("cordon-exec-accept".into())
        .spawn(move || {
            while let Ok(conn) = listener.accept(uid) {
                let executor = executor.clone();
                let _ = std::thread::Builder::new()
                    .name("cordon-exec-session".into())
                    .spawn(move || session(&conn, &executor));
            }
        })
        .map(drop)
}

fn failure(err: &SandboxError) -> Frame {
    let kind = match err {
        SandboxError::CommandNotFound { .. } => "not_found",
        SandboxError::NotExecutable { .. } => "not_executable",
        _ => "cordon",
    };
    Frame::Failed {
        kind: kind.into(),
        message: err.to_string(),
    }
}

fn session(conn: &ExecConn, executor: &Executor) {
    let Ok(Some((Frame::Exec { argv, tty }, fds))) = conn.recv() else {
        return;
    };
    let stdio: Option<[OwnedFd; 3]> = if tty {
        None
    } else {
        match fds.try_into() {
            Ok(stdio) => Some(stdio),
            Err(_) => {
                let _ = conn.send(
                    &Frame::Failed {
                        kind: "cordon".into(),
                        message: "exec without a terminal needs stdin, stdout and stderr".into(),
                    },
                    &[],
                );
                return;
            }
        }
    };
    let request = ExecRequest {
        command: argv.into_iter().map(OsString::from).collect(),
        stdio,
    };
    let mut execution = match executor.exec(request) {
        Ok(execution) => execution,
        Err(err) => {
            let _ = conn.send(&failure(&err), &[]);
            return;
        }
    };
    let master = execution.take_pty_master();
    let fds: Vec<_> = master.iter().map(|m| m.as_fd()).collect();
    if conn.send(&Frame::Started, &fds).is_err() {
        execution.signal(rustix::process::Signal::HUP.as_raw());
    }
    // Only the caller keeps the master: when it goes, the terminal hangs up.
    drop(master);
    if let Ok(reader) = conn.try_clone() {
        let signaller = execution.signaller();
        let _ = std::thread::Builder::new()
            .name("cordon-exec-signals".into())
            .spawn(move || {
                while let Ok(Some((frame, _))) = reader.recv() {
                    if let Frame::Signal { signal } = frame {
                        signaller.signal(signal);
                    }
                }
            });
    }
    let status = execution.wait();
    let _ = conn.send(
        &Frame::Exited {
            code: status.code(),
        },
        &[],
    );
}
