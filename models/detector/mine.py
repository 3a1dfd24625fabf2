"""Finds the training images a trained detector gets wrong (hard-example mining).

    python models/detector/mine.py --checkpoint RUN/checkpoint.pt --data DATASET --out RUN/hard.json

Runs the checkpoint over the simulated training split and counts, per image, the confident
false detections (score >= --score with no same-class object at IoU >= 0.5 and not on an ignore
region; café umbrellas taken for stalls, say) and the missed objects (no same-class detection at
IoU >= 0.5 with that score; dark bag piles on the road, say). Writes them for
every image with at least one, as {"image file": [[x0, y0, x1, y1] of each mistake]};
`train.py --hard FILE` shows those images more often (and with `--hard-focus P` crops them
around a mistake with probability P).
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from data import CLASSES, env_threads, load_rgb, sim_split  # noqa: E402
from evaluate import intersection, iou, predict  # noqa: E402
from model import Detector, Exported  # noqa: E402


def mistakes(dets, boxes, score, match=0.5):
    """(false detections, missed objects) of one image as lists of x0, y0, x1, y1.
    dets: x0, y0, x1, y1, score, class; boxes: class, x0, y0, x1, y1, crowd."""
    dets = [d for d in dets if d[4] >= score]
    real = [b for b in boxes if b[5] == 0]
    crowd = [b for b in boxes if b[5] != 0]

    def hits(d, b):
        return int(d[5]) == int(b[0]) and iou(d[:4], b[1:5]) >= match

    def on_ignore(d):
        # As pycocotools matches crowd regions: the part of the detection inside the region.
        area = max(d[2] - d[0], 1e-6) * max(d[3] - d[1], 1e-6)
        return any(int(b[0]) == int(d[5]) and intersection(d, b[1:5]) / area >= match for b in crowd)

    false = [d[:4] for d in dets if not any(hits(d, b) for b in real) and not on_ignore(d)]
    missed = [b[1:5] for b in real if not any(hits(d, b) for d in dets)]
    return false, missed


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--data", required=True, help="the `sim dataset` folder the checkpoint was trained on")
    ap.add_argument("--out", required=True)
    ap.add_argument("--score", type=float, default=0.3, help="detections below this score are not counted")
    ap.add_argument("--size", type=int, default=640)
    args = ap.parse_args()
    torch.set_num_threads(env_threads())

    det = Detector(len(CLASSES))
    det.load_state_dict(torch.load(args.checkpoint, map_location="cpu", weights_only=False)["model"])
    model = Exported(det)
    samples = sim_split(args.data, "train")
    hard, totals, chunk = {}, np.zeros(2, dtype=int), 256
    for i in range(0, len(samples), chunk):
        part = samples[i:i + chunk]
        for (path, boxes), dets in zip(part, predict(model, [load_rgb(p, args.size) for p, _ in part])):
            f, m = mistakes(dets, boxes, args.score)
            totals += (len(f), len(m))
            if f or m:
                hard[Path(path).name] = [[round(float(v), 1) for v in b] for b in f + m]
        sys.stderr.write(f"\r{min(i + chunk, len(samples))}/{len(samples)} images, {len(hard)} hard")
    sys.stderr.write("\n")
    Path(args.out).write_text(json.dumps(hard, sort_keys=True) + "\n")
    print(f"{len(hard)} of {len(samples)} training images have mistakes: {totals[0]} false detections, "
          f"{totals[1]} missed objects (score >= {args.score}); written to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
