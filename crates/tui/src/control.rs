//! The real [`Source`]: each running sandbox's supervisor over its control socket
//! (`cordon-control`), plus the sandbox's audit log and stored policy for what the API
//! does not carry.
//!
//! Finding the user's sandboxes is not the control API's job (there is one supervisor
//! per sandbox and no daemon): a [`Locator`] does it, implemented by the CLI over the
//! state directory. This keeps the UI free of the supervisor crate.
//!
//! Approvals go to `/v1/approvals...` ([`api::APPROVALS`]); a supervisor that does
//! not serve them answers a bare 404, which shows as "not supported yet" in the pane.

use std::path::PathBuf;
use std::time::Duration;

use cordon_control::Client;
use cordon_control::api::{self, LiveStatus, PolicyDocument};
use http::{Method, StatusCode};
use serde::Serialize;

use crate::audit_file::read_audit;
use crate::error::TuiError;
use crate::source::{
    Approval, ApproveOptions, AuditChunk, AuditCursor, InferenceView, PolicyView, SandboxRow,
    Source,
};

/// Longest the UI waits for one supervisor: a hung supervisor must not freeze the screen
/// for long (it refreshes every second).
const REQUEST_TIMEOUT: Duration = Duration::from_millis(1500);

/// Where one sandbox's pieces are.
pub struct Endpoint {
    /// The control socket.
    pub control: PathBuf,
    /// The audit log (`audit.jsonl`; `.1` next to it after a rotation).
    pub audit_log: PathBuf,
    /// The stored policy (shown when the sandbox is not running).
    pub policy_file: PathBuf,
    /// Whatever keeps `control` valid while the endpoint is used (the CLI addresses the
    /// socket through an open directory descriptor, `/proc/self/fd/N/control.sock`, to
    /// stay within the 107-byte limit of a socket path).
    pub keep_alive: Box<dyn Send>,
}

/// Finds the user's sandboxes (the CLI implements it over the state directory).
pub trait Locator {
    /// Every sandbox, sorted by name, with its state and counters.
    fn sandboxes(&self) -> Result<Vec<SandboxRow>, TuiError>;
    /// Where sandbox `name` is, and whether its supervisor is alive.
    fn endpoint(&self, name: &str) -> Result<(Endpoint, bool), TuiError>;
}

/// The real source: supervisors over their control sockets.
pub struct ControlSource<L> {
    locator: L,
    runtime: tokio::runtime::Runtime,
}

impl<L: Locator> ControlSource<L> {
    /// A source finding sandboxes with `locator`.
    pub fn new(locator: L) -> Result<ControlSource<L>, TuiError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(TuiError::Terminal)?;
        Ok(ControlSource { locator, runtime })
    }

    /// The endpoint of `name`, which must be running.
    fn running(&self, name: &str) -> Result<Endpoint, TuiError> {
        let (endpoint, alive) = self.locator.endpoint(name)?;
        if alive {
            Ok(endpoint)
        } else {
            Err(TuiError::NotRunning(name.to_owned()))
        }
    }

    /// One request; a non-2xx answer becomes [`TuiError::Api`], a bare 404 (an unknown
    /// route) [`TuiError::Unsupported`] naming `what`.
    fn call(
        &self,
        endpoint: &Endpoint,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
        what: &str,
    ) -> Result<cordon_control::Reply, TuiError> {
        let client = Client::new(&endpoint.control);
        let reply = self
            .runtime
            .block_on(async {
                tokio::time::timeout(REQUEST_TIMEOUT, client.request(method, path, body)).await
            })
            .map_err(|_| {
                TuiError::Control(cordon_control::ControlError::Http(
                    "the supervisor did not answer in time".into(),
                ))
            })??;
        if reply.status.is_success() {
            return Ok(reply);
        }
        if reply.status == StatusCode::NOT_FOUND
            && serde_json::from_slice::<api::ApiError>(&reply.body).is_err()
        {
            return Err(TuiError::Unsupported(what.to_owned()));
        }
        let error = reply.error();
        Err(TuiError::Api {
            error: error.error,
            message: error.message,
        })
    }

    fn status_json(&self, name: &str) -> Result<Option<serde_json::Value>, TuiError> {
        let (endpoint, alive) = self.locator.endpoint(name)?;
        if !alive {
            return Ok(None);
        }
        let reply = self.call(&endpoint, Method::GET, api::STATUS, None::<&()>, "status")?;
        Ok(Some(reply.json()?))
    }
}

