"""The sweep on Ray (caught.cluster): the same rows as the single-process sweep, a killed worker retried, a killed
driver resumed, and one clear error without Ray."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from caught.config import SweepConfig
from caught.sweep import CELL_KEY, Sweep, read_results

VOLATILE = ("seconds", "finished_at", "logs", "host", "commit", "code", "caught_file")
ROOT = Path(__file__).resolve().parent.parent


def _config(base: str) -> SweepConfig:
    """Two cells of one group (the organism, k=2 adversarial) on the tiny Llama: as small as a sweep gets."""
    return SweepConfig(
        name="r", base=base, scenarios=["trigger"], ks=[0, 2], seeds=[0],
        organism={"prompts": 16, "leak": 0.4, "steps": 16, "lr": 5e-3, "method": "full", "batch_size": 8},
        train={"steps": 2, "batch_size": 2, "responses": "base", "check_samples": 1},
        eval={"n": 6, "usefulness_n": 4, "capability_n": 4, "max_tokens": 8, "trained_samples": 1, "judge_n": 4,
              "catch_epochs": 1},
    )


def _stable(df: pd.DataFrame) -> pd.DataFrame:
    keep = [c for c in df.columns if not any(v in c for v in VOLATILE)]
    return df[keep].sort_values(CELL_KEY).reset_index(drop=True)


def _toml(config: SweepConfig) -> str:
    """The config as TOML (JSON's scalars and arrays are TOML's), tables last."""
    import json

    data = config.model_dump(exclude_none=True)
    flat = [f"{k} = {json.dumps(v)}" for k, v in data.items() if not isinstance(v, dict)]
    tables = [f"[{k}]\n" + "\n".join(f"{kk} = {json.dumps(vv)}" for kk, vv in v.items() if vv is not None)
              for k, v in data.items() if isinstance(v, dict)]
    return "\n".join(flat) + "\n\n" + "\n\n".join(tables) + "\n"


@pytest.fixture(scope="module")
def single(tmp_path_factory, tiny_llama_dir):
    """The single-process sweep's rows and records count (fp32: bf16 logits depend on batching), on the thread count
    caught.cluster gives a one-worker group task (all the CPU's cores): on another count the CPU's sums round
    otherwise, and the tiny organism's sampled steps-to-fix check came out 0 on one thread (pytest -n 2 gives each
    worker one) against None on two."""
    import torch

    root = tmp_path_factory.mktemp("single")
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("CAUGHT_DTYPE", "float32")
            mp.setenv("CAUGHT_CHECKPOINTS", str(root / "checkpoints"))
            (root / "checkpoints").mkdir()
            df = Sweep(_config(str(tiny_llama_dir)), runs_dir=root / "runs", log_dir=str(root / "logs"), device="cpu",
                       say=lambda _: None).run()
    finally:
        torch.set_num_threads(before)
    from training.records import SAMPLES, read_samples

    assert len(df) == 2 and (df["status"] == "ok").all(), df["status"].tolist()
    return df, len(read_samples(root / "runs" / "r" / SAMPLES))


def _env(monkeypatch, root: Path) -> None:
    monkeypatch.setenv("CAUGHT_DTYPE", "float32")
    monkeypatch.setenv("CAUGHT_CHECKPOINTS", str(root / "checkpoints"))
    (root / "checkpoints").mkdir(parents=True, exist_ok=True)


def test_workers_or_ray_without_ray_installed_is_one_clear_error(monkeypatch):
    from typer.testing import CliRunner

    from caught.cli import app

    monkeypatch.setitem(sys.modules, "ray", None)  # what an environment without the extra sees: ImportError
    for option in (["--workers", "2"], ["--ray", "auto"]):
        result = CliRunner().invoke(app, ["sweep", "experiments/mini.toml", *option])
        assert result.exit_code != 0 and "pip install 'caught[ray]'" in result.output, result.output
        assert "Traceback" not in result.output


def test_bad_worker_options_are_named(tmp_path):
    pytest.importorskip("ray")
    from caught.cluster import RaySweep

    sweep = Sweep(SweepConfig(name="r", scenarios=["trigger"], ks=[0]), runs_dir=tmp_path, device="cpu")
    with pytest.raises(ValueError, match="--workers 0: expected"):
        RaySweep(sweep, workers=0)
    sharded = Sweep(SweepConfig(name="r", scenarios=["trigger"], ks=[0]), runs_dir=tmp_path, device="cpu", shard=(0, 2))
    with pytest.raises(ValueError, match="--shard cannot be combined with --workers or --ray"):
        RaySweep(sharded, workers=2)
    timed = Sweep(SweepConfig(name="r", scenarios=["trigger"], ks=[0]), runs_dir=tmp_path, device="cpu", stop_after=60)
    with pytest.raises(ValueError, match="--stop-after cannot be combined with --workers or --ray"):
        RaySweep(timed, workers=2)


@pytest.mark.slow
def test_ray_sweep_gives_the_single_process_rows_and_retries_a_killed_worker(tmp_path, monkeypatch, tiny_llama_dir,
                                                                               single):
    """num_gpus=0 workers on the CPU; the worker is killed (SIGKILL) while it runs the group's second cell: the
    driver retries the cell left, and the rows and records are the single-process sweep's, none twice."""
    pytest.importorskip("ray")
    from caught.cluster import RaySweep
    from training.records import SAMPLES, read_samples

    _env(monkeypatch, tmp_path)
    said: list[str] = []
    killed: list[int] = []

    def kill_worker(row):  # the first row is written: the worker is now inside the second cell
        if not killed:
            (pid,) = runner.running.values()
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    sweep = Sweep(_config(str(tiny_llama_dir)), runs_dir=tmp_path / "runs", log_dir=str(tmp_path / "logs"),
                  device="cpu", say=said.append, on_cell=kill_worker)
    runner = RaySweep(sweep, workers=1)
    df = runner.run()
    assert killed and any("its worker died" in m and "retrying its 1 cells left" in m for m in said), said
    assert runner.attempts[("trigger", "hate", 0, 0)] == 2
    assert len(df) == 2 and not df.duplicated(CELL_KEY).any()
    whole, records = single
    pd.testing.assert_frame_equal(_stable(whole), _stable(df), check_dtype=False)
    samples = read_samples(tmp_path / "runs" / "r" / SAMPLES)
    assert len(samples) == records


