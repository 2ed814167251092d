//! cordon-inference: the router behind `inference.local`.
#![forbid(unsafe_code)]
