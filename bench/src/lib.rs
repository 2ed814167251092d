//! Shared generators for cordon's benchmarks (see `benches/`).
#![forbid(unsafe_code)]
