//! ptenv's core: facts and text in, decisions out. Nothing here talks to the Docker engine,
//! NVML, the terminal or the network, and nothing reads the machine's files: the binary gathers
//! the facts through its adapters, asks these modules, and acts on their answers. The
//! compiler keeps it so, since this crate depends on none of the I/O crates.

#![forbid(unsafe_code)]

pub mod address;
pub mod allocate;
pub mod catalog;
pub mod dependencies;
pub mod doctor;
pub mod error;
pub mod export;
pub mod gpu;
pub mod home;
pub mod identity;
pub mod idle;
pub mod image_facts;
pub mod inspection;
pub mod listing;
pub mod lock;
pub mod modes;
pub mod ownership;
pub mod package_name;
pub mod plan;
pub mod profile;
pub mod project;
pub mod recipe;
pub mod registry;
pub mod select;
pub mod shell;
pub mod size;
pub mod stats;
pub mod target;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
pub mod trust;
pub mod workspace;
