"""Baseline for the edge-agent pipeline benchmark: the plain Python loop a team would write first —
OpenCV decoding, the same tiling and letterbox, onnxruntime, NumPy peak decoding and NMS — on the
same video and model at the same detect rate. Prints {"frames", "analysed", "detections",
"seconds"} as JSON.

    python benches/agent_loop.py VIDEO MODEL_DIR DETECT_FPS TILE_SCALE THREADS
"""

import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort


def tiles(w, h, tile):
    def axis(n):
        if n <= tile:
            return [(0, n)]
        k = -(-n // tile)
        step = (n - tile) // max(k - 1, 1)
        return [(min(i * step, n - tile), tile) for i in range(k)]
    return [(x, y, tw, th) for y, th in axis(h) for x, tw in axis(w)]


def letterbox(img, size):
    h, w = img.shape[:2]
    r = size / max(w, h)
    nw, nh = round(w * r), round(h * r)
    out = np.full((size, size, 3), 114, np.uint8)
    out[:nh, :nw] = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return out, r


def decode(heat, size, offset, stride, thresholds, r, ox, oy, k=100):
    c, hh, ww = heat.shape
    padded = np.pad(heat, ((0, 0), (1, 1), (1, 1)))
    peak = np.ones_like(heat, bool)
    for dy in range(3):
        for dx in range(3):
            peak &= heat >= padded[:, dy:dy + hh, dx:dx + ww]
    dets = []
    for cls in range(c):
        ys, xs = np.nonzero(peak[cls] & (heat[cls] >= thresholds[cls]))
        for y, x in zip(ys, xs):
            cx, cy = (x + offset[0, y, x]) * stride, (y + offset[1, y, x]) * stride
            bw, bh = size[0, y, x] * stride, size[1, y, x] * stride
            dets.append((cls, float(heat[cls, y, x]),
                         (cx - bw / 2) / r + ox, (cy - bh / 2) / r + oy, (cx + bw / 2) / r + ox, (cy + bh / 2) / r + oy))
    dets.sort(key=lambda d: -d[1])
    return dets[:k]


def nms(dets, iou=0.5):
    kept = []
    for d in dets:
        ok = True
        for q in kept:
            if q[0] != d[0]:
                continue
            iw = max(0.0, min(d[4], q[4]) - max(d[2], q[2]))
            ih = max(0.0, min(d[5], q[5]) - max(d[3], q[3]))
            inter = iw * ih
            union = (d[4] - d[2]) * (d[5] - d[3]) + (q[4] - q[2]) * (q[5] - q[3]) - inter
            if union > 0 and inter / union > iou:
                ok = False
                break
        if ok:
            kept.append(d)
    return kept


def main():
    video, model = sys.argv[1], Path(sys.argv[2])
    fps, scale, threads = float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
    manifest = json.loads((model / "manifest.json").read_text())
    n = manifest["input"]["shape"][2]
    stride = manifest["decoder"]["stride"]
    thresholds = [manifest["score_thresholds"][c] for c in manifest["classes"]]
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    sess = ort.InferenceSession(str(model / manifest["file"]), opts, providers=["CPUExecutionProvider"])
    cv2.setNumThreads(threads)
    started = time.perf_counter()
    cap = cv2.VideoCapture(video)
    frames = analysed = detections = 0
    last = None
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        t = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        frames += 1
        if fps > 0 and last is not None and t - last < 0.999 / fps:
            continue
        last = t
        analysed += 1
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        h, w = rgb.shape[:2]
        batch, meta = [], []
        for x, y, tw, th in tiles(w, h, round(n / scale)):
            img, r = letterbox(rgb[y:y + th, x:x + tw], n)
            batch.append(img.transpose(2, 0, 1).astype(np.float32) / 255.0)
            meta.append((r, x, y))
        heat, size, offset = sess.run(None, {manifest["input"]["name"]: np.stack(batch)})
        dets = []
        for i, (r, x, y) in enumerate(meta):
            dets += decode(heat[i], size[i], offset[i], stride, thresholds, r, x, y)
        dets.sort(key=lambda d: -d[1])
        detections += len(nms(dets))
    print(json.dumps({"frames": frames, "analysed": analysed, "detections": detections,
                      "seconds": time.perf_counter() - started}))


if __name__ == "__main__":
    main()
