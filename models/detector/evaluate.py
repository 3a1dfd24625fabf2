"""Decoding and COCO evaluation (pycocotools) of the detector, shared by training and the card."""

import contextlib
import io
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from data import CLASSES, STRIDE


def intersection(a, b):
    """Overlap area of two x0, y0, x1, y1 boxes."""
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def iou(a, b):
    inter = intersection(a, b)
    union = max(0.0, a[2] - a[0]) * max(0.0, a[3] - a[1]) + max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def nms(dets, threshold=0.5):
    """Class-aware NMS over rows x0, y0, x1, y1, score, class (the Rust pipeline does the same)."""
    kept = []
    for d in sorted(dets, key=lambda r: -r[4]):
        if all(k[5] != d[5] or iou(k, d) <= threshold for k in kept):
            kept.append(d)
    return np.array(kept, dtype=np.float32).reshape(-1, 6)


def decode(heat, size, offset, k=100, threshold=0.05, nms_iou=0.5):
    """Peaks of the (sigmoid) heatmap -> per image arrays [N, 6]: x0, y0, x1, y1, score, class,
    after class-aware NMS."""
    b, c, h, w = heat.shape
    peaks = heat * (F.max_pool2d(heat, 3, 1, 1) == heat)
    scores, idx = peaks.reshape(b, -1).topk(min(k, c * h * w))
    out = []
    for i in range(b):
        s, ind = scores[i], idx[i]
        keep = s > threshold
        s, ind = s[keep], ind[keep]
        cls = ind // (h * w)
        cell = ind % (h * w)
        cy, cx = (cell // w).float(), (cell % w).float()
        ox, oy = offset[i, 0].reshape(-1)[cell], offset[i, 1].reshape(-1)[cell]
        bw, bh = size[i, 0].reshape(-1)[cell], size[i, 1].reshape(-1)[cell]
        x, y = (cx + ox) * STRIDE, (cy + oy) * STRIDE
        bw, bh = bw.clamp(min=0) * STRIDE, bh.clamp(min=0) * STRIDE
        rows = torch.stack([x - bw / 2, y - bh / 2, x + bw / 2, y + bh / 2, s, cls.float()], 1).cpu().numpy()
        out.append(nms(rows, nms_iou))
    return out


def coco_ground_truth(samples, size):
    """A COCO dict from [(path, boxes)] (boxes in pixels of `size` x `size` inputs)."""
    images, anns = [], []
    for i, (path, boxes) in enumerate(samples):
        images.append({"id": i + 1, "file_name": str(path), "width": size, "height": size})
        for c, x0, y0, x1, y1, crowd in boxes:
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": int(c) + 1,
                         "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
                         "area": float((x1 - x0) * (y1 - y0)), "iscrowd": int(crowd)})
    cats = [{"id": i + 1, "name": n} for i, n in enumerate(CLASSES)]
    return {"images": images, "annotations": anns, "categories": cats}


def coco_eval(gt, detections):
    """AP50 and AP50-95 per class present in `gt`, with pycocotools. detections: list per image."""
    from pycocotools.coco import COCO

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from coco_eval import per_category

    results = []
    for i, det in enumerate(detections):
        for x0, y0, x1, y1, s, c in det:
            results.append({"image_id": i + 1, "category_id": int(c) + 1,
                            "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)], "score": float(s)})
    if not results:
        return {}
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
    return per_category(coco, results)


@torch.no_grad()
def predict(model, images, batch=8):
    """Runs the exported-graph model (sigmoid heatmap) over uint8 HWC images."""
    model.eval()
    dets = []
    for i in range(0, len(images), batch):
        x = torch.from_numpy(np.stack(images[i:i + batch])).permute(0, 3, 1, 2).float() / 255.0
        dets.extend(decode(*model(x)))
    return dets
