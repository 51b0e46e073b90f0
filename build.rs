//! Compiles the protos with protox (no system `protoc` needed) and writes the descriptor set that gRPC
//! reflection serves.
use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let descriptor_set = protox::compile(["demogen/v1/demogen.proto"], ["proto"])?;
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out_dir.join("demogen_descriptor.bin"), descriptor_set.encode_to_vec())?;
    tonic_prost_build::configure().build_client(true).build_server(true).compile_fds(descriptor_set)?;
    Ok(())
}
