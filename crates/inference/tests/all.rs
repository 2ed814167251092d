//! Integration tests of the inference router against fake providers on 127.0.0.1.

mod suite;
