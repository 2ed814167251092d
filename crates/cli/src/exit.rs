//! Exit codes, in one place, following the docker/podman convention so scripts that
//! already wrap container runtimes read cordon's codes the same way (`docs/exit-codes.md`).

use std::process::ExitCode;

/// Everything went as asked.
pub const SUCCESS: u8 = 0;
/// The input was understood and is wrong: an invalid policy, an unknown sandbox.
pub const INVALID: u8 = 1;
/// cordon itself failed: bad flags, a kernel feature missing, a layer that could not be applied.
pub const CORDON_FAILED: u8 = 125;
/// The command exists inside the sandbox but cannot be executed.
pub const NOT_EXECUTABLE: u8 = 126;
/// The command does not exist inside the sandbox.
pub const NOT_FOUND: u8 = 127;

/// An error that already knows which exit code it maps to; anything else is `CORDON_FAILED`.
#[derive(Debug)]
pub struct Exit {
    pub code: u8,
    pub message: String,
}

impl Exit {
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

/// Turns a command's result into the process exit code, printing the error chain once.
pub fn report(result: anyhow::Result<u8>) -> ExitCode {
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            let code = err
                .downcast_ref::<Exit>()
                .map_or(CORDON_FAILED, |exit| exit.code);
            let mut message = format!("cordon: {err}");
            for cause in err.chain().skip(1) {
                message.push_str(&format!(": {cause}"));
            }
            eprintln!("{message}");
            ExitCode::from(code)
        }
    }
}

/// Makes a closed standard output (`cordon list --json | head -1`) end cordon quietly
/// with 0, as `completions` does, instead of a panic and a backtrace: the reader chose
/// to stop reading. Rust ignores SIGPIPE, so `println!` panics when the reader has gone;
/// restoring SIGPIPE's default instead would also let a write to a closed socket kill the
/// proxy, so the panic is recognised here.
pub fn quiet_broken_pipe() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(i32::from(SUCCESS));
        }
        previous(info);
    }));
}

/// Exit 1 for a name not in a built-in catalogue, listing the known ones:
/// `unknown KIND `NAME` (known: a, b, c)`.
pub fn unknown_name<'a>(kind: &str, name: &str, known: impl Iterator<Item = &'a str>) -> Exit {
    let known: Vec<&str> = known.collect();
    Exit::new(
        INVALID,
        format!("unknown {kind} `{name}` (known: {})", known.join(", ")),
    )
}
