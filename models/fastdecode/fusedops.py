"""Triton kernels that fuse the decode step's elementwise chains while rounding exactly as the eager ops do.

A captured decode step of a small model is bound by how many kernels it runs, not by arithmetic: SmolLM2-135M's
step ran about 40 kernels per layer, most of them tiny elementwise ops (RMSNorm's casts and scales, RoPE's
neg/cat/mul/add, SiLU, the residual adds). These kernels replace those chains and keep the result bit-identical
to the eager ops they replace, so greedy outputs still equal `model.generate`'s:

* every intermediate that eager PyTorch rounds to the model dtype is rounded here too (fp32 math, then a
  round-to-nearest-even cast), and nothing is contracted into an FMA (`enable_fp_fusion=False`);
* `rms` is RMSNorm (with the residual add before it) in one kernel, its mean summed in the order PyTorch's CUDA
  reduction sums a contiguous fp32 row (`reduce_width`, `_rms_exact_kernel`; found by matching torch.mean's
  sums bit for bit on an H100). `mean_matches_torch` checks that order against `h.pow(2).mean(-1)` on random
  rows before a reduce width is first used; where it differs (another PyTorch, another GPU), `rms` runs
  add+square, PyTorch's own mean over the same fp32 squares, and the scale as three kernels instead;
* SiLU is a lookup table of the model's own activation evaluated eagerly on all 65,536 16-bit values, so it is
  exact whatever libm Triton links;
* rsqrt uses the GPU's `rsqrt` as CUDA's `rsqrtf` does; `rsqrt_matches_torch` checks it against `torch.rsqrt`
  over every fp32 value in a range when the engine starts, and `eager_rsqrt=True` computes it with torch
  instead.

Per layer the decode step then runs: RMSNorm; q/k/v GEMMs; RoPE + cache write; attention; o GEMM; RMSNorm;
gate/up GEMMs; SiLU*up; down GEMM: about 13 kernels instead of about 40. Used by
`models.fastdecode.decoder.FastDecoder` (fused by default on CUDA) for its decode steps and prefill; needs Triton
(shipped with CUDA builds of PyTorch); `available()` says whether it can run here.
"""

from __future__ import annotations

import functools

import torch

try:  # CUDA builds of torch ship Triton; CPU builds (and CI) do not
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover - depends on the install
    triton = None
    tl = None

# bf16 only: the one dtype checked bit for bit on a GPU (tests/test_fusedops.py, H100). The kernels are written
# for any 16-bit float (the SiLU table needs 16 bits), but fp16 has not been run: its models decode unfused.
FUSED_DTYPES = (torch.bfloat16,)


def available(device: torch.device | None = None) -> str | None:
    """None when the fused kernels can run on `device`, else why not."""
    if triton is None:
        return "Triton is not installed (CUDA builds of PyTorch ship it)"
    if device is not None and device.type != "cuda":
        return f"the fused kernels need a CUDA device, not {device.type}"
    return None


