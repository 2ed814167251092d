//! L7 decisions: method, path and query of one HTTP request on an inspected endpoint.
//!
//! Order: the path is decoded and sanity-checked (never relaxed by audit), the
//! endpoint `path` selector picks the endpoint among its siblings, deny rules win,
//! then the access preset or the allow rules. Percent-decoding happens in stack
//! buffers, so a decision allocates nothing.

use globset::{Candidate, GlobMatcher};

use super::{CompiledPolicy, EndpointId, Verdict};
use crate::globs::{self, PathSelector};
use crate::model::{Access, Endpoint, Enforcement, L7Match, QueryMatcher};

/// Longest request path (after decoding) the engine evaluates; longer is denied.
const MAX_PATH: usize = 4096;
/// Longest query key or value (after decoding) a matcher evaluates.
const MAX_QUERY_PART: usize = 2048;

/// Answer to "may this HTTP request go?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestDecision<'a> {
    /// Allow, deny or audit-deny.
    pub verdict: Verdict,
    /// Which rule decided: `rules[0]`, `deny_rules[1]`, `access: read-only`, ...
    pub rule: Option<&'a str>,
    /// Why.
    pub reason: &'static str,
    /// The endpoint whose rules decided (differs from the connection's endpoint when
    /// an endpoint `path` selected a sibling).
    pub endpoint: EndpointId,
}

#[derive(Debug)]
enum Method {
    Any,
    Exact(String),
}

#[derive(Debug)]
struct CompiledMatch {
    label: String,
    method: Method,
    path: Option<GlobMatcher>,
    query: Vec<(String, Vec<GlobMatcher>)>,
}

/// The L7 half of a compiled endpoint.
#[derive(Debug)]
pub(super) struct L7Endpoint {
    pub(super) inspect: bool,
    enforcement: Enforcement,
    allow_encoded_slash: bool,
    access: Option<(Access, &'static str)>,
    rules: Vec<CompiledMatch>,
    deny: Vec<CompiledMatch>,
    selector: Option<PathSelector>,
    /// Endpoints (this one included) among which `selector`s choose; empty = just this.
    pub(super) siblings: Vec<u32>,
}

impl L7Endpoint {
    pub(super) fn compile(endpoint: &Endpoint) -> Result<L7Endpoint, String> {
        let rules = endpoint
            .rules
            .iter()
            .enumerate()
            .map(|(i, rule)| compile_match(&rule.allow, format!("rules[{i}]")))
            .collect::<Result<_, _>>()?;
        let deny = endpoint
            .deny_rules
            .iter()
            .enumerate()
            .map(|(i, rule)| compile_match(rule, format!("deny_rules[{i}]")))
            .collect::<Result<_, _>>()?;
        let selector = endpoint
            .path
            .as_deref()
            .map(PathSelector::new)
            .transpose()?;
        Ok(L7Endpoint {
            inspect: super::compile::is_inspected(endpoint.protocol, endpoint.tls),
            enforcement: endpoint.enforcement,
            allow_encoded_slash: endpoint.allow_encoded_slash,
            access: endpoint.access.map(|a| {
                let label = match a {
                    Access::ReadOnly => "access: read-only",
                    Access::ReadWrite => "access: read-write",
                    Access::Full => "access: full",
                };
                (a, label)
            }),
            rules,
            deny,
            selector,
            siblings: Vec::new(),
        })
    }

    pub(super) fn has_selector(&self) -> bool {
        self.selector.is_some()
    }

