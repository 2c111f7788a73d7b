#!/usr/bin/env bash
# Runs the official protobuf conformance suite against the crate: builds (or
# takes from its cache) the runner, builds the testee with the suite's
# messages compiled by the crate's own build.rs, and runs every proto3 test
# with --enforce_recommended. There is no failure list: the runner fails on
# any failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")

cache=$("$here/build-runner.sh")
target=${CARGO_TARGET_DIR:-$root/target}/conformance
CLOUD_REPORT_CONFORMANCE_PROTOS="$cache/protos" \
    cargo build --quiet --manifest-path "$here/testee/Cargo.toml" --target-dir "$target"
testee="$target/debug/cloud-report-conformance-testee"

"$cache/conformance_test_runner" \
    --enforce_recommended \
    --output_dir "$target" \
    "$testee"
