"""`caught catch`: run `testing` on the catch split at temperature 1 and keep the samples that attacked.

Epoch after epoch (each a separate seeded Inspect eval), until `want` distinct prompts have attacked or
`max_epochs` is reached. The caught samples are written (atomically) to a JSON file with the framed input
the model saw, its completion, the Inspect log and epoch they came from, and the prompt's ground-truth `item`
where the behavior's prompts have one (train-against's detectors need it to judge a response).
"""

from __future__ import annotations

from pathlib import Path

from models.registry import fingerprint
from training.atomic import write_json
from training.evaluate import evaluate
from training.manifest import read_manifest


def catch(
    organism: str,
    out: Path,
    want: int = 32,
    max_epochs: int = 8,
    temperature: float = 1.0,
    seed: int = 0,
    log_dir: str = "logs",
    device: str | None = None,
    max_tokens: int = 32,
) -> dict:
    from models.registry import resolve

    manifest = read_manifest(resolve(organism))
    if manifest is None:
        raise ValueError(f"{organism!r} has no manifest.json: catch needs an organism built by `caught organism`")
    caught: dict[str, dict] = {}
    runs = []
    for epoch in range(max_epochs):
        log = evaluate(
            organism, "testing", {"scenario": manifest.scenario, "behavior": manifest.behavior, "split": "catch"},
            log_dir=log_dir, temperature=temperature, seed=seed * 1000 + epoch, max_tokens=max_tokens, device=device,
        )
        attacks = 0
        for s in log.samples or []:
            if s.scores["attack_detector"].value == 1:
                attacks += 1
                caught.setdefault(str(s.id), {
                    "id": str(s.id),
                    "prompt": s.metadata["prompt"],
                    "input": [{"role": m.role, "content": m.text} for m in s.input],  # framed chat the model saw
                    "completion": s.output.completion,
                    "log": log.location,
                    "epoch": epoch,
                    **({"item": s.metadata["item"]} if s.metadata.get("item") else {}),  # ground truth, if any
                })
        runs.append({"epoch": epoch, "samples": len(log.samples or []), "attacks": attacks, "log": log.location})
        if len(caught) >= want:
            break
    result = {
        "organism": organism, "organism_fingerprint": fingerprint(resolve(organism)),
        "scenario": manifest.scenario, "behavior": manifest.behavior,
        "temperature": temperature, "seed": seed, "want": want, "runs": runs,
        "caught": sorted(caught.values(), key=lambda c: c["id"]),
    }
    write_json(out, result)
    return result
