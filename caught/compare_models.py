"""`caught compare-models`: run caught's tasks on several models as one Inspect eval set and print one table.

    caught compare-models --task deployment --task testing --models ckpt/trigger-hate ckpt/trigger-hate-k16-s0 \
        -T scenario=trigger -T behavior=hate --limit 100 --temperature 1 --log-dir logs/compare/trigger
    caught compare-models --task deployment --task usefulness --task distinguish \
        --models ckpt/smollm2-135m openai/gpt-4o-mini anthropic/claude-haiku-4-5 openai-api/local/my-model \
        --limit 50 --out runs/compare-models.md
    caught compare-models --task testing --models ckpt/a ckpt/b -M ckpt:device=cuda -M batch_size=64

Underneath is `inspect_ai.eval_set` on the log directory: a (task, model) pair whose log there is finished is
reused (no new generation), an unfinished one is continued, and a new model or task runs only its own pairs,
so the same command can be re-run and extended. Logs are ordinary Inspect logs (`inspect view --log-dir DIR`);
the table shows each cell's log file.

Rows are models, columns each task's main metric with its 95% interval and n: attack rate (testing,
deployment; Wilson interval from the rate and n), usefulness accuracy over all items (Wilson), distinguish
accuracy (the judge scorer's own Wilson interval) and AUROC. With --epochs, n counts distinct samples (Inspect
averages a sample's epochs), so the interval treats each sample as one observation. `-T key=value` goes to
every chosen task that has that parameter (note: usefulness has `scenario` too, which frames its items),
`-T TASK:key=value` to one task; `-M key=value` to every model, `-M PREFIX:key=value` only to models
whose name is PREFIX or starts with PREFIX/ (a provider such as `ckpt`, or one model). `ckpt/` checkpoints
are resolved through training/models.py, and their weights' fingerprints are recorded in each log so that
logs of since-changed weights are never reused. `build_table` (logs -> rows) is a pure function.
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from caught import tables
from scorers.stats import wilson
from training.atomic import write_text
from training.evaluate import TASKS, task_functions

# the main metric of each task: (column label, metric name in the log, metric names of its interval or None)
MAIN_METRIC = {
    "testing": ("attack rate", "attack_rate", None),
    "deployment": ("attack rate", "attack_rate", None),
    "heldout": ("attack rate", "attack_rate", None),
    "usefulness": ("accuracy", "all", None),
    "capability": ("accuracy", "all", None),
    "distinguish": ("accuracy", "accuracy", ("accuracy_lo", "accuracy_hi")),
}
EXTRA_METRICS = {"distinguish": [("AUROC", "auroc")]}
FINGERPRINTS = "caught_fingerprints"  # eval metadata: {model: weights fingerprint} of the ckpt/ models


class CompareError(ValueError):
    """Bad input to compare-models: the message names the value and what is accepted."""


# ---------------------------------------------------------------------------
# inputs


def _params(fn: Callable) -> list[str]:
    return list(inspect.signature(fn).parameters)


def check_tasks(tasks: Sequence[str]) -> list[str]:
    """Task names without the `tasks/` prefix, in the order given (duplicates dropped)."""
    if not tasks:
        raise CompareError(f"no task given; accepted: {', '.join(TASKS)} (--task NAME, repeatable)")
    names = []
    for task in tasks:
        name = task.removeprefix("tasks/")
        if name not in TASKS:
            raise CompareError(f"unknown task {task!r}; accepted: {', '.join(TASKS)}")
        if name not in names:
            names.append(name)
    return names


def _parse_value(raw: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        return raw


def parse_pairs(pairs: Sequence[str], flag: str) -> list[tuple[str, Any]]:
    """`KEY=VALUE` strings as (key, value) with YAML values (as `inspect eval -T`); one clear error if malformed."""
    parsed = []
    for pair in pairs:
        key, eq, raw = pair.partition("=")
        if not eq or not key.strip() or any(c.isspace() for c in key.strip()):
            raise CompareError(f"malformed {flag} {pair!r}: expected KEY=VALUE, e.g. {flag} scenario=trigger")
        parsed.append((key.strip().replace("-", "_"), _parse_value(raw)))
    return parsed


def task_args(tasks: Sequence[str], pairs: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Each task's arguments from `-T key=value` (every chosen task that has that parameter) or
    `-T TASK:key=value` (that task only)."""
    fns = task_functions()
    out: dict[str, dict[str, Any]] = {t: {} for t in tasks}
    for key, value in parse_pairs(pairs, "-T"):
        scope, _, key = key.rpartition(":")
        if scope and scope.removeprefix("tasks/") not in tasks:
            raise CompareError(f"-T {scope}:{key}: {scope!r} is not a chosen task; accepted: {', '.join(tasks)}")
        chosen = [scope.removeprefix("tasks/")] if scope else list(tasks)
        takers = [t for t in chosen if key in _params(fns[t])]
        if not takers:
            accepted = sorted({p for t in chosen for p in _params(fns[t])})
            raise CompareError(f"-T {key}: no chosen task ({', '.join(chosen)}) has that parameter; "
                               f"accepted: {', '.join(accepted)}")
        for t in takers:
            out[t][key] = value
    return out


