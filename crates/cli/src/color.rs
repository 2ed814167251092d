//! When cordon's own output may carry colour: only to a terminal, never when `NO_COLOR`
//! is set to anything non-empty (<https://no-color.org>), never on `TERM=dumb`. Every
//! command that colours asks here, so one rule holds everywhere:
//! `color::enabled(std::io::stdout().is_terminal())`.

/// Whether the environment forbids colour whatever the stream.
pub fn forbidden() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
        || std::env::var_os("TERM").is_some_and(|t| t == "dumb")
}

/// Whether output to a stream that `is_terminal` (or not) may be coloured.
pub fn enabled(is_terminal: bool) -> bool {
    is_terminal && !forbidden()
}
