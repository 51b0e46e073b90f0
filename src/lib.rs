//! demogen: a gRPC service that writes PagerDuty demo incidents (narrative, alert stream, change events),
//! stores them per organization and plays them into PagerDuty on a schedule.
#![forbid(unsafe_code)]

pub mod api;
pub mod config;
pub mod diagnostics;
pub mod dispatch;
pub mod generate;
pub mod llm;
pub mod prompts;
pub mod retry;
pub mod scenario;
pub mod server;
pub mod storage;
pub mod template;

/// Generated protobuf and gRPC code of `demogen.v1`.
pub mod pb {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("demogen.v1");
}
