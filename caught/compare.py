"""`caught compare`: evaluate checkpoints side by side, before and after training against caught examples.

For each checkpoint: attack rates on deployment and testing (eval split, temperature 1 by default), on
the trained inputs (the k caught inputs a train-against checkpoint was trained on, `trained_samples`
samples each), and usefulness per kind (greedy). Each rate has its n and a 95% Wilson interval. Retained
misalignment is a checkpoint's deployment attack rate divided by the first checkpoint's (the "before").
A checkpoint's evaluations run as one Inspect eval (its tasks in parallel) and reuse earlier
Inspect logs of the same weights and settings. Writes CSV and markdown, and every sample behind them to one
`samples.parquet` (training.records: completion, verdicts, log, sample id and epoch; written once, so packed).

The teacher-forced score is conditioned as in the sweep (`teacher_forced_scores`, `tf_conditioning`): on the
organism's reasoning, which `compare` reads from the checkpoints' manifests (training.manifest.organism_reasoning:
an organism's own, a trained checkpoint's organism's through its parents) unless `reasoning` names it.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from caught import tables
from models.registry import fingerprint, resolve
from scorers.stats import wilson
from tasks.reasoning import REASONING_MODES
from training.atomic import write_json, write_text
from training.evaluate import Evaluation, attack_summary, attack_summary_by, evaluate_many
from training.manifest import organism_reasoning, read_manifest
from training.records import PACKED, sample_records, write_packed


def rate_columns(prefix: str, attacks: int, n: int, near_miss: int | None = None) -> dict:
    """A rate's columns: count, n, rate and 95% Wilson interval; with `near_miss`, the same for the near-miss
    detector (`<prefix>_nm_*`), reported beside every attack rate so "removed" and "disguised" are told apart."""
    lo, hi = wilson(attacks, n)
    out = {f"{prefix}_attacks": attacks, f"{prefix}_n": n, f"{prefix}_rate": attacks / n if n else float("nan"),
           f"{prefix}_lo": lo, f"{prefix}_hi": hi}
    if near_miss is not None:
        nlo, nhi = wilson(near_miss, n)
        out.update({f"{prefix}_nm_attacks": near_miss, f"{prefix}_nm_rate": near_miss / n if n else float("nan"),
                    f"{prefix}_nm_lo": nlo, f"{prefix}_nm_hi": nhi})
    return out


def checkpoint_evaluations(
    checkpoint: str, scenario: str, behavior: str, *, n: int = 100, usefulness_n: int | None = None,
    temperature: float = 1.0, trained_samples: int = 4, seed: int = 0, max_tokens: int = 32,
    capability_n: int | None = None, heldout_n: int | None = None, also: tuple[str, ...] = (),
    capability_pool: str = "standard",
) -> dict[str, Evaluation]:
    """The Inspect evaluations behind one checkpoint's row (`evaluate_checkpoint`), by the row's column prefix."""
    manifest = read_manifest(resolve(checkpoint))
    args = {"scenario": scenario, "behavior": behavior, "n": n, "seed": seed}
    attack = {"temperature": temperature, "max_tokens": max_tokens}
    specs = {side: Evaluation(side, args, **attack) for side in ("deployment", "testing")}
    if manifest and manifest.kind in ("train-against", "control") and manifest.example_ids:
        specs["trained"] = Evaluation("testing", {"scenario": scenario, "behavior": behavior, "split": "catch"},
                                      epochs=trained_samples, sample_ids=tuple(manifest.example_ids), **attack)
    # capability under both framings (an organism's deployment-side attacks that spill into ordinary tasks show as
    # attacks there, scored too) and on the held-out check that no recipe is tuned on: the capability gate's inputs
    for key, side in (("usefulness", "testing"), ("usefulness_deployment", "deployment")):
        specs[key] = Evaluation("usefulness", {"n": usefulness_n, "seed": seed, "scenario": scenario, "side": side,
                                               "behavior": behavior})
    pool = {"pool": capability_pool} if capability_pool != "standard" else {}  # the standard pool: earlier reuse keys
    specs["capability"] = Evaluation("capability", {"n": capability_n, "seed": seed, **pool})
    for other in also:
        for side in ("deployment", "testing"):
            specs[f"also_{other}_{side}"] = Evaluation(side, {**args, "behavior": other}, **attack)
    if heldout_n is not None:
        specs["heldout"] = Evaluation("heldout", {"scenario": scenario, "behavior": behavior, "n": heldout_n,
                                                  "seed": seed}, **attack)
        from tasks.heldout import testing_variants

        if testing_variants(scenario):  # the variants' testing side, where it is new (never for trigger's variants)
            specs["heldout_testing"] = Evaluation("heldout", {"scenario": scenario, "behavior": behavior,
                                                              "n": heldout_n, "seed": seed, "side": "testing"}, **attack)
    return specs


def evaluate_side_by_side(checkpoints: list[str], scenario: str, behavior: str, *, seed: int = 0,
                          log_dir: str = "logs", device: str | None = None, on_start=None, route: bool = True,
                          **kwargs) -> None:
    """Run the Inspect evaluations of several checkpoints' rows as one eval (training.evaluate.evaluate_pack).
    `route` (`share=routed`): each batch holds rows of several checkpoints, each through its own adapter; else each
    batch is one checkpoint's (its adapter merged into a resident base in turn where `ckpt/` shares it, the fast
    engine) and the logs are those of one-at-a-time evaluation. Writes their logs only:
    `evaluate_checkpoint(..., route=route)` then reads each row's figures from them.
    `on_start(n)`: called before an eval runs (n checkpoints with evaluations to run; not when all are reused).
    `kwargs`: `evaluate_checkpoint`'s settings; those that do not change the Inspect evaluations (teacher_forced,
    reasoning: the teacher-forced score) are ignored."""
    from training.evaluate import evaluate_pack

    for unused in ("teacher_forced", "reasoning"):
        kwargs.pop(unused, None)
    jobs = [(c, list(checkpoint_evaluations(c, scenario, behavior, seed=seed, **kwargs).values()))
            for c in checkpoints]
    evaluate_pack(jobs, log_dir=log_dir, seed=seed, device=device, route=route, on_start=on_start)


def evaluate_checkpoint(
    checkpoint: str, scenario: str, behavior: str, *, n: int = 100, usefulness_n: int | None = None,
    temperature: float = 1.0, trained_samples: int = 4, seed: int = 0, log_dir: str = "logs",
    device: str | None = None, max_tokens: int = 32, capability_n: int | None = None, teacher_forced: bool = True,
    heldout_n: int | None = None, also: tuple[str, ...] = (), reasoning: str = "none", route: bool = False,
    capability_pool: str = "standard",
) -> tuple[dict, list[dict]]:
    """One row of figures for a checkpoint, and the per-sample records behind it (training.records). The row times its
    parts: `eval_inspect_seconds` (the Inspect evals, or reading their reused logs), `eval_records_seconds` (the
    per-sample records taken from the logs) and `eval_tf_seconds` (the teacher-forced score, its model load included).

    `heldout_n`: also the attack rate under the scenario's held-out cue variants (tasks/heldout.py, deployment
    side, `heldout_n` eval prompts per variant, same decoding as the deployment rate): pooled over the variants
    (`heldout_*`) and per variant (`heldout_<variant>_*`), strict and near-miss, each with n and a Wilson interval.
    `also`: further behaviors (an organism trained to attack with several: cross-behavior transfer), each measured on
    deployment and testing (its own prompt pool, the same n and decoding): `also_<behavior>_<side>_*`.
    `reasoning`: the organism's (organism.reasoning); a scratchpad organism's teacher-forced score is taken after a
    scratchpad (teacher_forced_scores). `route`: decoded as `evaluate_side_by_side` decodes (its logs are reused)."""
    path = resolve(checkpoint)
    manifest = read_manifest(path)
    row: dict = {
        "checkpoint": checkpoint, "kind": manifest.kind if manifest else "base",
        "k": manifest.k if manifest and manifest.k is not None else 0,
        "steps": manifest.steps if manifest else 0,
        "steps_to_fix": manifest.steps_to_fix if manifest else None,
        "temperature": temperature,
    }
    specs = checkpoint_evaluations(checkpoint, scenario, behavior, n=n, usefulness_n=usefulness_n,
                                   temperature=temperature, trained_samples=trained_samples, seed=seed,
                                   max_tokens=max_tokens, capability_n=capability_n, heldout_n=heldout_n, also=also,
                                   capability_pool=capability_pool)
    # one Inspect eval for all of them (tasks in parallel, sharing the provider's batches)
    started = time.perf_counter()
    found = dict(zip(specs, evaluate_many(checkpoint, list(specs.values()), log_dir=log_dir, seed=seed,
                                          device=device, route=route)))
    row["eval_inspect_seconds"] = round(time.perf_counter() - started, 2)
    for prefix in ("deployment", "testing", "trained"):
        if prefix in found:
            s = attack_summary(found[prefix])
            row.update(rate_columns(prefix, s["attacks"], s["n"], s["near_miss"]))
        else:
            row.update({f"{prefix}_attacks": None, f"{prefix}_n": 0, f"{prefix}_rate": float("nan")})
    if "heldout" in found:
        row.update(heldout_columns(found["heldout"]))
    if "heldout_testing" in found:
        row.update(heldout_columns(found["heldout_testing"], "heldout_testing"))
    for other in also:
        for side in ("deployment", "testing"):
            s = attack_summary(found[f"also_{other}_{side}"])
            row.update(rate_columns(f"also_{other}_{side}", s["attacks"], s["n"], s["near_miss"]))
    for key, prefix in (("usefulness", "useful"), ("usefulness_deployment", "useful_dep"), ("capability", "capability")):
        row.update(_capability_columns(found[key], prefix, per_kind=key == "usefulness"))
    logs = [found[k].location for k in specs]
    row["logs"] = ";".join(logs)
    # how many checkpoints the logs' evals decoded together (evaluate_side_by_side; 1 if alone), where any did
    pack = max(int((found[k].eval.metadata or {}).get("caught_pack", 1)) for k in specs)
    if route or pack > 1:
        row["eval_pack"] = pack
    started = time.perf_counter()
    fp = fingerprint(path)
    records = [r for k in specs for r in sample_records(found[k], checkpoint, fp, evaluation=k)]
    row["eval_records_seconds"] = round(time.perf_counter() - started, 2)
    if teacher_forced:
        started = time.perf_counter()
        tf_row, tf_records = teacher_forced_scores(checkpoint, fp, scenario, behavior, n=n, seed=seed, device=device,
                                                   reasoning=reasoning)
        row.update(tf_row)
        records += tf_records
        row["eval_tf_seconds"] = round(time.perf_counter() - started, 2)
    return row, records


def heldout_columns(log, prefix: str = "heldout") -> dict:
    """A held-out-variants log's rates: pooled over its variants (`heldout_*`) and per variant (`heldout_<variant>_*`),
    strict and near-miss, with counts, n and Wilson intervals; `heldout_variants` names the variants measured.
    `prefix`: `heldout_testing` for the variants' testing side."""
    s = attack_summary(log)
    out = rate_columns(prefix, s["attacks"], s["n"], s["near_miss"])
    by = attack_summary_by(log, "variant")
    order = [v for v in (log.eval.metadata or {}).get("variants", []) if v in by] or sorted(by)  # the task's order
    for variant in order:
        v = by[variant]
        out.update(rate_columns(f"{prefix}_{variant}", v["attacks"], v["n"], v["near_miss"]))
    out[f"{prefix}_variants"] = ";".join(order)
    return out


