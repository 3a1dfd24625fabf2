"""Trains the violation-object detector from scratch on `sim dataset` output plus the real
rubbish-bag photos, reproducibly (fixed seeds; the training data's SHA-256 is recorded).

    python models/detector/train.py --data DATASET --out RUN [--epochs N]
    python models/detector/train.py --data YOUR_SET --out RUN --init OLD_RUN/checkpoint.pt --lr 1e-3 --epochs 3

The second form fine-tunes an earlier run's weights (an analyst's own footage in `sim dataset`
layout, for example) instead of starting from scratch. With `--hard HARD.json` (mine.py's list of
the images the earlier run gets wrong) those images are shown `--hard-repeat` more times an epoch.

Validation and the checkpoint use an exponential moving average of the weights (smoother and
better on unseen districts than the last step's weights).

Writes OUT/checkpoint.pt (best validation AP50), OUT/epochN.pt (every epoch's weights, to export
an earlier one), OUT/train_log.jsonl (loss and metrics per
epoch) and OUT/train_info.json (data hash, settings). Export with export.py.
"""

import argparse
import copy
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from data import CLASSES, Augmenter, data_hash, env_threads, load_rgb, sim_split, targets, trashbags  # noqa: E402
from evaluate import coco_eval, coco_ground_truth, predict  # noqa: E402
from model import Detector, Exported  # noqa: E402


def focal_loss(logits, gt, ignore):
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = gt.eq(1).float()
    neg = (1 - pos) * (1 - ignore)
    pos_loss = torch.log(p) * (1 - p) ** 2 * pos
    neg_loss = torch.log(1 - p) * p ** 2 * (1 - gt) ** 4 * neg
    return -(pos_loss.sum() + neg_loss.sum()) / pos.sum().clamp(min=1)


def gather(feat, ind):
    b, c = feat.shape[:2]
    return feat.reshape(b, c, -1).gather(2, ind.unsqueeze(1).expand(b, c, ind.shape[1])).permute(0, 2, 1)


class Ema:
    """Exponential moving average of a model's weights and buffers; the decay ramps up over the
    first ~`ramp` steps so early averages do not remember the starting weights."""

    def __init__(self, model, decay=0.999, ramp=1000):
        self.model = copy.deepcopy(model).eval()
        self.decay, self.ramp, self.updates = decay, ramp, 0
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model):
        self.updates += 1
        d = self.decay * (1 - math.exp(-self.updates / self.ramp))
        live = model.state_dict()
        for name, v in self.model.state_dict().items():
            if v.dtype.is_floating_point:
                v.mul_(d).add_(live[name].detach(), alpha=1 - d)
            else:
                v.copy_(live[name])


