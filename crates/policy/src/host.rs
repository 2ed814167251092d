//! Host patterns: exact DNS names, IP literals, and first-label wildcards.
//!
//! Hand-written rather than a path glob because host matching is label-aware: `*`
//! never crosses a `.` (OpenShell matches hosts with `.` as the glob delimiter), `**`
//! is only valid as the whole first label, and TLD wildcards must be refused at load
//! time. Matching is case-insensitive and allocation-free: callers lowercase the host
//! into a stack buffer with [`normalize`].

use std::net::IpAddr;

/// Longest DNS name (RFC 1035) plus room for a trailing dot.
pub(crate) const MAX_HOST_LEN: usize = 254;

/// A validated, lowercased host pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HostPattern {
    /// An exact DNS name.
    Exact(String),
    /// An IP literal, canonical (compared as an address, so `::1` equals `0:0::1` and
    /// `::ffff:10.0.0.1` equals `10.0.0.1`).
    Ip(IpAddr),
    /// A pattern in the first label followed by an exact suffix of at least two labels.
    Wildcard {
        /// The first label's pattern.
        first: LabelPattern,
        /// Everything after the first label's dot, e.g. `example.com`.
        suffix: String,
    },
}

/// The wildcard first label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LabelPattern {
    /// `**`: one or more whole labels.
    AnyLabels,
    /// A single label where `*` matches any run of characters (never a dot).
    Glob(String),
}

/// Why a host was rejected: (message, fix).
pub(crate) type HostError = (String, String);

/// Parses and validates an operator-written host.
pub(crate) fn parse(input: &str) -> Result<HostPattern, HostError> {
    let lowered = input.to_ascii_lowercase();
    let host = lowered.strip_suffix('.').unwrap_or(&lowered);
    if host.is_empty() {
        return Err((
            "host is empty".into(),
            "write a DNS name such as `api.example.com` or an IP address".into(),
        ));
    }
    let unbracketed = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = unbracketed.parse::<IpAddr>() {
        // `::ffff:10.0.0.1` is 10.0.0.1: compare one canonical form.
        return Ok(HostPattern::Ip(ip.to_canonical()));
    }
    if host == "*" || host == "**" {
        return Err((
            format!("host `{input}` would match every host"),
            "name the hosts, e.g. `api.example.com` or `*.example.com`".into(),
        ));
    }
    let labels: Vec<&str> = host.split('.').collect();
    if host.len() > MAX_HOST_LEN - 1 {
        return Err((
            format!("host `{input}` is longer than 253 characters"),
            "use a valid DNS name".into(),
        ));
    }
    for (i, label) in labels.iter().enumerate() {
        check_label(input, label, i == 0)?;
    }
    let Some((first, rest)) = host.split_once('.').filter(|_| labels[0].contains('*')) else {
        return Ok(HostPattern::Exact(host.to_owned()));
    };
    if labels.len() <= 2 {
        return Err((
            format!("host `{input}` is a wildcard over a top-level domain"),
            format!(
                "name the domain, e.g. `*.example.{}`",
                labels[labels.len() - 1]
            ),
        ));
    }
    if labels[1..]
        .iter()
        .all(|l| l.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err((
            format!("host `{input}` puts a wildcard on an IP address"),
            "list the IP address exactly, or use `allowed_ips` with a CIDR range".into(),
        ));
    }
    let first = if first == "**" {
        LabelPattern::AnyLabels
    } else if first.contains("**") {
        return Err((
            format!("host `{input}` mixes `**` with other characters"),
            "use `**` only as the whole first label (`**.example.com`), or `*` inside it".into(),
        ));
    } else {
        LabelPattern::Glob(first.to_owned())
    };
    Ok(HostPattern::Wildcard {
        first,
        suffix: rest.to_owned(),
    })
}

fn check_label(input: &str, label: &str, first: bool) -> Result<(), HostError> {
    if label.is_empty() {
        return Err((
            format!("host `{input}` has an empty label"),
            "remove the doubled or leading dot".into(),
        ));
    }
    if label.contains('*') && !first {
        return Err((
            format!("host `{input}` has a wildcard outside the first DNS label"),
            "put the wildcard in the first label only (`*.example.com`, `*-api.example.com`), or list the hosts".into(),
        ));
    }
    if label.len() > 63 {
        return Err((
            format!("host `{input}` has a label longer than 63 characters"),
            "use a valid DNS name".into(),
        ));
    }
    if let Some(bad) = label
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '*')))
    {
        return Err((
            format!("host `{input}` contains `{bad}`, which is not valid in a DNS name"),
            "use letters, digits, `-` and `_` (internationalised names in punycode, `xn--...`); only `*` is a wildcard".into(),
        ));
    }
    Ok(())
}

