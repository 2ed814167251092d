//! cordon-tui: `cordon term`, the operator's full-screen view of running sandboxes.
#![forbid(unsafe_code)]
