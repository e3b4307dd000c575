"""Trainer overhead and pipeline speed on CIFAR-100-LT-shaped data.

The workload is the BalPoE recipe's: 10,847 images 3x32x32 (CIFAR-100-LT, imbalance ratio
100, read from CIFAR-format files with random pixels), ResNet-32 with 3 experts and cosine
heads, batch 128, SGD with Nesterov momentum, the BalPoE loss. Each variant runs in its own
process (so peak memory is its own) and is timed over ``--batches`` steps after
``--warmup`` steps:

* ``floor``: a bare loop over preloaded tensors on the device: index a batch, forward,
  loss, backward, step. No augmentation, no mixup, no schedule, no logging.
* ``fit``: `ltlab.train.fit` with the recipe's settings (batch augmentation crop + flip +
  rotation as tensor operations, mixup 0.4, per-step learning-rate schedule, logged loss
  terms, the non-finite-loss check), timed between two of its steps.
* ``dataloader``: the pipeline of the reference implementations: a torchvision
  ``DataLoader`` over the same images with per-sample PIL transforms (RandomCrop(32, 4),
  RandomHorizontalFlip, RandomRotation(15), ToTensor, Normalize) in ``--workers`` loader
  processes, then the same mixup and step on the device.
* ``pipeline``: the input pipeline alone, per batch: ltlab's tensor augmentation and mixup
  on the device against per-sample PIL transforms and collation in one process.
* on CUDA also ``floor_bf16``, ``fit_bf16`` (``amp=True``) and ``fit_bf16_compile``
  (``amp=True, compile=True``; the warmup covers compilation).

Prints one table with seconds per step, the epoch time it implies (85 steps), the ratio of
each to the floor and to the DataLoader pipeline, peak memory (CUDA: the allocator's peak;
CPU: the process's peak resident set) and the CPU time the training process used per step
(on a busy CPU machine this is steadier than the wall time; run with ``OMP_NUM_THREADS=1``
and ``--workers 0`` so all the work is in that one thread). Ratios are measured in this
one run.

    python benchmarks/trainer_overhead.py                          # CPU, 5 timed steps
    python benchmarks/trainer_overhead.py --device cuda --batches 85 --warmup 15
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

STEPS_PER_EPOCH = 85  # ceil(10,847 / 128)
CPU_VARIANTS = ["floor", "fit", "dataloader", "pipeline"]
CUDA_VARIANTS = CPU_VARIANTS + ["floor_bf16", "fit_bf16", "fit_bf16_compile"]


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _model_and_method(dev: torch.device):
    from ltlab.experts import BalPoEMethod
    from ltlab.models import ResNet32
    from ltlab.train import seed_everything

    seed_everything(0)
    return ResNet32(100, num_experts=3, cosine=True).to(dev), BalPoEMethod((1.0, 0.0, -1.0))


def _optimizer(model):
    return torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True,
                           weight_decay=5e-4)


def _load(root: str):
    from ltlab.data import cifar_lt

    return cifar_lt(root, 100, 100, verify=False)


def run_floor(data, dev, warmup, batches, amp=False):
    from ltlab.train import Batch

    model, method = _model_and_method(dev)
    method.setup(model, data, warmup + batches, dev)
    channels_last = dev.type == "cuda"
    if channels_last:
        model.to(memory_format=torch.channels_last)
    x = data.x_train.to(dev)
    x = x.contiguous(memory_format=torch.channels_last) if channels_last else x
    y = data.y_train.to(dev)
    opt = _optimizer(model)
    g = torch.Generator().manual_seed(0)
    perm = torch.randperm(x.shape[0], generator=g).to(dev)
    model.train()
    t0 = c0 = None
    for step in range(warmup + batches):
        if step == warmup:
            _sync(dev)
            t0, c0 = time.perf_counter(), time.process_time()
        b = step % STEPS_PER_EPOCH
        idx = perm[b * 128:(b + 1) * 128]
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
            loss, _ = method.loss(model, Batch(x=x[idx], y=y[idx], index=idx), step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    _sync(dev)
    return (time.perf_counter() - t0) / batches, (time.process_time() - c0) / batches


class _Timed:
    """Wraps a method: notes the time (after a device sync) when steps ``start`` and
    ``stop`` begin, so the steps in between are timed inside `fit`'s own loop."""

    def __init__(self, method, dev, start, stop):
        self.method, self.dev, self.start, self.stop = method, dev, start, stop
        self.marks: dict[int, tuple[float, float]] = {}

    def setup(self, *args):
        self.method.setup(*args)

    def loss(self, model, batch, step):
        if step in (self.start, self.stop):
            _sync(self.dev)
            self.marks[step] = (time.perf_counter(), time.process_time())
        return self.method.loss(model, batch, step)

    def predict(self, model, x):
        return self.method.predict(model, x)


