#!/usr/bin/env bash
# Builds and runs Cirrus with the embedded defaults (one node, ./cirrus-data,
# 127.0.0.1:8000). Extra arguments go to `cirrus serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
cargo run --release --bin cirrus -- serve "$@"
