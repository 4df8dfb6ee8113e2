"""caught.timing: what one device command of a sweep measured (the cells it finished, their phases, its wall time),
as experiments/gpu_sweep.sh prints it and appends it to RUN/timing.jsonl."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from caught.timing import main, phases, since

T0 = pd.Timestamp("2026-12-07T16:00:00Z")


def _rows() -> pd.DataFrame:
    """Two groups: trigger s0 started and finished by the first command; tier s1 started by the first command (its
    k=0 cell) and resumed by the second (k=16). Every row of a group repeats its phases, as the sweep writes them."""
    rows = []
    for scenario, seed, organism, cells in (("trigger", 0, 40.0, [(0, "none", 0), (16, "adversarial", 60)]),
                                            ("tier", 1, 50.0, [(0, "none", 10), (16, "adversarial", 700)])):
        for k, training, at in cells:
            rows.append({"scenario": scenario, "behavior": "hate", "seed": seed, "k": k, "training": training,
                         "status": "ok", "organism_steps": 0, "organism_seconds": organism, "judge_seconds": 20.0,
                         "catch_seconds": 5.0, "train_seconds": 0.0 if k == 0 else 3.0, "eval_seconds": 10.0,
                         "cell_seconds": 100.0 if k == 0 else 15.0,
                         "finished_at": (T0 + pd.Timedelta(seconds=at)).isoformat()})
    return pd.DataFrame(rows)


def test_a_resumed_group_counts_its_phases_once_in_the_command_that_started_it():
    df = _rows()
    second = since(df, int((T0 + pd.Timedelta(seconds=600)).timestamp()))
    assert list(second["scenario"]) == ["tier"]
    p = phases(second)
    assert p["cells"] == 1 and p["groups_started"] == 0 and p["group_phases_s"]["organism_seconds"] == 0.0
    assert p["cell_phases_s"]["train_seconds"] == 3.0
    whole = phases(df)
    assert whole["groups_started"] == 2 and whole["group_phases_s"]["organism_seconds"] == 90.0
    assert whole["cell_phases_s"]["cell_seconds"] == 230.0


def test_the_cli_appends_one_line_per_command(tmp_path, capsys):
    _rows().to_parquet(tmp_path / "results.parquet")
    start = int(T0.timestamp())
    for _ in range(2):
        main([str(tmp_path), "--start", str(start), "--end", str(start + 480), "--workers", "6", "--budget", "515",
              "--config", "experiments/headline.toml", "--threads", "2", "--device", "NVIDIA H100 80GB HBM3"])
    lines = [json.loads(x) for x in (tmp_path / "timing.jsonl").read_text().splitlines()]
    assert len(lines) == 2 and lines[0]["sweep_wall_s"] == 480 and lines[0]["workers"] == 6
    assert lines[0]["this_command"]["cells"] == 4 and lines[0]["this_command"]["groups_started"] == 2
    assert lines[0]["started"] == "2026-12-07T16:00:00Z" and lines[0]["device"] == "NVIDIA H100 80GB HBM3"
    assert "this command: 4 cells, 2 groups" in capsys.readouterr().out


@pytest.mark.parametrize("args,message", [
    (["--start", "100", "--end", "50"], "--end 50 is before --start 100"),
    (["--start", "100", "--end", "150"], "results.parquet does not exist"),
])
def test_bad_input_is_one_clear_error_and_writes_nothing(tmp_path, args, message):
    run = tmp_path / "run"
    run.mkdir()
    with pytest.raises(SystemExit, match=message):
        main([str(run), *args])
    assert not (run / "timing.jsonl").exists()
