//! ptenv's integration tests: one test binary, run with `cargo test --test lib` after
//! `./tests/testbed/setup.sh` (or all of it with `./tests/run.sh`).
//!
//! Each module lives in a folder as `NAME/mod.rs`: cargo builds every `tests/*.rs` file as a
//! test binary of its own, so a module file at the top of `tests/` would be built twice.

mod cli;
mod dependencies;
mod doctor;
mod engine;
mod examples;
mod export;
mod faults;
mod files;
mod gpuengine;
mod home;
mod idle;
mod inspect;
mod lifecycle;
mod lock;
mod modes_jupyter;
mod modes_shell;
mod modes_ssh;
mod parity;
mod registry;
mod remote;
mod select;
mod sharing;
mod support;
mod testbed_smoke;
mod tls;
mod trust;
