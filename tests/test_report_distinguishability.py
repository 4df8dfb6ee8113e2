"""`caught report --distinguishability`: figure (a) against the base model's measured learnability from a ladder CSV
(the join onto the sweep's scenarios, censored rungs, what is not a point, and the errors for bad files)."""

from __future__ import annotations

import pandas as pd
import pytest

from caught.report import DISTINGUISHABILITY_COLUMNS, read_distinguishability, summarize, write_sweep_report
from tests.test_sweep import synthetic_results

LADDER = [  # scenario, examples to 0.9 (None: not within 64), steps, AUROC learned from 64 [lo, hi]
    ("trigger", 4, 5, 1.0, 1.0, 1.0),
    ("tier", None, None, 0.57, 0.54, 0.61),
    ("year", 64, 25, 0.98, 0.96, 0.99),
    ("collusion", 64, 30, 0.97, 0.95, 0.98),  # not in the sweep: ignored
]


def _ladder_csv(path, rows=LADDER, model="smollm2-135m", drop=()):
    df = pd.DataFrame([{"scenario": s, "difficulty": 1, "model": model, "probe_auroc": 1.0, "probe_n_eval": 256,
                        "learn_examples_to_target": e, "learn_steps_to_target": st, "learn_auroc_top": a,
                        "learn_lo_top": lo, "learn_hi_top": hi, "learn_sizes": "4,16,64", "learn_steps": 30}
                       for s, e, st, a, lo, hi in rows]).drop(columns=list(drop))
    df.to_csv(path, index=False)
    return path


def _run(tmp_path):
    """trigger and tier (three seeds each) are averaged; every year organism fails the capability gate; style is
    averaged but has no row in the ladder CSV."""
    df = synthetic_results((0, 1, 2))
    tier = df[df.scenario == "style"].assign(scenario="tier")
    year = df[df.scenario == "trigger"].assign(scenario="year")
    year.loc[year.training == "none", ["gate_pass", "gate_verdict"]] = [False, "usefulness 0.20 is below 90%"]
    df = pd.concat([df, tier, year], ignore_index=True)
    run = tmp_path / "run"
    run.mkdir()
    df.to_parquet(run / "results.parquet")
    return run, df


def _caption(text: str) -> str:
    return text.split("### Figure a")[1].split("### Figure b")[0]