@pytest.mark.slow
def test_a_killed_ray_driver_resumes_without_losing_or_repeating_a_cell(tmp_path, monkeypatch, tiny_llama_dir, single):
    """`caught sweep --workers 1` killed (SIGKILL, with its local Ray) after its first row; rerun, it finishes the
    grid: the single-process sweep's rows, each once."""
    pytest.importorskip("ray")
    from caught.cluster import RaySweep

    _env(monkeypatch, tmp_path)
    config = tmp_path / "r.toml"
    config.write_text(_toml(_config(str(tiny_llama_dir))))
    results = tmp_path / "runs" / "r" / "results.parquet"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    driver = subprocess.Popen([sys.executable, "-m", "caught.cli", "sweep", str(config), "--runs-dir",
                               str(tmp_path / "runs"), "--log-dir", str(tmp_path / "logs"), "--device", "cpu",
                               "--workers", "1", "--no-report"], cwd=ROOT, env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and driver.poll() is None and not (
                results.is_file() and len(read_results(results.parent)) >= 1):
            time.sleep(0.5)
        assert driver.poll() is None, "the driver finished before it could be killed"
        assert len(read_results(results.parent)) == 1
    finally:
        os.killpg(driver.pid, signal.SIGKILL)  # the driver and the local Ray it started (its process group)
        driver.wait()
    said: list[str] = []
    sweep = Sweep(_config(str(tiny_llama_dir)), runs_dir=tmp_path / "runs", log_dir=str(tmp_path / "logs"),
                  device="cpu", say=said.append)
    df = RaySweep(sweep, workers=1).run()
    assert any("2 cells, 1 done, 1 to run in 1 groups on Ray" in m for m in said), said
    assert len(df) == 2 and not df.duplicated(CELL_KEY).any()
    pd.testing.assert_frame_equal(_stable(single[0]), _stable(df), check_dtype=False)
