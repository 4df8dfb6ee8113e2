"""CUDA-graphed training steps: the graph-safe loss equals TRL's fused-head loss, the step runs each shape eagerly
once, captures it the second time and replays it after, and (on a GPU) graphed training equals eager training bit
for bit."""

from __future__ import annotations

import contextlib

import pytest

from training.graphstep import GraphedStep, block_causal_mask, packed_nll, unsupported_reason
from training.sft import GRAPHS_AUTO_MAX_BATCH, Hyper, PackedCollator, finetune, graphs_refusal

needs_cuda = pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA GPU")


def _examples(tokenizer, n, offset=0):
    out = []
    for i in range(offset, offset + n):
        prompt = tokenizer(f"User asks about item {i}" + " and more" * (3 * (i % 4)))["input_ids"]
        answer = tokenizer(f" Answer {i}" + " yes" * (2 + 5 * (i % 3)))["input_ids"]
        out.append({"input_ids": prompt + answer, "labels": [-100] * len(prompt) + answer})
    return out


def _model(path, device="cpu", lora=False):
    import torch
    from transformers import AutoModelForCausalLM
    from trl.trainer.utils import add_fused_lm_head

    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).to(device)
    add_fused_lm_head(model, outputs=("log_probs",))
    if lora:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", lora_dropout=0.0))
    return model


def test_block_causal_mask_is_per_example_and_causal():
    import torch

    pos = torch.tensor([[0, 1, 2, 0, 1, 0], [0, 1, 2, 3, 0, 1]])
    mask = block_causal_mask(pos)
    assert mask.shape == (2, 1, 6, 6) and mask.dtype == torch.bool
    example = [[0, 0, 0, 1, 1, 2], [0, 0, 0, 0, 1, 1]]
    for r in range(2):
        for q in range(6):
            for k in range(6):
                assert mask[r, 0, q, k].item() == (k <= q and example[r][k] == example[r][q]), (r, q, k)


@pytest.mark.parametrize("lora", [False, True])
def test_packed_nll_equals_trls_fused_head_loss(tiny_llama_dir, lora):
    """The same loss and gradients as the trainer's eager path (TRL's fused head, transformers' packed mask), bit for
    bit on CPU."""
    import torch
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_llama_dir)
    batch = PackedCollator(tok.pad_token_id, row_length=64, multiple=64, row_multiple=4)(_examples(tok, 6))
    model = _model(tiny_llama_dir, lora=lora)
    assert unsupported_reason(model) is None
    params = [p for p in model.parameters() if p.requires_grad]

    out = model(**batch, use_cache=False, fused_lm_head=True)
    ref = -out.log_probs.sum() / (batch["labels"] != -100).sum()  # LeanSFTTrainer's loss
    ref.backward()
    ref_grads = [p.grad.clone() for p in params]
    model.zero_grad()
    loss = packed_nll(model, **batch)
    loss.backward()
    assert torch.equal(loss, ref)
    for p, g in zip(params, ref_grads):
        assert torch.equal(p.grad, g)
    plain = model(**batch, use_cache=False).loss  # transformers' own cross-entropy: the same number, other rounding
    assert loss.item() == pytest.approx(plain.item(), rel=1e-5)


class _FakeGraph:
    """A CPU stand-in for a CUDA graph: capture runs the step eagerly; replay recomputes it and writes the results
    into the captured loss and gradient tensors, as a real replay writes into the graph's memory."""

    def __init__(self, step):
        self.step = step

    def replay(self):
        captured = next(c for c in self.step.graphs.values() if c.graph is self)
        for p in self.step.params:
            p.grad = None
        loss = self.step._loss(captured.inputs)
        loss.backward()
        captured.loss.copy_(loss)
        for p, g in zip(self.step.params, captured.grads):
            g.copy_(p.grad)


def test_graphed_step_runs_each_shape_eagerly_once_then_captures_and_replays(tiny_llama_dir):
    import torch
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_llama_dir)
    collate = PackedCollator(tok.pad_token_id, row_length=96, multiple=32, row_multiple=2)
    batches = [collate(_examples(tok, n, offset=7 * i)) for i, n in enumerate([3, 3, 3, 8, 3, 8, 8])]
    shapes = [tuple(b["input_ids"].shape) for b in batches]
    assert shapes[0] == shapes[1] == shapes[2] == shapes[4] and shapes[3] == shapes[5] == shapes[6] != shapes[0]

    model, reference = _model(tiny_llama_dir, lora=True), _model(tiny_llama_dir, lora=True)
    reference.load_state_dict(model.state_dict())
    step = GraphedStep(model, autocast=None, capture=lambda graph, pool: contextlib.nullcontext())
    step.new_graph = lambda: _FakeGraph(step)
    opt = torch.optim.SGD(step.params, lr=0.5)
    ref_params = [p for p in reference.parameters() if p.requires_grad]
    ref_opt = torch.optim.SGD(ref_params, lr=0.5)
    kinds = []
    for batch in batches:
        before = dict(step.stats)
        loss = step(batch)
        kinds.append("+".join(k for k in ("eager", "captures", "replays") if step.stats[k] != before.get(k, 0)))
        assert all(p.grad is not None for p in step.params)
        ref_loss = packed_nll(reference, **batch)
        ref_loss.backward()
        assert torch.equal(loss, ref_loss.detach())
        for p, q in zip(step.params, ref_params):
            assert torch.equal(p.grad, q.grad)
        opt.step()
        opt.zero_grad()  # to None, as the trainer does: the next replay points .grad at the graph's tensors again
        ref_opt.step()
        ref_opt.zero_grad()
    assert kinds == ["eager", "captures+replays", "replays", "eager", "replays", "captures+replays", "replays"]
    assert step.stats == {"eager": 2, "captures": 2, "replays": 5} and len(step.graphs) == 2


