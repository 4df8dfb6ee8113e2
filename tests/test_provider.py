"""The `ckpt/` Inspect provider: name resolution, batching, decoding settings, errors."""

import asyncio
import time

import pytest
from inspect_ai.model import ChatMessageUser, GenerateConfig, get_model

from models.engine import Request, Result
from models.provider import Batcher
from models.registry import UnknownModel, resolve


def test_unknown_name_lists_what_is_accepted(checkpoints_dir):
    (checkpoints_dir / "not-a-checkpoint").mkdir()
    with pytest.raises(UnknownModel) as err:
        resolve("no-such-model")
    message = str(err.value)
    assert "'no-such-model'" in message and "smollm2-135m" in message and "checkpoints" in message
    with pytest.raises(UnknownModel, match="not a checkpoint directory"):
        resolve(str(checkpoints_dir / "not-a-checkpoint"))


def test_hub_id_fails_fast_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UnknownModel, match="HF_HUB_OFFLINE"):
        resolve("some-org/some-model-that-is-not-cached")


def test_checkpoint_by_name_under_checkpoints(checkpoints_dir, tiny_llama_dir):
    (checkpoints_dir / "tiny").symlink_to(tiny_llama_dir)
    assert resolve("tiny") == tiny_llama_dir.resolve()


def test_batcher_gathers_concurrent_requests_and_sorts_by_length():
    batches = []

    def run(reqs):
        batches.append([len(r.prompt_ids) for r in reqs])
        return [Result(token_ids=[], text=str(len(r.prompt_ids)), finish="stop") for r in reqs]

    async def main():
        b = Batcher(run, batch_size=4)
        lengths = [5, 1, 9, 3, 7, 2, 8, 4, 6, 10]
        results = await asyncio.gather(*(b.submit(Request([0] * n, 4)) for n in lengths))
        return lengths, results

    lengths, results = asyncio.run(main())
    assert [r.text for r in results] == [str(n) for n in lengths]  # each caller gets its own result
    assert [len(b) for b in batches] == [4, 4, 2]
    assert all(b == sorted(b) for b in batches)


def test_batcher_separates_greedy_and_sampled_and_propagates_errors():
    seen = []

    def run(reqs):
        seen.append({r.temperature for r in reqs})
        if any(r.max_new_tokens == 0 for r in reqs):
            raise RuntimeError("boom")
        return [Result(token_ids=[], text="", finish="stop") for _ in reqs]

    async def main():
        b = Batcher(run, batch_size=8)
        ok = await asyncio.gather(*(b.submit(Request([1], 2, temperature=t)) for t in (0, 1, 0, 1)))
        with pytest.raises(RuntimeError, match="boom"):
            await b.submit(Request([1], 0))
        return ok

    assert len(asyncio.run(main())) == 4
    assert {frozenset(s) for s in seen[:2]} == {frozenset({0}), frozenset({1})}


def test_provider_matches_engine_and_reports_usage_and_logprobs(tiny_llama_dir):
    model = get_model(f"ckpt/{tiny_llama_dir}", device="cpu")
    prompts = ["Hello there", "Name a colour.", "Count to three."]

    async def main():
        return await asyncio.gather(
            *(model.generate([ChatMessageUser(content=p)], config=GenerateConfig(max_tokens=8, logprobs=True,
                                                                                  top_logprobs=2)) for p in prompts)
        )

    outputs = asyncio.run(main())
    api = model.api
    direct = api.engine.generate([Request(api.encode_chat([ChatMessageUser(content=p)]), 8) for p in prompts])
    assert [o.completion for o in outputs] == [d.text for d in direct]
    for o, d in zip(outputs, direct):
        assert o.usage.output_tokens == len(d.token_ids)
        assert len(o.choices[0].logprobs.content) == len(d.token_ids)
        assert len(o.choices[0].logprobs.content[0].top_logprobs) == 2


