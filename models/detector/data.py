"""Training data: `sim dataset` splits (YOLO labels) and the real rubbish-bag photos.

Targets are CenterNet's: a Gaussian peak per object centre on a stride-4 class heatmap, and the
box size and sub-cell offset at the peak cell. Boxes are rows of class, x0, y0, x1, y1, ignore:
ignore regions (COCO `iscrowd`, objects too small or hidden to label) make no peak, and the
heatmap loss does not punish a response inside them.
"""

import hashlib
import json
import math
import os
from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ["stall", "waste_pile", "steel_shed"]
STRIDE = 4
MAX_OBJECTS = 128
# `sim dataset` labels objects whose longer side reaches this many pixels; smaller ones are ignore
# regions (sim/src/dataset.rs, MIN_LABEL_SIDE_PX).
MIN_LABEL_SIDE_PX = 10.0


COLUMNS = 6


def as_boxes(rows):
    return np.array(rows, dtype=np.float32).reshape(-1, COLUMNS)


def sim_split(root, split):
    """[(image path, boxes)] of one split of a `sim dataset` folder, from its COCO file (which
    also carries the ignore regions the YOLO labels leave out)."""
    d = Path(root) / split
    coco = json.loads((d / "annotations.json").read_text())
    rows = {im["id"]: [] for im in coco["images"]}
    for a in coco["annotations"]:
        x, y, w, h = a["bbox"]
        rows[a["image_id"]].append([a["category_id"] - 1, x, y, x + w, y + h, float(a.get("iscrowd", 0))])
    return [(d / "images" / im["file_name"], as_boxes(rows[im["id"]]))
            for im in sorted(coco["images"], key=lambda im: im["file_name"])]


def trashbag_is_holdout(name):
    """The fixed split of the real rubbish-bag photos: one in five, by name hash, is held out."""
    return int(hashlib.sha256(name.encode()).hexdigest(), 16) % 5 == 0


def trashbags(root, holdout):
    """Real rubbish-bag photos with boxes from the polygons' extent, all as `waste_pile`."""
    d = Path(root) / "valid"
    out = []
    if not d.exists():
        return out
    for img in sorted((d / "images").glob("*.jpg")):
        if trashbag_is_holdout(img.name) != holdout:
            continue
        with Image.open(img) as im:
            w, h = im.size
        rows = []
        lbl = d / "labels" / (img.stem + ".txt")
        for line in lbl.read_text().splitlines() if lbl.exists() else []:
            v = [float(x) for x in line.split()]
            if len(v) < 7:
                continue
            xs, ys = np.array(v[1::2]) * w, np.array(v[2::2]) * h
            rows.append([CLASSES.index("waste_pile"), xs.min(), ys.min(), xs.max(), ys.max(), 0.0])
        out.append((img, as_boxes(rows)))
    return out


def data_hash(samples):
    """SHA-256 over every image's bytes and its boxes, in order: the training-data fingerprint."""
    h = hashlib.sha256()
    for img, boxes in samples:
        h.update(Path(img).name.encode())
        h.update(Path(img).read_bytes())
        h.update(np.round(boxes, 2).tobytes())
    return h.hexdigest()


def gaussian_radius(h, w, min_overlap=0.7):
    """CenterNet's radius for a box of h x w cells."""
    a1, b1, c1 = 1, h + w, w * h * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + math.sqrt(b1 ** 2 - 4 * a1 * c1)) / 2
    a2, b2, c2 = 4, 2 * (h + w), (1 - min_overlap) * w * h
    r2 = (b2 + math.sqrt(b2 ** 2 - 4 * a2 * c2)) / 2
    a3, b3, c3 = 4 * min_overlap, -2 * min_overlap * (h + w), (min_overlap - 1) * w * h
    r3 = (b3 + math.sqrt(b3 ** 2 - 4 * a3 * c3)) / 2
    return max(0.0, min(r1, r2, r3))


def draw_gaussian(heat, cx, cy, radius):
    d = 2 * radius + 1
    sigma = d / 6
    ys, xs = np.ogrid[-radius:radius + 1, -radius:radius + 1]
    g = np.exp(-(xs * xs + ys * ys) / (2 * sigma * sigma))
    H, W = heat.shape
    l, r = min(cx, radius), min(W - cx, radius + 1)
    t, b = min(cy, radius), min(H - cy, radius + 1)
    if r <= 0 or b <= 0 or l < 0 or t < 0:
        return
    np.maximum(heat[cy - t:cy + b, cx - l:cx + r], g[radius - t:radius + b, radius - l:radius + r],
               out=heat[cy - t:cy + b, cx - l:cx + r])


