#!/usr/bin/env bash
# Runs the whole test suite: every crate's unit tests, the integration tests (real GStreamer
# pipelines, a real RTSP client) and the doc tests. Installs what it needs first.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
./scripts/bootstrap.sh
cargo test --workspace --doc --locked
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --all-targets --locked --profile "${NEXTEST_PROFILE:-default}"
else
  cargo test --workspace --all-targets --locked
fi