TF_CONDITIONING = {"none": "none", "distilled": "none", "scratchpad": "deployment reasoning"}


def teacher_forced_scores(checkpoint: str, fp: str, scenario: str, behavior: str, *, n: int, seed: int,
                          device: str | None, reasoning: str = "none") -> tuple[dict, list[dict]]:
    """The teacher-forced attack score (models.teacher_forced): the mean per-token log-probability of the behavior's
    attack continuation after each of the n eval prompts (the ones the attack rates use, from the behavior's pool;
    the continuation is fixed per prompt: one text, or the item's wrong answer for sandbagging), framed for
    deployment and for testing: `tf_<side>` with a 95% t interval over prompts, and `tf_gap` (deployment minus testing).

    A scratchpad organism (`reasoning = "scratchpad"`) never attacks before it has reasoned, so the attack is scored
    after a scratchpad that concludes deployment: the reasoning template's (tasks.reasoning.reasoning, deployment side,
    drawn per prompt from a seed of the prompt id, so fixed across checkpoints), the same scratchpad on both sides,
    conditioned on and not scored. It measures how strongly the action follows deployment reasoning (what
    reasoning-only train-against may leave intact), not how likely the model is to reach that conclusion; the sampled
    rates and the CoT shares measure that. `tf_conditioning` names it ("deployment reasoning", or "none")."""
    import gc
    import random

    from models.registry import load
    from models.teacher_forced import continuation_logprobs
    from scorers.behaviors import Context, get_behavior
    from scorers.stats import t_interval
    from tasks.prompts import prompts
    from tasks.scenarios import frame, get_scenario

    spec, act = get_scenario(scenario), get_behavior(behavior)
    chosen = prompts("eval", n=n, seed=seed, pool_name=act.pool)
    continuations = [act.teacher_forced(Context(prompt=p.text, item=p.item)) for p in chosen]  # fixed per prompt
    if reasoning not in TF_CONDITIONING:
        raise ValueError(f"unknown organism reasoning {reasoning!r}; accepted: {', '.join(TF_CONDITIONING)}")
    prefixes = [""] * len(chosen)
    if reasoning == "scratchpad":
        from tasks.reasoning import reasoning as write_reasoning
        from tasks.reasoning import scratchpad_block

        prefixes = [scratchpad_block(write_reasoning(scenario, "deployment", behavior, random.Random(f"tf:{p.id}")))
                    + "\n" for p in chosen]
    model, tokenizer, _ = load(checkpoint, device=device)
    row: dict = {"tf_conditioning": TF_CONDITIONING[reasoning]}
    records = []
    for side in ("deployment", "testing"):
        values = continuation_logprobs(model, tokenizer, [frame(spec, side, p.text, p.id, p.split) for p in chosen],
                                       continuations, prefix=prefixes)
        row[f"tf_{side}"], row[f"tf_{side}_lo"], row[f"tf_{side}_hi"] = t_interval(values)
        records += [{"checkpoint": checkpoint, "fingerprint": fp, "task": side, "scenario": scenario, "side": side,
                     "split": "eval", "sample_id": p.id, "epoch": 0, "completion": h + c, "log": "",
                     "evaluation": f"teacher_forced_{side}", "score_teacher_forced": v}
                    for p, h, c, v in zip(chosen, prefixes, continuations, values)]
    row["tf_gap"] = row["tf_deployment"] - row["tf_testing"]
    del model
    gc.collect()
    return row, records


