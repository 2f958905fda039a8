//! What ptenv decides about registries without asking one: image references and which token
//! services it may send a login to. Talking to a registry is the binary's `registry` module.

pub mod realm;
pub mod reference;

pub use reference::Reference;
