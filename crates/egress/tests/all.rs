//! Integration tests of cordon-egress: the proxy runs in this process on 127.0.0.1:0,
//! test servers run on 127.0.0.1/::1, and real clients (curl, python3, git, wget,
//! node) talk through it. Binary identity is resolved in host scope.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod suite;