    fn failed(&self) -> Verdict {
        match self.enforcement {
            Enforcement::Enforce => Verdict::Deny,
            Enforcement::Audit => Verdict::AuditDeny,
        }
    }
}

fn compile_match(m: &L7Match, label: String) -> Result<CompiledMatch, String> {
    let method = match m.method.as_deref() {
        None | Some("*") => Method::Any,
        Some(method) => Method::Exact(method.to_ascii_uppercase()),
    };
    let path = m.path.as_deref().map(globs::path).transpose()?;
    let query = m
        .query
        .iter()
        .map(|(key, matcher)| {
            let patterns: Vec<&String> = match matcher {
                QueryMatcher::Glob(glob) => vec![glob],
                QueryMatcher::Any { any } => any.iter().collect(),
            };
            let compiled = patterns
                .into_iter()
                .map(|p| globs::query(p))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((key.clone(), compiled))
        })
        .collect::<Result<_, String>>()?;
    Ok(CompiledMatch {
        label,
        method,
        path,
        query,
    })
}

impl CompiledPolicy {
    /// Decides an HTTP request on the endpoint `decide_connect` returned. `path` is
    /// the raw (percent-encoded) request path without query; `query` the raw query
    /// string without `?`. Allocation-free.
    ///
    /// # Panics
    /// If `endpoint` did not come from this compiled policy.
    pub fn decide_request<'p>(
        &'p self,
        endpoint: EndpointId,
        method: &str,
        path: &str,
        query: Option<&str>,
    ) -> RequestDecision<'p> {
        let connected = &self.matchers[endpoint.0 as usize].l7;
        let deny = |reason| RequestDecision {
            verdict: Verdict::Deny,
            rule: None,
            reason,
            endpoint,
        };
        let mut buf = [0u8; MAX_PATH];
        let decoded = match decode_path(path.as_bytes(), connected.allow_encoded_slash, &mut buf) {
            Ok(decoded) => decoded,
            Err(reason) => return deny(reason),
        };
        let (id, l7) = self.select(endpoint, decoded);
        let Some(l7) = l7 else {
            return deny("no endpoint `path` selector matches this request path");
        };
        let decide = |verdict, rule: Option<&'p str>, reason| RequestDecision {
            verdict,
            rule,
            reason,
            endpoint: id,
        };
        if !l7.inspect {
            return decide(Verdict::Allow, None, "endpoint is not inspected (L4 only)");
        }
        let query = query.unwrap_or("").as_bytes();
        if let Some(rule) = l7
            .deny
            .iter()
            .find(|r| matches(r, method, decoded, query, true))
        {
            return decide(l7.failed(), Some(&rule.label), "a deny rule matches");
        }
        if let Some((access, label)) = l7.access {
            return if access_allows(access, method) {
                decide(Verdict::Allow, Some(label), "allowed by the access preset")
            } else {
                decide(
                    l7.failed(),
                    Some(label),
                    "method not allowed by the access preset",
                )
            };
        }
        match l7
            .rules
            .iter()
            .find(|r| matches(r, method, decoded, query, false))
        {
            Some(rule) => decide(Verdict::Allow, Some(&rule.label), "an allow rule matches"),
            None => decide(l7.failed(), None, "no allow rule matches"),
        }
    }

    /// Applies endpoint `path` selectors: the most specific matching sibling wins.
    fn select(&self, endpoint: EndpointId, path: &[u8]) -> (EndpointId, Option<&L7Endpoint>) {
        let own = &self.matchers[endpoint.0 as usize].l7;
        if own.siblings.is_empty() {
            let hit = own.selector.as_ref().is_none_or(|s| s.matches(path));
            return (endpoint, hit.then_some(own));
        }
        let mut best: Option<(usize, u32)> = None;
        for &id in &own.siblings {
            let l7 = &self.matchers[id as usize].l7;
            let specificity = match &l7.selector {
                None => 0,
                Some(selector) if selector.matches(path) => selector.specificity + 1,
                Some(_) => continue,
            };
            if best.is_none_or(|(s, _)| specificity > s) {
                best = Some((specificity, id));
            }
        }
        match best {
            Some((_, id)) => (EndpointId(id), Some(&self.matchers[id as usize].l7)),
            None => (endpoint, None),
        }
    }
}

fn access_allows(access: Access, method: &str) -> bool {
    let is = |m: &str| method.eq_ignore_ascii_case(m);
    match access {
        Access::Full => true,
        Access::ReadOnly => is("GET") || is("HEAD") || is("OPTIONS"),
        Access::ReadWrite => {
            is("GET")
                || is("HEAD")
                || is("OPTIONS")
                || is("POST")
                || is("PUT")
                || is("PATCH")
                || is("WEBSOCKET_TEXT")
        }
    }
}