impl<L: Locator> Source for ControlSource<L> {
    fn sandboxes(&mut self) -> Result<Vec<SandboxRow>, TuiError> {
        self.locator.sandboxes()
    }

    fn status(&mut self, name: &str) -> Result<Option<LiveStatus>, TuiError> {
        match self.status_json(name)? {
            None => Ok(None),
            Some(value) => serde_json::from_value(value)
                .map(Some)
                .map_err(|e| cordon_control::ControlError::Malformed(e.to_string()).into()),
        }
    }

    fn audit(
        &mut self,
        name: &str,
        cursor: Option<AuditCursor>,
        tail: usize,
    ) -> Result<AuditChunk, TuiError> {
        let (endpoint, _) = self.locator.endpoint(name)?;
        read_audit(&endpoint.audit_log, cursor, tail)
    }

    fn approvals(&mut self, name: &str) -> Result<Vec<Approval>, TuiError> {
        let endpoint = self.running(name)?;
        let reply = self.call(
            &endpoint,
            Method::GET,
            api::APPROVALS,
            None::<&()>,
            "approvals",
        )?;
        let wire: Vec<api::Approval> = reply.json()?;
        Ok(wire
            .into_iter()
            .map(|a| Approval {
                id: a.id,
                host: a.host,
                port: a.port,
                binary: a.binary,
                count: a.count,
                first_seen_ms: a.first_seen_ms,
                last_seen_ms: a.last_seen_ms,
            })
            .collect())
    }

    fn approve(
        &mut self,
        name: &str,
        id: &str,
        options: ApproveOptions,
    ) -> Result<Option<u64>, TuiError> {
        let endpoint = self.running(name)?;
        let body = api::Approve {
            save: options.save,
            for_seconds: options.for_seconds,
            any_binary: false,
        };
        let path = format!("{}/{id}/approve", api::APPROVALS);
        let reply = self.call(&endpoint, Method::POST, &path, Some(&body), "approve")?;
        Ok(reply.json::<api::Approved>().unwrap_or_default().generation)
    }

    fn deny(&mut self, name: &str, id: &str) -> Result<(), TuiError> {
        let endpoint = self.running(name)?;
        let path = format!("{}/{id}/deny", api::APPROVALS);
        self.call(&endpoint, Method::POST, &path, None::<&()>, "deny")?;
        Ok(())
    }

    fn policy(&mut self, name: &str) -> Result<PolicyView, TuiError> {
        let (endpoint, alive) = self.locator.endpoint(name)?;
        if alive {
            let reply = self.call(&endpoint, Method::GET, api::POLICY, None::<&()>, "policy")?;
            let doc: PolicyDocument = reply.json()?;
            return Ok(PolicyView {
                generation: Some(doc.generation),
                source: doc.source,
                yaml: doc.yaml,
            });
        }
        let yaml =
            std::fs::read_to_string(&endpoint.policy_file).map_err(|source| TuiError::Io {
                path: endpoint.policy_file.clone(),
                source,
            })?;
        Ok(PolicyView {
            generation: None,
            source: endpoint.policy_file.display().to_string(),
            yaml,
        })
    }

    fn inference(&mut self, name: &str) -> Result<Option<InferenceView>, TuiError> {
        let Some(mut status) = self.status_json(name)? else {
            return Ok(None);
        };
        let Some(value) = status.get_mut("inference").map(serde_json::Value::take) else {
            return Ok(None);
        };
        let Ok(wire) = serde_json::from_value::<Option<api::InferenceInfo>>(value) else {
            return Ok(None);
        };
        Ok(wire.map(|w| InferenceView {
            provider: w.route.as_ref().map(|r| r.provider.clone()),
            model: w.route.and_then(|r| r.model),
            requests_last_minute: w.usage.requests_last_minute,
            max_requests_per_minute: w.usage.limits.max_requests_per_minute,
            tokens_last_hour: w.usage.tokens_last_hour,
            max_tokens_per_hour: w.usage.limits.max_tokens_per_hour,
            requests_total: w.usage.requests_total,
            refused_total: w.usage.refused_total,
            tokens_in_total: w.usage.tokens_in_total,
            tokens_out_total: w.usage.tokens_out_total,
        }))
    }
}