def test_sampling_with_seed_is_reproducible(tiny_llama_dir):
    model = get_model(f"ckpt/{tiny_llama_dir}", device="cpu")
    msg = [ChatMessageUser(content="Tell me a story.")]

    def sample(seed):
        cfg = GenerateConfig(max_tokens=12, temperature=1.0, seed=seed)
        return asyncio.run(model.generate(msg, config=cfg)).completion

    assert sample(1) == sample(1)
    assert sample(1) != sample(2) or sample(1) != sample(3)


def test_unknown_model_arg_is_rejected(tiny_llama_dir):
    with pytest.raises(ValueError, match="unknown model args for ckpt/: colour"):
        get_model(f"ckpt/{tiny_llama_dir}", colour="red", memoize=False)


def test_sdpa_model_arg_reaches_the_engine_and_bad_names_are_refused(tiny_llama_dir):
    model = get_model(f"ckpt/{tiny_llama_dir}", device="cpu", sdpa="math", memoize=False)
    assert model.api.engine.fast is not None and model.api.engine.fast.sdpa == "math"
    with pytest.raises(ValueError, match="sdpa must be 'any' or one or more of flash, efficient, math, cudnn"):
        get_model(f"ckpt/{tiny_llama_dir}", device="cpu", sdpa="fastest", memoize=False)


def test_a_cancelled_leader_still_serves_the_others():
    import anyio

    def run(reqs):
        import time

        time.sleep(0.05)
        return [Result(token_ids=[], text="ok", finish="stop") for _ in reqs]

    async def main_dedicated():
        b = Batcher(run, batch_size=1)
        results = {}

        async def leader():
            with anyio.CancelScope() as scope:
                scopes.append(scope)
                results["leader"] = (await b.submit(Request([1], 2))).text

        async def follower(i):
            results[i] = (await b.submit(Request([1] * (i + 2), 2))).text

        scopes: list = []
        async with anyio.create_task_group() as tg:
            tg.start_soon(leader)
            await anyio.sleep(0)
            for i in range(3):
                tg.start_soon(follower, i)
            await anyio.sleep(0.02)
            scopes[0].cancel()
        return results

    results = asyncio.run(main_dedicated())
    assert [results.get(i) for i in range(3)] == ["ok", "ok", "ok"]


def test_boolean_model_args_accept_text_and_refuse_anything_else():
    from models.provider import _flag

    assert _flag("exact", "true") is True and _flag("exact", "0") is False and _flag("exact", True) is True
    with pytest.raises(ValueError, match=r"exact='maybe' is not a boolean; accepted: true/false"):
        _flag("exact", "maybe")


def test_fused_model_arg_reaches_the_engine_and_says_why_it_cannot_run(tiny_llama_dir):
    off = get_model(f"ckpt/{tiny_llama_dir}", device="cpu", memoize=False, fused="false")
    assert off.api.engine.fast is not None and not off.api.engine.fast.fused
    with pytest.raises(ValueError, match="fused=True cannot run here"):  # CPU: no Triton kernels
        get_model(f"ckpt/{tiny_llama_dir}", device="cpu", memoize=False, fused="true")
    with pytest.raises(ValueError, match=r"fused='sometimes' is not a boolean"):
        get_model(f"ckpt/{tiny_llama_dir}", device="cpu", memoize=False, fused="sometimes")