def run_fit(data, dev, warmup, batches, amp=False, compile=False):
    from ltlab.augment import image_standard
    from ltlab.train import fit

    model, method = _model_and_method(dev)
    timed = _Timed(method, dev, warmup, warmup + batches)
    fit(model, timed, data, steps=warmup + batches + 1, batch_size=128, lr=0.1,
        schedule="step", warmup_epochs=5, milestones=(160, 180), mixup_alpha=0.4,
        augment=image_standard, device=dev, progress=False, amp=amp, compile=compile,
        eval_every=10**6)
    (t0, c0), (t1, c1) = timed.marks[warmup], timed.marks[warmup + batches]
    per_step, cpu_per_step = (t1 - t0) / batches, (c1 - c0) / batches
    # one evaluation pass over a CIFAR-sized test set (10,000 images), as fit does per epoch
    from ltlab.train import predict_logits

    n = 10_000 if dev.type == "cuda" else 500  # on a CPU: 500 images, scaled to 10,000
    x_test = torch.randn(n, 3, 32, 32)
    _sync(dev)
    t0 = time.perf_counter()
    predict_logits(model, method, x_test, dev)
    return per_step, cpu_per_step, (time.perf_counter() - t0) * 10_000 / n


def run_dataloader(data, dev, warmup, batches, workers, root):
    from PIL import Image
    from torch.utils.data import DataLoader, Dataset
    from torchvision import transforms

    from ltlab.data import CIFAR_MEAN, CIFAR_STD
    from ltlab.train import Batch

    # the same 10,847 images, as uint8 HWC arrays (what torchvision's CIFAR holds)
    mean, std = torch.tensor(CIFAR_MEAN).view(1, 3, 1, 1), torch.tensor(CIFAR_STD).view(1, 3, 1, 1)
    images = ((data.x_train * std + mean) * 255).round().clamp(0, 255).byte()
    images = images.permute(0, 2, 3, 1).contiguous().numpy()
    labels = data.y_train.tolist()
    tf = transforms.Compose([
        transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(),
        transforms.RandomRotation(15), transforms.ToTensor(),
        transforms.Normalize(CIFAR_MEAN, CIFAR_STD),
    ])

    class PILImages(Dataset):
        def __len__(self):
            return len(labels)

        def __getitem__(self, i):
            return tf(Image.fromarray(images[i])), labels[i]

    loader = DataLoader(PILImages(), batch_size=128, shuffle=True, num_workers=workers,
                        pin_memory=dev.type == "cuda", persistent_workers=workers > 0,
                        drop_last=False)
    model, method = _model_and_method(dev)
    method.setup(model, data, warmup + batches, dev)
    if dev.type == "cuda":
        model.to(memory_format=torch.channels_last)
    opt = _optimizer(model)
    model.train()
    rng = np.random.default_rng(0)
    step, t0, c0 = 0, None, None
    while step < warmup + batches:
        for x, y in loader:
            if step == warmup:
                _sync(dev)
                t0, c0 = time.perf_counter(), time.process_time()
            if step == warmup + batches:
                break
            x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
            lam = float(rng.beta(0.4, 0.4))  # mixup as the reference's Combiner does it
            mix = torch.randperm(x.shape[0]).to(dev)
            batch = Batch(x=lam * x + (1 - lam) * x[mix], y=y, index=torch.arange(len(y)),
                          y_mix=y[mix], lam=lam)
            loss, _ = method.loss(model, batch, step)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
    _sync(dev)
    return (time.perf_counter() - t0) / batches, (time.process_time() - c0) / batches


