//! L7 `rules` and `deny_rules` of one endpoint.

use std::collections::BTreeMap;

use super::{Ctx, field};
use crate::globs;
use crate::model::{L7Match, L7Rule, Protocol, QueryMatcher};
use crate::raw::{RawEndpoint, RawMatch, RawQuery, S, loc};

pub(super) fn rules(
    raw: &S<RawEndpoint>,
    protocol: Option<Protocol>,
    path: &str,
    ctx: &mut Ctx,
) -> (Vec<L7Rule>, Vec<L7Match>) {
    let e = &raw.value;
    let inspected = protocol.is_some_and(Protocol::is_inspected);
    if let (Some(_), Some(rules)) = (&e.access, &e.rules) {
        ctx.error(
            field(path, "rules"),
            loc(rules),
            "`access` and `rules` are mutually exclusive",
            "keep either the `access` preset or the explicit `rules`, not both",
        );
    }
    if let Some(rules) = e.rules.as_ref().filter(|r| r.value.is_empty()) {
        ctx.error(
            field(path, "rules"),
            loc(rules),
            "`rules: []` allows nothing",
            "use `access: full` to allow every request, or remove `rules`",
        );
    }
    if inspected && e.access.is_none() && e.rules.is_none() {
        ctx.error(
            field(path, "protocol"),
            e.protocol.as_ref().and_then(loc),
            "an inspected endpoint needs `access` or `rules`, otherwise it allows no request",
            "add `access: read-only` (or `read-write`, `full`) or a list of `rules`",
        );
    }
    if protocol.is_none() && (e.access.is_some() || e.rules.is_some()) {
        let at = e
            .access
            .as_ref()
            .and_then(loc)
            .or(e.rules.as_ref().and_then(loc));
        ctx.warn(
            field(path, if e.access.is_some() { "access" } else { "rules" }),
            at,
            "`access` and `rules` have no effect without `protocol`: the endpoint allows any request",
            "add `protocol: rest` to enforce them",
        );
    }
    if let Some(deny) = &e.deny_rules {
        if !inspected {
            ctx.error(
                field(path, "deny_rules"),
                loc(deny),
                "`deny_rules` need an inspected protocol (`rest` or `websocket`)",
                "add `protocol: rest`, or remove `deny_rules`",
            );
        } else if e.access.is_none() && e.rules.is_none() {
            ctx.error(
                field(path, "deny_rules"),
                loc(deny),
                "`deny_rules` need a base allow set to subtract from",
                "add `access: ...` or `rules: ...` next to `deny_rules`",
            );
        }
    }
    let mut allow = Vec::new();
    for (i, rule) in e.rules.iter().flat_map(|r| &r.value).enumerate() {
        let rule_path = format!("{path}.rules[{i}]");
        match &rule.value.allow {
            None => ctx.error(
                &rule_path,
                loc(rule),
                "rule has no `allow`",
                "write `- allow: {method: GET, path: \"/**\"}`",
            ),
            Some(m) => {
                if let Some(m) = matcher(m, inspected, &field(&rule_path, "allow"), ctx) {
                    allow.push(L7Rule { allow: m });
                }
            }
        }
    }
    let deny = e
        .deny_rules
        .iter()
        .flat_map(|r| &r.value)
        .enumerate()
        .filter_map(|(i, m)| matcher(m, inspected, &format!("{path}.deny_rules[{i}]"), ctx))
        .collect();
    (allow, deny)
}

fn matcher(raw: &S<RawMatch>, inspected: bool, path: &str, ctx: &mut Ctx) -> Option<L7Match> {
    let before = ctx.errors.len();
    let m = &raw.value;
    if inspected && m.method.is_none() {
        ctx.error(
            path,
            loc(raw),
            "rule has no `method`",
            "add `method: GET` (or `\"*\"` for any method)",
        );
    }
    if inspected && m.path.is_none() {
        ctx.error(
            path,
            loc(raw),
            "rule has no `path`",
            "add `path: \"/**\"` (or a narrower glob)",
        );
    }
    let method = m.method.as_ref().map(|method| {
        let upper = method.value.trim().to_ascii_uppercase();
        let valid = upper == "*"
            || (!upper.is_empty()
                && upper
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b == b'_' || b == b'-'));
        if !valid {
            ctx.error(
                field(path, "method"),
                loc(method),
                format!("`{}` is not an HTTP method", method.value),
                "write a method such as `GET` or `POST`, or `\"*\"` for any",
            );
        }
        upper
    });
    if let Some(p) = &m.path {
        if !(p.value.starts_with('/') || p.value.starts_with('*')) {
            ctx.error(
                field(path, "path"),
                loc(p),
                format!("path glob `{}` does not start with `/`", p.value),
                "write a path glob such as `/repos/**`",
            );
        } else if let Err(err) = globs::path(&p.value) {
            ctx.error(
                field(path, "path"),
                loc(p),
                format!("invalid path glob `{}`: {err}", p.value),
                "fix the glob syntax",
            );
        }
    }
    let mut query = BTreeMap::new();
    for (key, value) in m.query.iter().flatten() {
        let qpath = format!("{path}.query.{key}");
        if key.is_empty() {
            ctx.error(
                &qpath,
                loc(value),
                "query key is empty",
                "name the parameter",
            );
            continue;
        }
        let globs_list: Vec<&String> = match &value.value {
            RawQuery::Glob(glob) => vec![glob],
            RawQuery::Any(list) => list.iter().collect(),
        };
        if globs_list.is_empty() {
            ctx.error(
                &qpath,
                loc(value),
                "`any: []` matches no value",
                "list at least one glob, e.g. `any: [\"v1.*\"]`",
            );
        }
        for glob in &globs_list {
            if let Err(err) = globs::query(glob) {
                ctx.error(
                    &qpath,
                    loc(value),
                    format!("invalid query glob `{glob}`: {err}"),
                    "fix the glob syntax",
                );
            }
        }
        let matcher = match &value.value {
            RawQuery::Glob(glob) => QueryMatcher::Glob(glob.clone()),
            RawQuery::Any(list) => QueryMatcher::Any { any: list.clone() },
        };
        query.insert(key.clone(), matcher);
    }
    (ctx.errors.len() == before).then(|| L7Match {
        method,
        path: m.path.as_ref().map(|p| p.value.clone()),
        query,
    })
}
