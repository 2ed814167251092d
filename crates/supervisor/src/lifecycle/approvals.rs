//! The approvals routes of the control API (`cordon approvals|approve|deny`, and the
//! approvals pane of `cordon term`).
//!
//! The egress layer records the pending requests (`cordon_egress::Approvals`); this
//! module turns an operator's approval into policy: the narrowest entry that allows the
//! request (`cordon_policy::with_approval`: that exact host, that port, that binary) is
//! added to the policy in force and swapped in as a new generation through the one
//! reload path (`PolicyHandle::apply`, audited like every reload). Connections held by
//! `hold_on_deny_seconds` wake on that generation and go through.
//!
//! - without `save`, the entry lives in the running policy only: `cordon stop`/`start`
//!   forgets it (the stored policy file is untouched);
//! - with `save`, it is also added to the stored policy (`policy.yaml` in the state
//!   directory), which is rewritten normalised (comments are not kept);
//! - with `for`, a timer removes the entry again (a further generation) when it runs
//!   out; `save` with `for` is refused (a saved rule is permanent).
//!
//! Every policy change (reloads, approvals, expiries) holds the API's `policy_text`
//! lock, so generations and the stored file change in one order.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use cordon_control::api::{ApiError, Approval, Approve, Approved};
use cordon_policy::{NetworkPolicy, Policy};

use super::api::{Api, lock, refusal as failure};
use crate::state::Durability;

type Failure = (StatusCode, Json<ApiError>);

/// Longest `for`: a week. A longer temporary rule is a permanent one in disguise
/// (and a timer that long outlives most sandboxes anyway).
pub(crate) const MAX_APPROVAL_SECONDS: u64 = 7 * 24 * 3600;

fn not_found(api: &Api, id: &str) -> Failure {
    failure(
        StatusCode::NOT_FOUND,
        "not_found",
        format!(
            "no pending approval {id:?} in sandbox {} (list them with `cordon approvals {}`)",
            api.name, api.name
        ),
    )
}

/// `GET /v1/approvals`: the pending requests the policy in force still denies.
pub(crate) async fn list(State(api): State<Arc<Api>>) -> Json<Vec<Approval>> {
    let generation = api.egress.policy().current();
    let pending = api.egress.proxy().approvals().pending(&generation.compiled);
    Json(
        pending
            .into_iter()
            .map(|r| Approval {
                id: r.id,
                host: r.host,
                port: r.port,
                binary: r.binary,
                count: r.count,
                first_seen_ms: r.first_seen_ms,
                last_seen_ms: r.last_seen_ms,
            })
            .collect(),
    )
}

/// `POST /v1/approvals/{id}/deny`: dismisses the request (204).
pub(crate) async fn deny(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
) -> Result<StatusCode, Failure> {
    match api.egress.proxy().approvals().dismiss(&id) {
        Some(_) => Ok(StatusCode::NO_CONTENT),
        None => Err(not_found(&api, &id)),
    }
}

/// `POST /v1/approvals/{id}/approve` with an optional [`Approve`] body.
pub(crate) async fn approve(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Approved>, Failure> {
    let options: Approve = if body.iter().all(u8::is_ascii_whitespace) {
        Approve::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            failure(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("approve body: {e}"),
            )
        })?
    };
    if options.save && options.for_seconds.is_some() {
        return Err(failure(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "save and for cannot be combined: a saved rule is permanent (approve for a while without save, or save without for)".into(),
        ));
    }
    if let Some(seconds) = options.for_seconds
        && !(1..=MAX_APPROVAL_SECONDS).contains(&seconds)
    {
        return Err(failure(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!(
                "for {seconds} s: give 1 second to {} days",
                MAX_APPROVAL_SECONDS / 86400
            ),
        ));
    }
    let work = {
        let api = Arc::clone(&api);
        move || grant(&api, &id, options.save, options.any_binary)
    };
    let (approved, added) = tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| failure(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))??;
    let mut approved = approved;
    if let Some(seconds) = options.for_seconds {
        approved.expires_at_ms = Some(cordon_audit::now_ms().saturating_add(seconds * 1000));
        let api = Arc::clone(&api);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(seconds)).await;
            let _ = tokio::task::spawn_blocking(move || expire(&api, &added)).await;
        });
    }
    Ok(Json(approved))
}

