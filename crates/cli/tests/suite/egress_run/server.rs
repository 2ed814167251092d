//! A small HTTP/1.1 origin server on the host's 127.0.0.1 for the egress tests: answers
//! every request with `NAME METHOD PATH` (or, with a root directory, the file at the
//! path, enough for git's dumb HTTP protocol), one thread per connection.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// A running server; stops accepting when dropped.
pub struct TestServer {
    port: u16,
    stop: Arc<AtomicBool>,
    hits: Arc<AtomicU64>,
}

impl TestServer {
    /// Answers `NAME METHOD PATH\n` to every request.
    pub fn start(name: &str) -> TestServer {
        TestServer::serve(name, None)
    }

    /// Serves the files below `root` (404 for anything else).
    pub fn files(name: &str, root: &Path) -> TestServer {
        TestServer::serve(name, Some(root.to_path_buf()))
    }

    fn serve(name: &str, root: Option<PathBuf>) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let hits = Arc::new(AtomicU64::new(0));
        let (name, flag, count) = (name.to_owned(), Arc::clone(&stop), Arc::clone(&hits));
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if flag.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let (name, root, count) = (name.clone(), root.clone(), Arc::clone(&count));
                std::thread::spawn(move || answer(conn, &name, root.as_deref(), &count));
            }
        });
        TestServer { port, stop, hits }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Requests answered so far.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port)); // wake the accept loop
    }
}

/// Serves requests on one connection until the client closes it.
fn answer(conn: TcpStream, name: &str, root: Option<&Path>, hits: &AtomicU64) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut out = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, target) = (
            parts.next().unwrap_or("").to_owned(),
            parts.next().unwrap_or("").to_owned(),
        );
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            if header == "\r\n" || header == "\n" {
                break;
            }
            if let Some((key, value)) = header.split_once(':')
                && key.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        hits.fetch_add(1, Ordering::Relaxed);
        let path = target.split('?').next().unwrap_or("/").to_owned();
        let (status, content) = match root {
            None => ("200 OK", format!("{name} {method} {path}\n").into_bytes()),
            Some(root) => {
                let file = root.join(path.trim_start_matches('/'));
                match std::fs::read(&file) {
                    Ok(bytes) if !path.contains("..") => ("200 OK", bytes),
                    _ => ("404 Not Found", b"not found\n".to_vec()),
                }
            }
        };
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n\r\n",
            content.len()
        );
        if out.write_all(head.as_bytes()).is_err() {
            return;
        }
        if method != "HEAD" && out.write_all(&content).is_err() {
            return;
        }
    }
}