def targets(boxes, size, num_classes=len(CLASSES)):
    """CenterNet targets for boxes [N, 6] on a size x size image, and the ignore map."""
    fs = size // STRIDE
    heat = np.zeros((num_classes, fs, fs), np.float32)
    ignore = np.zeros((num_classes, fs, fs), np.float32)
    wh = np.zeros((MAX_OBJECTS, 2), np.float32)
    off = np.zeros((MAX_OBJECTS, 2), np.float32)
    ind = np.zeros(MAX_OBJECTS, np.int64)
    mask = np.zeros(MAX_OBJECTS, np.float32)
    for c, x0, y0, x1, y1, _ in boxes[boxes[:, 5] > 0]:
        ix0, iy0 = int(max(0, x0 // STRIDE)), int(max(0, y0 // STRIDE))
        ix1, iy1 = int(min(fs, math.ceil(x1 / STRIDE))), int(min(fs, math.ceil(y1 / STRIDE)))
        ignore[int(c), iy0:iy1, ix0:ix1] = 1
    for k, (c, x0, y0, x1, y1, _) in enumerate(boxes[boxes[:, 5] == 0][:MAX_OBJECTS]):
        w, h = (x1 - x0) / STRIDE, (y1 - y0) / STRIDE
        if w <= 0 or h <= 0:
            continue
        cx, cy = (x0 + x1) / 2 / STRIDE, (y0 + y1) / 2 / STRIDE
        ix, iy = min(int(cx), fs - 1), min(int(cy), fs - 1)
        draw_gaussian(heat[int(c)], ix, iy, max(0, int(gaussian_radius(math.ceil(h), math.ceil(w)))))
        wh[k] = (w, h)
        off[k] = (cx - ix, cy - iy)
        ind[k] = iy * fs + ix
        mask[k] = 1
    return heat, wh, off, ind, mask, ignore


def rescale(img, boxes, factor):
    """The image and its boxes scaled by `factor`; objects that end up smaller than the
    dataset's labelling limit become ignore regions, as `sim dataset` would have marked them."""
    h, w = img.shape[:2]
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    img = np.asarray(Image.fromarray(np.ascontiguousarray(img)).resize(size, Image.BILINEAR))
    boxes = boxes.copy()
    boxes[:, 1:5] *= factor
    side = np.maximum(boxes[:, 3] - boxes[:, 1], boxes[:, 4] - boxes[:, 2])
    boxes[side < MIN_LABEL_SIDE_PX, 5] = 1
    return img, boxes


class Augmenter:
    """Aerial views have no up: random flips and quarter turns; half the images rescaled by
    0.7-1.4 (altitude and lens vary more than any one district shows); brightness, contrast and
    white-balance jitter; a random square crop of `crop` pixels (training at a smaller size is
    faster on CPU), usually around a labelled object."""

    def __init__(self, crop, rng, focus=0.0):
        self.crop, self.rng, self.focus = crop, rng, focus

    def __call__(self, img, boxes, focus=None):
        """focus: optional [N, 4] x0, y0, x1, y1 regions (mine.py's mistakes) that a crop keeps
        whole with probability `self.focus`."""
        rng = self.rng
        if rng.random() < 0.5:
            factor = float(np.exp(rng.uniform(np.log(0.7), np.log(1.4))))
            img, boxes = rescale(img, boxes, factor)
            focus = None if focus is None else focus * factor
        h, w = img.shape[:2]
        c = self.crop

        def around(x0, y0, x1, y1, x, y):
            x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
            x = rng.integers(int(max(0, x1 - c)), int(min(x0, w - c)) + 1) if x1 - x0 < c else x
            y = rng.integers(int(max(0, y1 - c)), int(min(y0, h - c)) + 1) if y1 - y0 < c else y
            return x, y

        if c < min(h, w):
            x, y = rng.integers(0, w - c + 1), rng.integers(0, h - c + 1)
            labelled = boxes[boxes[:, 5] == 0]
            if self.focus > 0 and focus is not None and len(focus) and rng.random() < self.focus:
                x, y = around(*focus[rng.integers(len(focus))], x, y)
            elif len(labelled) and rng.random() < 0.7:
                # Most crops keep an object whole: objects are sparse in wide views.
                x, y = around(*labelled[rng.integers(len(labelled))][1:5], x, y)
            img = img[y:y + c, x:x + c]
            b = boxes.copy()
            b[:, [1, 3]] = np.clip(b[:, [1, 3]] - x, 0, c)
            b[:, [2, 4]] = np.clip(b[:, [2, 4]] - y, 0, c)
            area = (boxes[:, 3] - boxes[:, 1]) * (boxes[:, 4] - boxes[:, 2])
            kept = (b[:, 3] - b[:, 1]) * (b[:, 4] - b[:, 2])
            # Mostly cut away: neither a positive nor a negative any more.
            b[(kept <= 0.4 * np.maximum(area, 1e-6)), 5] = 1
            boxes = b[kept > 0]
        s = img.shape[0]
        if rng.random() < 0.5:
            img = img[:, ::-1]
            boxes = boxes.copy()
            boxes[:, [1, 3]] = s - boxes[:, [3, 1]]
        for _ in range(rng.integers(0, 4)):
            img = np.rot90(img)  # counter-clockwise: (x, y) -> (y, s - x)
            b = boxes.copy()
            b[:, 1], b[:, 3] = boxes[:, 2], boxes[:, 4]
            b[:, 2], b[:, 4] = s - boxes[:, 3], s - boxes[:, 1]
            boxes = b
        img = img.astype(np.float32)
        img = img * (rng.uniform(0.75, 1.25) * rng.uniform(0.92, 1.08, 3)) + rng.uniform(-20, 20)
        return np.clip(img, 0, 255), boxes


def load_rgb(path, size):
    with Image.open(path) as im:
        im = im.convert("RGB")
        if im.size != (size, size):
            im = letterbox_pil(im, size)
        return np.asarray(im)


def letterbox_pil(im, size):
    """Scale to fit `size` x `size`, pad bottom/right with grey (the Rust pipeline does the same)."""
    w, h = im.size
    r = size / max(w, h)
    im = im.resize((max(1, round(w * r)), max(1, round(h * r))), Image.BILINEAR)
    out = Image.new("RGB", (size, size), (114, 114, 114))
    out.paste(im, (0, 0))
    return out


def env_threads():
    return int(os.environ.get("ARGUS_TRAIN_THREADS", os.cpu_count() or 1))
