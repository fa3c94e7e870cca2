//! The integration tests, as one binary (as ripgrep and dropshot do): one link instead of one
//! per file, with the helpers they share in [`support`]. One module per area; run one with
//! `cargo test --test it execute::`. `temporal` also needs `--features temporal` and the
//! Temporal CLI.

mod support;

mod addresses;
mod canary;
mod cli;
mod cli_habits;
mod client;
mod convert;
mod emulator;
mod exactly_once;
mod execute;
mod fixtures;
mod hostile;
mod input_schema;
mod layout;
mod load;
mod numbers;
mod properties;
mod reference;
mod serve;
mod slow_clients;
mod task;
#[cfg(feature = "temporal")]
mod temporal;
