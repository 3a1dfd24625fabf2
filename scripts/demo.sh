#!/usr/bin/env bash
# The demo: generate a simulated district, fly a patrol over it and watch one street camera,
# then print where everything went. Installs what it needs first.
#   OUT (default: out/demo)   where to write
#   PATROL_SECONDS (default 90) how much of the patrol to fly
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
./scripts/bootstrap.sh
out="${OUT:-$root/out/demo}"
secs="${PATROL_SECONDS:-90}"
echo "building the simulator (release)…" >&2
cargo build --release --locked -p argus-sim --bin sim
sim="$root/target/release/sim"
"$sim" district --seed 1 --out "$out/district"
"$sim" flight --district "$out/district" --seed 1 --duration "$secs" --out "$out/patrol"
"$sim" camera --district "$out/district" --seed 1 --duration 20 --out "$out/camera"
cat <<MSG

Demo outputs in $out:
  district/district.geojson  the district: streets, lanes, zones, sites, baseline, jurisdictions, violations
  patrol/flight.mp4          ${secs} s of a 1080p patrol at 100 m (H.264)
  patrol/flight.SRT          its DJI telemetry sidecar (with GPS and gimbal noise)
  patrol/truth.jsonl         per-frame truth: pose, camera, every labelled object with its box
  camera/camera.mp4          a street camera watching a stall and a spoil pile arrive
  camera/camera.json         its surveyed pose, intrinsics and ground control points
MSG