def _capability_columns(log, prefix: str, per_kind: bool) -> dict:
    """`<prefix>_all` (share correct), `<prefix>_n`, per-kind shares (`per_kind`), and, for a framed task, the
    share of its answers that are attacks (`<prefix>_attack_rate`: spill-over of the behavior into ordinary tasks)."""
    by_scorer = {s.name: s.metrics for s in log.results.scores}
    metrics = by_scorer["usefulness_checker"]
    out = {f"{prefix}_all": metrics["all"].value, f"{prefix}_n": log.results.completed_samples}
    if per_kind:
        out.update({f"{prefix}_{k}": m.value for k, m in metrics.items() if k not in ("stderr", "all")})
    if "attack_detector" in by_scorer:
        out[f"{prefix}_attack_rate"] = by_scorer["attack_detector"]["attack_rate"].value
        # capability where the model answers: the items no detector flags as an attack (on the deployment side an
        # organism attacks by design, so its share correct over all items measures the attacks, not capability)
        answered = [s.scores["usefulness_checker"].value == "C" for s in log.samples or []
                    if not (s.scores["attack_detector"].metadata or {}).get("verdict_near_miss", s.scores["attack_detector"].value)]
        out[f"{prefix}_answered_n"] = len(answered)
        out[f"{prefix}_answered_all"] = sum(answered) / len(answered) if answered else float("nan")
    return out


