#!/usr/bin/env bash
# Retrains the violation-object detector from scratch, reproducibly, in one command:
#   1. a training virtualenv (.venv-train) from models/requirements-train.txt (PyTorch, ONNX);
#   2. the simulated dataset (`sim dataset`, fixed seed) unless it is already rendered;
#   3. training in six stages: from scratch; twice fine-tuning with the images the stage before
#      gets wrong (mine.py) shown more often; then on a second render of the same districts whose
#      training views aim one in ten at a café umbrella (the look-alike most often read as a
#      stall), plain and once more with its mistakes mined; then on a third whose training views
#      are also one in five posed like the patrol camera through the agent's tiles (nearly nadir
#      from 80–120 m, where a bag pile is 10–20 px), with its mistakes mined (fixed seeds; every
#      stage's data SHA-256 goes into the manifest);
#   4. ONNX export + manifest into models/argus-det, checked against PyTorch;
#   5. evaluation through ONNX Runtime and the model card.
# Environment: ARGUS_DATA (default ./data), IMAGES (8000), EPOCHS (14, from scratch), VERSION (0.5.3).
# Not part of the run or test path: CI never trains.
# These defaults make the shipped argus-det 0.5.3 (about 6 h on 2 cores; its stage 2 stopped
# after 4 of its 5 epochs): on the 800-image test district it scores AP50 stall 0.872, waste
# 0.865, shed 0.912 where 0.2.0, the model it replaces, scored 0.746, 0.840, 0.871; and 0.399 on
# the real bag holdout (0.2.0: 0.285). Before shipping a retrained model, run the agent's patrol
# test (`cargo test -p argus-edge-agent --test agent -- a_patrol`) and the demo on a few seeds:
# its small bag pile V0014 is on the edge (0.5.3 scores it at most 0.506 where a track needs 0.5;
# the epoch before scored 0.484 and lost it).
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
# The same districts and validation and test images, with a tenth of the training views at
# umbrellas, and then also a fifth posed like the patrol camera through the agent's tiles.
ds_u="$ds-u10"
ds_p="$ds-u10p20"
for d in "$ds 0 0" "$ds_u 0.1 0" "$ds_p 0.1 0.2"; do
  read -r dir umbrellas patrol <<<"$d"
  if [ ! -f "$dir/dataset.json" ]; then
    cargo build --release --locked -p argus-sim --bin sim
    "$root/target/release/sim" dataset --out "$dir" --images "$images" --seed 1 --size 640x640 \
      --umbrella-share "$umbrellas" --patrol-share "$patrol"
  fi
done
run="$data/runs/argus-det-$(date +%Y%m%d-%H%M%S)"
py="$venv/bin/python"
# Stage 1: from scratch. Stages 2 and 3 fine-tune on the same data with the images the stage
# before gets wrong (mined by mine.py; stage 3 also counts its fainter false detections) shown
# more often, half the time cropped around a mistake, and the real bag photos shown more often.
"$py" models/detector/train.py --data "$ds" --out "$run/stage1" --epochs "${EPOCHS:-14}" --val-every 2
"$py" models/detector/mine.py --checkpoint "$run/stage1/checkpoint.pt" --data "$ds" --out "$run/stage1/hard.json"
"$py" models/detector/train.py --data "$ds" --out "$run/stage2" --init "$run/stage1/checkpoint.pt" \
  --hard "$run/stage1/hard.json" --hard-repeat 1 --hard-focus 0.5 --real-repeat 4 --lr 1e-3 --epochs 5 --val-every 2
"$py" models/detector/mine.py --checkpoint "$run/stage2/checkpoint.pt" --data "$ds" --out "$run/stage2/hard.json" --score 0.2
"$py" models/detector/train.py --data "$ds" --out "$run/stage3" --init "$run/stage2/checkpoint.pt" \
  --hard "$run/stage2/hard.json" --hard-repeat 1 --hard-focus 0.5 --real-repeat 4 --lr 5e-4 --epochs 3 --val-every 1
# Stages 4 and 5: the umbrella views, first plain, then with that data's mistakes mined again.
"$py" models/detector/train.py --data "$ds_u" --out "$run/stage4" --init "$run/stage3/checkpoint.pt" \
  --real-repeat 4 --lr 5e-4 --epochs 2 --val-every 1
"$py" models/detector/mine.py --checkpoint "$run/stage4/checkpoint.pt" --data "$ds_u" --out "$run/stage4/hard.json" --score 0.2
"$py" models/detector/train.py --data "$ds_u" --out "$run/stage5" --init "$run/stage4/checkpoint.pt" \
  --hard "$run/stage4/hard.json" --hard-repeat 1 --hard-focus 0.5 --real-repeat 4 --lr 5e-4 --epochs 3 --val-every 1
# Stage 6: the patrol-posed views, with the mistakes stage 5 makes on them mined.
"$py" models/detector/mine.py --checkpoint "$run/stage5/checkpoint.pt" --data "$ds_p" --out "$run/stage5/hard.json" --score 0.2
"$py" models/detector/train.py --data "$ds_p" --out "$run/stage6" --init "$run/stage5/checkpoint.pt" \
  --hard "$run/stage5/hard.json" --hard-repeat 1 --hard-focus 0.5 --real-repeat 4 --lr 5e-4 --epochs 3 --val-every 1
"$py" models/detector/export.py --checkpoint "$run/stage6/checkpoint.pt" --out models/argus-det --version "${VERSION:-0.5.3}"
"$py" models/detector/card.py --model models/argus-det --data "$ds"
