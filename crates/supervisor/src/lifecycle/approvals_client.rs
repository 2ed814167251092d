//! The CLI's side of approvals: `cordon approvals NAME`, `cordon approve NAME ID`,
//! `cordon deny NAME ID`, each one request to the sandbox's supervisor (pending
//! requests live only in a running supervisor, so a stopped sandbox has none).

use cordon_control::api::{self, Approval, Approve, Approved};
use cordon_control::{Client, Reply};
use http::{Method, StatusCode};

use super::client::block_on;
use crate::error::SupervisorError;
use crate::state::{SandboxDir, StateRoot};

/// The control client of `name`, which must be running, and the directory handle its
/// socket path goes through (`/proc/self/fd/N/...`: keep it while the client is used).
fn running(root: &StateRoot, name: &str) -> Result<(SandboxDir, Client), SupervisorError> {
    let dir = root.sandbox(name)?;
    if !dir.supervisor_alive()? {
        return Err(SupervisorError::NotRunning(name.to_owned()));
    }
    let client = Client::new(&dir.control_socket());
    Ok((dir, client))
}

/// A non-2xx answer as an error: `not_found` is an unknown id, a bare 404 a supervisor
/// from before approvals existed.
fn refused(name: &str, reply: &Reply) -> SupervisorError {
    let error = reply.error();
    match (reply.status, error.error.as_str()) {
        (StatusCode::NOT_FOUND, "not_found") => SupervisorError::NoSuchApproval(error.message),
        (StatusCode::NOT_FOUND, _) => SupervisorError::Refused(format!(
            "the supervisor of {name} does not serve approvals (restart the sandbox with this cordon: `cordon stop {name} && cordon start {name}`)"
        )),
        _ => SupervisorError::Refused(error.message),
    }
}

/// The pending approvals of `name`, oldest first.
pub fn approvals(root: &StateRoot, name: &str) -> Result<Vec<Approval>, SupervisorError> {
    let (_dir, client) = running(root, name)?;
    let reply = block_on(client.request(Method::GET, api::APPROVALS, None::<&()>))??;
    if !reply.status.is_success() {
        return Err(refused(name, &reply));
    }
    Ok(reply.json()?)
}

/// Approves request `id` of `name`: a new policy generation allows it.
pub fn approve(
    root: &StateRoot,
    name: &str,
    id: &str,
    options: &Approve,
) -> Result<Approved, SupervisorError> {
    let (_dir, client) = running(root, name)?;
    let path = format!("{}/{id}/approve", api::APPROVALS);
    let reply = block_on(client.request(Method::POST, &path, Some(options)))??;
    if !reply.status.is_success() {
        return Err(refused(name, &reply));
    }
    Ok(reply.json()?)
}

/// Dismisses request `id` of `name`.
pub fn deny(root: &StateRoot, name: &str, id: &str) -> Result<(), SupervisorError> {
    let (_dir, client) = running(root, name)?;
    let path = format!("{}/{id}/deny", api::APPROVALS);
    let reply = block_on(client.request(Method::POST, &path, None::<&()>))??;
    if !reply.status.is_success() {
        return Err(refused(name, &reply));
    }
    Ok(())
}