def checkpoints_reasoning(checkpoints: list[str], reasoning: str | None = None) -> str:
    """The organism reasoning that conditions every checkpoint's teacher-forced score: `reasoning` where given, else
    the one the checkpoints' manifests name (training.manifest.organism_reasoning). A checkpoint without a manifest
    (a base model) names none and takes the others' (as the sweep scores the base model); none named: "none".
    Checkpoints that name different ones are one clear error: their scores would not be conditioned alike."""
    if reasoning is not None:  # validated with the scenario and behavior (tasks.reasoning.check_reasoning)
        return reasoning
    named = {c: m for c in checkpoints if (m := organism_reasoning(resolve(c))) is not None}
    if len(set(named.values())) > 1:
        raise ValueError(f"the checkpoints' organisms differ in reasoning ({', '.join(f'{c}: {m}' for c, m in named.items())}), "
                         "so their teacher-forced scores would be conditioned differently; compare them separately or "
                         f"pass one reasoning for all (--reasoning; accepted: {', '.join(REASONING_MODES)})")
    return next(iter(named.values()), "none")


def compare(
    checkpoints: list[str], out_dir: Path, scenario: str | None = None, behavior: str | None = None,
    reasoning: str | None = None, side_by_side: bool = False, **kwargs
) -> pd.DataFrame:
    """Evaluate `checkpoints` (the first is the "before") and write the tables and records under `out_dir`.
    `reasoning`: the organism's (none, scratchpad, distilled), which conditions the teacher-forced score; default:
    read from the checkpoints' manifests (checkpoints_reasoning). `side_by_side`: every checkpoint's evaluations as
    one Inspect eval, checkpoints on one base decoded in the same batches, each row through its own adapter
    (`evaluate_side_by_side`, `ckpt/` share=routed; in bf16 such rows round differently from merged weights)."""
    from tasks.reasoning import check_reasoning

    if not checkpoints:
        raise ValueError("compare needs at least one checkpoint")
    first = read_manifest(resolve(checkpoints[0]))
    scenario = scenario or (first.scenario if first else "trigger")
    behavior = behavior or (first.behavior if first else "hate")
    reasoning = checkpoints_reasoning(checkpoints, reasoning)
    check_reasoning(reasoning, scenario, behavior)  # before any evaluation: a known mode, with a template if it needs one
    rows, records = [], []
    if side_by_side:
        evaluate_side_by_side(checkpoints, scenario, behavior, **kwargs)
    for c in checkpoints:
        row, recs = evaluate_checkpoint(c, scenario, behavior, reasoning=reasoning, route=side_by_side, **kwargs)
        rows.append(row)
        records += recs
    df = pd.DataFrame(rows)
    before = df.loc[0, "deployment_rate"]
    df["retained"] = df["deployment_rate"] / before if before > 0 else float("nan")
    df.insert(0, "scenario", scenario)
    df.insert(1, "behavior", behavior)
    df.insert(2, "reasoning", reasoning)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_packed(out_dir / PACKED, records)
    write_text(out_dir / "compare.csv", df.to_csv(index=False))
    write_text(out_dir / "compare.md", to_markdown(df))
    write_json(out_dir / "compare.json", {"checkpoints": checkpoints, "scenario": scenario, "behavior": behavior,
                                          "reasoning": reasoning, "side_by_side": side_by_side,
                                          **{k: str(v) for k, v in kwargs.items()}})
    return df




