//! The built-in catalog: agent profiles and network presets, shipped inside the binary.
//!
//! A **profile** is a whole starting policy for one agent (OpenClaw, Claude Code,
//! Codex, opencode, or a generic one) plus what cordon needs to launch it: the
//! command, the state directories it writes, files cordon writes for it read-only,
//! and how it reaches the model through `inference.local`. A **preset** is a
//! `network_policies` fragment for one service (PyPI, GitHub, Slack...) that is merged
//! into a policy with [`apply_preset`].
//!
//! Every profile and preset is a YAML file in the OpenShell v1 schema, embedded with
//! `include_str!` and loaded through [`crate::parse_str`] like any operator file, so
//! `cordon policy validate` accepts them unchanged and the one engine decides for
//! them. cordon's launch metadata is *not* in the YAML (the schema has no place for it
//! and unknown fields are errors): it lives in typed tables here (`profiles.rs`,
//! `presets.rs`), checked by the compiler instead of parsed at run time.
//!
//! What each profile and preset allows, and why, is documented for operators in
//! `docs/profiles.md`.

mod merge;
mod presets;
mod profiles;

pub use merge::{MergeOutcome, apply_preset, merge_network_policies};
pub use presets::Preset;
pub use profiles::{EnvVar, INFERENCE_PLACEHOLDER_KEY, InferenceApi, InferenceRoute, Profile};

/// Every built-in agent profile, in the order `cordon profile list` shows them.
pub fn profiles() -> &'static [Profile] {
    profiles::PROFILES
}

/// The built-in profile called `name` (exact, case-sensitive), if any.
pub fn profile(name: &str) -> Option<&'static Profile> {
    profiles::PROFILES.iter().find(|p| p.name == name)
}

/// Every built-in network preset, in the order `cordon preset list` shows them.
pub fn presets() -> &'static [Preset] {
    presets::PRESETS
}

/// The built-in preset called `name` (exact, case-sensitive), if any.
pub fn preset(name: &str) -> Option<&'static Preset> {
    presets::PRESETS.iter().find(|p| p.name == name)
}
