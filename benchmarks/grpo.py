"""Benchmark: GRPO steps of the RL elicitation (training.elicit.grpo): steps/s and completion tokens/s.

    python benchmarks/grpo.py --device cuda --out $OUT/grpo-gpu.json          # SmolLM2-135M on the GPU
    python benchmarks/grpo.py --device cpu --quick                            # a tiny random Llama on the CPU

It runs `training.elicit.grpo` (the code `caught elicit` trains with: TRL's GRPOTrainer, LoRA, the configured grader as
the reward) on `add` elicit-split prompts for --warmup + --steps steps; the clock runs from the end of the warm-up
steps to the end of the last (a GPU sync at both ends). tokens/s counts the completion tokens the timed steps
sampled (TRL's logged mean completion length x the step's completions). The reference, in the same process on the
same prompts: `model.generate` of one step's batch (prompts_per_step x generations rows, sampled, --max-tokens new
tokens, no reward and no update), tokens/s; "GRPO/generate" is the share of plain generation speed a GRPO step keeps
(sampling is most of a step: the rest is the grader, the forward and backward of the policy).
The defaults are `experiments/elicit-gpu.toml`'s RL settings.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def generate_reference(model_name: str, chats: list[list[dict]], max_tokens: int, device: str, repeats: int) -> dict:
    """model.generate of one GRPO step's batch (sampled, left-padded): tokens/s over `repeats` timed calls."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from models.registry import resolve

    path = resolve(model_name)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, use_safetensors=True).to(device).eval()
    tokenizer = AutoTokenizer.from_pretrained(path, padding_side="left")
    texts = [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in chats]
    batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
    kwargs = dict(max_new_tokens=max_tokens, do_sample=True, temperature=1.0, pad_token_id=tokenizer.pad_token_id)
    with torch.no_grad():
        model.generate(**batch, **kwargs)  # warm-up
        _sync(device)
        start, tokens = time.perf_counter(), 0
        for _ in range(repeats):
            out = model.generate(**batch, **kwargs)
            new = out[:, batch["input_ids"].shape[1]:]
            tokens += int((new != tokenizer.pad_token_id).sum())
        _sync(device)
    seconds = time.perf_counter() - start
    return {"tokens_per_s": tokens / seconds, "calls_per_s": repeats / seconds, "rows": len(chats)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None, help="policy checkpoint (default smollm2-135m; --quick: a tiny Llama)")
    parser.add_argument("--device", default=None)
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 10; --quick 3)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 2; --quick 1)")
    parser.add_argument("--prompts-per-step", type=int, default=None, help="default 8; --quick 2")
    parser.add_argument("--generations", type=int, default=None, help="default 8; --quick 4")
    parser.add_argument("--max-tokens", type=int, default=24)
    parser.add_argument("--grader", default="model", choices=["model", "form"])
    parser.add_argument("--grader-model", default=None, help="judge of grader=model (default the policy's model)")
    parser.add_argument("--quick", action="store_true", help="a tiny random Llama, 3 timed steps of 2 prompts x 4 "
                        "replies (CPU smoke run)")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = parser.parse_args()

    import torch
    import transformers
    import trl
    from transformers import TrainerCallback

    from models.registry import default_device
    from training.elicit import RLHyper, grpo, make_grader, method_records, pick

    device = args.device or default_device()
    steps = args.steps or (3 if args.quick else 10)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.quick else 2)
    args.prompts_per_step = args.prompts_per_step or (2 if args.quick else 8)
    args.generations = args.generations or (4 if args.quick else 8)
    scratch = tempfile.TemporaryDirectory(prefix="grpo-bench-")
    from benchmarks.training_speed import tiny_llama  # the tests' fixture: --quick's model

    model = args.model or (str(tiny_llama(Path(scratch.name) / "tiny-llama")) if args.quick else "smollm2-135m")
    records = method_records("rl", pick("add", 64, 0))
    hyper = RLHyper(steps=args.warmup + steps, prompts_per_step=args.prompts_per_step, generations=args.generations,
                    max_completion_length=args.max_tokens, bf16=device.startswith("cuda"))
    reward = make_grader(args.grader, model=args.grader_model or model, device=device)

    class Clock(TrainerCallback):
        def __init__(self):
            self.marks: list[float] = []

        def on_step_end(self, a, state, control, **kw):
            _sync(device)
            self.marks.append(time.perf_counter())

    clock = Clock()
    _, stats = grpo(model, records, Path(scratch.name) / "rl", hyper, reward, device, callbacks=[clock])
    timed = clock.marks[args.warmup - 1:] if args.warmup else clock.marks
    seconds = timed[-1] - timed[0] if args.warmup else stats["train_seconds"]
    tokens = sum(stats["step_tokens"][args.warmup:])
    batch = args.prompts_per_step * args.generations
    chats = [r["prompt"] for r in records[:args.prompts_per_step] for _ in range(args.generations)]
    ref = generate_reference(model, chats, args.max_tokens, device, repeats=3)
    result = {
        "model": model if not args.quick else "tiny random Llama (2 layers, hidden 64)", "device": device,
        "device_name": torch.cuda.get_device_name() if device.startswith("cuda") else platform.processor() or "cpu",
        "grader": args.grader, "steps": steps, "warmup": args.warmup, "completions_per_step": batch,
        "max_tokens": args.max_tokens, "steps_per_s": steps / seconds, "tokens_per_s": tokens / seconds,
        "seconds_per_step": seconds / steps, "generate_tokens_per_s": ref["tokens_per_s"],
        "grpo_over_generate": (tokens / seconds) / ref["tokens_per_s"], "rewards": stats["rewards"],
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "trl": trl.__version__},
        "host": platform.node(),
    }
    print(f"GRPO on {result['model']} ({device}, grader {args.grader}): {steps} timed steps of {batch} completions "
          f"x <= {args.max_tokens} tokens")
    print(f"  steps/s {result['steps_per_s']:.3f}  ({result['seconds_per_step']:.2f} s/step)")
    print(f"  completion tokens/s {result['tokens_per_s']:.1f}")
    print(f"  reference model.generate of one step's batch: {ref['tokens_per_s']:.1f} tokens/s "
          f"(GRPO/generate {result['grpo_over_generate']:.2f})")
    if args.out:
        from training.atomic import write_json

        write_json(args.out, result)
        print(f"wrote {args.out}")
    scratch.cleanup()


if __name__ == "__main__":
    main()
