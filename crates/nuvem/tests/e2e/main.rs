//! End-to-end tests: the real `nuvem` binary (the one `cargo test` built) driven by real AWS
//! clients over loopback. One test binary for every area, so the SDKs are linked once.

mod dynamo;
mod dynamo_query;
mod edge;
mod edge_waf_body;
mod endpoint;
mod endpoint_auth;
mod functions;
mod functions_runtimes;
mod gateway;
mod gateway_guard;
mod gateway_import;
mod manifest;
mod meusite;
mod meusite_browser;
mod meusite_first_run;
mod request_logs;
mod s3;
mod s3_browser;
mod s3_cli;
mod s3_crash;
mod s3_errors;
mod s3_limits;
mod s3_multipart;
mod startup;
mod waf_api;