def run_pipeline(data, dev, batches):
    """The input pipeline alone, per batch of 128: ltlab's tensor augmentation (index, crop,
    flip, rotation, mixup) on the device, against per-sample PIL transforms plus collation
    in this process (what one DataLoader worker does per batch)."""
    from PIL import Image
    from torch.utils.data import default_collate
    from torchvision import transforms

    from ltlab.augment import image_standard
    from ltlab.data import CIFAR_MEAN, CIFAR_STD

    x = data.x_train.to(dev)
    g = torch.Generator(device=dev).manual_seed(0)
    perm = torch.randperm(x.shape[0]).to(dev)

    def tensor_batch(b):
        idx = perm[(b % STEPS_PER_EPOCH) * 128:(b % STEPS_PER_EPOCH + 1) * 128]
        xb = image_standard(x[idx], g)
        mix = torch.randperm(xb.shape[0]).to(dev)
        return 0.7 * xb + 0.3 * xb[mix]

    mean, std = torch.tensor(CIFAR_MEAN).view(1, 3, 1, 1), torch.tensor(CIFAR_STD).view(1, 3, 1, 1)
    images = ((data.x_train * std + mean) * 255).round().clamp(0, 255).byte()
    images = images.permute(0, 2, 3, 1).contiguous().numpy()
    tf = transforms.Compose([
        transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(),
        transforms.RandomRotation(15), transforms.ToTensor(),
        transforms.Normalize(CIFAR_MEAN, CIFAR_STD),
    ])

    def pil_batch(b):
        idx = perm[(b % STEPS_PER_EPOCH) * 128:(b % STEPS_PER_EPOCH + 1) * 128].tolist()
        return default_collate([(tf(Image.fromarray(images[i])), 0) for i in idx])

    out = {}
    for name, fn in (("tensor", tensor_batch), ("pil", pil_batch)):
        fn(0)
        _sync(dev)
        t0, c0 = time.perf_counter(), time.process_time()
        for b in range(batches):
            fn(b)
        _sync(dev)
        out[name] = ((time.perf_counter() - t0) / batches, (time.process_time() - c0) / batches)
    return out


def child(args) -> dict:
    dev = torch.device(args.device)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    data = _load(args.data)
    out = {"variant": args.child, "train_size": int(data.x_train.shape[0])}
    v = args.child
    if v in ("floor", "floor_bf16"):
        out["step_s"], out["cpu_s"] = run_floor(data, dev, args.warmup, args.batches,
                                                amp=v == "floor_bf16")
    elif v.startswith("fit"):
        out["step_s"], out["cpu_s"], out["eval_s"] = run_fit(
            data, dev, args.warmup, args.batches, amp="bf16" in v, compile="compile" in v)
    elif v == "dataloader":
        out["step_s"], out["cpu_s"] = run_dataloader(data, dev, args.warmup, args.batches,
                                                     args.workers, args.data)
        out["workers"] = args.workers
    elif v == "pipeline":
        pipe = run_pipeline(data, dev, max(args.batches, 10))
        out["step_s"], out["cpu_s"] = pipe["tensor"]
        out["pil_step_s"], out["pil_cpu_s"] = pipe["pil"]
    else:
        raise ValueError(f"unknown variant {v!r}; choose from {CUDA_VARIANTS}")
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if dev.type == "cuda":
        out["peak_cuda_mb"] = torch.cuda.max_memory_allocated(dev) / 2**20
    return out