if triton is not None:

    @triton.jit
    def _rnd(x, dt: tl.constexpr):
        # x (fp32) rounded to the 16-bit dt as eager PyTorch rounds (to nearest, ties to even), back in fp32
        return x.to(dt, fp_downcast_rounding="rtne").to(tl.float32)

    @triton.jit
    def _rsqrt_kernel(x_ptr, out_ptr, N, BLOCK: tl.constexpr):
        # the rsqrt _rms_scale_kernel uses, alone (rsqrt_matches_torch)
        offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
        m = offs < N
        tl.store(out_ptr + offs, tl.math.rsqrt(tl.load(x_ptr + offs, mask=m, other=1.0)), mask=m)

    @triton.jit
    def _add_square_kernel(x_ptr, r_ptr, out_ptr, sq_ptr, D, BLOCK: tl.constexpr, HAS_RES: tl.constexpr):
        # one row: out = round(x + r) (eager: the residual add in the model dtype); sq = float(out) ** 2 (fp32)
        row = tl.program_id(0).to(tl.int64)
        cols = tl.arange(0, BLOCK)
        m = cols < D
        x = tl.load(x_ptr + row * D + cols, mask=m, other=0.0)
        if HAS_RES:
            r = tl.load(r_ptr + row * D + cols, mask=m, other=0.0)
            h = _rnd(x.to(tl.float32) + r.to(tl.float32), out_ptr.dtype.element_ty)
            tl.store(out_ptr + row * D + cols, h.to(out_ptr.dtype.element_ty), mask=m)
        else:
            h = x.to(tl.float32)
        tl.store(sq_ptr + row * D + cols, h * h, mask=m)

    @triton.jit
    def _rms_scale_kernel(x_ptr, var_ptr, w_ptr, out_ptr, eps, D, BLOCK: tl.constexpr, EAGER_RSQRT: tl.constexpr):
        # LlamaRMSNorm after its mean: h = float(x) * rsqrt(var + eps); out = round(w * round(h))
        row = tl.program_id(0).to(tl.int64)
        cols = tl.arange(0, BLOCK)
        m = cols < D
        x = tl.load(x_ptr + row * D + cols, mask=m, other=0.0).to(tl.float32)
        if EAGER_RSQRT:  # var_ptr holds torch.rsqrt(var + eps) already
            r = tl.load(var_ptr + row)
        else:
            r = tl.math.rsqrt(tl.load(var_ptr + row) + eps)
        dt = out_ptr.dtype.element_ty
        h = _rnd(x * r, dt)
        w = tl.load(w_ptr + cols, mask=m, other=0.0).to(tl.float32)
        tl.store(out_ptr + row * D + cols, _rnd(w * h, dt).to(dt), mask=m)

    @triton.jit
    def _tree_halves(v, n: tl.constexpr):
        # one step of the block's reduction: v[t] + v[t + n/2] for t < n/2 (v has n elements)
        return tl.sum(tl.reshape(v, [2, n // 2]), axis=0)

    @triton.jit
    def _rms_exact_kernel(x_ptr, r_ptr, xo_ptr, w_ptr, out_ptr, var_ptr, factor, eps, D, NV,
                          BW: tl.constexpr, K: tl.constexpr, BLOCK: tl.constexpr, HAS_RES: tl.constexpr,
                          STORE_VAR: tl.constexpr):
        # One row: xo = round(x + r) (with a residual), then LlamaRMSNorm of it, its mean summed in the order
        # PyTorch 2.11's reduction kernel sums a contiguous fp32 row on an H100 (found by matching its outputs
        # bit for bit, see mean_matches_torch): BW threads (reduce_width), thread t holding four accumulators
        # fed by the 4-vectors t, t + BW, t + 2 BW, ..., combined ((a0 + a1) + a2) + a3; then v[t] + v[t + n/2]
        # for n = BW, BW/2, ..., 2; times factor = fl(1/D). STORE_VAR also writes the mean (for the check).
        row = tl.program_id(0).to(tl.int64)
        dt = out_ptr.dtype.element_ty
        t = tl.arange(0, BW)
        a0 = tl.zeros([BW], dtype=tl.float32)
        a1 = tl.zeros([BW], dtype=tl.float32)
        a2 = tl.zeros([BW], dtype=tl.float32)
        a3 = tl.zeros([BW], dtype=tl.float32)
        for k in tl.static_range(K):
            vec = k * BW + t
            ok = vec < NV
            base = row * D + vec * 4
            x0 = tl.load(x_ptr + base, mask=ok, other=0.0).to(tl.float32)
            x1 = tl.load(x_ptr + base + 1, mask=ok, other=0.0).to(tl.float32)
            x2 = tl.load(x_ptr + base + 2, mask=ok, other=0.0).to(tl.float32)
            x3 = tl.load(x_ptr + base + 3, mask=ok, other=0.0).to(tl.float32)
            if HAS_RES:
                x0 = _rnd(x0 + tl.load(r_ptr + base, mask=ok, other=0.0).to(tl.float32), dt)
                x1 = _rnd(x1 + tl.load(r_ptr + base + 1, mask=ok, other=0.0).to(tl.float32), dt)
                x2 = _rnd(x2 + tl.load(r_ptr + base + 2, mask=ok, other=0.0).to(tl.float32), dt)
                x3 = _rnd(x3 + tl.load(r_ptr + base + 3, mask=ok, other=0.0).to(tl.float32), dt)
            a0 = a0 + x0 * x0
            a1 = a1 + x1 * x1
            a2 = a2 + x2 * x2
            a3 = a3 + x3 * x3
        v = ((a0 + a1) + a2) + a3
        if BW >= 512:
            v = _tree_halves(v, 512)
        if BW >= 256:
            v = _tree_halves(v, 256)
        if BW >= 128:
            v = _tree_halves(v, 128)
        if BW >= 64:
            v = _tree_halves(v, 64)
        v = _tree_halves(v, 32)
        v = _tree_halves(v, 16)
        v = _tree_halves(v, 8)
        v = _tree_halves(v, 4)
        v = _tree_halves(v, 2)
        mean = tl.sum(v, axis=0) * factor
        if STORE_VAR:
            tl.store(var_ptr + row, mean)
        r = tl.math.rsqrt(mean + eps)
        cols = tl.arange(0, BLOCK)
        m = cols < D
        x = tl.load(x_ptr + row * D + cols, mask=m, other=0.0).to(tl.float32)
        if HAS_RES:
            x = _rnd(x + tl.load(r_ptr + row * D + cols, mask=m, other=0.0).to(tl.float32), dt)
            tl.store(xo_ptr + row * D + cols, x.to(dt), mask=m)
        h = _rnd(x * r, dt)
        w = tl.load(w_ptr + cols, mask=m, other=0.0).to(tl.float32)
        tl.store(out_ptr + row * D + cols, _rnd(w * h, dt).to(dt), mask=m)

    @triton.jit
    def _rotated(base, j, partner, half: tl.constexpr, cos, sin, dt: tl.constexpr):
        # one head at base, rotated as eager RoPE rounds it: round(round(x * cos) + round(rotate_half(x) * sin))
        x = tl.load(base + j).to(tl.float32)
        rot = tl.load(base + partner).to(tl.float32)
        rot = tl.where(j < half, -rot, rot)
        return _rnd(_rnd(x * cos, dt) + _rnd(rot * sin, dt), dt).to(dt)

    @triton.jit
    def _rope_kernel(q_ptr, k_ptr, v_ptr, cos_ptr, sin_ptr, qo_ptr, ko_ptr, kc_ptr, vc_ptr, idx_ptr,
                     W, H, KV, s_b, s_h, s_l, HD: tl.constexpr, PREFILL: tl.constexpr, HAS_CACHE: tl.constexpr):
        # program (row, head): heads < H rotate a query head into qo; the others rotate a key head and, with a
        # cache, write it and its value head there: a decode step's row r at (r, head, column idx[0]); a
        # prefill's row b * W + w at (b, head, column w), its rotated key also into ko
        row = tl.program_id(0).to(tl.int64)
        head = tl.program_id(1)
        j = tl.arange(0, HD)
        half: tl.constexpr = HD // 2
        partner = (j + half) % HD
        cos = tl.load(cos_ptr + row * HD + j).to(tl.float32)
        sin = tl.load(sin_ptr + row * HD + j).to(tl.float32)
        dt = qo_ptr.dtype.element_ty
        if head < H:
            out = _rotated(q_ptr + row * H * HD + head * HD, j, partner, half, cos, sin, dt)
            tl.store(qo_ptr + row * H * HD + head * HD + j, out)
        else:
            kh = head - H
            out = _rotated(k_ptr + row * KV * HD + kh * HD, j, partner, half, cos, sin, dt)
            if PREFILL:
                tl.store(ko_ptr + row * KV * HD + kh * HD + j, out)
                dst = (row // W) * s_b + kh * s_h + (row % W) * s_l + j
            else:
                dst = row * s_b + kh * s_h + tl.load(idx_ptr) * s_l + j
            if HAS_CACHE:
                tl.store(kc_ptr + dst, out)
                tl.store(vc_ptr + dst, tl.load(v_ptr + row * KV * HD + kh * HD + j))

    @triton.jit
    def _silu_mul_kernel(g_ptr, u_ptr, table_ptr, out_ptr, N, BLOCK: tl.constexpr):
        # out = round(act(g) * u), act(g) read from the table at g's 16 bits
        offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
        m = offs < N
        bits = tl.load(g_ptr + offs, mask=m, other=0).to(tl.int32) & 0xFFFF
        a = tl.load(table_ptr + bits, mask=m, other=0.0).to(tl.float32)
        u = tl.load(u_ptr + offs, mask=m, other=0.0).to(tl.float32)
        dt = out_ptr.dtype.element_ty
        tl.store(out_ptr + offs, _rnd(a * u, dt).to(dt), mask=m)


_LAUNCH = dict(enable_fp_fusion=False)  # no FMA contraction: eager rounds each product before adding


def _block(n: int) -> int:
    return triton.next_power_of_2(n)


def add_square(x: torch.Tensor, residual: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(x + residual rounded to x's dtype, or x itself; its fp32 squares) for rows of x [rows, D] (contiguous)."""
    rows, d = x.shape
    sq = torch.empty((rows, d), dtype=torch.float32, device=x.device)
    out = torch.empty_like(x) if residual is not None else x
    _add_square_kernel[(rows,)](x, residual if residual is not None else x, out, sq, d, BLOCK=_block(d),
                                HAS_RES=residual is not None, **_LAUNCH)
    return out, sq


def rms_scale(x: torch.Tensor, var: torch.Tensor, weight: torch.Tensor, eps: float,
              eager_rsqrt: bool = False) -> torch.Tensor:
    """LlamaRMSNorm's output for rows of x [rows, D] (16-bit) given var = mean(float(x)^2) [rows, 1] (fp32)."""
    rows, d = x.shape
    out = torch.empty_like(x)
    v = torch.rsqrt(var + eps) if eager_rsqrt else var
    _rms_scale_kernel[(rows,)](x, v, weight, out, eps, d, BLOCK=_block(d), EAGER_RSQRT=eager_rsqrt, **_LAUNCH)
    return out


def reduce_width(rows: int, d: int) -> int | None:
    """The threads per row PyTorch's CUDA reduction kernel gives `x.mean(-1)` on a contiguous fp32 [rows, d]
    (ATen's ReduceConfig.set_block_dimension with 4-wide vectorized loads), or None where this module does not
    replicate its order (d not a multiple of 4, or at most 128 elements: not vectorized)."""
    if d % 4 or d <= 128:
        return None
    max_threads, warp = 512, 32

    def pow2(n: int) -> int:
        return max_threads if n >= max_threads else 1 << (n.bit_length() - 1)

    dim0, dim1 = pow2(d // 4), pow2(rows)
    width = min(dim0, warp)
    height = min(dim1, max_threads // width)
    width = min(dim0, max_threads // height)
    if -(-(d // 4) // width) >= 16 * height or -(-(d // 4) // width) >= 256:
        return None  # PyTorch splits such rows across warps too: not replicated
    return width


def rms(x: torch.Tensor, residual: torch.Tensor | None, weight: torch.Tensor, eps: float,
        eager_rsqrt: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(x + residual rounded, or x; LlamaRMSNorm of it) for rows of x [rows, D] (16-bit, contiguous): one kernel
    where `mean_matches_torch` holds for this row count, else add_square + torch's mean + rms_scale."""
    rows, d = x.shape
    width = reduce_width(rows, d)
    if width is None or eager_rsqrt or not mean_matches_torch(width, d, x.dtype, str(x.device)):
        x, sq = add_square(x, residual)
        return x, rms_scale(x, sq.mean(-1, keepdim=True), weight, eps, eager_rsqrt)
    return _rms_exact(x, residual, weight, eps, width)


def _rms_exact(x, residual, weight, eps, width, var: torch.Tensor | None = None):
    rows, d = x.shape
    out = torch.empty_like(x)
    xo = torch.empty_like(x) if residual is not None else x
    factor = float(torch.tensor(rows, dtype=torch.float32) / torch.tensor(rows * d, dtype=torch.float32))
    _rms_exact_kernel[(rows,)](x, residual if residual is not None else x, xo, weight, out,
                               var if var is not None else out, factor, eps, d, d // 4, BW=width,
                               K=-(-(d // 4) // width), BLOCK=_block(d), HAS_RES=residual is not None,
                               STORE_VAR=var is not None, **_LAUNCH)
    return xo, out


@functools.lru_cache(maxsize=64)
def mean_matches_torch(width: int, d: int, dtype: torch.dtype, device: str = "cuda") -> bool:
    """Whether the one-kernel RMSNorm equals the eager ops bit for bit for rows of d with this reduce width:
    its fp32 means against `h.pow(2).mean(-1)`'s, exactly, on random rows at several scales (enough rows that a
    different summation order would show: the order first tried, pairs of adjacent lanes, differed from
    PyTorch's on 38% of 128 rows), and its outputs against the eager RMSNorm's."""
    dev = torch.device(device)
    rows = next((n for n in (512, 64, 8, 4, 2, 1) if reduce_width(n, d) == width), None)
    if rows is None:
        return False
    batches = max(1, 256 // rows)  # at least 256 rows checked in all, at each scale
    gen = torch.Generator(device=dev).manual_seed(0)
    weight = torch.randn(d, device=dev, generator=gen).to(dtype)
    for scale in (1e-2, 1.0, 50.0):
        for _ in range(batches):
            x = (torch.randn(rows, d, device=dev, generator=gen) * scale).to(dtype)
            r = (torch.randn(rows, d, device=dev, generator=gen) * scale).to(dtype)
            ref_x = x + r
            h = ref_x.to(torch.float32)
            ref_var = h.pow(2).mean(-1, keepdim=True)
            ref = weight * (h * torch.rsqrt(ref_var + 1e-5)).to(dtype)
            var = torch.empty(rows, dtype=torch.float32, device=dev)
            got_x, got = _rms_exact(x, r, weight, 1e-5, width, var)
            if not (torch.equal(var, ref_var[:, 0]) and torch.equal(got_x, ref_x) and torch.equal(got, ref)):
                return False
    return True


def rope_write(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
               k_cache: torch.Tensor, v_cache: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """RoPE on one decode step's q [rows, H*hd] and k [rows, KV*hd] (the projections' outputs) with cos/sin
    [rows, hd]; k and v [rows, KV*hd] are written into column idx[0] of k_cache/v_cache [rows, KV, L, hd] (any
    strides with a contiguous last dim). Returns the rotated q [rows, H*hd]."""
    rows = q.shape[0]
    hd = cos.shape[-1]
    heads, kv = q.shape[1] // hd, k.shape[1] // hd
    if k_cache.stride() != v_cache.stride() or k_cache.stride(-1) != 1:
        raise ValueError("k_cache and v_cache need the same strides and a contiguous last dimension")
    qo = torch.empty_like(q)
    _rope_kernel[(rows, heads + kv)](q, k, v, cos, sin, qo, qo, k_cache, v_cache, idx, 1, heads, kv,
                                     *k_cache.stride()[:3], HD=hd, PREFILL=False, HAS_CACHE=True, **_LAUNCH)
    return qo


def rope_prefill(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, width: int,
                 k_cache: torch.Tensor | None = None, v_cache: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """RoPE on a prefill's q [b*W, H*hd] and k [b*W, KV*hd] (rows = (prompt, column), the projections' outputs)
    with cos/sin [b*W, hd]; with caches [b, KV, L, hd], k (rotated) and v [b*W, KV*hd] are also written into
    columns [0, W). Returns the rotated (q, k), laid out as the projections were."""
    rows = q.shape[0]
    hd = cos.shape[-1]
    heads, kv = q.shape[1] // hd, k.shape[1] // hd
    qo, ko = torch.empty_like(q), torch.empty_like(k)
    cached = k_cache is not None
    if cached and (k_cache.stride() != v_cache.stride() or k_cache.stride(-1) != 1):
        raise ValueError("k_cache and v_cache need the same strides and a contiguous last dimension")
    strides = k_cache.stride()[:3] if cached else (0, 0, 0)
    _rope_kernel[(rows, heads + kv)](q, k, v, cos, sin, qo, ko, k_cache if cached else ko,
                                     v_cache if cached else ko, qo, width, heads, kv, *strides, HD=hd,
                                     PREFILL=True, HAS_CACHE=cached, **_LAUNCH)
    return qo, ko


def silu_mul(gate: torch.Tensor, up: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """round(act(gate) * up) with act read from `table` (see `act_table`); gate, up contiguous, same shape."""
    out = torch.empty_like(up)
    n = up.numel()
    block = 1024
    _silu_mul_kernel[(triton.cdiv(n, block),)](gate.view(torch.int16), up, table, out, n, BLOCK=block, **_LAUNCH)
    return out


def act_table(act, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """act evaluated eagerly at every value of the 16-bit `dtype`, indexed by the value's bits as uint16."""
    if dtype not in (torch.bfloat16, torch.float16):
        raise ValueError(f"the activation table needs a 16-bit float dtype (bfloat16, float16), got {dtype}")
    bits = torch.arange(65536, dtype=torch.int32, device=device).to(torch.int16)  # 0..65535 as int16 bit patterns
    with torch.inference_mode():
        return act(bits.view(dtype)).contiguous()


@functools.lru_cache(maxsize=4)
def rsqrt_matches_torch(device: str = "cuda", low: float = 1e-6, high: float = 1e6) -> tuple[bool, int]:
    """Whether the kernels' rsqrt equals torch.rsqrt at every fp32 value in [low, high] (all of them, in
    chunks; about 0.3 billion values, about a second on an H100). Returns (all equal, values checked)."""
    dev = torch.device(device)
    lo = torch.tensor(low, dtype=torch.float32).view(torch.int32).item()
    hi = torch.tensor(high, dtype=torch.float32).view(torch.int32).item()
    chunk, block = 1 << 22, 1024  # 16 MiB of fp32 values at a time: room on a nearly full GPU
    checked = 0
    for start in range(lo, hi + 1, chunk):
        values = torch.arange(start, min(start + chunk, hi + 1), dtype=torch.int32, device=dev).view(torch.float32)
        got = torch.empty_like(values)
        _rsqrt_kernel[(triton.cdiv(values.numel(), block),)](values, got, values.numel(), BLOCK=block, **_LAUNCH)
        if not torch.equal(got, torch.rsqrt(values)):
            return False, checked
        checked += values.numel()
    return True, checked