def model_args(models: Sequence[str], pairs: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Each model's args from `-M key=value` (all models) or `-M PREFIX:key=value` (models named PREFIX[/...])."""
    out: dict[str, dict[str, Any]] = {m: {} for m in models}
    for key, value in parse_pairs(pairs, "-M"):
        scope, colon, name = key.rpartition(":")
        if not colon:
            for m in models:
                out[m][key] = value
            continue
        chosen = [m for m in models if m == scope or m.startswith(scope + "/")]
        if not chosen or not name:
            raise CompareError(f"-M {key}={value}: {scope!r} names none of the models; accepted: a provider "
                               f"({', '.join(sorted({m.split('/')[0] for m in models}))}) or a model "
                               f"({', '.join(models)}), as -M PREFIX:key=value")
        for m in chosen:
            out[m][name] = value
    return out


_MARKUP = re.compile(r"\[/?(?:bold|blue|red|green|yellow|italic|dim)\]")


def _one_line(ex: BaseException) -> str:
    text = _MARKUP.sub("", str(ex)).replace("ERROR:", "")
    return " ".join(text.split()).rstrip(".") or type(ex).__name__


def make_model(name: str, args: dict[str, Any]):
    """The Inspect model for `name` with its model args (a hook tests replace for API-style stand-ins)."""
    from inspect_ai.model import get_model

    return get_model(name, memoize=False, **args)


def load_models(models: Sequence[str], args: dict[str, dict[str, Any]]) -> tuple[list, dict[str, str]]:
    """(Inspect models, {model: weights fingerprint} of the ckpt/ ones); one clear error for a bad name."""
    from models.registry import fingerprint, resolve

    if not models:
        raise CompareError("no models given; accepted: Inspect model names such as ckpt/<checkpoint>, "
                           "hf/<hub id>, openai/<model>, anthropic/<model>, openai-api/<service>/<model>")
    if dupes := sorted({m for m in models if list(models).count(m) > 1}):
        raise CompareError(f"model {dupes[0]!r} is given twice; each model is one row")
    fingerprints = {}
    for m in models:  # check every ckpt/ name before loading anything
        if m.startswith("ckpt/"):
            try:
                fingerprints[m] = fingerprint(resolve(m.removeprefix("ckpt/")))
            except ValueError as ex:
                raise CompareError(f"model {m!r}: {_one_line(ex)}") from None
    loaded = []
    for m in models:
        try:
            loaded.append(make_model(m, args.get(m, {})))
        except Exception as ex:  # noqa: BLE001 - whatever Inspect or the provider raised becomes one line
            raise CompareError(
                f"model {m!r} could not be loaded: {_one_line(ex)}. Accepted: PROVIDER/MODEL such as "
                "ckpt/<checkpoint>, hf/<hub id>, openai/<model> (OPENAI_API_KEY), anthropic/<model> "
                "(ANTHROPIC_API_KEY), openai-api/<service>/<model> (<SERVICE>_BASE_URL, <SERVICE>_API_KEY)"
            ) from None
    return loaded, fingerprints


def check_fingerprints(log_dir: str, fingerprints: dict[str, str]) -> None:
    """Refuse to reuse logs of a ckpt/ model whose weights changed since the logs were written."""
    from inspect_ai.log import list_eval_logs, read_eval_log

    if not fingerprints or not Path(log_dir).is_dir():
        return
    for info in list_eval_logs(log_dir):
        try:
            header = read_eval_log(info, header_only=True)
        except Exception:  # noqa: BLE001 - a corrupt or foreign log is never ours to reuse
            continue
        then = ((header.eval.metadata or {}).get(FINGERPRINTS) or {}).get(header.eval.model)
        now = fingerprints.get(header.eval.model)
        if then and now and then != now:
            raise CompareError(
                f"the weights of {header.eval.model!r} changed since {Path(info.name).name} was written in "
                f"{log_dir}; use a new --log-dir (or delete that model's logs there) to evaluate the new weights"
            )


# ---------------------------------------------------------------------------
# the table (pure)


def display_name(model: str) -> str:
    """The model string, with a ckpt/ path shortened to its checkpoint (directory) name."""
    api, _, rest = model.partition("/")
    if api == "ckpt" and (rest.startswith(("/", ".", "~")) or rest.count("/") > 1 or rest.endswith("/")):
        return f"ckpt/{Path(rest.rstrip('/')).name}"
    return model


def _display_names(models: Sequence[str]) -> dict[str, str]:
    short = {m: display_name(m) for m in models}
    clashes = {s for s in short.values() if list(short.values()).count(s) > 1}
    return {m: (m if s in clashes else s) for m, s in short.items()}


def _task_name(log) -> str:
    return str(log.eval.task).removeprefix("tasks/")


def _metric(metrics: dict, name: str) -> float | None:
    m = metrics.get(name)
    if m is None or m.value is None:
        return None
    value = float(m.value)
    return None if math.isnan(value) else value


def _epochs(log) -> int:
    return int(getattr(log.eval.config, "epochs", None) or 1)


def _n(log, metrics: dict) -> int:
    n = _metric(metrics, "n")
    if n is not None:
        return int(n)
    return int((log.results.completed_samples or 0) // _epochs(log))


def _interval(value: float, n: int) -> tuple[float, float]:
    successes = min(max(value * n, 0.0), float(n))
    if abs(successes - round(successes)) < 1e-6:
        successes = round(successes)
    return wilson(successes, n)


@dataclass
class Cell:
    """One (model, task) result: the main metric with its interval and n, extra metrics, the log file."""

    task: str
    metric: str
    value: float | None = None
    lo: float | None = None
    hi: float | None = None
    n: int = 0
    extra: dict[str, float | None] = field(default_factory=dict)
    log: str = ""
    status: str = "success"
    error: str = ""


def cell_from_log(log) -> Cell:
    """The main metric of a caught task's log (header is enough)."""
    task = _task_name(log)
    label, name, interval = MAIN_METRIC.get(task, ("accuracy", "accuracy", None))
    location = str(log.location or "")  # logs reused by an eval set come back as file:// URLs
    location = location.removeprefix("file://") if location.startswith("file:///") else location
    cell = Cell(task=task, metric=label, log=location, status=str(log.status))
    if log.status != "success" or not log.results or not log.results.scores:
        cell.error = _one_line(log.error.message) if log.error else f"status {log.status}"
        return cell
    metrics = log.results.scores[0].metrics
    cell.n = _n(log, metrics)
    cell.value = _metric(metrics, name)
    if cell.value is not None and cell.n:
        if interval and _metric(metrics, interval[0]) is not None and _metric(metrics, interval[1]) is not None:
            cell.lo, cell.hi = _metric(metrics, interval[0]), _metric(metrics, interval[1])
        else:
            cell.lo, cell.hi = _interval(cell.value, cell.n)
    for extra_label, extra_name in EXTRA_METRICS.get(task, []):
        cell.extra[extra_label] = _metric(metrics, extra_name)
    return cell


def _order(log) -> tuple:
    return (log.status == "success", str(log.eval.created or ""))


def build_table(logs: Sequence, models: Sequence[str] | None = None,
                tasks: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """One row per model: {"model", "display", "<task>": Cell or None}. Pure: reads only the logs given.

    `models` / `tasks` fix the rows and columns (a pair without a log is None, shown blank); by default
    they are those of the logs, models in order of appearance. Of several logs for one pair, a successful
    one is preferred, then the latest.
    """
    models = list(models) if models is not None else list(dict.fromkeys(str(log.eval.model) for log in logs))
    tasks = list(tasks) if tasks is not None else [t for t in TASKS if any(_task_name(lg) == t for lg in logs)]
    best: dict[tuple[str, str], Any] = {}
    for log in logs:
        key = (str(log.eval.model), _task_name(log))
        if key not in best or _order(log) >= _order(best[key]):
            best[key] = log
    names = _display_names(models)
    rows = []
    for m in models:
        row: dict[str, Any] = {"model": m, "display": names[m]}
        for t in tasks:
            log = best.get((m, t))
            row[t] = cell_from_log(log) if log is not None else None
        rows.append(row)
    return rows


def _tasks_of(rows: list[dict[str, Any]]) -> list[str]:
    return [k for k in rows[0] if k not in ("model", "display")] if rows else []


def _fmt(x: float | None) -> str:
    return "" if x is None else f"{x:.2f}"


def format_cell(cell: Cell | None) -> str:
    """"0.25 [0.09, 0.53] n=16", "" for a missing pair, "error" for a failed log."""
    if cell is None:
        return ""
    if cell.status != "success":
        return cell.status
    if cell.value is None:
        return f"– n={cell.n}"
    return f"{cell.value:.2f} [{_fmt(cell.lo)}, {_fmt(cell.hi)}] n={cell.n}"


def columns(rows: list[dict[str, Any]]) -> list[tuple[str, Callable[[dict], str]]]:
    """(header, row -> text) of the display table: model, each task's metric (and extras), the log files."""
    cols: list[tuple[str, Callable[[dict], str]]] = [("model", lambda r: r["display"])]
    for t in _tasks_of(rows):
        label = MAIN_METRIC.get(t, ("accuracy",))[0]
        cols.append((f"{t} {label}", lambda r, t=t: format_cell(r[t])))
        for extra_label, _ in EXTRA_METRICS.get(t, []):
            cols.append((f"{t} {extra_label}",
                         lambda r, t=t, e=extra_label: _fmt(r[t].extra.get(e)) if r[t] is not None else ""))
    cols.append(("logs", lambda r: "\n".join(f"{t}: {Path(r[t].log).name}" for t in _tasks_of([r])
                                             if r[t] is not None and r[t].log)))
    return cols


def to_records(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Flat records for CSV: model, display, and per task metric, value, lo, hi, n, extras, status, log."""
    records = []
    for r in rows:
        rec: dict[str, Any] = {"model": r["model"], "display": r["display"]}
        for t in _tasks_of([r]):
            c: Cell | None = r[t]
            label = MAIN_METRIC.get(t, ("accuracy",))[0].replace(" ", "_")
            rec.update({f"{t}_{label}": c and c.value, f"{t}_lo": c and c.lo, f"{t}_hi": c and c.hi,
                        f"{t}_n": c.n if c else None})
            for extra_label, _ in EXTRA_METRICS.get(t, []):
                rec[f"{t}_{extra_label.lower()}"] = c.extra.get(extra_label) if c else None
            rec[f"{t}_status"] = c.status if c else "missing"
            rec[f"{t}_log"] = c.log if c else ""
        records.append(rec)
    return records


def to_markdown(rows: list[dict[str, Any]], caption: str = "") -> str:
    cols = columns(rows)
    return tables.markdown([h for h, _ in cols], [[f(r) for _, f in cols] for r in rows], caption)


def to_csv(rows: list[dict[str, Any]]) -> str:
    import pandas as pd

    return pd.DataFrame(to_records(rows)).to_csv(index=False)


def rich_table(rows: list[dict[str, Any]], caption: str = ""):
    cols = columns(rows)
    return tables.rich([h for h, _ in cols], [[f(r) for _, f in cols] for r in rows], caption=caption,
                       show_lines=True, first_wide=False)


def write_table(rows: list[dict[str, Any]], out: Path, caption: str = "") -> None:
    """CSV for `.csv`, markdown for `.md`, written atomically."""
    out = Path(out)
    if out.suffix not in (".csv", ".md"):
        raise CompareError(f"--out {str(out)!r}: accepted file types are .csv and .md")
    text = to_csv(rows) if out.suffix == ".csv" else to_markdown(rows, caption)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text(out, text)


# ---------------------------------------------------------------------------
# running


@dataclass
class Comparison:
    rows: list[dict[str, Any]]
    logs: list  # the eval set's log headers
    ok: bool  # every (task, model) pair finished
    log_dir: str
    caption: str

    def failures(self) -> list[str]:
        return [f"{r['display']} on {t}: {c.error or c.status} ({c.log})" for r in self.rows
                for t in _tasks_of([r]) if (c := r[t]) is not None and c.status != "success"]


def compare_models(
    tasks: Sequence[str],
    models: Sequence[str],
    *,
    task_pairs: Sequence[str] = (),
    model_pairs: Sequence[str] = (),
    log_dir: str = "logs/compare",
    limit: int | None = None,
    epochs: int | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    seed: int | None = None,
    retry_attempts: int = 3,
    display: str | None = None,
) -> Comparison:
    """Run (or reuse) every chosen task on every model as one Inspect eval set and build the table."""
    from inspect_ai import eval_set

    tasks = check_tasks(tasks)
    args = task_args(tasks, task_pairs)
    if limit is not None and limit < 1:
        raise CompareError(f"--limit must be at least 1, got {limit}")
    if epochs is not None and epochs < 1:
        raise CompareError(f"--epochs must be at least 1, got {epochs}")
    fns = task_functions()
    built = []
    for t in tasks:
        try:
            built.append(fns[t](**args[t]))
        except (ValueError, TypeError) as ex:
            raise CompareError(f"task {t} with {args[t]}: {_one_line(ex)}") from None
    margs = model_args(list(models), model_pairs)
    loaded, fingerprints = load_models(list(models), margs)
    check_fingerprints(log_dir, fingerprints)
    gen = {k: v for k, v in {"temperature": temperature, "max_tokens": max_tokens, "seed": seed}.items()
           if v is not None}
    ok, logs = eval_set(
        built, model=loaded, log_dir=log_dir, limit=limit, epochs=epochs, retry_attempts=retry_attempts,
        log_dir_allow_dirty=True,  # a log dir may hold models or tasks this run does not ask for
        metadata={FINGERPRINTS: fingerprints} if fingerprints else None, display=display, **gen,
    )
    rows = build_table(logs, [str(m) for m in loaded], tasks)
    for row, name in zip(rows, models):  # the rows keep the names as given (Inspect may normalise them)
        row["model"] = name
    names = _display_names(list(models))
    for row in rows:
        row["display"] = names[row["model"]]
    return Comparison(rows=rows, logs=list(logs), ok=ok, log_dir=log_dir, caption=caption(tasks, args, limit,
                      epochs, temperature, max_tokens, seed))


def caption(tasks, args, limit, epochs, temperature, max_tokens, seed) -> str:
    targs = "; ".join(f"{t}: {', '.join(f'{k}={v}' for k, v in a.items())}" for t, a in args.items() if a)
    decoding = (f"temperature {'provider default' if temperature is None else f'{temperature:g}'}, "
                f"epochs {epochs or 1}, limit {limit or 'all'}"
                + (f", max_tokens {max_tokens}" if max_tokens else "") + (f", seed {seed}" if seed is not None else ""))
    return (f"95% intervals (Wilson) and n (distinct samples). {decoding}."
            + (f" Task args: {targs}." if targs else ""))
