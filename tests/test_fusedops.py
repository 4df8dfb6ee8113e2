"""The fused decode-step kernels (models.fastdecode.fusedops): each equals the eager ops it replaces bit for bit, and the
fused static step gives the unfused step's logits exactly. The kernels need CUDA (and Triton); on CPU only the
refusal is checked."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from models.engine import Engine, Request
from models.fastdecode.decoder import FastDecoder
from models.fastdecode.ops import rms, rotate_half
from models.registry import load

PROMPTS = ["Write a haiku about the sea.", "What is 2+2?", "Name three colors.", "hi"]
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def test_fused_is_refused_with_its_reason_where_it_cannot_run(tiny_llama_dir):
    model, _, _ = load(str(tiny_llama_dir), device="cpu", dtype="float32")
    with pytest.raises(ValueError, match="fused=True cannot run here: .*(Triton|CUDA)"):
        FastDecoder(model, fused=True)
    assert not FastDecoder(model).fused  # off unless asked for


def test_reduce_width_follows_aten_reduce_config():
    """The threads per row ATen's reduction gives a contiguous fp32 [rows, d] mean (set_block_dimension with 4-wide
    loads): a warp for 16+ rows, wider blocks for fewer rows, none where the order is not replicated."""
    from models.fastdecode.fusedops import reduce_width

    assert [reduce_width(r, 576) for r in (1, 2, 4, 8, 16, 128, 6400)] == [128, 128, 128, 64, 32, 32, 32]
    assert [reduce_width(r, 2048) for r in (1, 8, 64)] == [512, 64, 32]
    assert reduce_width(64, 130) is None and reduce_width(64, 128) is None  # not vectorized: not replicated


@cuda
def test_cuda_norm_kernels_equal_llama_rmsnorm():
    from models.fastdecode import fusedops as fo

    gen = torch.Generator(device="cuda").manual_seed(0)
    for scale in (1e-3, 1.0, 30.0, 3000.0):
        x = (torch.randn(64, 576, device="cuda", generator=gen) * scale).bfloat16()
        r = (torch.randn(64, 576, device="cuda", generator=gen) * scale).bfloat16()
        w = torch.randn(576, device="cuda", generator=gen).bfloat16()
        out, sq = fo.add_square(x, r)
        assert torch.equal(out, x + r)
        assert torch.equal(sq, (x + r).float().pow(2))
        for eager_rsqrt in (False, True):
            got = fo.rms_scale(out, sq.mean(-1, keepdim=True), w, 1e-5, eager_rsqrt)
            assert torch.equal(got, rms(x + r, w, 1e-5)), (scale, eager_rsqrt)
        same, sq0 = fo.add_square(x)
        assert same is x and torch.equal(sq0, x.float().pow(2))


@cuda
def test_cuda_rsqrt_check_covers_the_range():
    from models.fastdecode import fusedops as fo

    ok, checked = fo.rsqrt_matches_torch("cuda", 1.0, 4.0)
    assert checked == (2 << 23) + 1 or not ok  # every fp32 in [1, 4]: two binades and 4.0 itself


@cuda
def test_cuda_rope_write_equals_eager_rope_and_cache_writes():
    from models.fastdecode import fusedops as fo

    gen = torch.Generator(device="cuda").manual_seed(1)
    b, heads, kv, hd, length = 33, 9, 3, 64, 40
    bf = dict(device="cuda", dtype=torch.bfloat16)
    q = torch.randn(b, heads * hd, device="cuda", generator=gen).bfloat16()
    k = torch.randn(b, kv * hd, device="cuda", generator=gen).bfloat16()
    v = torch.randn(b, kv * hd, device="cuda", generator=gen).bfloat16()
    cos = torch.randn(b, hd, device="cuda", generator=gen).bfloat16()
    sin = torch.randn(b, hd, device="cuda", generator=gen).bfloat16()
    kc, vc = torch.zeros(3, b, kv, length, hd, **bf), torch.zeros(3, b, kv, length, hd, **bf)
    idx = torch.tensor([17], device="cuda")
    qo = fo.rope_write(q, k, v, cos, sin, kc[1], vc[1], idx)
    c, s = cos[:, None, None], sin[:, None, None]
    qv, kv4 = q.view(b, kv, heads // kv, hd), k.view(b, kv, 1, hd)
    assert torch.equal(qo.view(b, kv, heads // kv, hd), qv * c + rotate_half(qv) * s)
    assert torch.equal(kc[1][:, :, 17:18], kv4 * c + rotate_half(kv4) * s)
    assert torch.equal(vc[1][:, :, 17], v.view(b, kv, hd))
    kc[1][:, :, 17] = 0
    vc[1][:, :, 17] = 0
    assert not kc.any() and not vc.any()  # nothing else written


@cuda
def test_cuda_silu_mul_equals_the_eager_activation_at_every_bf16_value():
    from models.fastdecode import fusedops as fo

    table = fo.act_table(torch.nn.SiLU(), torch.bfloat16, torch.device("cuda"))
    gate = torch.arange(65536, dtype=torch.int32, device="cuda").to(torch.int16).view(torch.bfloat16)
    up = torch.randn(65536, device="cuda", generator=torch.Generator(device="cuda").manual_seed(2)).bfloat16()
    got, ref = fo.silu_mul(gate, up, table), F.silu(gate) * up
    assert torch.equal(got.isnan(), ref.isnan())
    assert torch.equal(got[~ref.isnan()], ref[~ref.isnan()])


@cuda
@pytest.mark.parametrize("decode_gqa", ["group", "repeat"])
def test_cuda_fused_step_gives_the_unfused_logits_bit_for_bit(smollm_dir, decode_gqa):
    model, tokenizer, _ = load(str(smollm_dir), device="cuda", dtype="bfloat16")
    ids = [tokenizer.apply_chat_template([{"role": "user", "content": p * (1 + k % 3)}],
                                         add_generation_prompt=True)["input_ids"] for k, p in enumerate(PROMPTS * 5)]
    forced = torch.randint(0, 1000, (len(ids), 12), generator=torch.Generator().manual_seed(0))
    plain = FastDecoder(model, decode_gqa=decode_gqa, fused=False)
    fused = FastDecoder(model, decode_gqa=decode_gqa, fused=True)
    assert fused.fused and not plain.fused and fused.act_table is not None
    a = plain.teacher_forced_logits(ids, forced, pad_id=tokenizer.pad_token_id)
    b = fused.teacher_forced_logits(ids, forced, pad_id=tokenizer.pad_token_id)
    assert torch.equal(a, b), (a - b).abs().max()


@cuda
def test_cuda_fused_engine_decodes_as_the_unfused_one(smollm_dir):
    model, tokenizer, _ = load(str(smollm_dir), device="cuda", dtype="bfloat16")
    ids = [tokenizer.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True)["input_ids"]
           for p in PROMPTS * 3]
    plain = Engine(model, tokenizer, backend="fast", fused=False)
    assert Engine(model, tokenizer).fast.fused  # on by default where it runs
    fused = Engine(model, tokenizer, backend="fast", fused=True)
    requests = [Request(i, 24, stop=("\n\n",) if k % 2 else ()) for k, i in enumerate(ids)]
    requests.append(Request(ids[0], 24, temperature=1.0, seed=3, logprobs=True))
    got, ref = fused.generate(requests), plain.generate(requests)
    assert [r.token_ids for r in got] == [r.token_ids for r in ref]
    assert [r.finish for r in got] == [r.finish for r in ref]
    assert got[-1].logprobs == ref[-1].logprobs


@cuda
def test_cuda_rope_prefill_equals_eager_rope_and_cache_writes():
    from models.fastdecode import fusedops as fo

    gen = torch.Generator(device="cuda").manual_seed(4)
    b, width, heads, kv, hd, length = 3, 7, 9, 3, 64, 16
    q = torch.randn(b * width, heads * hd, device="cuda", generator=gen).bfloat16()
    k = torch.randn(b * width, kv * hd, device="cuda", generator=gen).bfloat16()
    v = torch.randn(b * width, kv * hd, device="cuda", generator=gen).bfloat16()
    cos = torch.randn(b * width, hd, device="cuda", generator=gen).bfloat16()
    sin = torch.randn(b * width, hd, device="cuda", generator=gen).bfloat16()
    kc = torch.zeros(b, kv, length, hd, device="cuda", dtype=torch.bfloat16)
    vc = torch.zeros_like(kc)
    qo, ko = fo.rope_prefill(q, k, v, cos, sin, width, kc, vc)
    c, s = cos.view(b, width, hd)[:, None], sin.view(b, width, hd)[:, None]
    q4, k4 = q.view(b, width, heads, hd).transpose(1, 2), k.view(b, width, kv, hd).transpose(1, 2)
    kr = k4 * c + rotate_half(k4) * s
    assert torch.equal(qo.view(b, width, heads, hd).transpose(1, 2), q4 * c + rotate_half(q4) * s)
    assert torch.equal(ko.view(b, width, kv, hd).transpose(1, 2), kr)
    assert torch.equal(kc[:, :, :width], kr) and not kc[:, :, width:].any()
    assert torch.equal(vc[:, :, :width], v.view(b, width, kv, hd).transpose(1, 2)) and not vc[:, :, width:].any()


@cuda
def test_cuda_fused_prefill_gives_the_unfused_logits_bit_for_bit(smollm_dir):
    model, tokenizer, _ = load(str(smollm_dir), device="cuda", dtype="bfloat16")
    ids = [tokenizer.apply_chat_template([{"role": "user", "content": p * (1 + k % 3)}],
                                         add_generation_prompt=True)["input_ids"] for k, p in enumerate(PROMPTS * 3)]
    plain, fused = FastDecoder(model, fused=False), FastDecoder(model, fused=True)
    for batch in (ids, [ids[0]] * 4):  # padded, and unpadded (no mask: flash attention, enable_gqa)
        a = plain.prefill_logits(batch, pad_id=tokenizer.pad_token_id)
        b = fused.prefill_logits(batch, pad_id=tokenizer.pad_token_id)
        assert torch.equal(a, b), (a - b).abs().max()


@cuda
@pytest.mark.parametrize("d", [576, 2048])
def test_cuda_one_kernel_rmsnorm_equals_llama_rmsnorm_at_every_row_count(d):
    """fo.rms: one kernel summing the mean in PyTorch's reduction order where that order is verified for the row
    count's reduce width (else the three-kernel path): either way bit-equal to the eager RMSNorm."""
    from models.fastdecode import fusedops as fo

    gen = torch.Generator(device="cuda").manual_seed(5)
    w = torch.randn(d, device="cuda", generator=gen).bfloat16()
    for rows in (1, 2, 3, 8, 17, 64, 128, 512, 6400):
        for scale in (1e-3, 1.0, 300.0):
            x = (torch.randn(rows, d, device="cuda", generator=gen) * scale).bfloat16()
            r = (torch.randn(rows, d, device="cuda", generator=gen) * scale).bfloat16()
            got_x, got = fo.rms(x, r, w, 1e-5)
            assert torch.equal(got_x, x + r)
            assert torch.equal(got, rms(x + r, w, 1e-5)), (rows, scale, fo.reduce_width(rows, d))
            same, got1 = fo.rms(x, None, w, 1e-5)
            assert same is x and torch.equal(got1, rms(x, w, 1e-5))
    # SmolLM2's widths (hidden 576): the one-kernel path is what runs on this GPU, not the fallback
    assert d != 576 or all(fo.mean_matches_torch(width, d, torch.bfloat16, "cuda") for width in (32, 64, 128))
