"""A lean decoding engine for Llama-family causal LMs: static KV cache, one CUDA graph per decode step.

`model.generate` spends most of a decoding step launching kernels (about 90 ms per step for a 135M model on
an H100, whatever the batch size). Here the forward pass is written out in plain torch over the HF model's
own parameters (referenced, never copied) and a static KV cache, so that one decode step (embedding ->
logits for the whole batch) can be captured once in a `torch.cuda.CUDAGraph` and replayed with a single
launch. The math follows `transformers`' Llama code operation by operation (RMSNorm in fp32 then cast,
RoPE cos/sin computed in fp32 like `LlamaRotaryEmbedding`, SDPA attention), so greedy outputs match
`model.generate`'s.

Layout. A call decodes `n` requests in a static batch of `bucket(n)` rows (1, 2, 4, ... 512; padded with
dummy rows) over a cache of `max_len` columns (prompt width + new tokens, rounded up to `len_multiple`):

* prefill: the left-padded prompts (position ids = cumsum(mask) - 1, as `generate` does) fill columns
  [0, width) of the cache; the additive mask marks the prompt's real tokens;
* decode step t writes column width + t for every row (a cache index held in a tensor, used with
  `index_copy_`), marks it valid in the mask and advances each row's position id; all of it inside the
  graph, which reads only static buffers (token ids, position ids, cache index, mask);
* the step is captured once per `span` (64) of attended columns: step t replays the graph whose attention
  covers columns [0, width + t] rounded up to a span, so attention costs what has been written, not the
  whole cache (masked columns add exactly nothing: the outputs are the same);
* on CUDA with Triton and a bf16 model, the step's elementwise chains run as fused kernels
  (`models.fastdecode.fusedops`: about 13 kernels per layer instead of about 40, rounding as the eager ops do, the same
  logits bit for bit; `fused=False` turns them off), and inside the captured step the q/k/v and gate/up GEMMs
  run concurrently on side streams (the same cuBLAS calls).

Choosing tokens (greedy, seeded sampling, log-probabilities) stays outside the graph, in
`models.engine.Engine`'s semantics. Rows that finish keep decoding in the static batch; the loop stops
once every row is done, which the host learns through a small non-blocking copy per step, read a few steps
late so the GPU never waits for the CPU. On CPU (or `graphs=False`) the same step runs eagerly, attending
over the written columns only and dropping finished rows from the batch (as the hf loop does), which
makes it bit-equal to transformers on CPU; `static=True` runs the graph's layout eagerly instead (tests).

Exact layout (`exact=True`, opt-in; `ckpt/` takes `-M exact=true`). The exact layout decodes
the batch as `generate` does: exactly n rows (no bucket), the prompt width unrounded (left padding as
generate pads), no row dropped, and each step's attention over exactly the cache's first width + t + 1
columns, called as transformers' sdpa integration calls it (a [n, 1, 1, L] bool padding mask with K/V repeated
per query head, or no mask and `enable_gqa` when no prompt is padded), so the same kernel runs on the same
shapes. The rest of a step is captured as piecewise CUDA graphs over static buffers: embedding + layer 0 up to
its attention; for each next layer, the previous layer's o_proj + MLP and this layer's norm + QKV + RoPE +
cache write; the last layer's o_proj + MLP + final norm + lm_head (layers + 1 replays, one graph pool), with
the attentions eager between replays on views of the cache. Without graphs (CPU) the same pieces run eagerly,
which the CPU tests check bit for bit against `generate` in bf16. `exact=False` (the default) keeps the static
layout (graphs per step), the faster of the two. Measured on an H100 (SmolLM2-135M, bf16, 2026-11-26,
reproducible attention on both sides, see REPRODUCIBLE_SDPA): the static layout, fused, gives `generate`'s
greedy tokens on 100% of samples at 64 and 256 new tokens, batch 128 and 512, EOS on, at 10.1-10.7x
`generate`'s tokens/s at batch 128 (8.8x in one run of six) and 5.2-6.2x at 512 (README, Performance); the
exact layout was at 1.5-3.9x on an H200. Exact is not the default because its graphs are per row
count (GEMM rounding depends on it): Inspect hands `ckpt/` batches of many different sizes, each of which costs a capture,
which made sweep evaluations about 3x slower than with the static layout. Note also that `generate`'s own
greedy outputs depend on the batch they are decoded in.

Supported: LlamaForCausalLM (any attention/MLP bias), MistralForCausalLM without sliding window and
Qwen2ForCausalLM without sliding-window layers, with SiLU MLPs and RoPE types whose frequencies are fixed
at load (default, linear, llama3). `unsupported_reason(model)` says why another model is refused.

Routed LoRA (`generate(..., adapters=multi)`, a models.multilora.MultiLoRA on the model): a batch whose rows name
different adapters decodes in one pass, each adapted projection adding its row's adapter delta as MultiLoRA's hook
does, u = h·[A_1; ...; A_n]ᵀ, u masked by the row's route (its adapter's scaling on its block of the concatenated
rank, zeros for the base), + u·[B_1 ... B_n]ᵀ: the same operations on the same values as the hf loop's routed
forward. The route is a static buffer of the state (rows x concatenated rank), so a captured step serves any mix
of adapters; routed states are cached apart from plain ones (a batch naming no adapter decodes without the extra
GEMMs) and dropped when another MultiLoRA is bound. The exact layout does not route (`route_unavailable`).

Graphs hold the parameters' device addresses: they are rebuilt when a parameter's storage changes (e.g.
`model.to(...)`), and stay valid for in-place updates (optimizer steps).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from models.fastdecode.attention import default_sdpa, sdpa_backends, sdpa_context
from models.fastdecode.exact import ExactLayout
from models.fastdecode.layout import Decoded, Layer, State, bucket
from models.fastdecode.ops import device_scoped, repeat_kv, rms, rotate_half, to_fp32
from models.fastdecode.sampler import Sampler
from models.fastdecode.support import UnsupportedModel, unsupported_reason

# a decoder layer's projections, as FastDecoder's Layer names them -> their modules under model.layers.<i>
PROJECTIONS = {"q": "self_attn.q_proj", "k": "self_attn.k_proj", "v": "self_attn.v_proj", "o": "self_attn.o_proj",
               "gate": "mlp.gate_proj", "up": "mlp.up_proj", "down": "mlp.down_proj"}
QKV = ("q", "k", "v")


class FastDecoder(ExactLayout):
    """Prefill + graph-captured decode steps for one resident Llama-family model.

    `graphs`: capture decode steps in CUDA graphs (default: on CUDA). `len_multiple`: cache lengths are
    rounded up to it, so that nearby lengths share a captured graph (default 256 on CUDA, 64 on CPU).
    `max_states`: how many (bucket, max_len) caches + graphs are kept (least recently used dropped).
    `decode_gqa`: "group" folds each KV head's query heads into one SDPA call over the unrepeated cache
    (no copy; the default with graphs); "repeat" repeats K/V per query head as transformers does (more
    memory traffic; the default without graphs, where it is bit-equal to transformers on CPU).
    `static`: without graphs, still decode in the graph's layout (bucket rows, attention over all cache
    columns) — what the CPU tests use to check the captured step's math.
    `prune`: without the static layout, drop finished rows from the batch (as the hf loop does).
    `sync_lag`: how many steps the host may run ahead of the GPU before it waits on a step's done flag.
    `exact`: decode in the exact layout (piecewise graphs, attention over exactly generate's columns, see the
    module docstring); default off (fp32's static layout is already
    identical to `generate`). `exact_kv`: "copy" hands attention contiguous (head-repeated) K/V as
    transformers does (the default); "cache" keeps a head-repeated cache for padded batches and attends over
    views of it (no copy per layer: faster at large batches, 3x the cache memory with SmolLM2's GQA).
    `fused`: decode the static layout's step with models.fastdecode.fusedops' kernels (default None: wherever they run,
    falling back to the unfused step, with a warning, if they fail to build; True: required, else an error).
    `span`: captured steps attend over the written columns rounded up to this many (one graph per span).
    `parallel`: the fused step runs its q/k/v and gate/up GEMMs concurrently on side streams (same values).
    `sdpa`: the attention backends SDPA may use in this engine's calls (graph captures included), a name or
    "+"-joined names from {flash, efficient, math, cudnn}, or "any" for PyTorch's own choice. Default: on CUDA
    `REPRODUCIBLE_SDPA` (no cuDNN attention, whose outputs change from call to call), on CPU "any". The list must
    cover every call: "efficient" alone cannot run an unpadded batch's prefill (`enable_gqa`) on CUDA.
    """

    def __init__(self, model, graphs: bool | None = None, len_multiple: int | None = None, max_states: int = 4,
                 decode_gqa: str | None = None, static: bool = False, prune: bool = True, sync_lag: int = 4,
                 exact: bool = False, exact_kv: str = "copy", sdpa: str | None = None, fused: bool | None = None,
                 span: int = 64, parallel: bool = True):
        reason = unsupported_reason(model)
        if reason is not None:
            raise UnsupportedModel(reason)
        if decode_gqa not in (None, "group", "repeat"):
            raise ValueError(f"decode_gqa must be 'group' or 'repeat', got {decode_gqa!r}")
        if exact_kv not in ("copy", "cache"):
            raise ValueError(f"exact_kv must be 'copy' or 'cache', got {exact_kv!r}")
        if exact and static:
            raise ValueError("exact=True and static=True are different layouts; pick one")
        self.model = model
        config = model.config
        self.device = next(model.parameters()).device
        cuda = self.device.type == "cuda"
        self.sdpa = sdpa if sdpa is not None else default_sdpa(self.device)
        sdpa_backends(self.sdpa)  # a bad name fails here
        self.graphs = cuda if graphs is None else bool(graphs)
        if self.graphs and not cuda:
            raise ValueError("CUDA graphs need a model on a CUDA device")
        self.exact = bool(exact)  # opt-in: see the module docstring (CPU's eager layout matches generate anyway)
        self.exact_kv = exact_kv
        self.len_multiple = len_multiple or (256 if cuda else 64)
        self.static = (self.graphs or static) and not self.exact
        self.prune = prune and not self.exact  # generate keeps every row: so does the exact layout
        self.max_states = max_states
        if span < 1:
            raise ValueError(f"span must be a positive number of columns, got {span}")
        self.span = span
        self.decode_gqa = decode_gqa or ("group" if self.graphs else "repeat")
        self.sync_lag = sync_lag
        self.n_heads = config.num_attention_heads
        self.n_kv = config.num_key_value_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        self.n_rep = self.n_heads // self.n_kv
        self.scale = model.model.layers[0].self_attn.scaling
        self.max_positions = getattr(config, "max_position_embeddings", None)
        why = self._fused_unavailable(model)
        if fused and why:
            raise ValueError(f"fused=True cannot run here: {why}")
        self.fused_auto = fused is None  # on where it can run; a failure to build its kernels turns it off
        self.fused = why is None if fused is None else bool(fused)
        self.eager_rsqrt = False  # set by _bind when the kernel's rsqrt differs from torch's on this GPU
        self.act_table: torch.Tensor | None = None
        self.parallel = parallel
        self._side: list | None = None  # side streams of the fused step's parallel GEMMs (made on first use)
        self._capturing = False  # inside _capture (warm-up and capture): the fused step's GEMMs run in parallel
        self.states: OrderedDict[tuple[int, int], State] = OrderedDict()
        self.captures = 0  # static batches made (each a capture with graphs) and their seconds, for profiling
        self.capture_seconds = 0.0
        self.adapters = None  # the MultiLoRA routed batches decode through (bound by `generate(adapters=)`)
        self._bind()

    # ---- weights -------------------------------------------------------------------------------------

    def _signature(self) -> tuple[int, ...]:
        return tuple(p.data_ptr() for p in self.model.parameters())

    def _bind(self) -> None:
        """Reference the model's current parameters (and forget graphs captured over older ones)."""
        inner = self.model.model
        lin = lambda m: (m.weight, m.bias)  # noqa: E731
        self.embed = inner.embed_tokens.weight
        self.layers = [
            Layer(
                in_norm=layer.input_layernorm.weight, q=lin(layer.self_attn.q_proj), k=lin(layer.self_attn.k_proj),
                v=lin(layer.self_attn.v_proj), o=lin(layer.self_attn.o_proj),
                post_norm=layer.post_attention_layernorm.weight, gate=lin(layer.mlp.gate_proj),
                up=lin(layer.mlp.up_proj), down=lin(layer.mlp.down_proj), act=layer.mlp.act_fn,
                eps=layer.input_layernorm.variance_epsilon, post_eps=layer.post_attention_layernorm.variance_epsilon,
            )
            for layer in inner.layers
        ]
        self.norm, self.norm_eps = inner.norm.weight, inner.norm.variance_epsilon
        self.lm_head = self.model.lm_head.weight
        self._attach()
        self.inv_freq = inner.rotary_emb.inv_freq
        self.attention_scaling = inner.rotary_emb.attention_scaling
        self.dtype = self.embed.dtype
        self.device = self.embed.device
        self.states.clear()
        self._sig = self._signature()
        if self.fused:
            from models.fastdecode import fusedops

            try:
                with torch.cuda.device(self.device):
                    self.act_table = fusedops.act_table(self.layers[0].act, self.dtype, self.device)
                    self.eager_rsqrt = not fusedops.rsqrt_matches_torch(str(self.device))[0]
            except Exception as ex:  # e.g. Triton cannot compile for this GPU
                self._unfuse(ex)

    # ---- routed LoRA adapters ----------------------------------------------------------------------------------

    def route_unavailable(self, adapters) -> str | None:
        """Why a batch routed through `adapters` (a MultiLoRA) cannot decode here, or None."""
        if adapters is self.adapters:  # bound already, so checked already
            return None
        if adapters.model is not self.model:
            return "the adapters are hooked onto another model"
        if self.exact:
            return "the exact layout decodes as generate does, without adapters"
        if adapters.trainable:
            return "trainable adapters (concatenated at each forward) are for training, not decoding"
        known = {f"model.layers.{li}.{m}" for li in range(len(self.layers)) for m in PROJECTIONS.values()}
        other = sorted(set(adapters.modules) - known)
        if other:
            return f"the adapters adapt {other[0]!r}, which is not a projection of a decoder layer"
        return None

    def _use(self, adapters) -> None:
        """Route through `adapters` from now on: their concatenated matrices bound to the layers; routed states
        captured over another MultiLoRA dropped (their graphs read its matrices and its route width)."""
        if adapters is self.adapters:
            return
        why = self.route_unavailable(adapters)
        if why:
            raise ValueError(f"the fast engine cannot route these adapters: {why}")
        self.adapters = adapters
        for key in [key for key in self.states if key[3]]:
            del self.states[key]
        self._attach()

    def _attach(self) -> None:
        """Each layer's `lora`: its adapted projections' concatenated (A, B), or None (no adapters bound)."""
        for li, w in enumerate(self.layers):
            if self.adapters is None:
                w.lora = None
                continue
            names = {p: f"model.layers.{li}.{m}" for p, m in PROJECTIONS.items()}
            w.lora = {p: self.adapters.matrices(m) for p, m in names.items() if m in self.adapters.modules} or None

    def _adapt(self, h: torch.Tensor, w: Layer, names: Sequence[str], outs: Sequence[torch.Tensor],
               route: torch.Tensor | None) -> list[torch.Tensor]:
        """`outs` (the base projections `names` of h) plus each row's adapter delta, as MultiLoRA's hook adds it
        (u = h·Aᵀ; u * route; out + u·Bᵀ). Unchanged without a route or for a projection no adapter adapts."""
        if route is None or w.lora is None:
            return list(outs)
        view = route if h.dim() == 2 else route[:, None, :]
        return [out + F.linear(F.linear(h, w.lora[n][0]) * view, w.lora[n][1]) if n in w.lora else out
                for n, out in zip(names, outs)]

    def _unfuse(self, ex: Exception) -> None:
        """Fall back to the unfused step (same outputs, slower) when fused was not asked for explicitly."""
        if not self.fused_auto or isinstance(ex, torch.OutOfMemoryError):
            raise ex
        import warnings

        warnings.warn(f"the fused decode kernels failed ({type(ex).__name__}: {ex}); decoding unfused", stacklevel=3)
        self.fused = False
        self.act_table = None

    def _fused_unavailable(self, model) -> str | None:
        """Why the fused kernels (models.fastdecode.fusedops) cannot decode `model` here, or None."""
        from models.fastdecode import fusedops

        why = fusedops.available(self.device)
        if why:
            return why
        if not self.static:
            return "they decode in the static layout only (not with exact=True, nor eagerly without graphs)"
        dtype = next(model.parameters()).dtype
        if dtype not in fusedops.FUSED_DTYPES:
            return f"dtype {dtype} (fused: {', '.join(map(str, fusedops.FUSED_DTYPES))})"
        acts = {type(layer.mlp.act_fn) for layer in model.model.layers}
        if len(acts) != 1:
            return "the layers use different activation modules"
        return None

    def clear(self) -> None:
        """Drop all caches and graphs (frees their GPU memory)."""
        self.states.clear()

    @contextlib.contextmanager
    def _on_device(self):
        """Make the model's GPU current (streams, events and graph capture use the current device; the
        provider calls from a worker thread, whose current device is cuda:0), and restrict SDPA to the
        `sdpa` backends when given."""
        with contextlib.ExitStack() as stack:
            if self.device.type == "cuda":
                stack.enter_context(torch.cuda.device(self.device))
            stack.enter_context(sdpa_context(self.sdpa))
            yield

    # ---- the forward pass ----------------------------------------------------------------------------

    def _cos_sin(self, pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """LlamaRotaryEmbedding.forward for position ids [B, L]: fp32 outer product, cos/sin, cast."""
        inv = self.inv_freq[None, :, None].expand(pos.shape[0], -1, 1).to(dtype=torch.float, device=pos.device)
        freqs = (inv @ pos[:, None, :].float()).transpose(1, 2)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos = emb.cos() * self.attention_scaling
        sin = emb.sin() * self.attention_scaling
        return cos.to(self.dtype), sin.to(self.dtype)

    def _mlp(self, w: Layer, x: torch.Tensor) -> torch.Tensor:
        h = rms(x, w.post_norm, w.post_eps)
        h = F.linear(w.act(F.linear(h, *w.gate)) * F.linear(h, *w.up), *w.down)
        return x + h

    # The forward pass below is one code path for both variants: the eager ops (CPU, and `fused=False`) and
    # models.fastdecode.fusedops' kernels (`fused`). Only _norm, _act_mul and the two RoPE helpers differ between them,
    # and each variant rounds as the eager ops do, so both give the same values bit for bit.

    def _norm(self, x: torch.Tensor, residual: torch.Tensor | None, weight: torch.Tensor,
              eps: float) -> tuple[torch.Tensor, torch.Tensor]:
        """(x + residual, or x; LlamaRMSNorm of it), over the last dimension of x (any leading shape)."""
        if not self.fused:
            if residual is not None:
                x = x + residual
            return x, rms(x, weight, eps)
        from models.fastdecode import fusedops as fo

        shape, d = x.shape, x.shape[-1]
        flat = lambda t: t.reshape(-1, d).contiguous()  # noqa: E731  (a view unless t is strided)
        x, h = fo.rms(flat(x), None if residual is None else flat(residual), weight, eps, self.eager_rsqrt)
        return x.view(shape), h.view(shape)

    def _act_mul(self, w: Layer, h: torch.Tensor, route: torch.Tensor | None = None) -> torch.Tensor:
        """act(gate(h)) * up(h), the MLP's input to its down projection (each row through its adapter, routed)."""
        gate, up = self._adapt(h, w, ("gate", "up"), self._linears(h, (w.gate, w.up)), route)
        if not self.fused:
            return w.act(gate) * up
        from models.fastdecode import fusedops as fo

        return fo.silu_mul(gate, up, self.act_table)

    def _rope_prefill(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cos: torch.Tensor,
                      sin: torch.Tensor, st: State | None, li: int) -> tuple[torch.Tensor, ...]:
        """RoPE on the prompts' q, k ([B, W, heads * hd], the projections' outputs) with cos/sin [B, W, hd]; with
        a state, layer li's K/V are written into its cache columns [0, W). Returns q, k, v as [B, heads, W, hd]
        views laid out as transformers' (the projections' memory, transposed)."""
        b, width, hd = q.shape[0], q.shape[1], self.head_dim
        heads = lambda t: t.view(b, width, -1, hd).transpose(1, 2)  # noqa: E731
        if self.fused:
            from models.fastdecode import fusedops as fo

            n = b * width
            caches = (st.k[li, :b], st.v[li, :b]) if st is not None else ()
            q, k = fo.rope_prefill(q.view(n, -1), k.view(n, -1), v.view(n, -1), cos.reshape(n, hd),
                                   sin.reshape(n, hd), width, *caches)
            return heads(q), heads(k), heads(v)
        q, k, v = heads(q), heads(k), heads(v)
        cos, sin = cos[:, None], sin[:, None]
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if st is not None:
            cached = st.k.shape[2]  # the exact layout's "cache" K/V: repeated per query head
            st.k[li, :b, :, :width] = k if cached == k.shape[1] else repeat_kv(k, self.n_rep)
            st.v[li, :b, :, :width] = v if cached == v.shape[1] else repeat_kv(v, self.n_rep)
        return q, k, v

    def _rope_decode(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cos: torch.Tensor,
                     sin: torch.Tensor, st: State, li: int) -> torch.Tensor:
        """RoPE on one decode step's q, k ([B, heads * hd]) with cos/sin [B, 1, hd]; k and v are written into
        layer li's cache at column st.idx. Returns the rotated q [B, heads * hd]."""
        b, hd = q.shape[0], self.head_dim
        if self.fused:
            from models.fastdecode import fusedops as fo

            return fo.rope_write(q, k, v, cos.view(b, hd), sin.view(b, hd), st.k[li], st.v[li], st.idx)
        q = q.view(b, -1, hd)
        k = k.view(b, -1, hd)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        st.k[li].index_copy_(2, st.idx, k[:, :, None])
        st.v[li].index_copy_(2, st.idx, v.view(b, -1, 1, hd))
        return q.view(b, -1)

    def _prefill(self, ids: torch.Tensor, valid: torch.Tensor, pos: torch.Tensor, st: State | None,
                 all_logits: bool = False) -> torch.Tensor:
        """Run the left-padded prompts [B, W]; write their K/V into st's columns [0, W). Returns fp32 logits
        of the last column [B, V] (or of every column [B, W, V] with all_logits)."""
        b, width = ids.shape
        padded = not bool(valid.all())
        if padded:
            # causal and key is a real token; the diagonal keeps padding queries finite (they are never used)
            causal = torch.ones(width, width, dtype=torch.bool, device=ids.device).tril()
            eye = torch.eye(width, dtype=torch.bool, device=ids.device)
            mask = causal[None, None] & (valid[:, None, None, :] | eye[None, None])
        cos, sin = self._cos_sin(pos)  # [B, W, hd]
        route = st.route[:b] if st is not None and st.route is not None else None
        x = F.embedding(ids, self.embed)
        residual = None  # the last sublayer's output, added to x by the next norm
        for li, w in enumerate(self.layers):
            x, h = self._norm(x, residual, w.in_norm, w.eps)
            qkv = self._adapt(h, w, QKV, self._linears(h, (w.q, w.k, w.v)), route)
            q, k, v = self._rope_prefill(*qkv, cos, sin, st, li)
            if padded:  # as transformers' sdpa path with a mask: K/V repeated per query head
                a = F.scaled_dot_product_attention(q, repeat_kv(k, self.n_rep), repeat_kv(v, self.n_rep),
                                                   attn_mask=mask, scale=self.scale)
            else:  # no padding: transformers passes no mask, is_causal and enable_gqa
                a = F.scaled_dot_product_attention(q, k, v, is_causal=width > 1, scale=self.scale,
                                                   enable_gqa=self.n_rep > 1)
            a = a.transpose(1, 2).reshape(b, width, -1)
            x, h = self._norm(x, self._adapt(a, w, ("o",), (F.linear(a, *w.o),), route)[0], w.post_norm, w.post_eps)
            m = self._act_mul(w, h, route)
            residual = self._adapt(m, w, ("down",), (F.linear(m, *w.down),), route)[0]
        if not all_logits:
            x, residual = x[:, -1], residual[:, -1]
        _, h = self._norm(x, residual, self.norm, self.norm_eps)
        return F.linear(h, self.lm_head).float()

    def _step(self, st: State, length: int | None = None, out: torch.Tensor | None = None) -> torch.Tensor:
        """One decode step over static buffers: reads tok/pos/idx/mask, writes cache column idx, advances
        pos and idx. No host syncs and no data-dependent Python: this is what a CUDA graph captures.

        `length`: attend over the first `length` cache columns only (default: all). Eager steps pass idx + 1
        (known on the host): the same reduction lengths as transformers' DynamicCache (bit-equal on CPU);
        captured steps pass their span. `out`: write the fp32 logits there (a graph's static output)."""
        b = st.tok.shape[0]
        hd, kv, rep = self.head_dim, self.n_kv, self.n_rep
        st.mask.index_fill_(1, st.idx, 0.0)
        attn_mask = st.mask[:, None, None, :length]
        cos, sin = self._cos_sin(st.pos[:, None])  # [B, 1, hd]
        x = F.embedding(st.tok, self.embed)  # [B, D]
        route = st.route  # a static buffer: a captured step serves whatever route the call wrote
        residual = None
        for li, w in enumerate(self.layers):
            x, h = self._norm(x, residual, w.in_norm, w.eps)
            q = self._rope_decode(*self._adapt(h, w, QKV, self._linears(h, (w.q, w.k, w.v)), route), cos, sin, st, li)
            ck, cv = st.k[li][:, :, :length], st.v[li][:, :, :length]
            if self.decode_gqa == "group":  # the rep query heads of a KV head as rep query rows
                q = q.view(b, kv, rep, hd)
            else:
                q = q.view(b, kv * rep, 1, hd)
                ck, cv = repeat_kv(ck, rep), repeat_kv(cv, rep)
            a = F.scaled_dot_product_attention(q, ck, cv, attn_mask=attn_mask, scale=self.scale).reshape(b, -1)
            x, h = self._norm(x, self._adapt(a, w, ("o",), (F.linear(a, *w.o),), route)[0], w.post_norm, w.post_eps)
            m = self._act_mul(w, h, route)
            residual = self._adapt(m, w, ("down",), (F.linear(m, *w.down),), route)[0]
        _, h = self._norm(x, residual, self.norm, self.norm_eps)
        logits = to_fp32(F.linear(h, self.lm_head), out)
        st.pos.add_(1)
        st.idx.add_(1)
        return logits

    def _linears(self, h: torch.Tensor, layers: Sequence[tuple[torch.Tensor, torch.Tensor | None]]) -> list[torch.Tensor]:
        """F.linear(h, *layer) for each layer. While a decode step is being captured (and in its warm-up), the first
        runs on the current stream and the others at the same time on side streams (q with k and v; gate with
        up): at decode batch sizes each GEMM fills a fraction of the GPU. The same cuBLAS calls (mm / addmm, as
        F.linear makes them) on the same inputs: the same values. Their outputs are allocated on the current
        stream before the fork, so no memory crosses streams. Run eagerly (the prefill), forking streams costs
        more host time than it saves (38.6 vs 20.4 ms for a batch of 128 prompts on an H100), so it does not."""
        if not (self._capturing and self.parallel and self.fused) or len(layers) == 1:
            return [F.linear(h, *layer) for layer in layers]
        if self._side is None:
            self._side = [torch.cuda.Stream(device=self.device) for _ in range(2)]
        main = torch.cuda.current_stream(self.device)
        outs = [torch.empty((h.shape[0], weight.shape[0]), dtype=h.dtype, device=h.device) for weight, _ in layers[1:]]
        for stream, (weight, bias), out in zip(self._side, layers[1:], outs):
            stream.wait_stream(main)
            with torch.cuda.stream(stream):
                if bias is None:
                    torch.mm(h, weight.t(), out=out)
                else:
                    torch.addmm(bias, h, weight.t(), out=out)
        first = F.linear(h, *layers[0])
        for stream in self._side[: len(outs)]:
            main.wait_stream(stream)
        return [first, *outs]

    # ---- static buffers and graphs -------------------------------------------------------------------

    def _state(self, rows: int, max_len: int, heads: int | None = None, routed: bool = False) -> State:
        """The static batch of (rows, max_len) (exact layout: a cache of `heads` K/V heads; `routed`: with a route
        through the bound adapters, its steps captured with their GEMMs), made on first use."""
        heads = heads or self.n_kv
        key = (rows, max_len, heads, routed)
        st = self.states.get(key)
        if st is not None:
            self.states.move_to_end(key)
            return st
        while len(self.states) >= self.max_states:
            self.states.popitem(last=False)
        dev, shape = self.device, (len(self.layers), rows, heads, max_len, self.head_dim)
        if dev.type == "cuda":  # make room: drop least recently used caches while free memory is short
            need = 2 * math.prod(shape) * self.embed.element_size() + rows * self.lm_head.shape[0] * 6
            while self.states and torch.cuda.mem_get_info(dev)[0] < 1.25 * need:
                self.states.popitem(last=False)
                torch.cuda.empty_cache()
        # the static layout reads every column (masked): it must hold finite numbers; eager steps read only
        # the columns written in this call
        alloc = torch.zeros if self.static else torch.empty
        st = State(
            k=alloc(shape, dtype=self.dtype, device=dev), v=alloc(shape, dtype=self.dtype, device=dev),
            mask=torch.full((rows, max_len), float("-inf"), dtype=self.dtype, device=dev),
            tok=torch.zeros(rows, dtype=torch.long, device=dev), pos=torch.zeros(rows, dtype=torch.long, device=dev),
            idx=torch.zeros(1, dtype=torch.long, device=dev),
            route=torch.zeros((rows, self.adapters.width), dtype=self.dtype, device=dev) if routed else None,
        )
        if self.exact:
            self._exact_buffers(st)
            if self.graphs:
                self._capture_exact(st)
        elif self.graphs:
            try:
                self._capture(st)
            except Exception as ex:  # a fused kernel that cannot compile or be captured: unfused (or raise)
                if not self.fused:
                    raise
                self._unfuse(ex)
                self._capture(st)
        self.captures += 1
        self.capture_seconds += st.capture_s
        self.states[key] = st
        return st

    def _spans(self, max_len: int) -> list[int]:
        """The attention lengths captured for a cache of max_len columns: multiples of `span`, and max_len."""
        return sorted({min(max_len, s) for s in range(self.span, max_len + self.span, self.span)})

    def _capture(self, st: State) -> None:
        """Capture the decode step once per span of attended columns (`_spans`), all graphs in one memory pool
        (they replay one at a time) and writing one static logits buffer: each step replays the graph whose
        attention covers the columns written so far, rounded up to a span. The columns beyond a row's last
        written one are masked, so a shorter span gives the same result with less attention work."""
        self._capturing = True
        try:
            self._capture_spans(st)
        finally:
            self._capturing = False

    def _capture_spans(self, st: State) -> None:
        start = time.perf_counter()
        rows, max_len = st.mask.shape
        spans = self._spans(max_len)
        st.logits = torch.zeros((rows, self.lm_head.shape[0]), dtype=torch.float32, device=self.device)
        side = torch.cuda.Stream(device=self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for _ in range(2):  # warm-up: cuBLAS handles, SDPA kernel choice, Triton kernels, allocator
                for length in spans:
                    st.idx.zero_()
                    self._step(st, length, st.logits)
        torch.cuda.current_stream(self.device).wait_stream(side)
        st.idx.zero_()
        pool = torch.cuda.graph_pool_handle()
        st.graphs = {}
        for length in spans:
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, pool=pool, capture_error_mode="thread_local"):
                self._step(st, length, st.logits)
            st.graphs[length] = graph
        torch.cuda.synchronize(self.device)
        st.capture_s = time.perf_counter() - start

    def _replay(self, st: State) -> None:
        """Replay the captured step for column st.next_col: the graph of the shortest span covering it."""
        length = min(-(-(st.next_col + 1) // self.span) * self.span, st.mask.shape[1])
        st.graphs[length].replay()
        st.next_col += 1

    @torch.inference_mode()
    def warmup(self, rows: int, max_len: int, padded: bool = True) -> float:
        """Allocate (and capture) the static batch for `rows` requests and `max_len` columns (`padded`: whether
        the prompts differ in length, which the exact layout's "cache" K/V depends on); returns the capture
        seconds (0 when it already existed or without graphs)."""
        key = (rows if self.exact else bucket(rows), self._round_len(max_len), self._heads(padded), False)
        fresh = key not in self.states
        with self._on_device():
            st = self._state(*key)
        return st.capture_s if fresh else 0.0

    def _heads(self, padded: bool) -> int:
        """K/V heads of the cache: repeated per query head only for the exact layout's "cache" K/V, when the
        batch is padded (then attention takes repeated K/V, as transformers passes them with a mask)."""
        if self.exact and self.exact_kv == "cache" and padded:
            return self.n_heads
        return self.n_kv

    def _round_len(self, n: int) -> int:
        return max(1, -(-n // self.len_multiple) * self.len_multiple)

    # ---- decoding ------------------------------------------------------------------------------------

    def _begin(self, prompts: Sequence[Sequence[int]], new_tokens: int, pad_id: int,
               limits: Sequence[int] | None = None, route: torch.Tensor | None = None) -> tuple[State, torch.Tensor]:
        """Prefill `prompts` into a static batch sized for `new_tokens` more tokens (`limits`: each row's own
        budget, for the position check; `route`: [n, width], each row's route through the bound adapters).
        Returns the state (views of the n real rows when eager) and the first logits [n, V]."""
        if self._signature() != self._sig:
            self._bind()
        n = len(prompts)
        width = max(len(p) for p in prompts)
        if min(len(p) for p in prompts) == 0:
            raise ValueError("empty prompt")
        longest = max(len(p) for p in prompts) if limits is None else max(len(p) + m for p, m in zip(prompts, limits))
        if limits is None:
            longest += new_tokens
        if self.max_positions is not None and longest > self.max_positions:
            raise ValueError(
                f"a prompt + its new tokens ({longest} positions) exceeds the model's "
                f"max_position_embeddings ({self.max_positions}); shorten the prompt or max_tokens"
            )
        # eager steps use views of the first n rows; buckets let calls share buffers. The exact layout runs
        # exactly n rows, as generate does (a GEMM's kernel, hence its rounding, depends on the row count).
        rows = n if self.exact else bucket(n)
        padded = min(len(p) for p in prompts) < width
        # decode steps feed tokens 1..new_tokens-1 into columns width .. width+new_tokens-2
        st = self._state(rows, self._round_len(width + max(new_tokens - 1, 0)), self._heads(padded),
                         routed=route is not None)
        if route is not None:  # padding rows of the bucket decode as the base
            st.route.zero_()
            st.route[:n].copy_(route)
        ids = torch.full((n, width), pad_id, dtype=torch.long)
        valid = torch.zeros((n, width), dtype=torch.bool)
        for i, p in enumerate(prompts):
            ids[i, width - len(p):] = torch.as_tensor(list(p), dtype=torch.long)
            valid[i, width - len(p):] = True
        pos = valid.long().cumsum(-1) - 1
        pos.masked_fill_(~valid, 1)  # as generate does; padding positions are never attended
        ids, valid, pos = (t.to(self.device, non_blocking=True) for t in (ids, valid, pos))

        st.mask.fill_(float("-inf"))
        st.mask[:n, :width].masked_fill_(valid, 0.0)
        st.tok.fill_(pad_id)
        st.pos.zero_()
        st.pos[:n] = pos[:, -1] + 1
        st.idx.fill_(width)
        st.next_col = width
        if st.exact:
            st.valid.zero_()
            st.valid[:, :width] = valid
            st.padded, st.col = padded, width
        logits = self._prefill(ids, valid, pos, st)
        return (st if self.static or st.exact else st.rows(n, width)), logits

    def _advance(self, st: State, tokens: torch.Tensor) -> torch.Tensor:
        """Feed the n chosen tokens; return the next logits [n, V] (a view of the graph output when captured)."""
        n = tokens.shape[0]
        st.tok[:n].copy_(tokens)
        if st.exact:
            return self._exact_step(st)
        if st.graphs:
            self._replay(st)
            return st.logits[:n]
        if st.col is None:  # a static state stepped eagerly: all rows and columns, like the graph
            return self._step(st)[:n]
        st.col += 1
        return self._step(st, length=st.col)

    def _compact(self, st: State, keep: torch.Tensor) -> State:
        """Keep only rows `keep` of an eager state (moved to its first rows; written columns only)."""
        m, cols = keep.numel(), st.col
        st.k[:, :m, :, :cols] = st.k[:, keep, :, :cols]
        st.v[:, :m, :, :cols] = st.v[:, keep, :, :cols]
        st.mask[:m, :cols] = st.mask[keep, :cols]
        st.pos[:m] = st.pos[keep]
        if st.route is not None:
            st.route[:m] = st.route[keep]
        return State(st.k[:, :m], st.v[:, :m], st.mask[:m], st.tok[:m], st.pos[:m], st.idx, col=cols,
                     route=None if st.route is None else st.route[:m])

    @device_scoped
    @torch.inference_mode()
    def teacher_forced_logits(self, prompts: Sequence[Sequence[int]], forced: torch.Tensor, pad_id: int = 0) -> torch.Tensor:
        """Logits [n, k+1, V] after the prompts and after each of the k forced tokens [n, k] (for tests)."""
        st, logits = self._begin(prompts, forced.shape[1] + 1, pad_id)
        out = [logits.clone()]
        for t in range(forced.shape[1]):
            out.append(self._advance(st, forced[:, t].to(self.device)).clone())
        return torch.stack(out, dim=1)

    @device_scoped
    @torch.inference_mode()
    def prefill_logits(self, prompts: Sequence[Sequence[int]], pad_id: int = 0) -> torch.Tensor:
        """fp32 logits [n, W, V] of the left-padded prompts at every column (no cache written; for tests)."""
        n, width = len(prompts), max(len(p) for p in prompts)
        ids = torch.full((n, width), pad_id, dtype=torch.long)
        valid = torch.zeros((n, width), dtype=torch.bool)
        for i, p in enumerate(prompts):
            ids[i, width - len(p):] = torch.as_tensor(list(p), dtype=torch.long)
            valid[i, width - len(p):] = True
        pos = (valid.long().cumsum(-1) - 1).masked_fill_(~valid, 1)
        return self._prefill(ids.to(self.device), valid.to(self.device), pos.to(self.device), None, all_logits=True)

    @device_scoped
    @torch.inference_mode()
    def generate(self, requests: Sequence, eos_ids: set[int], pad_id: int,
                 generator: Callable[[object], torch.Generator | None],
                 hits_stop: Callable[[list[int], tuple[str, ...]], bool], adapters=None) -> list[Decoded]:
        """Decode `requests` (models.engine.Request) with Engine's per-request semantics: greedy at
        temperature 0, else sampling from `generator(request)`; a row ends at an EOS id (not emitted), a stop
        sequence (`hits_stop(ids, stops)` after each token) or its max_new_tokens. `adapters`: the MultiLoRA that
        requests naming an `adapter` decode through (each row through its own; a row naming none, the base)."""
        n = len(requests)
        if n == 0:
            return []
        dev = self.device
        cuda = dev.type == "cuda"
        limit_list = [max(1, int(r.max_new_tokens)) for r in requests]
        steps = max(limit_list)
        route = None
        if any(getattr(r, "adapter", None) is not None for r in requests):
            if adapters is None:
                raise ValueError("requests name adapters, but no adapters (models.multilora.MultiLoRA) were given")
            self._use(adapters)
            route = adapters.mask([r.adapter for r in requests]).to(dev, self.dtype)
        st, logits = self._begin([r.prompt_ids for r in requests], steps, pad_id, limit_list, route)

        sampler = Sampler.for_requests(requests, generator, dev, steps)
        want_lp = any(r.logprobs or r.top_logprobs for r in requests)
        k_top = max(int(r.top_logprobs) for r in requests)
        stop_rows = [i for i, r in enumerate(requests) if r.stop]
        eos = torch.tensor(sorted(eos_ids) or [-1], dtype=torch.long, device=dev)
        limits = torch.tensor(limit_list, dtype=torch.long, device=dev)
        done = torch.zeros(n, dtype=torch.bool, device=dev)
        out_tok = torch.empty((n, steps), dtype=torch.long, device=dev)
        out_lp = torch.empty((n, steps), dtype=torch.float32, device=dev) if want_lp else None
        top_v = torch.empty((n, steps, k_top), dtype=torch.float32, device=dev) if k_top else None
        top_i = torch.empty((n, steps, k_top), dtype=torch.long, device=dev) if k_top else None
        # host copies, filled without blocking: each step's all-done flag and (with stop rows) its tokens
        flags = torch.zeros(steps, dtype=torch.bool, pin_memory=cuda)
        host_tok = torch.zeros((steps, n), dtype=torch.long, pin_memory=cuda) if stop_rows else None
        events: list[torch.cuda.Event | None] = [None] * steps
        lag = self.sync_lag if cuda else 0

        # host-side decoding of rows with stop sequences (engine semantics, token by token)
        stop_ids: dict[int, list[int]] = {i: [] for i in stop_rows}
        stop_finish: dict[int, str] = {}

        def consume(s: int) -> bool:
            """Read step s on the host; True when every row was done after it."""
            for i in stop_rows:
                if i in stop_finish:
                    continue
                tok = int(host_tok[s, i])
                if tok in eos_ids:
                    stop_finish[i] = "stop"
                    continue
                stop_ids[i].append(tok)
                if hits_stop(stop_ids[i], requests[i].stop):
                    stop_finish[i] = "stop"
                    done[i] = True  # the GPU-side flag learns it for later steps
                elif len(stop_ids[i]) >= limit_list[i]:
                    stop_finish[i] = "max_tokens"
            return bool(flags[s])

        # Eager steps drop finished rows from the batch (their cache rows too), like the hf loop; the
        # static layout keeps them. `active`: the original index of each current row (None: all, in order).
        prune = self.prune and not self.static
        active: list[int] | None = None
        active_t: torch.Tensor | None = None
        last_tok = None
        seen = 0  # steps read on the host so far
        last = steps - 1
        for t in range(steps):
            tokens = logits.argmax(dim=-1)
            if sampler is not None:
                tokens.index_copy_(0, sampler.rows, sampler(logits))
            full = tokens if active_t is None else last_tok.index_copy(0, active_t, tokens)
            last_tok = full
            out_tok[:, t] = full
            if want_lp:
                logp = torch.log_softmax(logits, dim=-1)
                lp = logp.gather(1, tokens[:, None])[:, 0]
                out_lp[:, t] = lp if active_t is None else out_lp[:, t].index_copy(0, active_t, lp)
                if k_top:
                    vals, idx = logp.topk(k_top, dim=-1)
                    if active_t is None:
                        top_v[:, t], top_i[:, t] = vals, idx
                    else:
                        top_v[:, t] = top_v[:, t].index_copy(0, active_t, vals)
                        top_i[:, t] = top_i[:, t].index_copy(0, active_t, idx)
            done |= torch.isin(full, eos) | (limits <= t + 1)
            flags[t].copy_(done.all(), non_blocking=True)
            if host_tok is not None:
                host_tok[t].copy_(full, non_blocking=True)
            if cuda:
                events[t] = torch.cuda.Event()
                events[t].record()
            finished = False
            while seen <= t and not finished:
                ev = events[seen]
                if ev is not None and seen > t - lag and not ev.query():
                    break  # not ready and not yet too far behind: keep the GPU fed
                if ev is not None:
                    ev.synchronize()
                finished = consume(seen)
                seen += 1
            if finished:
                last = t
                break
            if t + 1 == steps:
                break
            if prune:
                rows = list(range(n)) if active is None else active
                keep = [k for k, flag in enumerate(done[rows].tolist()) if not flag]
                if not keep:  # the last rows ended on stop sequences this step (eager: every step is read)
                    last = t
                    break
                if len(keep) < len(rows):
                    active = [rows[k] for k in keep]
                    active_t = torch.tensor(active, device=dev)
                    keep_t = torch.tensor(keep, device=dev)
                    st = self._compact(st, keep_t)
                    tokens = tokens[keep_t]
                    if sampler is not None:  # renumber from the previous rows to the kept ones
                        sampler = sampler.select({old: new for new, old in enumerate(keep)})
            logits = self._advance(st, tokens)

        if cuda:
            torch.cuda.current_stream(dev).synchronize()
        while seen <= last:  # stop rows: read the steps not read yet
            consume(seen)
            seen += 1
        width = last + 1
        toks = out_tok[:, :width].tolist()
        lps = out_lp[:, :width].tolist() if out_lp is not None else None
        tv = top_v[:, :width].tolist() if top_v is not None else None
        ti = top_i[:, :width].tolist() if top_i is not None else None

        results = []
        for i, r in enumerate(requests):
            if i in stop_ids:
                ids, finish = stop_ids[i], stop_finish.get(i, "max_tokens")
            else:
                row = toks[i][: limit_list[i]]
                cut = next((k for k, tok in enumerate(row) if tok in eos_ids), None)
                ids, finish = (row[:cut], "stop") if cut is not None else (row, "max_tokens")
            m = len(ids)
            lp = lps[i][:m] if (lps is not None and (r.logprobs or r.top_logprobs)) else []
            tops = ([list(zip(ti[i][k][: r.top_logprobs], tv[i][k][: r.top_logprobs])) for k in range(m)]
                    if r.top_logprobs else [])
            results.append(Decoded(token_ids=ids, finish=finish, logprobs=lp, top_logprobs=tops))
        return results
