"""The extra cell of results/mini-passes: k=4 at equal steps (12) on the mini-passes trigger organism, trained and
evaluated with the sweep's own functions and mini-passes.toml's settings, so that equal steps and equal passes
compare on the same code and organism weights. Run after `caught sweep experiments/mini-passes.toml`:

    python experiments/mini_passes_extra_cell.py     # prints the cell's row as JSON
"""

import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    from caught.compare import evaluate_checkpoint
    from caught.config import load_config
    from training.sft import Hyper
    from training.train_against import train_against

    cfg = load_config(Path("experiments/mini-passes.toml"))
    ev = cfg.eval
    org = "mini-passes-trigger-hate-s0"
    t0 = time.perf_counter()
    path, m = train_against(org, Path(f"runs/mini-passes/caught/{org}.json"), 4, seed=0, responses="self", steps=12,
                            device="cpu", hyper=Hyper(method="lora", learning_rate=cfg.train.lr,
                                                      batch_size=cfg.train.batch_size),
                            name=f"{org}-lora-k4-steps12", check_samples=cfg.train.check_samples)
    row = evaluate_checkpoint(str(path), "trigger", "hate", n=ev.n, usefulness_n=ev.usefulness_n,
                              temperature=ev.temperature, trained_samples=ev.trained_samples, seed=0, log_dir="logs",
                              device="cpu", max_tokens=ev.max_tokens)
    row.update(steps_to_fix=m.steps_to_fix, steps=m.steps, seconds=time.perf_counter() - t0)
    print(json.dumps({k: v for k, v in row.items() if not k.startswith("useful_") or k == "useful_all"}, default=str))


if __name__ == "__main__":
    main()