/// The entry an approval added, remembered for its expiry.
struct Added {
    key: String,
    entry: NetworkPolicy,
}

/// Adds the entry for request `id` as a new generation (and to the stored policy with
/// `save`), then resolves the request.
fn grant(api: &Api, id: &str, save: bool, any_binary: bool) -> Result<(Approved, Added), Failure> {
    let approvals = api.egress.proxy().approvals();
    let mut text = lock(&api.policy_text);
    // Looked up under the lock: a concurrent approve of the same id finds it resolved.
    let request = approvals.get(id).ok_or_else(|| not_found(api, id))?;
    // An unidentified caller would get an entry for every binary: only when asked.
    if request.binary.is_none() && !any_binary {
        return Err(failure(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!(
                "the program behind request {id} ({}:{}) could not be identified: approving it allows any binary to reach that destination; pass --any-binary to do so",
                request.host, request.port
            ),
        ));
    }
    let current = api.egress.policy().current();
    let (key, policy) = cordon_policy::with_approval(
        current.compiled.policy(),
        &request.host,
        request.port,
        request.binary.as_deref(),
    )
    .map_err(|e| {
        failure(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_policy",
            format!(
                "cannot build an entry for {}:{}: {e}",
                request.host, request.port
            ),
        )
    })?;
    let entry = policy.network_policies.get(&key).cloned().ok_or_else(|| {
        failure(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("entry {key} missing after it was added"),
        )
    })?;
    let source = format!("approval {id} ({key})");
    let generation = swap(api, &policy, &source, &mut text)?;
    approvals.resolve(id);
    let saved = save
        && {
            if let Err(e) = store(api, &request.host, request.port, request.binary.as_deref()) {
                // In force now, but not kept: say so instead of pretending.
                return Err(failure(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "not_saved",
                    format!(
                        "approved in generation {generation} ({key}), but not saved for the next start: {e}"
                    ),
                ));
            }
            true
        };
    Ok((
        Approved {
            generation: Some(generation),
            entry: Some(key.clone()),
            saved,
            expires_at_ms: None,
        },
        Added { key, entry },
    ))
}

/// Swaps `policy` in (audited) and makes it the text `policy get` shows.
fn swap(
    api: &Api,
    policy: &Policy,
    source: &str,
    text: &mut (String, String),
) -> Result<u64, Failure> {
    let generation = api
        .egress
        .policy()
        .apply(policy, source, &api.name, api.egress.audit())
        .map_err(|e| {
            failure(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_policy",
                e.to_string(),
            )
        })?;
    if let Ok(yaml) = policy.to_yaml() {
        text.0 = yaml;
    }
    Ok(generation)
}

/// Adds the same kind of entry to the stored policy (the file `start` reads).
fn store(
    api: &Api,
    host: &str,
    port: u16,
    binary: Option<&str>,
) -> Result<(), crate::error::SupervisorError> {
    let path = api.dir.policy_path();
    api.dir.with_meta_lock(|| {
        let stored = cordon_policy::load_file(&path)
            .map_err(|e| crate::error::SupervisorError::PolicyInvalid(e.to_string()))?;
        let (_, policy) = cordon_policy::with_approval(&stored.policy, host, port, binary)
            .map_err(|e| crate::error::SupervisorError::PolicyInvalid(e.to_string()))?;
        let yaml = policy
            .to_yaml()
            .map_err(|e| crate::error::SupervisorError::PolicyInvalid(e.to_string()))?;
        crate::state::write_atomic(&path, yaml.as_bytes(), Durability::Synced)
    })
}

/// Removes an expired approval's entry from the policy in force, if it is still there
/// unchanged (a `policy set` since may have replaced the whole policy).
fn expire(api: &Api, added: &Added) {
    let mut text = lock(&api.policy_text);
    let current = api.egress.policy().current();
    if current.compiled.policy().network_policies.get(&added.key) != Some(&added.entry) {
        return;
    }
    let mut policy = current.compiled.policy().clone();
    policy.network_policies.remove(&added.key);
    let source = format!("approval {} expired", added.key);
    if let Err((_, Json(e))) = swap(api, &policy, &source, &mut text) {
        eprintln!(
            "cordon: could not remove expired approval {}: {}",
            added.key, e.message
        );
    }
}
