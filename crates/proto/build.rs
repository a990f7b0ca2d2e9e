//! Generates the tonic/prost code for proto/shopsync/v1 into OUT_DIR. Uses the vendored protoc
//! unless PROTOC is set, so no system protoc is needed.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let protos = [
        "job_queue.proto",
        "worker.proto",
        "tasks.proto",
        "erp.proto",
        "shops.proto",
        "cues.proto",
        "stock.proto",
    ]
    .map(|p| root.join("shopsync/v1").join(p));
    for p in &protos {
        println!("cargo:rerun-if-changed={}", p.display());
    }
    println!("cargo:rerun-if-env-changed=PROTOC");

    let protoc = match std::env::var_os("PROTOC") {
        Some(p) => PathBuf::from(p),
        None => protoc_bin_vendored::protoc_bin_path()?,
    };
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc);
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        .file_descriptor_set_path(out.join("shopsync_descriptor.bin"))
        .compile_with_config(config, &protos, &[root])?;
    Ok(())
}