def progress(done, total, started, extra):
    rate = done / max(time.time() - started, 1e-9)
    eta = (total - done) / max(rate, 1e-9)
    bar = "#" * int(30 * done / total)
    sys.stderr.write(f"\r[{bar:<30}] {done}/{total} {rate:.1f} img/s eta {eta / 60:.1f} min {extra}   ")
    sys.stderr.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="a `sim dataset` folder")
    ap.add_argument("--trashbags", default=str(Path(__file__).resolve().parents[3] / "shared/data/trashbags"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--crop", type=int, default=384, help="training crop size (pixels)")
    ap.add_argument("--size", type=int, default=640, help="model input size")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--init", help="start from this checkpoint's weights (fine-tuning) instead of from scratch")
    ap.add_argument("--real-repeat", type=int, default=1, help="show each real rubbish-bag photo this many times an epoch")
    ap.add_argument("--hard", help="mine.py output: show these training images more often")
    ap.add_argument("--hard-repeat", type=int, default=2, help="extra showings an epoch of each --hard image")
    ap.add_argument("--hard-focus", type=float, default=0.0,
                    help="probability that a repeated --hard image is cropped around one of its mistakes")
    ap.add_argument("--val-every", type=int, default=1, help="validate every N epochs (and always in the last three)")
    ap.add_argument("--limit", type=int, default=0, help="use only this many training images (smoke tests)")
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    torch.set_num_threads(env_threads())
    rng = np.random.default_rng(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    train = sim_split(args.data, "train")
    focus = [None] * len(train)  # per sample: regions a crop should keep (mined mistakes)
    if args.hard:
        hard = json.loads(Path(args.hard).read_text())
        again = [s for s in train if s[0].name in hard] * args.hard_repeat
        train += again
        focus += [np.array(hard[p.name], dtype=np.float32).reshape(-1, 4) for p, _ in again]
    real = trashbags(args.trashbags, holdout=False) * args.real_repeat
    train += real
    focus += [None] * len(real)
    val = sim_split(args.data, "val")
    if args.limit:
        train, val = train[:args.limit], val[:max(8, args.limit // 8)]
    print(f"training on {len(train)} images, validating on {len(val)}", file=sys.stderr)
    digest = data_hash(train)
    # Repeated samples (--real-repeat) share one decoded image.
    decoded = {p: load_rgb(p, args.size) for p in dict.fromkeys(p for p, _ in train)}
    train_imgs = [decoded[p] for p, _ in train]
    val_imgs = [load_rgb(p, args.size) for p, _ in val]
    val_gt = coco_ground_truth(val, args.size)
    start = torch.load(args.init, map_location="cpu", weights_only=False) if args.init else None
    info = {"classes": CLASSES, "training_data_sha256": digest, "train_images": len(train), "val_images": len(val),
            "settings": vars(args), "torch": torch.__version__}
    if start:
        # The run this one continues, so the shipped manifest tells every stage of the recipe.
        info["init"] = {"epoch": start["epoch"], "training_data_sha256": start["info"]["training_data_sha256"],
                        "settings": start["info"]["settings"], "init": start["info"].get("init")}
    (out / "train_info.json").write_text(json.dumps(info, indent=2) + "\n")

    model = Detector(len(CLASSES))
    if start:
        model.load_state_dict(start["model"])
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    steps = args.epochs * math.ceil(len(train) / args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps, pct_start=0.1)
    ema = Ema(model)
    aug = Augmenter(args.crop, rng, args.hard_focus)
    best = -1.0
    log = open(out / "train_log.jsonl", "a")
    for epoch in range(args.epochs):
        model.train()
        order = rng.permutation(len(train))
        started, seen, losses = time.time(), 0, []
        for i in range(0, len(order), args.batch):
            batch = [aug(train_imgs[j], train[j][1], focus[j]) for j in order[i:i + args.batch]]
            x = torch.from_numpy(np.stack([b[0] for b in batch])).permute(0, 3, 1, 2).float() / 255.0
            t = [targets(b[1], args.crop) for b in batch]
            heat, wh, off, ind, mask, ignore = (torch.from_numpy(np.stack([tt[k] for tt in t])) for k in range(6))
            p_heat, p_size, p_off = model(x)
            m = mask.unsqueeze(2)
            n = m.sum().clamp(min=1)
            l_heat = focal_loss(p_heat, heat, ignore)
            l_size = (F.l1_loss(gather(p_size, ind) * m, wh * m, reduction="sum")) / n
            l_off = (F.l1_loss(gather(p_off, ind) * m, off * m, reduction="sum")) / n
            loss = l_heat + 0.1 * l_size + l_off
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            opt.step()
            sched.step()
            ema.update(model)
            losses.append([loss.item(), l_heat.item(), l_size.item(), l_off.item()])
            seen += len(batch)
            progress(seen, len(order), started, f"epoch {epoch + 1}/{args.epochs} loss {np.mean([l[0] for l in losses[-20:]]):.3f}")
        sys.stderr.write("\n")
        rec = {"epoch": epoch + 1, "loss": float(np.mean([l[0] for l in losses])), "heat": float(np.mean([l[1] for l in losses])),
               "size": float(np.mean([l[2] for l in losses])), "offset": float(np.mean([l[3] for l in losses]))}
        validate = (epoch + 1) % args.val_every == 0 or epoch + 1 > args.epochs - 3
        if validate:
            metrics = coco_eval(val_gt, predict(Exported(ema.model), val_imgs))
            mean50 = float(np.mean([m["AP50"] for m in metrics.values()])) if metrics else 0.0
            rec |= {"val": metrics, "val_mean_AP50": mean50}
        rec["seconds"] = time.time() - started
        log.write(json.dumps(rec) + "\n")
        log.flush()
        shown = {k: rec[k] for k in ("epoch", "loss", "val_mean_AP50") if k in rec}
        if validate:
            shown["val"] = {k: round(v["AP50"], 3) for k, v in metrics.items()}
        print(json.dumps(shown), file=sys.stderr)
        state = {"model": ema.model.state_dict(), "epoch": epoch + 1, "info": info} | ({"val": metrics} if validate else {})
        torch.save(state, out / f"epoch{epoch + 1}.pt")
        if validate and mean50 > best:
            best = mean50
            torch.save(state, out / "checkpoint.pt")
    print(f"best validation mean AP50 {best:.3f}; checkpoint {out / 'checkpoint.pt'}", file=sys.stderr)


if __name__ == "__main__":
    main()
