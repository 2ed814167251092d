//! Semantic validation: raw schema → normalised [`Policy`], collecting every problem.
//!
//! Each rule in `docs/policy.md` lives here (sections) or in `network` (endpoints and
//! rules). A rule that fails records a [`Problem`] at the offending value and moves
//! on, so one run of `cordon policy validate` lists everything to fix.

mod filesystem;
mod network;
mod rules;

use crate::error::Problem;
use crate::model::MAX_HOLD_ON_DENY_SECONDS;
use crate::model::{
    IdSpec, InferencePolicy, LandlockCompatibility, LandlockPolicy, NetworkSettings, Policy,
    ProcessPolicy, ResourcesPolicy,
};
use crate::raw::{RawCompatibility, RawId, RawInference, RawPolicy, RawResources, RawSize, S, loc};

/// Problems found so far, split by severity.
#[derive(Debug, Default)]
pub(crate) struct Ctx {
    pub(crate) errors: Vec<Problem>,
    pub(crate) warnings: Vec<Problem>,
}

impl Ctx {
    /// Records a fatal problem.
    pub(crate) fn error(
        &mut self,
        field: impl Into<String>,
        at: Option<(usize, usize)>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.errors
            .push(Problem::new(field, message).hint(hint).at(at));
    }

    /// Records a non-fatal problem.
    pub(crate) fn warn(
        &mut self,
        field: impl Into<String>,
        at: Option<(usize, usize)>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.warnings
            .push(Problem::new(field, message).hint(hint).at(at));
    }
}

/// Validates and normalises; the policy is only meaningful when `ctx.errors` is empty.
pub(crate) fn validate(raw: RawPolicy, ctx: &mut Ctx) -> Policy {
    match &raw.version {
        None => ctx.error(
            "version",
            Some((1, 1)),
            "missing field `version`",
            "add `version: 1` at the top of the file",
        ),
        Some(version) if version.value != 1 => ctx.error(
            "version",
            loc(version),
            format!("unsupported policy version {}", version.value),
            "only schema version 1 exists: write `version: 1`",
        ),
        Some(_) => {}
    }
    let compatibility = match raw.landlock.and_then(|l| l.compatibility) {
        Some(RawCompatibility::HardRequirement) => LandlockCompatibility::HardRequirement,
        Some(RawCompatibility::BestEffort) | None => LandlockCompatibility::BestEffort,
    };
    let process = raw.process.map_or(
        ProcessPolicy {
            run_as_user: IdSpec::Sandbox,
            run_as_group: IdSpec::Sandbox,
        },
        |p| ProcessPolicy {
            run_as_user: id(p.run_as_user.as_ref(), "process.run_as_user", "uid", ctx),
            run_as_group: id(p.run_as_group.as_ref(), "process.run_as_group", "gid", ctx),
        },
    );
    let network_settings = raw
        .network_settings
        .map_or_else(NetworkSettings::default, |s| NetworkSettings {
            transparent: s.transparent.unwrap_or(true),
            hold_on_deny_seconds: s
                .hold_on_deny_seconds
                .as_ref()
                .map_or(0, |v| hold_on_deny(v, ctx)),
        });
    Policy {
        version: 1,
        filesystem_policy: filesystem::filesystem(raw.filesystem_policy.as_ref(), ctx),
        landlock: LandlockPolicy { compatibility },
        process,
        network_policies: network::network_policies(raw.network_policies.as_ref(), ctx),
        network_settings,
        inference: raw.inference.map(|i| inference(&i, ctx)),
        resources: raw
            .resources
            .map_or_else(ResourcesPolicy::default, |r| resources(&r, ctx)),
    }
}

/// `sandbox` or a numeric id in 1..=4294967294.
fn id(raw: Option<&S<RawId>>, field: &str, kind: &str, ctx: &mut Ctx) -> IdSpec {
    let Some(raw) = raw else {
        return IdSpec::Sandbox;
    };
    let hint = "use `sandbox` or a numeric id from 1 to 4294967294";
    let number = match &raw.value {
        RawId::Text(text) if text == "sandbox" => return IdSpec::Sandbox,
        RawId::Text(text) if text == "root" => 0,
        RawId::Text(text) => match text.trim().parse::<i128>() {
            Ok(n) => n,
            Err(_) => {
                ctx.error(
                    field,
                    loc(raw),
                    format!("`{text}` is neither `sandbox` nor a numeric {kind}"),
                    hint,
                );
                return IdSpec::Sandbox;
            }
        },
        RawId::Number(n) => *n,
    };
    match number {
        0 => ctx.error(
            field,
            loc(raw),
            format!("{kind} 0 is root; the agent may not run as root"),
            hint,
        ),
        4_294_967_295 => ctx.error(
            field,
            loc(raw),
            format!("{kind} 4294967295 is the reserved \"no id\" value"),
            hint,
        ),
        n => match u32::try_from(n) {
            Ok(n) => return IdSpec::Id(n),
            Err(_) => ctx.error(
                field,
                loc(raw),
                format!("{kind} {n} is outside 1..4294967294"),
                hint,
            ),
        },
    }
    IdSpec::Sandbox
}

