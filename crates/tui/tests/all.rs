//! One integration test binary for cordon-tui (see `suite/`).
mod suite;
