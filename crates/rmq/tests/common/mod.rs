//! Shared test support. Each test binary uses a different subset.
#![allow(dead_code, unreachable_pub)]

pub mod broker;
pub mod canonical;
pub mod fake;
pub mod fake_cluster;
pub mod java;
pub mod side_cluster;
