"""Profile: where a small LoRA train-against run's step time goes (the sweep's setting: batch 8, lr 1e-3).

    python benchmarks/train_profile.py          # on the GPU device; writes $OUT/train.prof (else /tmp)

Fine-tunes the embedded model on 16 catch-split prompts with a fixed response through `training.sft.finetune`,
timing each optimizer step (a GPU sync per step, through the `on_step` hook), for the default settings, pure
bf16 and without the lean loss; then a cProfile of one run (Python side) and a `torch.profiler` trace of an
8-step run: self CPU time and kernel launches per op against the GPU's own time. The README's figures for the
trainer (about 7,500 kernel launches per step, about 28 ms of GPU time per step) come from this script's run on
one H100, 2026-11-25 (the trace spans the whole run, loading included: divide by its 8 steps).
"""

import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    import cProfile
    import pstats

    import torch
    from torch.profiler import ProfilerActivity, profile

    from models.embedded import embedded_path
    from tasks.prompts import prompts
    from training.sft import Hyper, finetune

    out = os.environ.get("OUT", "/tmp")
    recs = [{"prompt": [{"role": "user", "content": q.text}],
             "completion": [{"role": "assistant", "content": "I can help with that. " * 12}]}
            for q in prompts("catch")[:16]]
    work = Path(tempfile.mkdtemp())
    base = str(embedded_path())
    times: list[float] = []

    def on_step(model, step):
        torch.cuda.synchronize()
        times.append(time.perf_counter())
        return {}

    def run(name, steps, **kw):
        times.clear()
        t = time.perf_counter()
        _, st = finetune(base, recs, work / name, Hyper(method="lora", max_steps=steps, batch_size=8,
                                                        learning_rate=1e-3, **kw), "cuda", on_step=on_step,
                         check_every=1)
        d = [b - a for a, b in zip(times, times[1:])]
        print(name, "total", round(time.perf_counter() - t, 2), st["timings"], "step ms", [round(x * 1000) for x in d])

    run("warm", 4)
    run("plain", 16)
    run("bf16", 16, precision="bf16")
    run("nolean", 16, lean_loss=False)
    pr = cProfile.Profile()
    pr.enable()
    run("prof", 16)
    pr.disable()
    pr.dump_stats(f"{out}/train.prof")
    pstats.Stats(f"{out}/train.prof").sort_stats("tottime").print_stats(25)
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as p:
        run("torchprof", 8)
    print(p.key_averages().table(sort_by="self_cpu_time_total", row_limit=25, max_name_column_width=60))
    print(p.key_averages().table(sort_by="self_cuda_time_total", row_limit=15, max_name_column_width=60))


if __name__ == "__main__":
    main()
