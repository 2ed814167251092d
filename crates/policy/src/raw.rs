//! The policy file exactly as written: serde types that mirror the YAML, with source
//! locations on every value a later rule may complain about.
//!
//! Kept separate from `model` so the wire format can stay permissive about shapes
//! (`port` or `ports`, ids as strings or numbers) while the model stays simple, and so
//! validation can point at the line and column of each offending value. Every struct
//! denies unknown fields; no `flatten` or `untagged` (they would lose locations).

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// A value plus where it was written.
pub(crate) type S<T> = Spanned<T>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPolicy {
    pub version: Option<S<i64>>,
    pub filesystem_policy: Option<S<RawFilesystem>>,
    pub landlock: Option<RawLandlock>,
    pub process: Option<RawProcess>,
    pub network_policies: Option<BTreeMap<String, S<RawEntry>>>,
    pub network_settings: Option<RawNetworkSettings>,
    pub inference: Option<RawInference>,
    pub resources: Option<RawResources>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFilesystem {
    pub include_workdir: Option<bool>,
    pub read_only: Option<Vec<S<String>>>,
    pub read_write: Option<Vec<S<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLandlock {
    pub compatibility: Option<RawCompatibility>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawCompatibility {
    BestEffort,
    HardRequirement,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProcess {
    pub run_as_user: Option<S<RawId>>,
    pub run_as_group: Option<S<RawId>>,
}

/// `sandbox`, `"1500"` or `1500`: OpenShell writes ids as strings, people write numbers.
#[derive(Debug)]
pub(crate) enum RawId {
    Text(String),
    Number(i128),
}

impl<'de> Deserialize<'de> for RawId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IdVisitor;
        impl Visitor<'_> for IdVisitor {
            type Value = RawId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`sandbox` or a numeric id")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawId, E> {
                Ok(RawId::Text(v.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawId, E> {
                Ok(RawId::Number(i128::from(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawId, E> {
                Ok(RawId::Number(i128::from(v)))
            }
            fn visit_i128<E: de::Error>(self, v: i128) -> Result<RawId, E> {
                Ok(RawId::Number(v))
            }
            fn visit_u128<E: de::Error>(self, v: u128) -> Result<RawId, E> {
                Ok(RawId::Number(i128::try_from(v).unwrap_or(i128::MAX)))
            }
        }
        deserializer.deserialize_any(IdVisitor)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEntry {
    pub name: Option<S<String>>,
    pub endpoints: Option<Vec<S<RawEndpoint>>>,
    pub binaries: Option<Vec<S<RawBinary>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEndpoint {
    pub host: Option<S<String>>,
    pub port: Option<S<i64>>,
    pub ports: Option<S<Vec<S<i64>>>>,
    pub path: Option<S<String>>,
    pub protocol: Option<S<RawProtocol>>,
    pub tls: Option<S<RawTls>>,
    pub enforcement: Option<S<RawEnforcement>>,
    pub access: Option<S<RawAccess>>,
    pub rules: Option<S<Vec<S<RawRule>>>>,
    pub deny_rules: Option<S<Vec<S<RawMatch>>>>,
    pub allowed_ips: Option<S<Vec<S<String>>>>,
    pub allow_encoded_slash: Option<S<bool>>,
    pub credential_binding: Option<S<RawCredentialBinding>>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum RawProtocol {
    Rest,
    Websocket,
    Tcp,
    Graphql,
    Mcp,
    JsonRpc,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawTls {
    Skip,
    Terminate,
    Passthrough,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawEnforcement {
    Enforce,
    Audit,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum RawAccess {
    ReadOnly,
    ReadWrite,
    Full,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRule {
    pub allow: Option<S<RawMatch>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMatch {
    pub method: Option<S<String>>,
    pub path: Option<S<String>>,
    pub query: Option<BTreeMap<String, S<RawQuery>>>,
}

/// `key: "glob"` or `key: {any: [globs]}`.
#[derive(Debug)]
pub(crate) enum RawQuery {
    Glob(String),
    Any(Vec<String>),
}

impl<'de> Deserialize<'de> for RawQuery {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct QueryVisitor;
        impl<'de> Visitor<'de> for QueryVisitor {
            type Value = RawQuery;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a glob string or `{any: [globs]}`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawQuery, E> {
                Ok(RawQuery::Glob(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawQuery, A::Error> {
                let mut any: Option<Vec<String>> = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key != "any" {
                        return Err(de::Error::unknown_field(&key, &["any"]));
                    }
                    if any.is_some() {
                        return Err(de::Error::duplicate_field("any"));
                    }
                    any = Some(map.next_value::<StringList>()?.0);
                }
                any.map(RawQuery::Any)
                    .ok_or_else(|| de::Error::missing_field("any"))
            }
        }
        deserializer.deserialize_any(QueryVisitor)
    }
}

/// A plain list of strings (used inside the hand-written query visitor).
struct StringList(Vec<String>);

impl<'de> Deserialize<'de> for StringList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ListVisitor;
        impl<'de> Visitor<'de> for ListVisitor {
            type Value = StringList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of glob strings")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StringList, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = seq.next_element::<String>()? {
                    out.push(item);
                }
                Ok(StringList(out))
            }
        }
        deserializer.deserialize_seq(ListVisitor)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCredentialBinding {
    pub provider: Option<S<String>>,
    pub json_body: Option<S<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBinary {
    pub path: Option<S<String>>,
    /// OpenShell's deprecated, ignored flag: accepted (with a warning) so older
    /// OpenShell/NemoClaw policies load unchanged.
    pub harness: Option<S<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNetworkSettings {
    pub transparent: Option<bool>,
    pub hold_on_deny_seconds: Option<S<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawInference {
    pub provider: Option<S<String>>,
    pub model: Option<S<String>>,
    pub max_requests_per_minute: Option<S<i64>>,
    pub max_tokens_per_hour: Option<S<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawResources {
    pub memory: Option<S<RawSize>>,
    pub pids: Option<S<i64>>,
    pub cpu: Option<S<f64>>,
}

/// `2GiB`, `512MiB` or a plain number of bytes.
#[derive(Debug)]
pub(crate) enum RawSize {
    Text(String),
    Bytes(i128),
}

impl<'de> Deserialize<'de> for RawSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SizeVisitor;
        impl Visitor<'_> for SizeVisitor {
            type Value = RawSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size such as `2GiB` or a number of bytes")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawSize, E> {
                Ok(RawSize::Text(v.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawSize, E> {
                Ok(RawSize::Bytes(i128::from(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawSize, E> {
                Ok(RawSize::Bytes(i128::from(v)))
            }
        }
        deserializer.deserialize_any(SizeVisitor)
    }
}

/// 1-based (line, column) of a spanned value, `None` when the parser could not tell.
pub(crate) fn loc<T>(spanned: &S<T>) -> Option<(usize, usize)> {
    let location = spanned.referenced;
    let (line, column) = (location.line(), location.column());
    if line == 0 {
        return None;
    }
    Some((
        usize::try_from(line).unwrap_or(usize::MAX),
        usize::try_from(column).unwrap_or(usize::MAX),
    ))
}
