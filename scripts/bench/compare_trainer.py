#!/usr/bin/python3
"""The full HaarFace trainer against arcface_torch's training loop in PyTorch: same model, head, batch,
optimiser and RecordIO data, run alternately on this machine; prints images/s of each and their ratio.

HaarFace: `haarface train --rec DIR` (MHLR, logs, metrics; no verification sets; a checkpoint only at the end,
after the timed steps). Its images/s per step come from metrics.csv: batch / the step's wall time, from asking
the loader for the batch to the end of logging (forward, loss, backward, clip, SGD and scheduler inside).

PyTorch (arcface_torch's train_v2.py on the CPU): a Dataset over the same train.rec/train.idx read with
scripts/reference/data_recordio.py (written from the format), PIL decode, RandomHorizontalFlip, ToTensor,
Normalize(0.5, 0.5); DataLoader(shuffle, 2 workers, drop_last); the backbone of scripts/reference/models.py
(via torch_train_bench.build_model); Partial FC at sample_rate 1 = normalised linear head, clamp(-1, 1), then
CombinedMarginLoss(64, 1, 0.5, 0) as arcface_torch applies it (the margin added to arccos under no_grad);
cross entropy; backward; clip_grad_norm_(backbone, 5); SGD with two groups (momentum 0.9, weight decay 5e-4);
PolynomialLRWarmup's LR for the next step; loss.item() every step and a log line every `frequent` steps.
Its per-step time runs over the same span: from asking the DataLoader for the batch to the end of logging.
torch.set_num_threads(2); NCHW and channels_last each in their own process, the faster one counts.

Both sides train floor(images / batch) steps of one epoch on the same data; images/s is the median over the
steps after --warmup. Before the speeds are compared, both step-1 losses are checked against the ArcFace value
of an untrained model (see check_first_loss). HaarFace gets OMP_NUM_THREADS=2.

  make release
  /usr/bin/python3 scripts/bench/compare_trainer.py [--rounds 3] [--model r18 --image-size 112 --batch-size 32]
  make bench-trainer

Target (issue 5): the full trainer at least 1.2x the PyTorch loop's images/s.
Debian python3-torch 1.13, python3-torchvision 0.14, python3-pil 9.4.
"""
import argparse
import csv
import io
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts", "reference"))
sys.path.insert(0, HERE)

SCALE = 64.0
MARGIN = 0.5          # ArcFace: margin_list (1, 0.5, 0)
LEARNING_RATE = 0.1
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4
MAX_GRAD_NORM = 5.0
IMAGES_PER_IDENTITY = 8
TARGET = 1.2


def make_data(haarface, image_size, images, folder):
    """A synthetic RecordIO set (InsightFace's header) of at least `images` images, made once per size."""
    identities = math.ceil(images / IMAGES_PER_IDENTITY)
    path = os.path.join(folder, "synth-%d-%dx%d" % (image_size, identities, IMAGES_PER_IDENTITY))
    if not os.path.exists(os.path.join(path, "train.idx")):
        subprocess.run([haarface, "synth", "--identities", str(identities), "--images-per-identity",
                        str(IMAGES_PER_IDENTITY), "--image-size", str(image_size), "--pairs", "0", "--seed", "1",
                        "--format", "rec", "--output", path], check=True, capture_output=True)
    return path, identities, identities * IMAGES_PER_IDENTITY


def run_haarface(args, data, work):
    output = tempfile.mkdtemp(prefix="haarface-trainer-", dir=work)
    command = [args.haarface, "train", "--rec", data, "--network", args.model, "--image-size", str(args.image_size),
               "--embedding-size", "512", "--batch-size", str(args.batch_size), "--num-epoch", "1",
               "--lr", str(LEARNING_RATE), "--momentum", str(MOMENTUM), "--weight-decay", str(WEIGHT_DECAY),
               "--margin-list", "1,%g,0" % MARGIN, "--sample-rate", "1", "--num-workers", "2",
               "--frequent", str(args.frequent), "--verbose", "1000000", "--checkpoint-every", "0",
               "--output", output]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    env.pop("OMP_PROC_BIND", None)
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-2000:] + done.stderr[-4000:])
        raise SystemExit("haarface train failed (%d): %s" % (done.returncode, " ".join(command)))
    with open(os.path.join(output, "metrics.csv")) as f:
        rows = list(csv.DictReader(f))
    shutil.rmtree(output)   # the model, checkpoint and optimiser state: hundreds of MB per run at r18 / 112 px
    speeds = [float(r["images_per_second"]) for r in rows]
    return {"steps": len(rows), "first_loss": float(rows[0]["loss"]), "last_loss": float(rows[-1]["loss"]),
            "images_per_second": statistics.median(speeds[args.warmup:]), "step_images_per_second": speeds}


