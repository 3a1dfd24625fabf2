"""Reference check: AP50 and AP50-95 per category with pycocotools, printed as JSON.

    python models/detector/coco_eval.py ANNOTATIONS.json DETECTIONS.json
"""

import contextlib
import io
import json
import sys

from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval


def per_category(gt, results):
    """AP50 and AP50-95 (area all, 100 detections an image) of each category with ground truth.
    `gt` is a COCO object, `results` a list of COCO result dicts or a results file path."""
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
    p = ev.eval["precision"]  # [T, R, K, A, M]
    out = {}
    for k, cat in enumerate(ev.params.catIds):
        ap50, ap = p[0, :, k, 0, -1], p[:, :, k, 0, -1]
        if (ap50 > -1).any():
            out[gt.cats[cat]["name"]] = {"AP50": float(ap50[ap50 > -1].mean()), "AP50_95": float(ap[ap > -1].mean())}
    return out


def main():
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(sys.argv[1])
    print(json.dumps(per_category(gt, sys.argv[2])))


if __name__ == "__main__":
    main()
