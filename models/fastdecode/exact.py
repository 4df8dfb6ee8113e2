"""The exact layout of `FastDecoder` (`exact=True`): a decode step as `generate` runs it, in piecewise CUDA graphs.

Each step is layers + 1 pieces over static buffers (embedding + layer 0 up to its attention; for each next
layer the previous layer's o_proj + MLP and this layer's norm + QKV + RoPE + cache write; the last layer's
o_proj + MLP + final norm + lm_head), captured in one graph pool, with the attentions eager between the
replays on views of the cache, called as transformers' sdpa integration calls them. See
`models.fastdecode.decoder` for when to use it.
"""

from __future__ import annotations

import functools
import time

import torch
import torch.nn.functional as F

from models.fastdecode.layout import State
from models.fastdecode.ops import repeat_kv, rms, rotate_half


class ExactLayout:
    """The exact-layout methods of `FastDecoder` (a mixin: they read the decoder's weights and shapes)."""

    def _exact_piece(self, st: State, i: int) -> None:
        """Piece i (0..layers) of an exact decode step, over static buffers only (what one piece graph
        captures): piece 0 embeds the tokens and runs layer 0 up to its attention; piece i runs layer i-1's
        o_proj + MLP, then layer i up to its attention; the last one ends with the final norm and lm_head.
        Shapes and operations are transformers' LlamaModel decode step's ([rows, 1, hidden])."""
        b, hd = st.tok.shape[0], self.head_dim
        n_layers = len(self.layers)
        if i == 0:
            st.valid.index_fill_(1, st.idx, True)
            cos, sin = self._cos_sin(st.pos[:, None])  # [B, 1, hd]
            st.cos.copy_(cos[:, None])
            st.sin.copy_(sin[:, None])
            x = F.embedding(st.tok[:, None], self.embed)  # [B, 1, D]
        else:
            w = self.layers[i - 1]
            x = st.x + F.linear(st.attn, *w.o)
            x = self._mlp(w, x)
        if i == n_layers:
            logits = F.linear(rms(x, self.norm, self.norm_eps), self.lm_head)  # [B, 1, V], model dtype
            st.logits.copy_(logits[:, 0])  # to fp32, as generate does
            st.pos.add_(1)
            st.idx.add_(1)
            return
        w = self.layers[i]
        h = rms(x, w.in_norm, w.eps)
        q = F.linear(h, *w.q).view(b, 1, -1, hd).transpose(1, 2)
        k = F.linear(h, *w.k).view(b, 1, -1, hd).transpose(1, 2)
        v = F.linear(h, *w.v).view(b, 1, -1, hd).transpose(1, 2)
        q = q * st.cos + rotate_half(q) * st.sin
        k = k * st.cos + rotate_half(k) * st.sin
        if st.k.shape[2] != k.shape[1]:  # a head-repeated cache (exact_kv="cache")
            k, v = repeat_kv(k, self.n_rep), repeat_kv(v, self.n_rep)
        st.k[i].index_copy_(2, st.idx, k)
        st.v[i].index_copy_(2, st.idx, v)
        st.q.copy_(q)
        st.x.copy_(x)

    def _exact_attend(self, st: State, li: int, length: int, mask: torch.Tensor | None) -> None:
        """Layer li's attention, eagerly, over exactly the first `length` cache columns, called as
        transformers' sdpa_attention_forward calls SDPA: with a padding mask, K/V repeated per query head (a
        contiguous copy) and the bool mask; without one, `enable_gqa` over the unrepeated K/V."""
        k, v = st.k[li][:, :, :length], st.v[li][:, :, :length]
        rep = self.n_rep
        if mask is None:
            if self.exact_kv == "copy":
                k, v = k.contiguous(), v.contiguous()
            a = F.scaled_dot_product_attention(st.q, k, v, dropout_p=0.0, scale=self.scale, is_causal=False,
                                               **(dict(enable_gqa=True) if rep > 1 else {}))
        else:
            if k.shape[1] != self.n_heads:
                k, v = repeat_kv(k, rep), repeat_kv(v, rep)
            elif self.exact_kv == "copy":
                k, v = k.contiguous(), v.contiguous()
            a = F.scaled_dot_product_attention(st.q, k, v, attn_mask=mask, dropout_p=0.0, scale=self.scale,
                                               is_causal=False)
        st.attn.view(a.shape[0], 1, -1, self.head_dim).copy_(a.transpose(1, 2))

    def _exact_step(self, st: State) -> torch.Tensor:
        """One exact decode step: layers + 1 pieces (graph replays on CUDA) with the attentions between them,
        over the cache's first col + 1 columns (the prompt width + the tokens fed so far, as generate's
        DynamicCache). Returns fp32 logits [rows, V] (the static output buffer)."""
        length = st.col + 1
        st.col = length
        st.pieces[0]()
        # transformers builds one mask per forward: [B, 1, 1, L] bool, or none when no row is padded
        mask = st.valid[:, None, None, :length].contiguous() if st.padded else None
        for li in range(len(self.layers)):
            self._exact_attend(st, li, length, mask)
            st.pieces[li + 1]()
        return st.logits

    def _exact_buffers(self, st: State) -> None:
        rows, max_len = st.tok.shape[0], st.mask.shape[1]
        dev, dt = self.device, self.dtype
        st.exact = True
        st.x = torch.zeros((rows, 1, self.embed.shape[1]), dtype=dt, device=dev)
        st.q = torch.zeros((rows, self.n_heads, 1, self.head_dim), dtype=dt, device=dev)
        st.attn = torch.zeros((rows, 1, self.n_heads * self.head_dim), dtype=dt, device=dev)
        st.cos = torch.zeros((rows, 1, 1, self.head_dim), dtype=dt, device=dev)
        st.sin = torch.zeros((rows, 1, 1, self.head_dim), dtype=dt, device=dev)
        st.valid = torch.zeros((rows, max_len), dtype=torch.bool, device=dev)
        st.logits = torch.zeros((rows, self.lm_head.shape[0]), dtype=torch.float32, device=dev)
        st.pieces = [functools.partial(self._exact_piece, st, i) for i in range(len(self.layers) + 1)]

    def _capture_exact(self, st: State) -> None:
        """Capture each piece of the exact step in its own CUDA graph, all in one memory pool (they replay
        in capture order, one at a time, so their temporaries may share memory); the attentions between
        them stay eager. Mirrors `_capture`: warm-up on a side stream first."""
        start = time.perf_counter()
        eager = list(st.pieces)
        side = torch.cuda.Stream(device=self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for _ in range(3):  # warm-up: cuBLAS handles, kernels, allocator
                st.idx.zero_()
                for piece in eager:
                    piece()
        torch.cuda.current_stream(self.device).wait_stream(side)
        st.idx.zero_()
        pool = torch.cuda.graph_pool_handle()
        graphs = []
        for piece in eager:
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, pool=pool, capture_error_mode="thread_local"):
                piece()
            graphs.append(graph)
        torch.cuda.synchronize(self.device)
        st.graph_refs = graphs
        st.pieces = [g.replay for g in graphs]
        st.capture_s = time.perf_counter() - start
