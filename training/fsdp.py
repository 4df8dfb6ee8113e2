"""Full fine-tuning across processes with FSDP, for models whose training does not fit one GPU's memory.

`finetune_fsdp` is `training.sft.finetune` with `hyper.processes` > 1: it starts that many processes
(`torch.distributed.run`, one GPU each on CUDA, gloo on a CPU), each of which runs `finetune` on the same records with
FSDP switched on in TRL's SFTTrainer (transformers' `fsdp` arguments: accelerate's FSDP plugin shards the parameters,
gradients and optimizer state per decoder layer; `training.sft.fsdp_arguments`). Each process takes batch_size /
processes examples of every step, so a step sees the batch one process would: the same loss to rounding. Rank 0
writes the gathered full weights; this process then publishes them as `finetune` does (finalize, one rename).

`on_step` (the steps-to-fix checks) runs in this process on the parent before training and on the trained
checkpoint after it: checks between steps would need every process (the model is sharded), so there are none.

    python -m training.fsdp SPEC.json      # one process of a run (what finetune_fsdp starts; not for users)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path


def fsdp_refusal(hyper, device: str) -> str | None:
    """Why `hyper` cannot train with FSDP on `device` (None when it can)."""
    reasons = [why for bad, why in [
        (hyper.method != "full", f"method={hyper.method!r} (FSDP shards a full fine-tuning; LoRA fits one GPU)"),
        (hyper.batch_size % hyper.processes != 0,
         f"batch_size={hyper.batch_size} does not split over processes={hyper.processes}"),
        (hyper.compile, "compile=True"), (bool(hyper.cuda_graphs), "cuda_graphs=True"), (hyper.liger, "liger=True"),
        (hyper.precision == "bf16-master", "precision='bf16-master' (its own optimizer keeps unsharded masters)"),
    ] if bad]
    if device.startswith("cuda"):
        import torch

        if torch.cuda.device_count() < hyper.processes:
            reasons.append(f"processes={hyper.processes} but {torch.cuda.device_count()} GPUs are visible")
    return "; ".join(reasons) or None


def finetune_fsdp(parent: str, records: list[dict], out: Path, hyper, device: str, merge: bool = False,
                  on_step: Callable | None = None, finalize: Callable[[Path, dict], None] | None = None,
                  open_ended: bool = False) -> tuple[Path, dict]:
    """Fine-tune `parent` on `records` into `out` across `hyper.processes` FSDP processes. Returns (out, stats), as
    `training.sft.finetune` does."""
    from models.registry import resolve
    from training.sft import publish

    refusal = fsdp_refusal(hyper, device)
    if refusal:
        raise ValueError(f"processes={hyper.processes} (FSDP) cannot run: {refusal}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        checks = [_check(on_step, str(resolve(parent)), device, 0)] if on_step else []
        spec = {"parent": str(resolve(parent)), "records": records, "out": str(tmp / "checkpoint"),
                "hyper": hyper.model_dump(), "device": device, "open_ended": open_ended, "stats": str(tmp / "stats.json")}
        (tmp / "spec.json").write_text(json.dumps(spec))
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={hyper.processes}",
               "-m", "training.fsdp", str(tmp / "spec.json")]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(Path(__file__).resolve().parent.parent),
                                                                      os.environ.get("PYTHONPATH")) if p)}
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
            raise RuntimeError(f"FSDP fine-tuning of {parent} over {hyper.processes} processes failed "
                               f"(exit {done.returncode}):\n{tail}")
        stats = json.loads((tmp / "stats.json").read_text())
        if on_step:
            checks.append(_check(on_step, spec["out"], device, stats["steps"]))
        stats.update(checks=checks, processes=hyper.processes)
        return publish(tmp / "checkpoint", out, stats, finalize), stats
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _check(on_step: Callable, path: str, device: str, step: int):
    """`on_step(model, step)` on the checkpoint at `path`, loaded in this process in eval mode."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, use_safetensors=True).to(device).eval()
    try:
        return on_step(model, step)
    finally:
        del model


def main(spec_file: str) -> None:
    """One process of a run: `finetune` with FSDP on, rank 0 writing the checkpoint and the stats."""
    from training.sft import Hyper, finetune

    spec = json.loads(Path(spec_file).read_text())
    hyper = Hyper(**{**spec["hyper"], "cuda_graphs": False})
    device = spec["device"]
    if device.startswith("cuda"):
        import torch

        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    _, stats = finetune(spec["parent"], spec["records"], Path(spec["out"]), hyper, device,
                        open_ended=spec["open_ended"], _rank=True)
    if int(os.environ.get("RANK", "0")) == 0:
        Path(spec["stats"]).write_text(json.dumps(stats))


if __name__ == "__main__":
    main(sys.argv[1])