fn matches(rule: &CompiledMatch, method: &str, path: &[u8], query: &[u8], deny: bool) -> bool {
    let method_ok = match &rule.method {
        Method::Any => true,
        Method::Exact(m) => m.eq_ignore_ascii_case(method),
    };
    method_ok
        && rule
            .path
            .as_ref()
            .is_none_or(|glob| glob.is_match_candidate(&Candidate::from_bytes(path)))
        && rule
            .query
            .iter()
            .all(|(key, globs)| query_matches(query, key.as_bytes(), globs, deny))
}

/// Allow rules: the key is present and every value matches one glob. Deny rules: the
/// key is present and some value matches. Undecodable parts fail closed (an allow
/// does not match, a deny does).
fn query_matches(query: &[u8], key: &[u8], globs: &[GlobMatcher], deny: bool) -> bool {
    let mut seen = false;
    let mut key_buf = [0u8; MAX_QUERY_PART];
    let mut value_buf = [0u8; MAX_QUERY_PART];
    for pair in query.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let (raw_key, raw_value) = match pair.iter().position(|&b| b == b'=') {
            Some(at) => (&pair[..at], &pair[at + 1..]),
            None => (pair, &b""[..]),
        };
        let Ok(decoded_key) = decode_query(raw_key, &mut key_buf, false) else {
            if deny {
                return true;
            }
            continue;
        };
        if decoded_key != key {
            continue;
        }
        seen = true;
        let hit = decode_query(raw_value, &mut value_buf, true)
            .map(|value| globs.iter().any(|g| globs::is_match_bytes(g, value)));
        match (deny, hit) {
            (true, Ok(true) | Err(())) => return true,
            (false, Ok(false) | Err(())) => return false,
            _ => {}
        }
    }
    seen && !deny
}

/// Form-decodes a query part (`%XX`, `+` = space); with `swap`, `.`↔`/` for globs.
fn decode_query<'b>(
    raw: &[u8],
    buf: &'b mut [u8; MAX_QUERY_PART],
    swap: bool,
) -> Result<&'b [u8], ()> {
    let mut len = 0;
    let mut i = 0;
    while i < raw.len() {
        let byte = match raw[i] {
            b'%' => {
                let byte = hex_pair(raw.get(i + 1..i + 3)).ok_or(())?;
                i += 3;
                byte
            }
            b'+' => {
                i += 1;
                b' '
            }
            other => {
                i += 1;
                other
            }
        };
        *buf.get_mut(len).ok_or(())? = if swap { globs::swap_byte(byte) } else { byte };
        len += 1;
    }
    Ok(&buf[..len])
}

/// Percent-decodes a request path and refuses what could smuggle past a glob:
/// encoded slashes (unless allowed), dot segments, NUL, malformed escapes.
fn decode_path<'b>(
    raw: &[u8],
    allow_encoded_slash: bool,
    buf: &'b mut [u8; MAX_PATH],
) -> Result<&'b [u8], &'static str> {
    if raw.first() != Some(&b'/') {
        return Err("request path does not start with `/`");
    }
    let mut len = 0;
    let mut i = 0;
    while i < raw.len() {
        let byte = if raw[i] == b'%' {
            let byte =
                hex_pair(raw.get(i + 1..i + 3)).ok_or("malformed percent-encoding in path")?;
            if byte == b'/' && !allow_encoded_slash {
                return Err(
                    "encoded slash (%2F) in path; the endpoint does not set allow_encoded_slash",
                );
            }
            i += 3;
            byte
        } else {
            i += 1;
            raw[i - 1]
        };
        if byte == 0 {
            return Err("NUL byte in path");
        }
        *buf.get_mut(len).ok_or("request path is too long")? = byte;
        len += 1;
    }
    let path = &buf[..len];
    if path
        .split(|&b| b == b'/')
        .any(|seg| seg == b"." || seg == b"..")
    {
        return Err("path contains `.` or `..` segments");
    }
    Ok(path)
}

fn hex_pair(pair: Option<&[u8]>) -> Option<u8> {
    let pair = pair?;
    let digit = |b: u8| (b as char).to_digit(16);
    let value = digit(pair[0])? * 16 + digit(pair[1])?;
    u8::try_from(value).ok()
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