# ---- the PyTorch side (runs in its own process per layout: `--torch-layout nchw|channels_last`) ----

class RecordIODataset:
    """arcface_torch's MXFaceDataset over train.rec/train.idx, read with data_recordio.py; opened per worker."""

    def __init__(self, folder, transform):
        import data_recordio
        self.reader = data_recordio
        self.rec_path = os.path.join(folder, "train.rec")
        index = data_recordio.read_index(os.path.join(folder, "train.idx"))
        self.offsets = index
        self.file = None
        with open(self.rec_path, "rb") as f:
            header, _ = data_recordio.unpack(data_recordio.read_record(f, index[0]))
        # InsightFace's header record 0: labels [first identity record, end]; images are records 1 ..
        self.keys = list(range(1, int(header["labels"][0]))) if header["flag"] > 0 else sorted(index)
        self.transform = transform

    def __len__(self):
        return len(self.keys)

    def __getitem__(self, position):
        from PIL import Image
        if self.file is None:
            self.file = open(self.rec_path, "rb")
        header, image = self.reader.unpack(self.reader.read_record(self.file, self.offsets[self.keys[position]]))
        label = header["labels"][0] if header["flag"] > 0 else header["label"]
        sample = Image.open(io.BytesIO(image)).convert("RGB")
        return self.transform(sample), int(label)


def arcface_logits(cosines, labels):
    """arcface_torch's CombinedMarginLoss for (1, m2, 0): cos(theta + m2) on the target, computed in place
    under no_grad, so the gradient passes as if the margin were a constant shift; then times s."""
    import torch
    index = torch.arange(labels.shape[0])
    with torch.no_grad():
        target = cosines[index, labels].arccos_() + MARGIN
        cosines.arccos_()
        cosines[index, labels] = target
        cosines.cos_()
    return cosines * SCALE


