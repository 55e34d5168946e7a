//! The adapter that runs boxoffice's Spin components, unchanged, on a wasmCloud 2 host.
//!
//! A wasmCloud 2.10 host provides no `fermyon:spin/*` interface. This component exports the
//! ones the services import (`wit/service.wit`) and implements each with what the host
//! has; composed with a service (`wac plug`), it leaves only imports the host serves:
//!
//! | Spin import                     | served with                          | module        |
//! |---------------------------------|--------------------------------------|---------------|
//! | `fermyon:spin/key-value@2.0.0`  | `wasi:keyvalue/store@0.2.0-draft`    | [`key_value`] |
//! | `fermyon:spin/variables@2.0.0`  | `wasi:config/store@0.2.0-rc.1`       | [`variables`] |
//! | `fermyon:spin/postgres@2.0.0`   | `wasmcloud:postgres/query@0.1.1-draft` | [`postgres`] |
//! | `fermyon:spin/sqlite@2.0.0`     | nothing: a clear error names Postgres | [`sqlite`]   |
//!
//! Where Spin's semantics cannot be kept exactly, the module says so.

mod bindings {
    include!(concat!(env!("OUT_DIR"), "/bindings.rs"));
}

pub mod key_value;
pub mod postgres;
pub mod sqlite;
pub mod statement;
pub mod values;
pub mod variables;

/// The component: one type that implements every exported interface.
pub struct Adapter;

// Natively (the unit tests) there is nothing to export, and the export names, which hold
// `:` and `@`, are not valid native symbols.
#[cfg(target_arch = "wasm32")]
bindings::export!(Adapter with_types_in bindings);
