//! Keeps `libtorch_cuda` linked into this package's tests, examples and benches.
//!
//! The default linker flag `--as-needed` drops `libtorch_cuda.so` from binaries that call no CUDA
//! symbol directly, and then libtorch reports no GPU even on a GPU machine. When the libtorch that
//! torch-sys found ships `libtorch_cuda.so`, link it unconditionally; a CPU-only libtorch is left
//! alone. Binaries of other crates that use libtorch on CUDA need the same flags: the
//! `recimpute-cli` package runs this same file as its build script.

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        if std::path::Path::new(&dir).join("libtorch_cuda.so").exists() {
            println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
            println!("cargo:rustc-link-arg=-ltorch_cuda");
            println!("cargo:rustc-link-arg=-Wl,--as-needed");
        }
    }
}
