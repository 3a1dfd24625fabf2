#!/usr/bin/env bash
# The demo: the whole mission on this machine, on embedded defaults. A simulated district;
# triage schedules a patrol that a simulated DJI dock flies over the Cloud API, a live street
# camera's stall sends the dock's drone to look; the edge agent analyses both → triage's
# embedded MQTT broker → tickets; a summary against the simulator's truth (also written to
# summary.json); the dashboard left running at the printed URL (Ctrl-C stops it). Installs what
# it needs first.
#   OUT (default: out/demo)       where to write
#   any other arguments go to argus-demo (`--help` lists them, e.g. --exit, --http ADDR)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
./scripts/bootstrap.sh
echo "building the simulator, the edge agent, triage and the demo (release)…" >&2
cargo build --release --locked -p argus-sim -p argus-edge-agent -p argus-triage -p argus --bins
exec "$root/target/release/argus-demo" --out "${OUT:-$root/out/demo}" "$@"
