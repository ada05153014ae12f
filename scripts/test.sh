#!/usr/bin/env bash
# Runs the whole test suite on a fresh or a warm machine: installs the system packages
# the build needs, then builds and runs every test (unit, property, and the black-box
# tests that start real `cirrus serve` processes).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
cargo fmt --all -- --check
cargo test --workspace --all-targets "$@"
