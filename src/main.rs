//! The `chartgate` binary: see [`chartgate::cli`].
#![forbid(unsafe_code)]

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    chartgate::cli::main()
}

#[cfg(target_arch = "wasm32")]
fn main() {}
