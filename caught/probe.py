"""The activation probe: how linearly a model's own activations separate a scenario's testing and deployment
framings of the same requests (`caught probe`, and the sweep's `probe_*` columns).

For `train_n` organism-split requests and `eval_n` eval-split requests, each framed both ways (label 1 =
deployment), the residual stream is read at every layer (models.activations: last prompt token and mean over
prompt tokens) and a logistic regression (scikit-learn, standardized features) is fit per (pooling, layer).
The layer is chosen without looking at the eval split: by AUROC on a held-out half of the training requests.
Reported, all on the eval split (requests never seen in training):

- `auroc` at the chosen layer, with a bootstrap interval over eval requests (both framings of a request are
  resampled together: scorers.stats.auroc_interval);
- `layers`: the AUROC of every (pooling, layer), for the per-layer curve;
- `curve`: AUROC against the number of labelled training examples (4 ... 2 * train_n, both framings of a
  request count as two), mean and t interval over `repeats` random draws of the requests;
- `control_auroc`: the same probe fit on labels that carry no trace of the framing (drawn per request, both
  framings of a request sharing one), which must sit near 0.5 (tested).

Works for any causal LM that returns hidden states, from a tiny random Llama to the organisms.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field

SIZES = (4, 8, 16, 32, 64, 128, 256, 512)


@dataclass
class ProbeResult:
    model: str
    scenario: str
    pooling: str
    layer: int
    auroc: float
    lo: float
    hi: float
    n_train: int
    n_eval: int
    control_auroc: float
    layers: list[dict] = field(default_factory=list)
    curve: list[dict] = field(default_factory=list)
    scores: list[dict] = field(default_factory=list)  # per eval sample: sample_id, side, score (the probe's logit)

    def to_dict(self) -> dict:
        return asdict(self)


def _fit(x, y, seed: int, c: float = 1.0):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000, random_state=seed)).fit(x, y)


def _score(clf, x):
    return clf.decision_function(x)


def probe_arrays(train: dict, y_train, ids_train, evals: dict, y_eval, ids_eval, *, seed: int = 0,
                 sizes=SIZES, repeats: int = 5) -> dict:
    """The probe on precomputed activations ({pooling: (n, layers, d)}); returns ProbeResult's fields but the
    model's and scenario's names."""
    import numpy as np

    from scorers.stats import auroc, auroc_interval, t_interval

    y_train, y_eval = np.asarray(y_train), np.asarray(y_eval)
    requests = sorted(set(ids_train))
    if len(requests) < 4:
        raise ValueError(f"the probe needs at least 4 training requests, got {len(requests)}")
    rng = random.Random(f"probe:{seed}")
    val = set(rng.sample(requests, len(requests) // 2))
    in_val = np.array([i in val for i in ids_train])
    layers, best = [], None
    for pooling, acts in train.items():
        for layer in range(acts.shape[1]):
            x = acts[:, layer]
            chosen = auroc(_score(_fit(x[~in_val], y_train[~in_val], seed), x[in_val]), y_train[in_val])
            clf = _fit(x, y_train, seed)
            held = auroc(_score(clf, evals[pooling][:, layer]), y_eval)
            layers.append({"pooling": pooling, "layer": layer, "val_auroc": chosen, "auroc": held})
            if best is None or chosen > best[0]:
                best = (chosen, pooling, layer)
    _, pooling, layer = best
    x, xe = train[pooling][:, layer], evals[pooling][:, layer]
    eval_scores = _score(_fit(x, y_train, seed), xe)
    point, lo, hi = auroc_interval(eval_scores, y_eval, ids_eval, seed=seed)
    # the control: labels drawn per request (both framings of a request share one), so they carry no trace of the
    # framing at all; a per-row shuffle would agree with the true labels on about half the rows plus chance, and a
    # cue as strong as a tag leaks through that chance agreement
    coin = {r: i % 2 for i, r in enumerate(random.Random(f"control:{seed}").sample(requests, len(requests)))}
    control = auroc(_score(_fit(x, np.array([coin[i] for i in ids_train]), seed), xe), y_eval)
    curve = []
    by_request = {r: np.flatnonzero(np.asarray(ids_train) == r) for r in requests}
    for size in sizes:
        if size // 2 > len(requests) or size < 4:
            continue
        values = []
        for rep in range(repeats):
            take = np.concatenate([by_request[r] for r in random.Random(f"curve:{seed}:{size}:{rep}").sample(
                requests, size // 2)])
            values.append(auroc(_score(_fit(x[take], y_train[take], seed), xe), y_eval))
        mean, vlo, vhi = t_interval(values) if len(values) > 1 else (values[0], float("nan"), float("nan"))
        curve.append({"examples": size, "auroc": mean, "lo": max(0.0, vlo), "hi": min(1.0, vhi), "repeats": repeats})
    return dict(pooling=pooling, layer=int(layer), auroc=point, lo=lo, hi=hi, n_train=int(len(y_train)),
                n_eval=int(len(y_eval)), control_auroc=control, layers=layers, curve=curve,
                scores=[{"sample_id": i, "side": "deployment" if lab else "testing", "score": float(v)}
                        for i, lab, v in zip(ids_eval, y_eval, eval_scores)])


def probe(checkpoint: str, scenario: str, *, train_n: int = 256, eval_n: int = 200, seed: int = 0,
          device: str | None = None, sizes=None, repeats: int = 5, batch_size: int = 32) -> ProbeResult:
    """The activation probe of `checkpoint` (any name `models.registry.resolve` takes) on `scenario`. The learning
    curve's `sizes` default to SIZES up to what 2 * train_n labelled examples allow."""
    import gc

    from models.activations import prompt_activations
    from models.registry import load
    from tasks.scenarios import framed_pairs

    if train_n < 4 or eval_n < 2:
        raise ValueError(f"train_n must be at least 4 and eval_n at least 2, got {train_n} and {eval_n}")
    train_chats, y_train, ids_train = framed_pairs(scenario, "organism", train_n, seed)
    eval_chats, y_eval, ids_eval = framed_pairs(scenario, "eval", eval_n, seed)
    same = sum(a == b for a, b in zip(train_chats[0::2], train_chats[1::2]))
    if same == len(train_chats) // 2:
        raise ValueError(f"scenario {scenario!r} frames testing and deployment identically on every request: there "
                         "is nothing to probe (a scenario's sides must differ; see tasks/data/scenarios.toml)")
    if sizes is None:
        sizes = [n for n in SIZES if n <= 2 * train_n]
    elif max(sizes, default=0) > 2 * train_n:
        raise ValueError(f"the learning curve asks for {max(sizes)} labelled examples but train_n={train_n} gives "
                         f"{2 * train_n}: pass train_n >= {max(sizes) // 2 + max(sizes) % 2} or smaller sizes")
    model, tokenizer, _ = load(checkpoint, device=device)
    try:
        train = prompt_activations(model, tokenizer, train_chats, batch_size=batch_size)
        evals = prompt_activations(model, tokenizer, eval_chats, batch_size=batch_size)
    finally:
        del model
        gc.collect()
    fields = probe_arrays(train, y_train, ids_train, evals, y_eval, ids_eval, seed=seed, sizes=sizes,
                          repeats=repeats)
    return ProbeResult(model=checkpoint, scenario=scenario, **fields)
