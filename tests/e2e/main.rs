//! End-to-end tests: each drives the real `msgstore` binary on a store in a
//! temporary directory. One test binary (faster to build and link than many).

mod cli;
mod commands;
mod damage;
mod mta;
mod packaging;
mod promises;
mod regressions;
mod serve;
mod serve_security;
mod server_faults;
mod set_aside;
mod transfer;
mod users;
mod util;
