"""Reference check: AP50 and AP50-95 per category with pycocotools, printed as JSON.

    python python/coco_eval.py ANNOTATIONS.json DETECTIONS.json
"""

import contextlib
import io
import json
import sys

from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval


def main():
    ann, dets = sys.argv[1], sys.argv[2]
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(ann)
        dt = gt.loadRes(dets)
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
    p = ev.eval["precision"]  # [T, R, K, A, M]
    out = {}
    for k, cat in enumerate(ev.params.catIds):
        ap50, ap = p[0, :, k, 0, -1], p[:, :, k, 0, -1]
        if (ap50 > -1).any():
            out[gt.cats[cat]["name"]] = {"AP50": float(ap50[ap50 > -1].mean()), "AP50_95": float(ap[ap > -1].mean())}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