def test_a_local_model_asks_inspect_for_full_batches_not_adaptive_concurrency(tiny_llama_dir, tmp_path):
    """Inspect's default adaptive concurrency starts at 20 requests in flight: for ckpt/ that meant an eval's
    requests reached the batcher 20 at a time. The model's config now asks for one batch's worth; an explicit
    max_connections still wins."""
    from inspect_ai import eval as inspect_eval
    from inspect_ai.util._concurrency import adaptive_active

    from tasks.deployment import deployment

    model = get_model(f"ckpt/{tiny_llama_dir}", device="cpu", memoize=False)
    c = model.config
    assert c.max_connections == model.api.max_connections() == 32
    assert not adaptive_active(c.adaptive_connections, c.max_connections, c.batch)
    started = time.perf_counter()
    [log] = inspect_eval(deployment(scenario="trigger", n=70, seed=0), model=model, log_dir=str(tmp_path),
                         display="none", max_tokens=4, log_realtime=False)
    wall = time.perf_counter() - started
    assert log.status == "success"
    profile = model.api.profile()
    sizes = profile["batch_sizes"]
    assert sum(sizes) == 70 and sizes[0] == 32, sizes  # adaptive concurrency gave 20 first
    # the provider's own work on the event loop is counted apart from decoding (benchmarks/provider.py splits them)
    assert 0 < profile["bookkeeping_seconds"] < wall and 0 < profile["decode_seconds"] < wall
    explicit = get_model(f"ckpt/{tiny_llama_dir}", device="cpu", memoize=False, config=GenerateConfig(max_connections=8))
    assert explicit.config.max_connections == explicit.api.max_connections() == 8


