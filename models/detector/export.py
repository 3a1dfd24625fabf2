"""Exports a trained checkpoint to ONNX with its manifest, and checks the ONNX graph against
PyTorch through ONNX Runtime.

    python models/detector/export.py --checkpoint RUN/checkpoint.pt --out models/argus-det --version 0.1.0

Writes OUT/model.onnx (opset 17, dynamic batch) and OUT/manifest.json: input size and layout,
normalisation, letterbox, output layout, class names, per-class default score thresholds,
version and the training data's SHA-256; beside them the run's settings (OUT/train_info.json,
with every earlier stage) and its log (OUT/train_log.jsonl).
"""

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from data import CLASSES, STRIDE  # noqa: E402
from model import Detector, Exported  # noqa: E402

OPSET = 17
# Settings that name files: the manifest keeps only their last two parts, not this machine's folders.
PATH_SETTINGS = ("data", "trashbags", "out", "init", "hard")


def portable(settings):
    return {k: "/".join(Path(v).parts[-2:]) if k in PATH_SETTINGS and v else v for k, v in settings.items()}


def stages(info):
    """The earlier runs this checkpoint continues (train.py --init), oldest first."""
    chain, run = [], info.get("init")
    while run:
        chain.insert(0, {"epoch": run["epoch"], "data_sha256": run["training_data_sha256"],
                         "settings": portable(run["settings"])})
        run = run.get("init")
    return chain


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--version", required=True)
    ap.add_argument("--name", default="argus-det")
    ap.add_argument("--size", type=int, default=640)
    ap.add_argument("--threshold", type=float, default=0.3, help="default score threshold, every class")
    args = ap.parse_args()

    ckpt = torch.load(args.checkpoint, map_location="cpu", weights_only=False)
    det = Detector(len(CLASSES))
    det.load_state_dict(ckpt["model"])
    model = Exported(det).eval()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    onnx_path = out / "model.onnx"
    x = torch.rand(2, 3, args.size, args.size)
    torch.onnx.export(
        model, (x,), str(onnx_path), opset_version=OPSET, dynamo=False,
        input_names=["images"], output_names=["heatmap", "size", "offset"],
        dynamic_axes={"images": {0: "batch"}, "heatmap": {0: "batch"}, "size": {0: "batch"}, "offset": {0: "batch"}},
    )
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    for batch in (1, 3):
        xb = torch.rand(batch, 3, args.size, args.size)
        with torch.no_grad():
            ref = [t.numpy() for t in model(xb)]
        got = sess.run(None, {"images": xb.numpy()})
        for name, r, g in zip(("heatmap", "size", "offset"), ref, got):
            err = float(np.abs(r - g).max())
            if err > 1e-3:
                sys.exit(f"export check failed: {name} differs by {err} at batch {batch}")
    f = args.size // STRIDE
    manifest = {
        "schema": "argus.model/1",
        "name": args.name,
        "version": args.version,
        "file": "model.onnx",
        "file_sha256": hashlib.sha256(onnx_path.read_bytes()).hexdigest(),
        "opset": OPSET,
        "input": {
            "name": "images", "shape": ["batch", 3, args.size, args.size], "dtype": "float32",
            "layout": "NCHW", "color": "RGB", "scale": 1.0 / 255.0, "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0],
            "letterbox": {"align": "top-left", "pad_value": 114},
        },
        "outputs": {
            "heatmap": {"shape": ["batch", len(CLASSES), f, f], "meaning": "object-centre probability per class (sigmoid applied)"},
            "size": {"shape": ["batch", 2, f, f], "meaning": "box width, height in input pixels divided by the stride"},
            "offset": {"shape": ["batch", 2, f, f], "meaning": "sub-cell centre offset x, y in cells"},
        },
        "decoder": {"kind": "centernet", "stride": STRIDE, "peak_window": 3},
        "classes": CLASSES,
        "score_thresholds": {c: args.threshold for c in CLASSES},
        "training": {"data_sha256": ckpt["info"]["training_data_sha256"], "epoch": ckpt["epoch"], "val": ckpt.get("val"),
                     "settings": portable(ckpt["info"]["settings"]), "earlier_stages": stages(ckpt["info"])},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    # The run's settings and log beside the model, naming the dataset rather than this machine's folders.
    info = {k: v for k, v in ckpt["info"].items() if k != "init"}
    info.update(settings=portable(info["settings"]), earlier_stages=stages(ckpt["info"]))
    (out / "train_info.json").write_text(json.dumps(info, indent=2))
    log = Path(args.checkpoint).parent / "train_log.jsonl"
    if log.exists():
        shutil.copyfile(log, out / "train_log.jsonl")
    size_mb = onnx_path.stat().st_size / 1e6
    print(f"exported {onnx_path} ({size_mb:.1f} MB), checked against PyTorch at batch 1 and 3", file=sys.stderr)


if __name__ == "__main__":
    main()
