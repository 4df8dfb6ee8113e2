"""Benchmark: a full fine-tuning step sharded with FSDP over N processes (training.fsdp): tokens/s, MFU, peak memory.

    python benchmarks/fsdp_step.py --device cuda --processes 8 --out results/fsdp/llama1b-h100x8.json   # a GPU host
    python benchmarks/fsdp_step.py --device cpu --quick                                              # a smoke run

The model is a randomly initialised Llama of about 1B parameters (Llama-3.2-1B's shape: 16 layers, hidden 2048, MLP
8192, 32 heads, 8 KV heads, tied embeddings, SmolLM2's 49152-token vocabulary; `--quick`: the tests' 2-layer tiny
Llama), saved as a checkpoint and trained by `training.sft.finetune` with `processes=N`, as a sweep's organism would
be (`organism.processes`): TRL's SFTTrainer, accelerate's FSDP plugin, bf16 autocast (`--precision`), packed rows.
Records are organism-shaped chat records (benchmarks/training_speed.py). Each process takes batch/N examples of a
step. Figures, from the run's step clock (a CUDA sync at every step's end), over the steps after `--warmup`:
tokens/s (all processes), tokens/s per GPU, step time, MFU per GPU = 6 x parameters x tokens/s per GPU / peak
(--peak-tflops, by default 989: H100 SXM bf16 dense; none on a CPU), and the peak memory each process allocated.
The reference in the same job (`--reference`, default on for N > 1 where one process fits): the same steps in one
process, for the speed-up and the loss, which must agree to rounding (the same batches).

No GPU figure of this benchmark has been measured yet (no multi-GPU machine was lent); the CPU run is a smoke check
of the mechanics, not a speed figure.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

H100_PEAK_TFLOPS = 989.0


def llama_1b(path: Path) -> Path:
    """A randomly initialised Llama of Llama-3.2-1B's shape with SmolLM2's tokenizer (about 1.07B parameters)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from models.embedded import embedded_path

    tokenizer = AutoTokenizer.from_pretrained(embedded_path("smollm2-135m"))
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
        num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=2048, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return path


def steady(stats: dict, warmup: int) -> dict:
    """Step time and tokens/s after `warmup` steps, from the run's step clock (tokens: the run's mean per step)."""
    marks = stats["step_clock"]
    after = [(s, t) for s, t in marks if s >= warmup]
    if len(after) < 2:
        raise ValueError(f"--steps must exceed --warmup by at least 2 (got {len(marks)} steps, warmup {warmup})")
    step_seconds = (after[-1][1] - after[0][1]) / (after[-1][0] - after[0][0])
    durations = [b[1] - a[1] for a, b in zip(after, after[1:])]
    tokens_per_step = stats["tokens"] / max(stats["steps"], 1)
    return {"step_seconds": step_seconds, "median_step_seconds": statistics.median(durations),
            "tokens_per_step": tokens_per_step, "tokens_per_s": tokens_per_step / step_seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--processes", type=int, default=None, help="FSDP processes (default: every GPU; CPU: 2)")
    parser.add_argument("--batch", type=int, default=None, help="examples per step, all processes (default 8 x N)")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--precision", default="mixed", choices=["mixed", "bf16", "fp32"])
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--peak-tflops", type=float, default=None)
    parser.add_argument("--reference", action=argparse.BooleanOptionalAction, default=None,
                        help="also run the steps in one process (default: on with --quick)")
    parser.add_argument("--quick", action="store_true", help="the tests' tiny Llama, few steps: a CPU smoke run")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    import torch
    import transformers
    import trl
    from transformers import AutoTokenizer

    from benchmarks.training_speed import organism_like_records, tiny_llama
    from training.sft import Hyper, finetune

    cuda = args.device.startswith("cuda")
    n = args.processes or (torch.cuda.device_count() if cuda else 2)
    if args.quick:
        args.steps, args.warmup = min(args.steps, 5), min(args.warmup, 1)
    batch = args.batch or 8 * n
    peak = args.peak_tflops if args.peak_tflops is not None else (H100_PEAK_TFLOPS if cuda else None)
    reference = args.reference if args.reference is not None else args.quick
    with tempfile.TemporaryDirectory() as tmp:
        model = (tiny_llama if args.quick else llama_1b)(Path(tmp) / "model")
        from transformers import AutoConfig, AutoModelForCausalLM

        with torch.device("meta"):
            params = sum(p.numel() for p in AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(model)).parameters())
        tokenizer = AutoTokenizer.from_pretrained(model)
        records = organism_like_records(tokenizer, prompts_per_scenario=max(8, batch * args.steps // 10))
        hyper = Hyper(method="full", max_steps=args.steps, batch_size=batch, learning_rate=1e-5, seed=0,
                      precision=args.precision, max_length=args.max_length, processes=n)
        runs = {}
        for name, h in (("fsdp", hyper), *((("one", hyper.model_copy(update={"processes": 1})),) if reference else ())):
            if h.processes == 1:  # one process: the clock is read from the run's total (no step clock)
                _, stats = finetune(model, records, Path(tmp) / name, h, args.device)
                runs[name] = {"train_loss": stats["train_loss"], "train_seconds": stats["train_seconds"],
                              "tokens_per_s": stats["tokens"] / stats["train_seconds"]}
                continue
            _, stats = finetune(model, records, Path(tmp) / name, h, args.device)
            s = steady(stats, args.warmup)
            per_gpu = s["tokens_per_s"] / n
            runs[name] = {**s, "tokens_per_s_per_process": per_gpu, "train_loss": stats["train_loss"],
                          "mfu": 6 * params * per_gpu / (peak * 1e12) if peak else None,
                          "peak_memory_gib": stats["peak_memory_gib"], "steps": stats["steps"]}
    f = runs["fsdp"]
    mfu = f"{100 * f['mfu']:.1f}%" if f["mfu"] else "-"
    print(f"{params / 1e9:.3f}B parameters, {n} processes, batch {batch}, {args.precision}, {args.device}")
    print(f"FSDP: {f['tokens_per_s']:.0f} tokens/s ({f['tokens_per_s_per_process']:.0f} per process), "
          f"{1000 * f['step_seconds']:.1f} ms/step, MFU {mfu}, "
          f"peak memory per process {f['peak_memory_gib'] or '-'} GiB, loss {f['train_loss']:.5f}")
    if "one" in runs:
        print(f"one process: loss {runs['one']['train_loss']:.5f} (whole run {runs['one']['tokens_per_s']:.0f} tokens/s,"
              f" warm-up included)")
    device_name = torch.cuda.get_device_name() if cuda else platform.processor() or platform.machine()
    result = {"device": device_name, "device_count": n, "parameters": params, "peak_tflops": peak, "runs": runs,
              "settings": {**vars(args), "out": str(args.out), "batch": batch, "processes": n},
              "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "trl": trl.__version__},
              "host": platform.node()}
    if args.out:
        from training.atomic import write_json

        write_json(args.out, result)
        print(f"-> {args.out}")


if __name__ == "__main__":
    main()
