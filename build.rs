//! Compiles `proto/` with protox (no protoc needed), then generates
//! (`build/codegen/`) the messages with their own binary code (prost's
//! `Message` trait, unknown fields kept), the tonic stubs (through
//! tonic-prost-build's service generator), the canonical-JSON code and the
//! Any registry table, and the file descriptor set the crate re-exports. The well-known types are our own copies under
//! `proto/google/protobuf/` (protox prefers them to its bundled ones), so they
//! carry documentation like every other type.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::{env, fs};

#[path = "build/codegen/mod.rs"]
mod codegen;

/// The variable naming a directory with the conformance suite's protos.
const CONFORMANCE_PROTOS: &str = "CLOUD_REPORT_CONFORMANCE_PROTOS";

/// The conformance suite's protos the testee needs, relative to that
/// directory (the well-known types they import are the crate's own).
const CONFORMANCE_FILES: [&str; 2] = [
    "conformance/conformance.proto",
    "google/protobuf/test_messages_proto3.proto",
];

fn proto_files(dir: &Path, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            proto_files(&path, found)?;
        } else if path.extension().is_some_and(|e| e == "proto") {
            found.push(path);
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    // compile_fds prints no rerun-if-changed lines; cargo scans directories.
    println!("cargo:rerun-if-changed=proto");
    println!("cargo:rerun-if-changed=build");
    println!("cargo:rerun-if-changed=build.rs");

    let mut files = Vec::new();
    proto_files(Path::new("proto"), &mut files)?;
    files.sort();
    let mut relative: Vec<PathBuf> = files
        .iter()
        .map(|f| f.strip_prefix("proto").map(Path::to_path_buf))
        .collect::<Result<_, _>>()?;

    // The protobuf conformance suite's messages, compiled by this same
    // pipeline for the conformance testee (conformance/testee) only: the
    // variable names a directory holding them, which conformance/run.sh
    // takes from the protobuf sources.
    let mut includes = vec![PathBuf::from("proto")];
    println!("cargo:rerun-if-env-changed={CONFORMANCE_PROTOS}");
    println!("cargo::rustc-check-cfg=cfg(conformance_protos)");
    if let Some(dir) = env::var_os(CONFORMANCE_PROTOS) {
        let dir = PathBuf::from(dir);
        for file in CONFORMANCE_FILES {
            if !dir.join(file).is_file() {
                return Err(format!("{CONFORMANCE_PROTOS}: no {file} in {}", dir.display()).into());
            }
            println!("cargo:rerun-if-changed={}", dir.join(file).display());
            relative.push(PathBuf::from(file));
        }
        includes.push(dir);
        println!("cargo::rustc-cfg=conformance_protos");
    }

    let compile = |source_info: bool| -> Result<protox::Compiler, protox::Error> {
        let mut compiler = protox::Compiler::new(&includes)?;
        compiler
            .include_imports(true)
            .include_source_info(source_info);
        compiler.open_files(&relative)?;
        Ok(compiler)
    };

    // The exported set is encoded by protox itself: converting to prost-types
    // would drop the options it does not model, such as google.api.http.
    // Source info (comments) is left out to keep it small.
    fs::write(
        out_dir.join("file_descriptor_set.bin"),
        compile(false)?.encode_file_descriptor_set(),
    )?;

    // Code generation reads the comments, which become rustdoc.
    let pool = compile(true)?.descriptor_pool();
    let model = codegen::Model::new(&pool);
    let grpc = env::var_os("CARGO_FEATURE_GRPC").is_some();
    for (name, contents) in codegen::types(&model, grpc) {
        fs::write(out_dir.join(name), contents)?;
    }

    if env::var_os("CARGO_FEATURE_JSON").is_some() {
        let generated = codegen::generate(&model);
        for (name, contents) in generated.packages {
            fs::write(out_dir.join(name), contents)?;
        }
        fs::write(out_dir.join("registry_entries.rs"), generated.registry)?;
        fs::write(out_dir.join("http_bindings.rs"), generated.bindings)?;
        fs::write(out_dir.join("unary_methods.rs"), generated.unary_methods)?;
        fs::write(out_dir.join("schema_table.rs"), generated.schema)?;
        for (name, contents) in generated.rest_clients {
            fs::write(out_dir.join(name), contents)?;
        }
    }
    Ok(())
}
