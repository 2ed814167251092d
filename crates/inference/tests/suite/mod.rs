//! One module per topic; `common` is the harness.
mod budgets;
mod common;
mod isolation;
mod placeholders;
mod routing;
mod streaming;
mod switching;
mod tls;
