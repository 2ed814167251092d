//! Which inference APIs `inference.local` serves, and how a request path maps to the
//! provider's. Anything else is refused: the router is not a general proxy to the
//! provider (that would hand the agent every API the key can reach, including
//! billing, files and fine-tuning).

use http::Method;

/// One supported API operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiEndpoint {
    /// OpenAI `POST /v1/chat/completions`.
    ChatCompletions,
    /// OpenAI `POST /v1/completions` (legacy text completions).
    Completions,
    /// OpenAI `POST /v1/responses`.
    Responses,
    /// OpenAI `POST /v1/embeddings`.
    Embeddings,
    /// OpenAI `GET /v1/models` and `GET /v1/models/{id}`.
    Models,
    /// Anthropic `POST /v1/messages`.
    Messages,
    /// Anthropic `POST /v1/messages/count_tokens`.
    CountTokens,
}

/// A request the router will not serve, and the status to answer with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unsupported {
    /// Unknown path: 404.
    Path,
    /// Known path, wrong method: 405 with the allowed one.
    Method(Method),
}

impl ApiEndpoint {
    /// Classifies `path` (without query); returns the endpoint and the suffix that
    /// follows the provider's base path (`/chat/completions`). The `/v1` prefix is
    /// optional, for clients configured with `http://inference.local` as their base.
    pub fn classify(method: &Method, path: &str) -> Result<(ApiEndpoint, String), Unsupported> {
        let suffix = path.strip_prefix("/v1").unwrap_or(path);
        let endpoint = match suffix {
            "/chat/completions" => ApiEndpoint::ChatCompletions,
            "/completions" => ApiEndpoint::Completions,
            "/responses" => ApiEndpoint::Responses,
            "/embeddings" => ApiEndpoint::Embeddings,
            "/models" => ApiEndpoint::Models,
            "/messages" => ApiEndpoint::Messages,
            "/messages/count_tokens" => ApiEndpoint::CountTokens,
            other => match other.strip_prefix("/models/") {
                Some(id) if is_plain_model_id(id) => ApiEndpoint::Models,
                _ => return Err(Unsupported::Path),
            },
        };
        if *method != endpoint.method() {
            return Err(Unsupported::Method(endpoint.method()));
        }
        Ok((endpoint, suffix.to_owned()))
    }

    /// The one method the endpoint accepts.
    pub fn method(self) -> Method {
        match self {
            ApiEndpoint::Models => Method::GET,
            _ => Method::POST,
        }
    }

    /// Whether a JSON request body names a `model` the route may rewrite.
    pub fn has_model_in_body(self) -> bool {
        self != ApiEndpoint::Models
    }

    /// Whether `"stream": true` in the body makes the response an SSE stream.
    pub fn can_stream(self) -> bool {
        matches!(
            self,
            ApiEndpoint::ChatCompletions
                | ApiEndpoint::Completions
                | ApiEndpoint::Responses
                | ApiEndpoint::Messages
        )
    }

    /// Whether OpenAI's `stream_options.include_usage` applies: without it, OpenAI
    /// streams carry no token counts and budgets could not see them.
    pub fn wants_stream_usage_option(self) -> bool {
        matches!(
            self,
            ApiEndpoint::ChatCompletions | ApiEndpoint::Completions
        )
    }
}

/// A model id in a path (`meta/llama-3.1-8b-instruct` has a slash): no empty, `.` or
/// `..` segments and no percent-encoding, so the upstream cannot normalise it into
/// another API's path.
fn is_plain_model_id(id: &str) -> bool {
    !id.contains('%')
        && id
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supported_paths_with_and_without_v1() {
        let post = Method::POST;
        assert_eq!(
            ApiEndpoint::classify(&post, "/v1/chat/completions").unwrap(),
            (ApiEndpoint::ChatCompletions, "/chat/completions".into())
        );
        assert_eq!(
            ApiEndpoint::classify(&post, "/messages").unwrap().0,
            ApiEndpoint::Messages
        );
        assert_eq!(
            ApiEndpoint::classify(&Method::GET, "/v1/models/gpt-4o").unwrap(),
            (ApiEndpoint::Models, "/models/gpt-4o".into())
        );
    }

    #[test]
    fn everything_else_is_refused() {
        for path in [
            "/v1/files",
            "/v1/fine_tuning/jobs",
            "/",
            "/v1/models/../files",
            "/v1/models/%2e%2e/files",
            "/v1/models/a//b",
            "/v2/chat/completions",
        ] {
            assert_eq!(
                ApiEndpoint::classify(&Method::POST, path),
                Err(Unsupported::Path),
                "{path}"
            );
        }
        assert_eq!(
            ApiEndpoint::classify(&Method::GET, "/v1/chat/completions"),
            Err(Unsupported::Method(Method::POST))
        );
    }
}
