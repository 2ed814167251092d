//! Merging presets into policies: clean into every profile, idempotent, clashes refused.

use cordon_policy::catalog;
use cordon_policy::{CompiledPolicy, parse_str};

use super::{Answer, NODE, PYTHON, answer, ask, profile_policy};

#[test]
fn every_preset_merges_into_every_profile_and_keeps_both_claims() {
    for profile in catalog::profiles() {
        let base = profile.policy().unwrap();
        let mut merged = base.clone();
        for preset in catalog::presets() {
            let outcome = catalog::apply_preset(&mut merged, preset)
                .unwrap_or_else(|err| panic!("{} + {}: {err}", profile.name, preset.name));
            assert_eq!(
                outcome.added,
                [preset.name],
                "{} + {}",
                profile.name,
                preset.name
            );
            assert!(outcome.unchanged.is_empty());
        }
        // Nothing of the profile was lost, the static sections are untouched.
        for (key, entry) in &base.network_policies {
            assert_eq!(&merged.network_policies[key], entry);
        }
        assert!(cordon_policy::static_changes(&base, &merged).is_empty());
        assert_eq!(
            merged.network_policies.len(),
            base.network_policies.len() + catalog::presets().len()
        );
        // The merged policy is a valid policy file.
        let reloaded = parse_str(&merged.to_yaml().unwrap(), "<merged>").unwrap();
        assert_eq!(reloaded.policy, merged);
        let compiled = CompiledPolicy::compile(&merged).unwrap();
        assert_eq!(
            answer(&compiled, ask("pypi.org", PYTHON, "GET", "/simple/")),
            Answer::Allowed,
            "{}",
            profile.name
        );
    }
    // The profile's own claim survives the merge.
    let mut openclaw = profile_policy("openclaw");
    catalog::apply_preset(&mut openclaw, catalog::preset("npm").unwrap()).unwrap();
    let compiled = CompiledPolicy::compile(&openclaw).unwrap();
    assert_eq!(
        answer(&compiled, ask("clawhub.ai", NODE, "GET", "/api/v1/skills")),
        Answer::Allowed
    );
    assert_eq!(
        answer(
            &compiled,
            ask("registry.npmjs.org", NODE, "GET", "/openclaw")
        ),
        Answer::Allowed
    );
}

#[test]
fn applying_a_preset_twice_is_a_no_op() {
    let github = catalog::preset("github").unwrap();
    let mut policy = profile_policy("generic");
    catalog::apply_preset(&mut policy, github).unwrap();
    let once = policy.clone();
    let outcome = catalog::apply_preset(&mut policy, github).unwrap();
    assert!(outcome.added.is_empty());
    assert_eq!(outcome.unchanged, ["github"]);
    assert_eq!(policy, once);
}

#[test]
fn a_clashing_entry_is_refused_and_the_policy_left_untouched() {
    // The operator's own `github` entry (any binary to github.com) differs from the
    // preset's: merging must neither replace nor keep it silently.
    let yaml = "version: 1\nnetwork_policies:\n  github:\n    endpoints:\n      - host: github.com\n        port: 443\n    binaries:\n      - path: /usr/bin/git\n";
    let mut policy = parse_str(yaml, "mine.yaml").unwrap().policy;
    let before = policy.clone();
    let err = catalog::apply_preset(&mut policy, catalog::preset("github").unwrap()).unwrap_err();
    assert_eq!(policy, before);
    assert_eq!(err.problems.len(), 1);
    let problem = &err.problems[0];
    assert_eq!(problem.field, "network_policies.github");
    assert_eq!(problem.file, "<preset github>");
    assert!(
        problem.message.contains("already has an entry `github`"),
        "{problem}"
    );
    assert!(
        problem
            .hint
            .as_deref()
            .unwrap()
            .contains("rename or remove")
    );
    // Its twin: a non-clashing preset still merges into the same policy.
    let outcome = catalog::apply_preset(&mut policy, catalog::preset("pypi").unwrap()).unwrap();
    assert_eq!(outcome.added, ["pypi"]);
}
