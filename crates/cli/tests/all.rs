//! End-to-end tests of the real `cordon` binary: one test binary, one module per topic.

mod suite;