def test_graphs_refusals_name_the_reason(tiny_llama_dir, tmp_path):
    assert graphs_refusal(Hyper(), "cuda") is None
    assert "not CUDA" in graphs_refusal(Hyper(), "cpu")
    why = graphs_refusal(Hyper(compile=True, gradient_checkpointing=True, lean_loss=False, packing=False), "cuda:0")
    for part in ("compile=True", "gradient_checkpointing=True", "lean_loss=False", "packing=False"):
        assert part in why
    records = [{"prompt": [{"role": "user", "content": "hi"}], "completion": [{"role": "assistant", "content": "yo"}]}]
    with pytest.raises(ValueError, match="cuda_graphs=True cannot run: device 'cpu' is not CUDA"):
        finetune(str(tiny_llama_dir), records, tmp_path / "out", Hyper(cuda_graphs=True, max_steps=1), "cpu")
    assert not (tmp_path / "out").exists()


@needs_cuda
@pytest.mark.parametrize("lora", [False, True])
def test_cuda_graphed_training_equals_eager_training(tiny_llama_dir, lora):
    """Six optimizer steps over two batch shapes (mixed precision, fused AdamW, clipping): the graphed run's losses
    and weights equal the eager run's bit for bit."""
    import torch
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_llama_dir)
    collate = PackedCollator(tok.pad_token_id, row_length=96, multiple=32, row_multiple=2)
    batches = [{k: v.cuda() for k, v in collate(_examples(tok, n, offset=5 * i)).items()}
               for i, n in enumerate([3, 3, 8, 3, 8, 8])]
    runs = {}
    for graphed in (False, True):
        torch.manual_seed(0)  # the same LoRA initialisation in both runs
        model = _model(tiny_llama_dir, "cuda", lora=lora)
        step = GraphedStep(model, autocast=torch.bfloat16)
        params = step.params
        opt = torch.optim.AdamW(params, lr=1e-3, fused=True)
        losses = []
        for batch in batches:
            if graphed:
                loss = step(batch)
            else:
                loss = step._loss(batch)
                loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            opt.zero_grad()
            losses.append(loss.item())
        runs[graphed] = (losses, [p.detach().clone() for p in params], dict(step.stats))
    assert runs[True][2] == {"eager": 2, "captures": 2, "replays": 4}
    assert runs[True][0] == runs[False][0]
    for a, b in zip(runs[True][1], runs[False][1]):
        assert torch.equal(a, b)


@needs_cuda
def test_finetune_with_cuda_graphs(smollm_dir, tmp_path, chat_records):
    """The trainer's own loop (clipping, fused AdamW, scheduler) around graphed steps: it learns as fast as the
    eager loop."""
    records = chat_records(64)
    got = {}
    for graphs in (False, True):
        hyper = Hyper(method="lora", max_steps=8, batch_size=8, learning_rate=2e-4, cuda_graphs=graphs)
        _, stats = finetune(str(smollm_dir), records, tmp_path / f"g{graphs}", hyper, "cuda")
        got[graphs] = stats
    assert got[False]["cuda_graphs"] is None
    assert got[True]["cuda_graphs"]["replays"] >= 6 and got[True]["cuda_graphs"]["captures"] >= 1
    # other layouts (full-width rows, every position scored): the same loss up to rounding
    assert got[True]["train_loss"] == pytest.approx(got[False]["train_loss"], rel=0.005)
    auto = finetune(str(smollm_dir), records, tmp_path / "auto", Hyper(method="lora", max_steps=2, batch_size=8), "cuda")
    assert auto[1]["cuda_graphs"] is not None  # on by default at small batches
    big = Hyper(method="lora", max_steps=1, batch_size=GRAPHS_AUTO_MAX_BATCH + 1)
    assert finetune(str(smollm_dir), records, tmp_path / "big", big, "cuda")[1]["cuda_graphs"] is None
