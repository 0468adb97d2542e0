//! The `chartgate` binary: see [`chartgate::cli`]. Native only: wasm32 builds are libraries.
#![forbid(unsafe_code)]
#![cfg_attr(target_arch = "wasm32", no_main)]

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    chartgate::cli::main()
}