fn inference(raw: &RawInference, ctx: &mut Ctx) -> InferencePolicy {
    let text = |value: &Option<S<String>>, field: &str, ctx: &mut Ctx| {
        value.as_ref().and_then(|v| {
            if v.value.trim().is_empty() {
                ctx.error(
                    field,
                    loc(v),
                    "must not be empty",
                    "name it, or remove the field",
                );
                None
            } else {
                Some(v.value.clone())
            }
        })
    };
    InferencePolicy {
        provider: text(&raw.provider, "inference.provider", ctx),
        model: text(&raw.model, "inference.model", ctx),
        max_requests_per_minute: raw
            .max_requests_per_minute
            .as_ref()
            .map(|v| non_negative(v, "inference.max_requests_per_minute", 1, ctx)),
        max_tokens_per_hour: raw
            .max_tokens_per_hour
            .as_ref()
            .map(|v| non_negative(v, "inference.max_tokens_per_hour", 1, ctx)),
    }
}

fn resources(raw: &RawResources, ctx: &mut Ctx) -> ResourcesPolicy {
    let memory_bytes = raw.memory.as_ref().and_then(|m| {
        let bytes = match &m.value {
            RawSize::Bytes(n) => u64::try_from(*n).ok(),
            RawSize::Text(text) => text.trim().parse::<bytesize::ByteSize>().ok().map(|b| b.0),
        };
        match bytes {
            Some(bytes) if bytes > 0 => Some(bytes),
            _ => {
                ctx.error(
                    "resources.memory",
                    loc(m),
                    "memory must be a positive size",
                    "write a size such as `512MiB` or `2GiB`, or a number of bytes",
                );
                None
            }
        }
    });
    let cpu = raw.cpu.as_ref().and_then(|c| {
        if c.value.is_finite() && c.value > 0.0 {
            Some(c.value)
        } else {
            ctx.error(
                "resources.cpu",
                loc(c),
                format!("cpu {} is not a positive number of cores", c.value),
                "write cores as a positive number, e.g. `1` or `1.5`",
            );
            None
        }
    });
    ResourcesPolicy {
        memory_bytes,
        pids: raw
            .pids
            .as_ref()
            .map(|p| non_negative(p, "resources.pids", 1, ctx)),
        cpu,
    }
}

/// An integer that must be at least `min`.
fn non_negative(value: &S<i64>, field: &str, min: i64, ctx: &mut Ctx) -> u64 {
    match u64::try_from(value.value) {
        Ok(n) if value.value >= min => n,
        _ => {
            ctx.error(
                field,
                loc(value),
                format!("{} is below the minimum of {min}", value.value),
                format!("write a whole number of at least {min}"),
            );
            0
        }
    }
}

/// `network_settings.hold_on_deny_seconds`: 0 up to [`MAX_HOLD_ON_DENY_SECONDS`].
fn hold_on_deny(value: &S<i64>, ctx: &mut Ctx) -> u64 {
    let field = "network_settings.hold_on_deny_seconds";
    let seconds = non_negative(value, field, 0, ctx);
    if seconds > MAX_HOLD_ON_DENY_SECONDS {
        ctx.error(
            field,
            loc(value),
            format!(
                "{seconds} seconds is more than the maximum of {MAX_HOLD_ON_DENY_SECONDS}: a held connection keeps a connection slot and its client waiting"
            ),
            format!(
                "write a number of seconds from 0 to {MAX_HOLD_ON_DENY_SECONDS} (0 = refuse at once)"
            ),
        );
        return 0;
    }
    seconds
}

/// Appends `.child` to a field path.
pub(crate) fn field(parent: &str, child: &str) -> String {
    format!("{parent}.{child}")
}
