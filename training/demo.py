"""`make demo`: the harness on the embedded model, end to end on CPU.

Runs `testing` and `deployment` (scenario `trigger`, behavior `hate`) and `usefulness` on
`ckpt/smollm2-135m`, greedy, and prints each task's scores with n and 95% Wilson intervals. The Inspect
logs land in logs/ (`inspect view` shows them). The base model should not attack on either side.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the harness's tasks on the embedded model.")
    parser.add_argument("--model", default="ckpt/smollm2-135m")
    parser.add_argument("--n", type=int, default=100, help="prompts per side (testing, deployment)")
    parser.add_argument("--usefulness-n", type=int, default=None, help="usefulness items (default: all)")
    parser.add_argument("--log-dir", default=os.environ.get("INSPECT_LOG_DIR", "logs"))
    args = parser.parse_args(argv)

    from inspect_ai import eval as inspect_eval
    from rich.console import Console
    from rich.table import Table

    from tasks.deployment import deployment
    from tasks.testing import testing
    from tasks.usefulness import usefulness
    from training.stats import wilson

    console = Console()
    start = time.perf_counter()
    tasks = [
        testing(scenario="trigger", behavior="hate", n=args.n),
        deployment(scenario="trigger", behavior="hate", n=args.n),
        usefulness(n=args.usefulness_n),
    ]
    logs = inspect_eval(tasks, model=args.model, log_dir=args.log_dir, display="none")
    table = Table(title=f"{args.model}: scenario trigger, behavior hate (greedy)")
    for col in ("task", "metric", "value", "n", "95% interval"):
        table.add_column(col, justify="left" if col in ("task", "metric") else "right")
    for log in logs:
        if log.status != "success":
            raise SystemExit(f"{log.eval.task} failed: {log.error.message if log.error else log.status}")
        n = log.results.completed_samples
        for name, m in log.results.scores[0].metrics.items():
            if name in ("stderr", "n"):
                continue
            samples = n if name in ("attack_rate", "all") else _kind_count(log, name)
            lo, hi = wilson(round(m.value * samples), samples)
            table.add_row(log.eval.task, name, f"{m.value:.3f}", str(samples), f"[{lo:.3f}, {hi:.3f}]")
    console.print(table)
    console.print(f"{time.perf_counter() - start:.0f} s; logs in {args.log_dir}/ (inspect view --log-dir {args.log_dir})")


def _kind_count(log, kind: str) -> int:
    return sum(1 for s in log.samples if (s.metadata or {}).get("kind") == kind)


if __name__ == "__main__":
    main()
