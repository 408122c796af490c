//! The gateway's behaviour at its public API: management operations, route selection,
//! Lambda proxy payloads and response mapping (through an in-test `LambdaInvoker`), HTTP
//! integrations (against real HTTP and HTTPS backends on 127.0.0.1:0), throttling, CORS,
//! authorizers and OpenAPI import.

mod support;

mod auth;
mod http;
mod https;
mod import;
mod lambda;
mod manage;
mod permissions;
mod routing;
