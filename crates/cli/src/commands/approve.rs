//! `cordon approve NAME ID [--save] [--for DURATION]`: allows a pending request by
//! adding the narrowest entry for it (its exact host, port and binary) to the running
//! policy as a new generation, with no restart. `--save` also writes the entry into the
//! sandbox's stored policy (kept across `stop`/`start`); `--for` removes it again after
//! DURATION (`30s`, `10m`, `2h`, `1d`), and cannot be combined with `--save`.
//! Exit 1 for an unknown sandbox, one that is not running, or an unknown ID.

use clap::Args;
use cordon_supervisor::lifecycle::{self, Approve};
use cordon_supervisor::state::StateRoot;

use crate::commands::run::fail;
use crate::exit;

#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The sandbox.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The request's ID (see `cordon approvals NAME`).
    #[arg(value_name = "ID")]
    pub id: String,
    /// Also write the rule into the sandbox's stored policy (kept across stop/start).
    #[arg(long, conflicts_with = "for_duration")]
    pub save: bool,
    /// Remove the rule again after this long: 30s, 10m, 2h, 1d (a plain number is seconds).
    #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration)]
    pub for_duration: Option<u64>,
    /// Approve a request whose program could not be identified, for any binary.
    #[arg(long)]
    pub any_binary: bool,
}

/// The longest `--for` (the supervisor refuses more): a week.
const MAX_SECONDS: u64 = 7 * 24 * 3600;

/// `30s`, `10m`, `2h`, `1d` or plain seconds, to seconds (1 s up to a week).
pub(crate) fn parse_duration(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => {
            return Err(format!(
                "{text:?}: use a number with s, m, h or d (30s, 10m, 2h, 1d)"
            ));
        }
    };
    let seconds = number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| format!("{text:?}: use a number with s, m, h or d (30s, 10m, 2h, 1d)"))?;
    if !(1..=MAX_SECONDS).contains(&seconds) {
        return Err(format!("{text:?}: give 1s to 7d"));
    }
    Ok(seconds)
}

pub fn execute(args: ApproveArgs) -> anyhow::Result<u8> {
    let root = StateRoot::for_current_user().map_err(fail)?;
    let options = Approve {
        save: args.save,
        for_seconds: args.for_duration,
        any_binary: args.any_binary,
    };
    let approved = lifecycle::approve(&root, &args.name, &args.id, &options).map_err(fail)?;
    let mut line = format!("{}: approved {}", args.name, args.id);
    if let Some(entry) = &approved.entry {
        line.push_str(&format!(" as {entry}"));
    }
    if let Some(generation) = approved.generation {
        line.push_str(&format!("; policy generation {generation} in force"));
    }
    if approved.saved {
        line.push_str("; saved for the next start");
    }
    if let Some(seconds) = args.for_duration {
        line.push_str(&format!("; removed again in {seconds} s"));
    }
    println!("{line}");
    Ok(exit::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(30));
        assert_eq!(parse_duration("10m"), Ok(600));
        assert_eq!(parse_duration("2h"), Ok(7200));
        assert_eq!(parse_duration("1d"), Ok(86400));
        assert_eq!(parse_duration("45"), Ok(45));
        for bad in [
            "",
            "0s",
            "8d",
            "1w",
            "m",
            "-1s",
            "1.5h",
            "99999999999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }
}
