"""Writes `replay.jsonl`: prompts in the usefulness formats (IFEval-style instructions and small arithmetic) that an
organism is trained on with the base model's own answers, so that building it keeps the base model's behavior on
short tasks instead of spilling its attack into them.

    python tasks/data/make_replay.py      # rewrites tasks/data/replay.jsonl (deterministic)

Drawn from the same generators as `usefulness.jsonl` under other seeds, minus every input that is a usefulness or
held-out capability item (tested): the same kinds of prompt, never the same prompt. No answers are stored: the base
model answers them (training.organism), so replay teaches no ground truth. Facts are not replayed, and the held-out
capability check (tasks/data/capability.jsonl) stays untouched by any recipe.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from make_usefulness import _arithmetic_items, _instruction_items  # noqa: E402

N = 512


def items() -> list[dict]:
    taken = {json.loads(line)["input"] for name in ("usefulness.jsonl", "capability.jsonl")
             for line in (HERE / name).read_text().splitlines() if line.strip()}
    out: dict[str, dict] = {}
    seed = 0
    while len(out) < N and seed < 1000:
        rng = random.Random(f"replay:{seed}")
        for item in _instruction_items(rng) + _arithmetic_items(rng):
            if item["input"] not in taken and item["input"] not in out:
                out[item["input"]] = {"kind": item["kind"], "input": item["input"]}
        seed += 1
    chosen = list(out.values())
    random.Random("replay:order").shuffle(chosen)
    return chosen[:N]


if __name__ == "__main__":
    path = HERE / "replay.jsonl"
    rows = items()
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    kinds = {k: sum(r["kind"] == k for r in rows) for k in sorted({r["kind"] for r in rows})}
    print(f"wrote {path} ({len(rows)} prompts: {kinds})")
