//! The UI against a scripted [`cordon_tui::Source`]: every screen rendered at 80×24
//! (insta snapshots of ratatui's `TestBackend`), and what the keys do. The real source
//! runs against real sandboxes in the CLI's suite (`tui_term.rs`, under tmux); `panic` runs this binary again under tmux.
mod fake;
mod keys;
mod panic;
mod render;