/// A host as seen at decision time, borrowed from the caller's stack buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HostRef<'a> {
    /// An IP literal.
    Ip(IpAddr),
    /// A lowercased DNS name without trailing dot.
    Name(&'a str),
}

/// Lowercases `host` into `buf` and classifies it, without allocating.
/// `None` when it is too long or contains characters no DNS name has.
pub(crate) fn normalize<'b>(host: &str, buf: &'b mut [u8; MAX_HOST_LEN]) -> Option<HostRef<'b>> {
    let bytes = host.as_bytes();
    let bytes = bytes.strip_suffix(b".").unwrap_or(bytes);
    if bytes.is_empty() || bytes.len() > buf.len() {
        return None;
    }
    let unbracketed = bytes
        .strip_prefix(b"[")
        .and_then(|b| b.strip_suffix(b"]"))
        .unwrap_or(bytes);
    // Only digits-and-dots or something with a `:` can be an IP literal; skip the
    // parse attempt for ordinary names (the common case on the hot path).
    let maybe_ip =
        unbracketed.contains(&b':') || unbracketed.iter().all(|b| b.is_ascii_digit() || *b == b'.');
    if let Some(ip) = maybe_ip
        .then(|| std::str::from_utf8(unbracketed).ok())
        .flatten()
        .and_then(|s| s.parse::<IpAddr>().ok())
    {
        return Some(HostRef::Ip(ip.to_canonical()));
    }
    for (dst, &src) in buf.iter_mut().zip(bytes) {
        if !(src.is_ascii_alphanumeric() || matches!(src, b'-' | b'_' | b'.')) {
            return None;
        }
        *dst = src.to_ascii_lowercase();
    }
    let name = std::str::from_utf8(&buf[..bytes.len()]).ok()?;
    Some(HostRef::Name(name))
}

impl HostPattern {
    /// Whether this pattern matches a normalised host.
    pub(crate) fn matches(&self, host: HostRef<'_>) -> bool {
        match (self, host) {
            (HostPattern::Ip(ip), HostRef::Ip(other)) => *ip == other,
            (HostPattern::Exact(name), HostRef::Name(other)) => name == other,
            (HostPattern::Wildcard { first, suffix }, HostRef::Name(name)) => {
                split_suffix(name, suffix).is_some_and(|prefix| first.matches(prefix))
            }
            _ => false,
        }
    }

    /// True for exact names and IP literals (the operator named this very host).
    pub(crate) fn is_exact(&self) -> bool {
        !matches!(self, HostPattern::Wildcard { .. })
    }
}

impl LabelPattern {
    /// Whether the labels before the suffix (`prefix`, no trailing dot) match.
    pub(crate) fn matches(&self, prefix: &str) -> bool {
        match self {
            LabelPattern::AnyLabels => !prefix.is_empty() && !prefix.split('.').any(str::is_empty),
            LabelPattern::Glob(pattern) => {
                !prefix.is_empty()
                    && !prefix.contains('.')
                    && label_glob(pattern.as_bytes(), prefix.as_bytes())
            }
        }
    }
}

/// `name` = `<prefix>.<suffix>` → `prefix`.
pub(crate) fn split_suffix<'a>(name: &'a str, suffix: &str) -> Option<&'a str> {
    let prefix = name.strip_suffix(suffix)?.strip_suffix('.')?;
    Some(prefix)
}

/// `*` matches any run of bytes (the caller guarantees no dots); everything else is literal.
fn label_glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

impl std::fmt::Display for HostPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostPattern::Exact(name) => f.write_str(name),
            HostPattern::Ip(ip) => write!(f, "{ip}"),
            HostPattern::Wildcard { first, suffix } => match first {
                LabelPattern::AnyLabels => write!(f, "**.{suffix}"),
                LabelPattern::Glob(label) => write!(f, "{label}.{suffix}"),
            },
        }
    }
}

#[cfg(test)]
#[path = "host_tests.rs"]
mod tests;