def run_torch(args, layout):
    import torch
    import torch.nn.functional as F
    from torchvision import transforms
    from torch_train_bench import build_model
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    transform = transforms.Compose([transforms.RandomHorizontalFlip(), transforms.ToTensor(),
                                    transforms.Normalize(mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5])])
    dataset = RecordIODataset(args.data, transform)
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=True, num_workers=2,
                                         drop_last=True)
    memory_format = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    backbone = build_model(args.model, args.image_size).to(memory_format=memory_format)
    backbone.train()
    head = torch.nn.Parameter(torch.empty(args.classes, 512).normal_(0, 0.01))
    optimizer = torch.optim.SGD([{"params": [p for p in backbone.parameters() if p.requires_grad]},
                                 {"params": [head]}], lr=LEARNING_RATE, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    total_steps = len(loader)
    losses, times = [], []
    mark = time.perf_counter()
    for step, (images, labels) in enumerate(loader, start=1):
        images = images.to(memory_format=memory_format)
        embeddings = backbone(images)
        cosines = F.linear(F.normalize(embeddings), F.normalize(head)).clamp(-1, 1)
        loss = F.cross_entropy(arcface_logits(cosines, labels), labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(backbone.parameters(), MAX_GRAD_NORM)
        optimizer.step()
        optimizer.zero_grad()
        for group in optimizer.param_groups:   # PolynomialLRWarmup, power 1, no warm-up
            group["lr"] = LEARNING_RATE * (1 - step / total_steps)
        losses.append(loss.item())
        if step % args.frequent == 0:
            print("step %d loss %.4f lr %.6f" % (step, sum(losses[-args.frequent:]) / args.frequent,
                                                 optimizer.param_groups[0]["lr"]), file=sys.stderr)
        now = time.perf_counter()
        times.append(now - mark)
        mark = now
    speeds = [args.batch_size / t for t in times]
    return {"layout": layout, "steps": len(times), "first_loss": losses[0], "last_loss": losses[-1],
            "images_per_second": statistics.median(speeds[args.warmup:]), "step_images_per_second": speeds,
            "torch": torch.__version__}


def run_torch_process(args, layout):
    command = [sys.executable, os.path.abspath(__file__), "--torch-layout", layout, "--data", args.data,
               "--classes", str(args.classes)] + [
        flag for name in ("model", "image_size", "batch_size", "warmup", "threads", "frequent")
        for flag in ("--" + name.replace("_", "-"), str(getattr(args, name)))]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit("PyTorch %s run failed with status %d" % (layout, done.returncode))
    return json.loads(done.stdout.strip().splitlines()[-1])


def check_first_loss(name, result, classes):
    """An untrained model's cosines to the N(0, 0.01) class centres are near 0 (spread about 1/sqrt(512)), so
    ArcFace's first loss is about -log(e^(s cos(pi/2 + m)) / (e^(s cos(pi/2 + m)) + classes - 1))
    = 64 sin(0.5) + log(classes - 1) (30.68 + log(C - 1)); s x the cosines' spread moves it by a few units."""
    expected = SCALE * math.sin(MARGIN) + math.log(classes - 1)
    if not (math.isfinite(result["first_loss"]) and abs(result["first_loss"] - expected) < 0.2 * expected):
        raise SystemExit("%s: step-1 loss %.4f, expected about %.2f: not the same head and loss?"
                         % (name, result["first_loss"], expected))
    if not math.isfinite(result["last_loss"]):
        raise SystemExit("%s: the loss became %r" % (name, result["last_loss"]))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--haarface", default=os.path.join(ROOT, ".build/release/haarface"))
    parser.add_argument("--model", choices=["r18", "r34", "r50", "r100", "r200", "mbf"], default="r18")
    parser.add_argument("--image-size", type=int, default=112)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=8, help="timed steps per run (after the warm-up)")
    parser.add_argument("--warmup", type=int, default=2, help="first steps not timed (worker start-up, caches)")
    parser.add_argument("--rounds", type=int, default=3, help="HaarFace, PyTorch NCHW, PyTorch channels_last, repeated")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--frequent", type=int, default=10, help="a log line every this many steps (both sides)")
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "haarface-trainer-bench"),
                        help="where the synthetic set (kept) and the runs' outputs go")
    parser.add_argument("--json", help="also write every measurement to this file")
    parser.add_argument("--torch-layout", choices=["nchw", "channels_last"], help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--classes", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.torch_layout:
        print(json.dumps(run_torch(args, args.torch_layout)))
        return

    os.makedirs(args.work, exist_ok=True)
    wanted = (args.warmup + args.steps) * args.batch_size
    args.data, args.classes, images = make_data(args.haarface, args.image_size, wanted, args.work)
    steps = images // args.batch_size
    rounds = []
    for number in range(1, args.rounds + 1):
        ours = run_haarface(args, args.data, args.work)
        print("round %d: haarface %.2f images/s" % (number, ours["images_per_second"]), file=sys.stderr)
        theirs = [run_torch_process(args, layout) for layout in ("nchw", "channels_last")]
        for result in theirs:
            print("round %d: torch %s %.2f images/s" % (number, result["layout"], result["images_per_second"]),
                  file=sys.stderr)
        for name, result in [("haarface", ours)] + [("torch " + r["layout"], r) for r in theirs]:
            check_first_loss(name, result, args.classes)
            if result["steps"] != steps:
                raise SystemExit("%s ran %d steps, expected %d" % (name, result["steps"], steps))
        best = max(theirs, key=lambda r: r["images_per_second"])
        rounds.append({"haarface": ours, "torch": theirs, "torch_best": best["layout"],
                       "ratio": ours["images_per_second"] / best["images_per_second"]})
    speed_ours = statistics.median(r["haarface"]["images_per_second"] for r in rounds)
    speed_theirs = statistics.median(max(t["images_per_second"] for t in r["torch"]) for r in rounds)
    summary = {
        "model": args.model, "image_size": args.image_size, "batch_size": args.batch_size, "classes": args.classes,
        "steps_per_run": steps, "warmup_steps": args.warmup, "rounds": args.rounds, "threads": args.threads,
        "haarface_images_per_second": speed_ours, "torch_images_per_second": speed_theirs,
        "ratio_haarface_to_torch": speed_ours / speed_theirs, "target": TARGET,
        "per_round": [{"haarface": round(r["haarface"]["images_per_second"], 2),
                       "torch": {t["layout"]: round(t["images_per_second"], 2) for t in r["torch"]},
                       "ratio": round(r["ratio"], 3)} for r in rounds],
        "first_loss": {"haarface": rounds[0]["haarface"]["first_loss"],
                       "torch": {t["layout"]: t["first_loss"] for t in rounds[0]["torch"]}},
        "load_average": os.getloadavg(),
    }
    print(json.dumps(summary, indent=1))
    print("%-8s %-10s %5s %16s %16s %6s %6s" % ("model", "image size", "batch", "haarface img/s", "pytorch img/s",
                                               "ratio", "target"))
    print("%-8s %-10s %5d %16.2f %16.2f %6.2f %6.1f" % (args.model, "%dx%d" % (args.image_size, args.image_size),
                                                     args.batch_size, speed_ours, speed_theirs,
                                                     speed_ours / speed_theirs, TARGET))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"summary": summary, "rounds": rounds}, f, indent=1)


if __name__ == "__main__":
    main()
