#!/usr/bin/env bash
# Clean build times of two small consumers, one of cloud-report-proto
# (default features) and one of google-cloud-api-servicecontrol-v1 (default
# features), side by side in one run: debug and release, each from an empty
# target directory, with crates already downloaded. Prints the times and
# their ratio. Usage: bench/build-cost/run.sh (from anywhere).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

build() { # crate profile-flag
  local start end
  start=$(date +%s.%N)
  CARGO_TARGET_DIR="$scratch/$1$2" cargo build --quiet $2 --manifest-path "$here/$1/Cargo.toml"
  end=$(date +%s.%N)
  echo "$end - $start" | bc
}

for crate in ours official; do
  cargo fetch --quiet --manifest-path "$here/$crate/Cargo.toml"
done
declare -A seconds
for profile in "" --release; do
  for crate in ours official; do
    seconds[$crate$profile]=$(build "$crate" "$profile")
  done
done
for profile in "" --release; do
  name=${profile:-debug}
  printf '%-9s ours %6.1f s   official %6.1f s   ours/official %.2f\n' "${name#--}" \
    "${seconds[ours$profile]}" "${seconds[official$profile]}" \
    "$(echo "${seconds[ours$profile]} / ${seconds[official$profile]}" | bc -l)"
done