def test_figure_a_joins_the_ladder_and_draws_censored_rungs_at_the_right_edge(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    run, df = _run(tmp_path)
    ladder = _ladder_csv(tmp_path / "ladder.csv")
    figures = []
    monkeypatch.setattr(plt, "close", lambda fig=None: figures.append(fig))
    text = write_sweep_report(run, distinguishability=[ladder]).read_text()
    caption = _caption(text)
    assert (run / "retained_vs_distinguishability.png").stat().st_size < 1_000_000
    adv = df[(df.training == "adversarial") & (df.k == 16)]
    y = summarize(adv, "retained", ["scenario"]).set_index("scenario")
    assert ("trigger: 4 (5 steps); 1.00 [1.00, 1.00]; " in caption
            and f"y {y.loc['trigger', 'mean']:.2f} [{y.loc['trigger', 'lo']:.2f}, {y.loc['trigger', 'hi']:.2f}], "
                "3 seed(s)" in caption)
    assert "tier: not within 64 (censored); 0.57 [0.54, 0.61]; " in caption
    assert "(1 of 2 points here) is censored" in caption and "the base model `smollm2-135m` (not the organism)" in caption
    assert f"from `{ladder}`" in caption and "n=256 held-out framed prompts" in caption
    assert "style: no row; no row;" in caption  # on the probe/judge panel only
    assert f"without a learnability row in `{ladder}` (not on the left and middle panels): style" in caption
    assert "collusion" not in caption  # a ladder row for a scenario the sweep did not run
    # the failing scenario is not a point, and the caption counts it as failing
    assert "year:" not in caption and "Not points (no checkpoint averaged): year" in caption
    assert "year 3 of 3 (its organism fails the capability gate: seeds 0, 1, 2)" in caption
    # two scenarios with a learnability row: under the report's rule, no trend on the middle panel
    assert "No trend is fitted on the middle panel: 2 scenario(s) plotted there, fewer than 3" in caption
    assert "No trend is fitted on the left panel" in caption and "Dashed on the middle panel" not in caption
    assert "Dashed on the right panel" in caption  # the judge's axis: three scenarios that it separates
    # the left panel: trigger at 4 (filled), tier at the right edge (4 x 64) with its own marker; no year
    fig = next(f for f in figures if f is not None and len(f.axes) == 3)
    left = {(line.get_marker(), float(line.get_xdata()[0]), round(float(line.get_ydata()[0]), 6))
            for line in fig.axes[0].lines if line.get_marker() in ("o", ">")}
    assert left == {("o", 4.0, round(y.loc["trigger", "mean"], 6)), (">", 256.0, round(y.loc["tier", "mean"], 6))}
    assert "not within 64\n(censored)" in [t.get_text() for t in fig.axes[0].get_xticklabels()]
    middle = {float(line.get_xdata()[0]) for line in fig.axes[1].lines if line.get_marker() in ("o", ">")}
    assert middle == {1.0, 0.57}
    assert len([ln for ln in fig.axes[2].lines if ln.get_marker() in ("o", ">")]) == 3  # style too
    assert fig.axes[0].get_xscale() == "log"


def test_a_gate_failing_checkpoint_of_a_plotted_scenario_is_counted_not_averaged(tmp_path):
    run, df = _run(tmp_path)
    df.loc[(df.scenario == "trigger") & (df.seed == 2) & (df.training == "adversarial") & (df.k == 16),
           ["gate_pass", "gate_verdict"]] = [False, "capability 0.1"]
    df.to_parquet(run / "results.parquet")
    caption = _caption(write_sweep_report(run, distinguishability=[_ladder_csv(tmp_path / "l.csv")]).read_text())
    assert "trigger 1 of 3 (the trained model fails the capability gate: seed 2)" in caption
    kept = df[(df.scenario == "trigger") & (df.seed < 2) & (df.training == "adversarial") & (df.k == 16)]
    assert f"y {summarize(kept, 'retained', ['scenario']).iloc[0]['mean']:.2f} [" in caption.split("trigger: 4")[1]
    assert "2 seed(s)" in caption.split("trigger: 4")[1].split(";")[3]


def test_three_measured_scenarios_fit_a_trend_under_the_reports_rule(tmp_path):
    run, df = _run(tmp_path)
    df.loc[df.scenario == "year", "gate_pass"] = True  # year's organisms pass now: three scenarios with a row
    df.to_parquet(run / "results.parquet")
    caption = _caption(write_sweep_report(run, distinguishability=[_ladder_csv(tmp_path / "l.csv")]).read_text())
    assert "Dashed on the middle panel: the least-squares trend over the 3 scenarios' means" in caption
    flat = [(s, e, st, 0.99, 0.98, 1.0) for s, e, st, *_ in LADDER]  # learned AUROCs that do not separate them
    caption = _caption(write_sweep_report(run, distinguishability=[_ladder_csv(tmp_path / "f.csv", flat)]).read_text())
    assert "No trend is fitted on the middle panel: the 3 scenarios' means span 0.9900-0.9900" in caption


def test_several_files_join_and_a_scenario_twice_is_refused(tmp_path):
    a = _ladder_csv(tmp_path / "a.csv", LADDER[:1])
    b = _ladder_csv(tmp_path / "b.csv", LADDER[1:])
    both = read_distinguishability([a, b])
    assert list(both.scenario) == ["trigger", "tier", "year", "collusion"]
    assert list(both.censored) == [False, True, False, False] and set(both.learn_top) == {64}
    with pytest.raises(ValueError, match=r"scenario 'trigger' has more than one row \(.*a\.csv, .*a2\.csv\)"):
        read_distinguishability([a, _ladder_csv(tmp_path / "a2.csv", LADDER[:1])])


@pytest.mark.parametrize("make,message", [
    (lambda p: p / "nope.csv", r"--distinguishability .*nope\.csv: no such file; accepted is a ladder CSV"),
    (lambda p: _ladder_csv(p / "x.csv", drop=("learn_auroc_top", "learn_lo_top")),
     r"--distinguishability .*x\.csv lacks the column\(s\) learn_auroc_top, learn_lo_top; accepted is .* with the "
     r"columns scenario, model, probe_n_eval"),
    (lambda p: (p / "e.csv").write_text("") or p / "e.csv", r"e\.csv is not a readable CSV"),
])
def test_bad_files_are_one_clear_error_and_nothing_is_written(tmp_path, make, message):
    run, _ = _run(tmp_path)
    with pytest.raises(ValueError, match=message):
        write_sweep_report(run, distinguishability=[make(tmp_path)])
    assert not (run / "results.csv").exists() and not (run / "report.md").exists()


def test_a_ladder_of_another_model_is_refused_and_the_cli_says_so_in_one_line(tmp_path):
    from typer.testing import CliRunner

    from caught.cli import app

    run, _ = _run(tmp_path)
    other = _ladder_csv(tmp_path / "other.csv", model="qwen-0.5b")
    result = CliRunner().invoke(app, ["report", str(run), "--distinguishability", str(other)])
    said = " ".join(result.output.split())  # the console wraps a long line (a long tmp path) at its width
    assert result.exit_code != 0 and "was measured on 'qwen-0.5b'" in said
    assert "accepted is a ladder of the sweep's base model smollm2-135m" in said
    result = CliRunner().invoke(app, ["report", str(run), "--distinguishability", str(tmp_path / "none.csv")])
    said = " ".join(result.output.split())
    assert result.exit_code != 0 and "no such file" in said and ", ".join(DISTINGUISHABILITY_COLUMNS[:3]) in said


def test_without_the_option_figure_a_is_the_probe_and_rung_figure(tmp_path):
    run, _ = _run(tmp_path)
    plain = write_sweep_report(run).read_text()
    assert "right, the scenario's rung on the designed ladder" in _caption(plain) and "learnability" not in plain
    write_sweep_report(run, distinguishability=[_ladder_csv(tmp_path / "l.csv")])
    assert write_sweep_report(run, distinguishability=[]).read_text() == plain


def test_the_left_panel_says_why_it_fits_no_trend(tmp_path):
    """results/headline 2026-12-07: trigger, tier and style all reach 0.9 from 4 examples (after 5, 20 and 30
    steps). The caption said "a least-squares line cannot take censored values" with no censored rung; it now says
    that the axis does not tell them apart and where the steps are, and keeps the censored reason for censored rungs."""
    run, df = _run(tmp_path)
    df.loc[df.scenario == "year", "gate_pass"] = True
    df.to_parquet(run / "results.parquet")
    same = [("trigger", 4, 5, 1.0, 1.0, 1.0), ("tier", 4, 20, 1.0, 1.0, 1.0), ("year", 4, 30, 1.0, 1.0, 1.0)]
    caption = _caption(write_sweep_report(run, distinguishability=[_ladder_csv(tmp_path / "s.csv", same)]).read_text())
    assert "every scenario reached 0.9 from the same 4 examples (the smallest size tried)" in caption
    assert "cannot take censored values" not in caption
    assert "trigger: 4 (5 steps)" in caption and "tier: 4 (20 steps)" in caption
    caption = _caption(write_sweep_report(run, distinguishability=[_ladder_csv(tmp_path / "c.csv")]).read_text())
    assert "a least-squares line cannot take censored values" in caption  # tier is not learned within 64 there
