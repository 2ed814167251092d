//! Printing a normalised policy (`cordon policy show`): YAML that loads back to the
//! same [`Policy`], or JSON for tools.

use crate::error::{PolicyError, Problem};
use crate::model::Policy;

impl Policy {
    /// The normalised policy as YAML in the OpenShell v1 schema; parsing it again
    /// yields an equal `Policy`.
    pub fn to_yaml(&self) -> Result<String, PolicyError> {
        serde_saphyr::to_string(self).map_err(|err| failure(err.to_string()))
    }

    /// The normalised policy as pretty-printed JSON (same field names as the YAML).
    pub fn to_json(&self) -> Result<String, PolicyError> {
        serde_json::to_string_pretty(self).map_err(|err| failure(err.to_string()))
    }
}

fn failure(message: String) -> PolicyError {
    PolicyError::single(Problem::new(
        "",
        format!("cannot serialise the policy: {message}"),
    ))
}
