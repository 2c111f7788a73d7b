#!/usr/bin/env bash
# Runs the official protobuf conformance suite against the crate: builds (or
# takes from its cache) the runner, builds the testee with the suite's
# messages compiled by the crate's own build.rs, and runs every proto3 test
# with --enforce_recommended. Tests expected to fail are listed, each with its
# reason, in failure_list.txt; the runner fails on any other failure and on
# any listed test that passes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")

# Every entry of the failure list says why, on its own line.
if grep -vE '^\s*(#|$)' "$here/failure_list.txt" | grep -vq '#'; then
    echo "conformance/failure_list.txt: every entry needs a '# reason'" >&2
    grep -vE '^\s*(#|$)' "$here/failure_list.txt" | grep -v '#' >&2
    exit 1
fi

cache=$("$here/build-runner.sh")
target=${CARGO_TARGET_DIR:-$root/target}/conformance
CLOUD_REPORT_CONFORMANCE_PROTOS="$cache/protos" \
    cargo build --quiet --manifest-path "$here/testee/Cargo.toml" --target-dir "$target"
testee="$target/debug/cloud-report-conformance-testee"

"$cache/conformance_test_runner" \
    --enforce_recommended \
    --failure_list "$here/failure_list.txt" \
    --output_dir "$target" \
    "$testee"
