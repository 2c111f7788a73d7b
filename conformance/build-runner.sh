#!/usr/bin/env bash
# Builds the official protobuf conformance test runner from the protobuf
# sources that the crates.io package protobuf-src ships (2.1.1+27.1, that is
# protobuf 27.2), and caches it outside the repository, beside the suite's
# .proto files that the testee compiles (under protos/). Prints the cache
# directory on stdout; everything else goes to stderr.
#
# Built unoptimized (CMAKE_BUILD_TYPE=None; CONFORMANCE_BUILD_TYPE overrides
# it): that halves the compile, about 20 minutes of CPU (some 12 minutes on 2
# cores), and the suite still runs in seconds. Instant once cached.
# CONFORMANCE_CACHE overrides the cache directory.
set -euo pipefail

VERSION=2.1.1+27.1
CACHE=${CONFORMANCE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cloud-report-proto/conformance-$VERSION}
RUNNER=$CACHE/conformance_test_runner
PROTOS=$CACHE/protos
if [ -x "$RUNNER" ] && [ -d "$PROTOS" ]; then
    echo "$CACHE"
    exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The sources, through cargo (the registry is reachable where crates are).
mkdir -p "$work/fetch/src"
touch "$work/fetch/src/lib.rs"
cat >"$work/fetch/Cargo.toml" <<MANIFEST
[package]
name = "fetch-protobuf-src"
version = "0.0.0"
edition = "2021"

[dependencies]
protobuf-src = "=$VERSION"
MANIFEST
cargo fetch --manifest-path "$work/fetch/Cargo.toml" >&2
crate=$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/"protobuf-src-$VERSION.crate" | head -1)
tar xzf "$crate" -C "$work"
src="$work/protobuf-src-$VERSION/protobuf"

if [ ! -d "$PROTOS" ]; then
    mkdir -p "$CACHE/.protos.partial/conformance" "$CACHE/.protos.partial/google/protobuf"
    cp "$src/conformance/conformance.proto" "$CACHE/.protos.partial/conformance/"
    cp "$src/src/google/protobuf/test_messages_proto3.proto" "$CACHE/.protos.partial/google/protobuf/"
    mv "$CACHE/.protos.partial" "$PROTOS"
fi

if [ ! -x "$RUNNER" ]; then
    # The tools: cmake, a C++ compiler and Debian's jsoncpp.
    missing=()
    command -v cmake >/dev/null || missing+=(cmake)
    command -v c++ >/dev/null || missing+=(g++)
    [ -f /usr/include/jsoncpp/json/json.h ] || missing+=(libjsoncpp-dev)
    if ((${#missing[@]})); then
        sudo=""
        [ "$(id -u)" = 0 ] || sudo=sudo
        echo "installing ${missing[*]}" >&2
        $sudo apt-get install -y "${missing[@]}" >&2 ||
            { $sudo apt-get update >&2 && $sudo apt-get install -y "${missing[@]}" >&2; }
    fi

    # Debian names jsoncpp's CMake target jsoncpp_lib, not jsoncpp.
    sed -i 's/target_link_libraries(conformance_test_runner jsoncpp)/target_link_libraries(conformance_test_runner jsoncpp_lib)/' \
        "$src/cmake/conformance.cmake"

    cmake -S "$src" -B "$work/build" \
        -DCMAKE_BUILD_TYPE=${CONFORMANCE_BUILD_TYPE:-None} \
        -Dprotobuf_BUILD_CONFORMANCE=ON \
        -Dprotobuf_JSONCPP_PROVIDER=package \
        -Dprotobuf_BUILD_TESTS=OFF \
        -Dprotobuf_BUILD_EXAMPLES=OFF >&2
    cmake --build "$work/build" --target conformance_test_runner -j "$(nproc)" >&2

    cp "$work/build/conformance_test_runner" "$CACHE/.runner.partial"
    mv "$CACHE/.runner.partial" "$RUNNER"
fi
echo "$CACHE"
