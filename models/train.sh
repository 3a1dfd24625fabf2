#!/usr/bin/env bash
# Retrains the violation-object detector from scratch, reproducibly, in one command:
#   1. a training virtualenv (.venv-train) from models/requirements-train.txt (PyTorch, ONNX);
#   2. the simulated dataset (`sim dataset`, fixed seed) unless it is already rendered;
#   3. training (fixed seeds; the data's SHA-256 goes into the manifest);
#   4. ONNX export + manifest into models/argus-det, checked against PyTorch;
#   5. evaluation through ONNX Runtime and the model card.
# Environment: ARGUS_DATA (default ./data), IMAGES (8000), EPOCHS (14), VERSION (0.3.0).
# Not part of the run or test path: CI never trains.
# The shipped models/argus-det is 0.2.0 (6 training districts, 18 epochs on 5,000 images). These
# defaults (48 districts, 14 epochs on 8,000 images, EMA weights, rescale jitter) make the 0.3.0
# candidate, not shipped: on the 800-image test district it scores AP50 stall 0.806, waste 0.829,
# shed 0.887 where 0.2.0 scores 0.746, 0.840, 0.871 on the same images, but 0.193 on the real
# bag holdout where 0.2.0 scores 0.285. Neither reaches the 0.85 goal for stall and waste.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
./scripts/bootstrap.sh
venv="$root/.venv-train"
stamp="$venv/.requirements.sha256"
want="$(sha256sum models/requirements-train.txt | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setting up $venv (PyTorch is large: several GB)…" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r models/requirements-train.txt
  echo "$want" >"$stamp"
fi
data="${ARGUS_DATA:-$root/data}"
images="${IMAGES:-8000}"
ds="$data/datasets/sim-v3-seed1-$images"
if [ ! -f "$ds/dataset.json" ]; then
  cargo build --release --locked -p argus-sim --bin sim
  "$root/target/release/sim" dataset --out "$ds" --images "$images" --seed 1 --size 640x640
fi
run="$data/runs/argus-det-$(date +%Y%m%d-%H%M%S)"
"$venv/bin/python" models/detector/train.py --data "$ds" --out "$run" --epochs "${EPOCHS:-14}" --val-every 2
"$venv/bin/python" models/detector/export.py --checkpoint "$run/checkpoint.pt" --out models/argus-det --version "${VERSION:-0.3.0}"
cp "$run/train_log.jsonl" models/argus-det/train_log.jsonl
# The run's settings, naming the dataset rather than this machine's folders.
"$venv/bin/python" - "$run/train_info.json" "$(basename "$ds")" models/argus-det/train_info.json <<'PY'
import json, sys
info = json.load(open(sys.argv[1]))
info["settings"].update(data=sys.argv[2], trashbags="../shared/data/trashbags", out="(run folder)")
json.dump(info, open(sys.argv[3], "w"), indent=2)
PY
"$venv/bin/python" models/detector/card.py --model models/argus-det --data "$ds"