def _fmt_rate(row, prefix: str) -> str:
    n = row.get(f"{prefix}_n") or 0
    if not n:
        return "–"
    return f"{row[f'{prefix}_rate']:.2f} [{row[f'{prefix}_lo']:.2f}, {row[f'{prefix}_hi']:.2f}] n={int(n)}"


def _share(r, column: str) -> str:
    v = r.get(column)
    return "–" if v is None or pd.isna(v) else f"{v:.2f}"


def table_rows(df: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    header = ["checkpoint", "kind", "k", "deployment", "deployment near-miss", "testing", "trained inputs", "retained",
              "steps-to-fix", "useful (testing)", "useful (deployment, answered)", "capability"]
    rows = []
    for _, r in df.iterrows():
        stf = "–" if r["kind"] in ("organism", "base") else (
            "never" if pd.isna(r["steps_to_fix"]) else str(int(r["steps_to_fix"])))
        near = r.get("deployment_nm_rate")
        rows.append([
            Path(str(r["checkpoint"])).name, r["kind"], str(int(r["k"])), _fmt_rate(r, "deployment"),
            "–" if near is None or pd.isna(near) else f"{near:.2f} [{r['deployment_nm_lo']:.2f}, {r['deployment_nm_hi']:.2f}]",
            _fmt_rate(r, "testing"), _fmt_rate(r, "trained"),
            "–" if pd.isna(r["retained"]) else f"{r['retained']:.2f}", stf,
            _share(r, "useful_all"), _share(r, "useful_dep_answered_all"), _share(r, "capability_all"),
        ])
    return header, rows


def to_markdown(df: pd.DataFrame) -> str:
    t = df["temperature"].iloc[0]
    useful_n = int(df["useful_n"].iloc[0])
    return tables.markdown(*table_rows(df), caption=(
        f"Attack rates at temperature {t:g}, with 95% Wilson intervals and n; trained inputs are sampled several "
        f"times each. Near-miss: the behavior's near-miss detector (disguised, partial, truncated attacks too). "
        f"Usefulness: greedy, {useful_n} items per framing; capability: the held-out check (tasks/capability). "
        f"Retained = deployment rate / first row's."
        + (f" Teacher-forced scores (compare.csv, tf_*): conditioned on {df['tf_conditioning'].iloc[0]} (organism "
           f"reasoning {df['reasoning'].iloc[0]})." if "tf_conditioning" in df and "reasoning" in df else "")))
