//! The baseline for the binary benchmarks: the crate's own `.proto` files
//! compiled by prost-build into prost's derived code (`#[derive(Message)]`),
//! as the crate's messages were before they got their own binary code.

use std::path::{Path, PathBuf};

fn protos(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            protos(&path, found);
        } else if path.extension().is_some_and(|e| e == "proto") {
            found.push(path);
        }
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    protos(&root, &mut files);
    let relative: Vec<PathBuf> = files
        .iter()
        .map(|f| f.strip_prefix(&root).unwrap().to_path_buf())
        .collect();
    let mut fds = protox::compile(&relative, [&root]).expect("the crate's protos compile");
    // descriptor.proto is only there for the google.api.http option.
    fds.file
        .retain(|f| f.name() != "google/protobuf/descriptor.proto");
    // buffa, the field's view crate, on the same files: from their
    // descriptors (buffa-build would run protoc otherwise).
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let set = out.join("peers.fds");
    std::fs::write(&set, prost::Message::encode_to_vec(&fds)).unwrap();
    let names: Vec<String> = fds
        .file
        .iter()
        .map(|f| f.name().to_owned())
        .filter(|name| !name.starts_with("google/protobuf/"))
        .collect();
    buffa_build::Config::new()
        .descriptor_set(&set)
        .files(&names)
        .generate_views(true)
        .include_file("buffa.rs")
        .compile()
        .expect("buffa-build generates its peer");
    prost_build::Config::new()
        .compile_well_known_types()
        .btree_map(["."])
        .include_file("derived.rs")
        .compile_fds(fds)
        .expect("prost-build generates the baseline");
}
