"""Baseline for benches/detector.sh: the ONNX Runtime Python API on the same model and inputs as
the Rust bench (letterboxing done in NumPy, as a Python pipeline would), median ms per frame.

    python benches/detector.py MODEL_DIR BATCH THREADS REPS
"""

import json
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort


def frames(batch, w=1920, h=1080):
    i = np.arange(w * h * 3, dtype=np.uint32) % 251
    return [i.astype(np.uint8).reshape(h, w, 3) for _ in range(batch)]


def letterbox(img, size):
    h, w = img.shape[:2]
    r = size / max(w, h)
    nw, nh = round(w * r), round(h * r)
    ys = np.clip(((np.arange(nh) + 0.5) / r - 0.5), 0, h - 1)
    xs = np.clip(((np.arange(nw) + 0.5) / r - 0.5), 0, w - 1)
    y0, x0 = ys.astype(int), xs.astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    wy, wx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    f = img.astype(np.float32)
    top = f[y0][:, x0] * (1 - wx) + f[y0][:, x1] * wx
    bottom = f[y1][:, x0] * (1 - wx) + f[y1][:, x1] * wx
    out = np.full((size, size, 3), 114, np.float32)
    out[:nh, :nw] = top * (1 - wy) + bottom * wy
    return out.transpose(2, 0, 1) / 255.0


def main():
    model, batch, threads, reps = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    manifest = json.loads((model / "manifest.json").read_text())
    size = manifest["input"]["shape"][2]
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(str(model / manifest["file"]), opts, providers=["CPUExecutionProvider"])
    imgs = frames(batch)
    times = []
    for k in range(reps + 2):
        t = time.perf_counter()
        x = np.stack([letterbox(im, size) for im in imgs]).astype(np.float32)
        sess.run(None, {"images": x})
        if k >= 2:
            times.append(time.perf_counter() - t)
    print(f"{np.median(times) * 1000 / batch:.3f}")


if __name__ == "__main__":
    main()
