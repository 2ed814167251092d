//! The control API a named sandbox's supervisor serves on `control.sock` (routes in
//! `cordon_control::api`): status, the policy in force and its hot reload, stop, and
//! the pending approvals (`approvals`).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State as Extract;
use axum::http::StatusCode;
use axum::routing::{get, post};
use cordon_control::api::{
    self, ApiError, EgressInfo, LiveStatus, PolicyApplied, PolicyDocument, SetPolicy, Stop,
};
use cordon_egress::ReloadError;
use cordon_sandbox::Signaller;

use crate::proxy::RunningEgress;
use crate::state::{Durability, SandboxDir, write_json};

/// What the handlers share with the supervisor's main thread.
pub(crate) struct Api {
    pub name: String,
    pub dir: Arc<SandboxDir>,
    pub egress: Arc<RunningEgress>,
    /// Signals init: SIGTERM forwarded to the main process, SIGKILL for everything.
    pub signaller: Signaller,
    /// Set by `stop`: the main thread then records `stopped` instead of restarting.
    pub stop_requested: Arc<AtomicBool>,
    /// The fixed part of the status (pids, layers, limits), filled at start.
    pub status: LiveStatus,
    /// The policy text in force and where it came from.
    pub policy_text: Mutex<(String, String)>,
}

type Shared = Arc<Api>;

pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The routes of API version 1.
pub(crate) fn router(api: Shared) -> Router {
    Router::new()
        .route(api::STATUS, get(status))
        .route(api::POLICY, get(policy_get).put(policy_set))
        .route(api::STOP, post(stop))
        .route(api::APPROVALS, get(super::approvals::list))
        .route(
            "/v1/approvals/{id}/approve",
            post(super::approvals::approve),
        )
        .route("/v1/approvals/{id}/deny", post(super::approvals::deny))
        .with_state(api)
}

async fn status(Extract(api): Extract<Shared>) -> Json<LiveStatus> {
    let stats = api.egress.stats();
    let mut status = api.status.clone();
    status.policy.generation = stats.generation;
    status.policy.source = lock(&api.policy_text).1.clone();
    status.egress = EgressInfo {
        proxy: status.egress.proxy.clone(),
        allowed: stats.decisions.allowed,
        denied: stats.decisions.denied,
        audit_denied: stats.decisions.audit_denied,
        reloads_rejected: stats.decisions.config_rejected,
        active_connections: stats.active_connections as u64,
        total_connections: stats.total_connections,
    };
    status.stopping = api.stop_requested.load(Ordering::Relaxed);
    // The router's own serialisation, read back as the control API's mirror of it.
    status.inference = api
        .egress
        .inference_status()
        .and_then(|s| serde_json::to_value(s).ok())
        .and_then(|v| serde_json::from_value(v).ok());
    Json(status)
}

async fn policy_get(Extract(api): Extract<Shared>) -> Json<PolicyDocument> {
    let (yaml, source) = lock(&api.policy_text).clone();
    Json(PolicyDocument {
        generation: api.egress.policy().number(),
        source,
        yaml,
    })
}

pub(super) fn refusal(
    status: StatusCode,
    error: &str,
    message: String,
) -> (StatusCode, Json<ApiError>) {
    (status, Json(ApiError::new(error, message)))
}

async fn policy_set(
    Extract(api): Extract<Shared>,
    Json(request): Json<SetPolicy>,
) -> Result<(StatusCode, Json<PolicyApplied>), (StatusCode, Json<ApiError>)> {
    let loaded = cordon_policy::parse_str(&request.yaml, &request.source).map_err(|e| {
        api.egress.policy().reject(
            &e.to_string(),
            &request.source,
            &api.name,
            api.egress.audit(),
        );
        refusal(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_policy",
            format!(
                "policy {} rejected, previous policy still in force:\n{e}",
                request.source
            ),
        )
    })?;
    // Refused before anything is queued, so even a `set` without `--wait` reports it.
    let current = api.egress.policy().current();
    let changed = cordon_policy::static_changes(current.compiled.policy(), &loaded.policy);
    if !changed.is_empty() {
        let err = ReloadError::StaticSectionsChanged(changed);
        let _ = api.egress.policy().reject(
            &err.to_string(),
            &request.source,
            &api.name,
            api.egress.audit(),
        );
        return Err(refusal(
            StatusCode::CONFLICT,
            "needs_restart",
            err.to_string(),
        ));
    }
    let work = {
        let api = Arc::clone(&api);
        move || apply(&api, &loaded.policy, &request.yaml, &request.source)
    };
    if !request.wait {
        tokio::task::spawn_blocking(work);
        return Ok((
            StatusCode::ACCEPTED,
            Json(PolicyApplied { generation: None }),
        ));
    }
    let generation = tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| refusal(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))??;
    Ok((
        StatusCode::OK,
        Json(PolicyApplied {
            generation: Some(generation),
        }),
    ))
}

/// Swaps the policy in (the one reload path, audited) and keeps it for the next start.
fn apply(
    api: &Api,
    policy: &cordon_policy::Policy,
    yaml: &str,
    source: &str,
) -> Result<u64, (StatusCode, Json<ApiError>)> {
    // One policy change at a time: the file on disk follows the order of generations.
    let mut text = lock(&api.policy_text);
    let generation = api
        .egress
        .policy()
        .apply(policy, source, &api.name, api.egress.audit())
        .map_err(|e| match e {
            ReloadError::StaticSectionsChanged(_) => {
                refusal(StatusCode::CONFLICT, "needs_restart", e.to_string())
            }
            ReloadError::Invalid(_) => refusal(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_policy",
                e.to_string(),
            ),
        })?;
    *text = (yaml.to_owned(), source.to_owned());
    let persisted = api.dir.with_meta_lock(|| {
        crate::state::write_atomic(&api.dir.policy_path(), yaml.as_bytes(), Durability::Synced)?;
        let mut meta = api.dir.read_meta()?;
        meta.policy_source = source.to_owned();
        write_json(&api.dir.meta_path(), &meta, Durability::Synced)
    });
    if let Err(e) = persisted {
        eprintln!(
            "cordon: policy generation {generation} applied but not saved for the next start: {e}"
        );
    }
    Ok(generation)
}

async fn stop(Extract(api): Extract<Shared>, Json(request): Json<Stop>) -> StatusCode {
    if !api.stop_requested.swap(true, Ordering::SeqCst) {
        let _ = api.signaller.send(libc_sigterm());
        let api = Arc::clone(&api);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(request.timeout_ms)).await;
            // Still here after the grace period: end the whole sandbox at once.
            let _ = api.signaller.send(libc_sigkill());
        });
    }
    StatusCode::ACCEPTED
}

fn libc_sigterm() -> i32 {
    rustix::process::Signal::TERM.as_raw()
}

fn libc_sigkill() -> i32 {
    rustix::process::Signal::KILL.as_raw()
}

/// The socket paths to remove when the supervisor ends.
pub(crate) fn sockets(dir: &SandboxDir) -> [PathBuf; 2] {
    [
        dir.path().join("control.sock"),
        dir.path().join("exec.sock"),
    ]
}
