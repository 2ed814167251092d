//! One HTTP/1.1 request over the control socket (hyper's connection API; no pool, no
//! retries: every CLI call is one request to one supervisor).

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::UnixStream;

use crate::api::ApiError;
use crate::error::ControlError;

/// Longest a request may take before the supervisor counts as unresponsive.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The control socket of one sandbox.
#[derive(Debug, Clone)]
pub struct Client {
    path: PathBuf,
}

/// A supervisor's answer.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Reply {
    /// Decodes a successful answer.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ControlError> {
        serde_json::from_slice(&self.body).map_err(|e| ControlError::Malformed(e.to_string()))
    }

    /// The error of a non-2xx answer (a generic one if the body is not an [`ApiError`]).
    pub fn error(&self) -> ApiError {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| {
            ApiError::new(
                "http",
                format!(
                    "HTTP {}: {}",
                    self.status,
                    String::from_utf8_lossy(&self.body)
                ),
            )
        })
    }
}

impl Client {
    /// A client for the socket at `path`.
    pub fn new(path: &Path) -> Client {
        Client {
            path: path.to_owned(),
        }
    }

    /// `method path` with an optional JSON body.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<Reply, ControlError> {
        tokio::time::timeout(REQUEST_TIMEOUT, self.exchange(method, path, body))
            .await
            .map_err(|_| ControlError::Http("the supervisor did not answer in time".into()))?
    }

    async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<Reply, ControlError> {
        let stream =
            UnixStream::connect(&self.path)
                .await
                .map_err(|source| ControlError::Connect {
                    path: self.path.clone(),
                    source,
                })?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| ControlError::Http(e.to_string()))?;
        tokio::spawn(connection);
        let bytes = match body {
            Some(body) => {
                serde_json::to_vec(body).map_err(|e| ControlError::Http(e.to_string()))?
            }
            None => Vec::new(),
        };
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, "cordon")
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(bytes)))
            .map_err(|e| ControlError::Http(e.to_string()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| ControlError::Http(e.to_string()))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| ControlError::Http(e.to_string()))?
            .to_bytes();
        Ok(Reply { status, body })
    }
}
