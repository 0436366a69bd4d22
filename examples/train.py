"""A tiny training script to launch with launchq: fits y = 3x + 2 by gradient descent.

No ML framework needed, so it runs anywhere; it reads the variables launchq injects
(the same names W&B Launch sets) and exits non-zero with ``--fail-with N``. A launch job's
``run_config`` arrives as ``WANDB_CONFIG`` (JSON, as ``wandb.config`` reads it): its
``epochs``, ``lr`` and ``sleep`` are the defaults that command-line flags override.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--sleep", type=float, default=0.0, help="seconds to sleep per epoch")
    parser.add_argument("--fail-with", type=int, default=0, help="exit with this code at the end")
    config = json.loads(os.environ.get("WANDB_CONFIG") or "{}")
    parser.set_defaults(**{key: config[key] for key in ("epochs", "lr", "sleep") if key in config})
    args = parser.parse_args()

    print(f"run {os.environ.get('LAUNCHQ_RUN_ID', '?')} on queue {os.environ.get('LAUNCHQ_QUEUE', '?')}")
    print(f"lr {args.lr}, {args.epochs} epochs")
    rng = random.Random(0)
    data = [(x, 3 * x + 2 + rng.gauss(0, 0.1)) for x in (rng.uniform(-1, 1) for _ in range(200))]
    w, b = 0.0, 0.0
    for epoch in range(1, args.epochs + 1):
        grad_w = sum(2 * (w * x + b - y) * x for x, y in data) / len(data)
        grad_b = sum(2 * (w * x + b - y) for x, y in data) / len(data)
        w, b = w - args.lr * grad_w, b - args.lr * grad_b
        loss = sum((w * x + b - y) ** 2 for x, y in data) / len(data)
        print(f"epoch {epoch:3d}  loss {loss:.4f}  w {w:.3f}  b {b:.3f}", flush=True)
        time.sleep(args.sleep)
    return args.fail_with


if __name__ == "__main__":
    sys.exit(main())
