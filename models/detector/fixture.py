"""Writes the inference fixture: a 640x640 PNG, the reference detections the Python ONNX
Runtime path makes on it, and its simulator truth. The Rust adapter's test must reproduce the
reference (same classes, boxes within a pixel, scores within 0.01).

    python models/detector/fixture.py --model models/argus-det --data DATASET --image test/images/NAME.jpg --out DIR
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from data import CLASSES, load_rgb, sim_split  # noqa: E402
from evaluate import decode  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--image", required=True, help="path relative to the dataset folder")
    ap.add_argument("--out", required=True)
    ap.add_argument("--threshold", type=float, default=0.3)
    args = ap.parse_args()
    model = Path(args.model)
    manifest = json.loads((model / "manifest.json").read_text())
    sess = ort.InferenceSession(str(model / manifest["file"]), providers=["CPUExecutionProvider"])
    src = Path(args.data) / args.image
    img = load_rgb(src, 640)
    x = img.transpose(2, 0, 1)[None].astype(np.float32) / 255.0
    heat, size, offset = sess.run(None, {"images": x})
    dets = decode(torch.from_numpy(heat), torch.from_numpy(size), torch.from_numpy(offset), threshold=args.threshold)[0]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # Lossless, so the Rust test decodes exactly the pixels the reference saw.
    Image.fromarray(img).save(out / "fixture.png", optimize=True)
    split = Path(args.image).parts[0]
    boxes = next(b for p, b in sim_split(args.data, split) if p.name == src.name)
    truth = boxes[boxes[:, 5] == 0][:, :5]
    ref = {
        "image": "fixture.png", "source": str(args.image), "model_version": manifest["version"], "threshold": args.threshold,
        "reference": [{"class": CLASSES[int(c)], "score": round(float(s), 4), "bbox": [round(float(v), 2) for v in (x0, y0, x1, y1)]}
                      for x0, y0, x1, y1, s, c in dets],
        "truth": [{"class": CLASSES[int(c)], "bbox": [round(float(v), 2) for v in (x0, y0, x1, y1)]} for c, x0, y0, x1, y1 in truth],
    }
    (out / "fixture.json").write_text(json.dumps(ref, indent=1) + "\n")
    print(f"{len(ref['reference'])} reference detections, {len(ref['truth'])} truth boxes -> {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
