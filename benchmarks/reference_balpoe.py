"""Side by side with the reference BalPoE implementation (emasa/BalPoE-CalibratedLT).

Both train the same thing on the same files: BalPoE standard training on CIFAR-100-LT,
imbalance ratio 100 (ResNet-32, 3 experts, cosine heads, mixup 0.4, batch 128), read from
CIFAR-format files with random pixels (`ltlab.data.write_fake_cifar`). Each runs in its
own process and is timed over ``--batches`` steps after ``--warmup`` steps; the epoch time
is 85 steps of that.

* ``reference``: the reference's own training loop, untouched: its config
  ``configs/mixup/standard_training/config_cifar100_ir100_bs-experts.json`` (data folder,
  save folder and, if asked, loader processes changed), its data loader (torchvision
  ``IMBALANCECIFAR100`` with per-sample PIL transforms), model, ``BSExpertLoss``,
  ``Combiner`` (mixup) and ``Trainer._train_epoch``. Two things are done from outside:
  torchvision's MD5 check of the CIFAR files is switched off (the files hold random
  pixels), ``random`` is put into ``utils.util`` (its ``seed_everything`` uses it without
  importing it, so the released ``train.py`` stops with a NameError), and a forward
  pre-hook on the model notes the time of the timed steps. Its ``seed_everything`` also
  sets ``cudnn.deterministic = True``, as its ``train.py`` does.
* ``ltlab``: `ltlab.train.fit` with the recipe's settings (`benchmarks/trainer_overhead.py`,
  variant ``fit``).

The reference's code is not part of ltlab and is never committed: give the folder of a
checkout with ``--reference`` (it needs pandas, matplotlib and pytorch_lightning, which it
imports at module level; ``--extra-path`` adds a folder holding them to its import path).

    python benchmarks/reference_balpoe.py --reference /tmp/balpoe-ref
    python benchmarks/reference_balpoe.py --reference .reference/BalPoE-CalibratedLT \\
        --device cuda --batches 85 --warmup 15
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONFIG = "configs/mixup/standard_training/config_cifar100_ir100_bs-experts.json"
STEPS_PER_EPOCH = 85


def run_reference(args) -> dict:
    import torch
    import torchvision.datasets as tvd

    ref = Path(args.reference).resolve()
    sys.path.insert(0, str(ref))
    import data_loader.data_loaders as module_data
    import data_loader.imbalance_cifar as imbalance_cifar

    # the fake files hold random pixels: check that they exist, not their MD5 sums (the
    # reference's IMBALANCECIFAR100 carries its own copy of the file list)
    for cls in (tvd.CIFAR10, tvd.CIFAR100, *[c for c in vars(imbalance_cifar).values()
                                             if isinstance(c, type) and issubclass(c, tvd.CIFAR10)]):
        cls.train_list = [[f, None] for f, _ in cls.train_list]
        cls.test_list = [[f, None] for f, _ in cls.test_list]
        cls.meta = {**cls.meta, "md5": None}

    # utils/util.py's seed_everything calls random.seed without importing random (at commit
    # ca607ae its train.py stops there with a NameError): supply the module from outside
    import random

    import model.loss as module_loss
    import model.metric as module_metric
    import model.model as module_arch
    import utils.combiner as module_combiner
    import utils.util
    from parse_config import ConfigParser
    from trainer import Trainer
    from utils import learning_rate_scheduler, parse_tau_list, seed_everything

    utils.util.random = random
    cfg = json.loads((ref / CONFIG).read_text())
    cfg["data_loader"]["args"]["data_dir"] = args.data
    if args.workers is not None:
        cfg["data_loader"]["args"]["num_workers"] = args.workers
    save = tempfile.mkdtemp()
    cfg["trainer"]["save_dir"] = save
    cfg["n_gpu"] = 1 if args.device == "cuda" else 0
    os.chdir(save)  # its logger writes info.log into the working folder
    config = ConfigParser(cfg, log_config=str(ref / "logger" / "logger_config.json"))
    config["loss"]["args"]["tau_list"] = parse_tau_list(config)
    seed_everything(1)
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()

    # as the reference's train.py main() builds them
    data_loader = config.init_obj("data_loader", module_data)
    model = config.init_obj("arch", module_arch)
    criterion = config.init_obj("loss", module_loss, cls_num_list=data_loader.cls_num_list)
    metrics = [getattr(module_metric, m) for m in config["metrics"]]
    optimizer = config.init_obj("optimizer", torch.optim, model.parameters())
    lr_scheduler = learning_rate_scheduler(optimizer, config)
    combiner = config.init_obj("combiner", module_combiner, cfg=config)
    trainer = Trainer(model, criterion, metrics, optimizer, config, data_loader, combiner,
                      valid_data_loader=None, lr_scheduler=lr_scheduler,
                      len_epoch=args.warmup + args.batches)

    marks: dict[int, tuple[float, float]] = {}
    calls = [0]

    def note_time(module, inputs):
        if module.training:
            calls[0] += 1
            if calls[0] in (args.warmup + 1, args.warmup + args.batches + 1):
                if args.device == "cuda":
                    torch.cuda.synchronize()
                marks[calls[0]] = (time.perf_counter(), time.process_time())

    trainer.model.register_forward_pre_hook(note_time)
    trainer._train_epoch(1)  # len_epoch + 1 steps: the last one closes the timed window
    if args.device == "cuda":
        torch.cuda.synchronize()
    (t0, c0), (t1, c1) = marks[args.warmup + 1], marks[args.warmup + args.batches + 1]
    out = {"variant": "reference", "train_size": len(data_loader.dataset),
           "step_s": (t1 - t0) / args.batches, "cpu_s": (c1 - c0) / args.batches,
           "workers": cfg["data_loader"]["args"]["num_workers"],
           "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if args.device == "cuda":
        out["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def run_ltlab(args) -> dict:
    import torch

    sys.path.insert(0, str(HERE))
    import trainer_overhead

    dev = torch.device(args.device)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    data = trainer_overhead._load(args.data)
    step_s, cpu_s, _ = trainer_overhead.run_fit(data, dev, args.warmup, args.batches,
                                                amp=args.amp, compile=args.compile)
    out = {"variant": "ltlab", "train_size": int(data.x_train.shape[0]), "step_s": step_s,
           "cpu_s": cpu_s,
           "amp": args.amp, "compile": args.compile,
           "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if dev.type == "cuda":
        out["peak_cuda_mb"] = torch.cuda.max_memory_allocated(dev) / 2**20
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reference", required=True, help="a checkout of emasa/BalPoE-CalibratedLT")
    p.add_argument("--extra-path", help="a folder on the reference's import path (its deps)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--batches", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--workers", type=int, help="reference loader processes (config: 4)")
    p.add_argument("--amp", action="store_true", help="ltlab side: bf16 autocast")
    p.add_argument("--compile", action="store_true", help="ltlab side: torch.compile")
    p.add_argument("--data", help="CIFAR root (default: fake CIFAR-100 files in a temp dir)")
    p.add_argument("--json")
    p.add_argument("--timeout", type=float, default=1200)
    p.add_argument("--child", choices=["reference", "ltlab"], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        fn = run_reference if args.child == "reference" else run_ltlab
        print("RESULT " + json.dumps(fn(args)), flush=True)
        return 0
    if not (Path(args.reference) / CONFIG).is_file():
        print(f"{args.reference!r} is not a BalPoE-CalibratedLT checkout (no {CONFIG}).",
              file=sys.stderr)
        return 2

    from ltlab.data import write_fake_cifar

    tmp = None
    if args.data is None:
        tmp = tempfile.TemporaryDirectory()
        args.data = tmp.name
        # full-size files: the reference sizes its LT profile from the file (n_max = N / C)
        write_fake_cifar(args.data, 100, test_per_class=1)
    results = {}
    for side in ("ltlab", "reference"):
        cmd = [sys.executable, __file__, "--child", side, "--reference", args.reference,
               "--device", args.device, "--data", args.data, "--batches", str(args.batches),
               "--warmup", str(args.warmup)]
        cmd += ["--workers", str(args.workers)] if args.workers is not None else []
        cmd += ["--amp"] if args.amp else []
        cmd += ["--compile"] if args.compile else []
        env = dict(os.environ)
        if side == "reference" and args.extra_path:
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [args.extra_path,
                                                              env.get("PYTHONPATH")]))
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout,
                                  env=env)
        except subprocess.TimeoutExpired:
            results[side] = {"variant": side, "error": f"timed out after {args.timeout:.0f} s"}
            continue
        line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode or not line:
            results[side] = {"variant": side, "error": (proc.stderr or proc.stdout)[-3000:]}
            print(f"{side}: FAILED\n{results[side]['error']}", flush=True)
            continue
        results[side] = json.loads(line[-1][7:])

    print(f"\n{args.batches} timed steps after {args.warmup}, batch 128, device {args.device}")
    for side, r in results.items():
        if "error" in r:
            print(f"{side:<10} error (see above)")
            continue
        mem = r.get("peak_cuda_mb", r["peak_rss_mb"])
        print(f"{side:<10} {r['step_s'] * 1e3:8.1f} ms/step  {r['step_s'] * STEPS_PER_EPOCH:7.2f}"
              f" s/epoch  train set {r['train_size']}  peak {mem:.0f} MB  cpu "
              f"{r['cpu_s'] * 1e3:.1f} ms/step")
    if all("step_s" in r for r in results.values()) and len(results) == 2:
        ratio = results["reference"]["step_s"] / results["ltlab"]["step_s"]
        cpu_ratio = results["reference"]["cpu_s"] / results["ltlab"]["cpu_s"]
        print(f"ltlab is {ratio:.2f}x the reference's speed per epoch (wall time); the "
              f"reference's training process uses {cpu_ratio:.2f}x ltlab's CPU time per step "
              "(its loader processes not counted)")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"date": time.strftime("%Y-%m-%d %H:%M"), "device": args.device,
             "batches": args.batches, "warmup": args.warmup, "results": results}, indent=1))
    if tmp is not None:
        tmp.cleanup()
    return 0 if all("error" not in r for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
