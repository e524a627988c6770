//! NewsRead: a news reader that runs from one SQLite file on a laptop up to a three-tier
//! deployment (load balancer, stateless instances, primary and replica database).
//!
//! Layers, inside out: [`domain`] (validated types), [`storage`] (all SQL), [`ingest`]
//! (getting news in), [`web`] (HTTP), with [`config`] and [`app`] wiring them together.
pub mod app;
pub mod cli;
pub mod config;
pub mod domain;
pub mod ingest;
pub mod media;
pub mod password;
pub mod secrets;
pub mod seed;
pub mod storage;
pub mod telemetry;
pub mod web;