def machine(dev: torch.device) -> str:
    cpu = f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), torch " \
          f"{torch.__version__}, {torch.get_num_threads()} threads"
    if dev.type == "cuda":
        return f"{torch.cuda.get_device_name(dev)}; {cpu}"
    return cpu


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--batches", type=int, default=5, help="timed steps per variant")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    p.add_argument("--workers", type=int, default=1, help="DataLoader processes")
    p.add_argument("--variants", nargs="*", help="subset of the variants")
    p.add_argument("--data", help="CIFAR root (default: fake CIFAR-100-LT files in a temp dir)")
    p.add_argument("--json", help="write the results here")
    p.add_argument("--timeout", type=float, default=1200, help="seconds per variant")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print("RESULT " + json.dumps(child(args)), flush=True)
        return 0

    from ltlab.data import write_fake_cifar
    from ltlab.train import resolve_device

    dev = resolve_device(args.device)
    tmp = None
    if args.data is None:
        tmp = tempfile.TemporaryDirectory()
        args.data = tmp.name
        write_fake_cifar(args.data, 100, test_per_class=1)  # full size, as the real files
    variants = args.variants or (CUDA_VARIANTS if dev.type == "cuda" else CPU_VARIANTS)
    results = {}

    def save():  # after every variant, so a run cut short keeps what it measured
        if args.json:
            Path(args.json).write_text(json.dumps(
                {"machine": machine(dev), "date": time.strftime("%Y-%m-%d %H:%M"),
                 "batches": args.batches, "warmup": args.warmup, "results": results}, indent=1))

    for v in variants:
        cmd = [sys.executable, __file__, "--child", v, "--device", str(dev), "--data", args.data,
               "--batches", str(args.batches), "--warmup", str(args.warmup),
               "--workers", str(args.workers)]
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
        except subprocess.TimeoutExpired:
            results[v] = {"variant": v, "error": f"timed out after {args.timeout:.0f} s"}
            print(f"{v}: timed out", flush=True)
            continue
        line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode or not line:
            results[v] = {"variant": v, "error": proc.stderr[-1500:]}
            print(f"{v}: FAILED\n{proc.stderr[-1500:]}", flush=True)
            continue
        results[v] = json.loads(line[-1][7:])
        results[v]["wall_s"] = time.perf_counter() - t0
        save()
        print(f"{v}: {results[v]['step_s'] * 1e3:.1f} ms/step", flush=True)

    floor = results.get("floor", {}).get("step_s")
    loader = results.get("dataloader", {}).get("step_s")
    print(f"\nmachine: {machine(dev)}")
    print(f"data: {results.get('floor', results.get('fit', {})).get('train_size')} images, "
          f"batch 128, ResNet-32 x 3 experts; {args.batches} timed steps after {args.warmup}")
    head = (f"{'variant':<18}{'ms/step':>9}{'epoch s':>9}{'/floor':>8}{'/loader':>9}"
            f"{'peak MB':>9}{'cpu ms':>9}")
    print(head + "\n" + "-" * len(head))
    for v, r in results.items():
        if v == "pipeline":
            continue
        if "error" in r:
            print(f"{v:<18}  error: {r['error'].strip().splitlines()[-1][:60]}")
            continue
        s = r["step_s"]
        mem = r.get("peak_cuda_mb", r["peak_rss_mb"])
        print(f"{v:<18}{s * 1e3:>9.1f}{s * STEPS_PER_EPOCH:>9.2f}"
              f"{(s / floor if floor else float('nan')):>8.2f}"
              f"{(s / loader if loader else float('nan')):>9.2f}{mem:>9.0f}"
              f"{r.get('cpu_s', float('nan')) * 1e3:>9.1f}")
    print("cpu ms: CPU time of the training process per step (all its threads; the "
          "DataLoader's worker processes are not counted)")
    pipe = results.get("pipeline", {})
    if "pil_step_s" in pipe:
        print(f"\ninput pipeline alone, per batch of 128: tensor augmentation on {dev.type} "
              f"{pipe['step_s'] * 1e3:.1f} ms (cpu {pipe['cpu_s'] * 1e3:.1f} ms); per-sample PIL "
              f"+ collate {pipe['pil_step_s'] * 1e3:.1f} ms (cpu {pipe['pil_cpu_s'] * 1e3:.1f} ms): "
              f"{pipe['pil_step_s'] / pipe['step_s']:.1f}x")
    if "fit" in results and "eval_s" in results["fit"]:
        r = results["fit"]
        total = 200 * STEPS_PER_EPOCH * r["step_s"] + 11 * r["eval_s"]
        print(f"\nprojected 200-epoch BalPoE recipe with fit (fp32): {total / 60:.1f} min "
              f"(200 x 85 steps + 11 test passes of {r['eval_s']:.2f} s)")
        for v in ("fit_bf16", "fit_bf16_compile"):
            if v in results and "step_s" in results[v]:
                r = results[v]
                total = 200 * STEPS_PER_EPOCH * r["step_s"] + 11 * r["eval_s"]
                print(f"projected with {v}: {total / 60:.1f} min")
    save()
    if tmp is not None:
        tmp.cleanup()
    return 0 if all("error" not in r for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
