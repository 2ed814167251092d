mod common;

mod audit;
mod clients;
mod connect;
mod forward;
mod identity;
mod limits;
mod private;
mod reload;
mod rootless;
mod sandbox_scope;
mod ssrf;
mod tls_rest;
mod tls_skip;
mod tls_smuggle;
mod tls_support;
mod tls_ws;