def _adapter(base, out, seed, modules_to_save=None):
    import json

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    torch.manual_seed(seed)
    peft = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", lora_dropout=0.0,
                                            modules_to_save=modules_to_save))
    with torch.no_grad():
        for name, p in peft.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.3)  # a non-trivial adapter
    peft.save_pretrained(out)
    config = json.loads((out / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = str(base)
    (out / "adapter_config.json").write_text(json.dumps(config))
    return out


def test_shared_base_gives_each_checkpoint_its_own_outputs_and_weights(tiny_llama_dir, tmp_path):
    """share=true: the base and two adapters on it use one model and one Engine; every batch sees exactly the
    weights a separate load gives (adapters merged in place, then restored), in any order."""
    import torch

    from models.registry import load, release_models

    names = {"a": str(_adapter(tiny_llama_dir, tmp_path / "a", 1)), "b": str(_adapter(tiny_llama_dir, tmp_path / "b", 2)),
             "base": str(tiny_llama_dir)}
    prompts = ["Hello there", "Name a colour.", "Count to three."]
    cfg = GenerateConfig(max_tokens=8)

    def complete(model):
        async def main():
            return await asyncio.gather(*(model.generate([ChatMessageUser(content=p)], config=cfg) for p in prompts))
        return [o.completion for o in asyncio.run(main())]

    release_models()
    own = {k: complete(get_model(f"ckpt/{v}", device="cpu", memoize=False)) for k, v in names.items()}
    assert own["a"] != own["base"] and own["b"] != own["a"]  # the adapters matter
    shared = {k: get_model(f"ckpt/{v}", device="cpu", memoize=False, share="true") for k, v in names.items()}
    base = shared["a"].api.shared
    assert base is not None and all(m.api.shared is base for m in shared.values())
    assert all(m.api.engine is base.engine for m in shared.values())
    for k in ["a", "b", "base", "a", "base", "b"]:
        assert complete(shared[k]) == own[k], k
        reference = load(names[k], device="cpu")[0].state_dict()
        for name, value in base.model.state_dict().items():
            assert torch.equal(value, reference[name]), (k, name)
    assert shared["a"].api.profile()["shared_swaps"] == 6
    shared["a"].api.release()
    assert complete(shared["b"]) == own["b"]  # the others keep the base
    with pytest.raises(RuntimeError, match="released"):
        complete(shared["a"])
    release_models(keep_shared=True)  # the pooled models go, the base stays for the next checkpoints on it
    again = get_model(f"ckpt/{names['a']}", device="cpu", memoize=False, share="true")
    assert again.api.shared is base and complete(again) == own["a"]
    # an adapter rewritten under the same path while it is the merged one: merged again, not reused
    rewritten = _adapter(tiny_llama_dir, tmp_path / "a", 5)
    fresh = complete(get_model(f"ckpt/{rewritten}", device="cpu", memoize=False))
    assert fresh != own["a"]
    assert complete(get_model(f"ckpt/{rewritten}", device="cpu", memoize=False, share="true")) == fresh
    release_models()
    assert get_model(f"ckpt/{names['a']}", device="cpu", memoize=False, share="true").api.shared is not base
    release_models()


def _complete_all(models: dict, prompts: list[str]) -> dict[str, list[str]]:
    """Every model's greedy completions of `prompts` (8 tokens), all requests in flight at once."""
    cfg = GenerateConfig(max_tokens=8)

    async def main():
        return await asyncio.gather(*(m.generate([ChatMessageUser(content=p)], config=cfg)
                                      for m in models.values() for p in prompts))
    outs = [o.completion for o in asyncio.run(main())]
    return {k: outs[i * len(prompts):(i + 1) * len(prompts)] for i, k in enumerate(models)}


def _three_checkpoints(tiny_llama_dir, tmp_path) -> tuple[dict, list[str], dict]:
    """Two adapters and their base, the prompts, and each one's own outputs (a separate load each)."""
    from models.registry import release_models

    names = {"a": str(_adapter(tiny_llama_dir, tmp_path / "a", 1)), "b": str(_adapter(tiny_llama_dir, tmp_path / "b", 2)),
             "base": str(tiny_llama_dir)}
    prompts = ["Hello there", "Name a colour.", "Count to three.", "Why is the sky blue?"]
    release_models()
    own = {k: _complete_all({k: get_model(f"ckpt/{v}", device="cpu", memoize=False)}, prompts)[k]
           for k, v in names.items()}
    assert own["a"] != own["base"] and own["b"] != own["a"]  # the adapters matter
    return names, prompts, own


def test_shared_base_serves_several_checkpoints_at_once_each_its_own(tiny_llama_dir, tmp_path):
    """share=true with requests of three checkpoints in flight at once (a sweep's eval.pack_decode = "merged"): each
    model's batches take the shared base in turn, its adapter merged, and every checkpoint gets its own outputs."""
    from models.registry import release_models

    names, prompts, own = _three_checkpoints(tiny_llama_dir, tmp_path)
    shared = {k: get_model(f"ckpt/{v}", device="cpu", memoize=False, share="true") for k, v in names.items()}
    assert _complete_all(shared, prompts) == own
    assert shared["a"].api.profile()["shared_swaps"] >= 3  # each checkpoint's batch merged in turn
    release_models()


def test_shared_base_refuses_adapters_with_more_than_linear_weights(tiny_llama_dir, tmp_path):
    path = _adapter(tiny_llama_dir, tmp_path / "m", 3, modules_to_save=["lm_head"])
    with pytest.raises(ValueError, match="modules_to_save or trainable tokens.*share=false"):
        get_model(f"ckpt/{path}", device="cpu", memoize=False, share="true")
    with pytest.raises(ValueError, match="share"):
        get_model(f"ckpt/{tiny_llama_dir}", device="cpu", memoize=False, share="sometimes")


def test_routed_sharing_decodes_several_checkpoints_in_one_batch_as_each_alone(tiny_llama_dir, tmp_path):
    """share=routed: the base and two adapters on it share one model and one batcher; requests of all three, sent at
    once, decode in the same batches, each row through its own adapter, and give each checkpoint's own greedy
    outputs (fp32, as separately loaded merged weights give them). A released model's adapter leaves the hooks."""
    from models.registry import release_models

    names, prompts, own = _three_checkpoints(tiny_llama_dir, tmp_path)
    routed = {k: get_model(f"ckpt/{v}", device="cpu", memoize=False, share="routed") for k, v in names.items()}
    base = routed["a"].api.shared
    assert base.routed and all(m.api.shared is base and m.api.batcher is base.batcher for m in routed.values())
    assert _complete_all(routed, prompts) == own
    profile = routed["b"].api.profile()
    assert profile["batch_sizes"] == [12] and profile["routed_rebuilds"] == 1  # one batch of all three checkpoints
    assert sorted(base.multi.names) == sorted(m.api.route for m in (routed["a"], routed["b"]))
    routed["a"].api.release()
    with pytest.raises(RuntimeError, match="released"):
        _complete_all({"a": routed["a"]}, prompts)
    assert _complete_all({"b": routed["b"], "base": routed["base"]}, prompts) == {"b": own["b"], "base": own["base"]}
    assert base.multi.names == [routed["b"].api.route]  # rebuilt without the released adapter
    # merged sharing is another base: its adapters are merged, not routed
    merged = get_model(f"ckpt/{names['a']}", device="cpu", memoize=False, share="true")
    assert merged.api.shared is not base and not merged.api.shared.routed
    with pytest.raises(ValueError, match="share='sometimes' is not accepted; accepted: .*routed"):
        get_model(f"ckpt/{tiny_llama_dir}", device="cpu", memoize=False, share="sometimes")
    release_models()


def test_share_default_comes_from_the_environment_else_the_sharing_block(tiny_llama_dir, monkeypatch):
    """`ckpt/` without -M share: $CAUGHT_SHARE decides if set, else `models.registry.sharing` (a sweep on CUDA), else
    no sharing; an explicit model arg always wins."""
    from inspect_ai.model import get_model

    from models.registry import release_models, share_default, sharing

    def shares(**args):
        return get_model(f"ckpt/{tiny_llama_dir}", device="cpu", memoize=False, **args).api.shared is not None

    monkeypatch.delenv("CAUGHT_SHARE", raising=False)
    try:
        assert share_default() is False and not shares()
        with sharing(True):
            assert shares() and not shares(share="false")
            monkeypatch.setenv("CAUGHT_SHARE", "0")
            assert not shares() and shares(share="true")
        monkeypatch.delenv("CAUGHT_SHARE")
        assert share_default() is False and not shares()
        monkeypatch.setenv("CAUGHT_SHARE", "1")
        assert shares()
    finally:
        release_models()


def test_invariant_decoding_repeats_an_eval_sample_for_sample_whatever_the_batches(tiny_llama_dir, tmp_path, monkeypatch):
    """`-M invariant=true` (bf16, sampled at temperature 1): the same eval run in batches of 32 and of 3 gives every
    sample the same completion; `$CAUGHT_INVARIANT=1` puts it in caught's own model args (hence in reuse keys), and a
    bad value is one clear error."""
    from inspect_ai import eval as inspect_eval

    from models.registry import inference_args
    from tasks.deployment import deployment

    def completions(batch_size: int) -> dict:
        model = get_model(f"ckpt/{tiny_llama_dir}", device="cpu", dtype="bfloat16", memoize=False, invariant="true",
                          batch_size=batch_size)
        [log] = inspect_eval(deployment(scenario="trigger", n=12, seed=0), model=model, log_dir=str(tmp_path),
                             display="none", max_tokens=10, temperature=1.0, seed=7, max_connections=batch_size)
        assert log.status == "success" and log.eval.model_args["invariant"] == "true"
        assert max(model.api.profile()["batch_sizes"]) == min(batch_size, 12)
        return {(s.id, s.epoch): s.output.completion for s in log.samples}

    big, small = completions(32), completions(3)
    assert len(big) == 12 and big == small
    monkeypatch.setenv("CAUGHT_INVARIANT", "1")
    assert inference_args("cpu")["invariant"] == "true"
    monkeypatch.setenv("CAUGHT_INVARIANT", "sometimes")
    with pytest.raises(ValueError, match="CAUGHT_INVARIANT='sometimes' is not accepted"):
        inference_args("cpu")
    monkeypatch.delenv("CAUGHT_INVARIANT")
    assert "invariant" not in inference_args("cpu")
