"""The fast decoder's eager building blocks, operation for operation as transformers' Llama code computes them."""

from __future__ import annotations

import functools

import torch


def device_scoped(method):
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with self._on_device():
            return method(self, *args, **kwargs)

    return wrapper


def rms(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """LlamaRMSNorm, operation for operation: fp32 variance, normalize in fp32, cast back, then scale."""
    dtype = x.dtype
    h = x.to(torch.float32)
    variance = h.pow(2).mean(-1, keepdim=True)
    h = h * torch.rsqrt(variance + eps)
    return weight * h.to(dtype)


def to_fp32(logits: torch.Tensor, out: torch.Tensor | None) -> torch.Tensor:
    """logits as fp32: a new tensor, or written into `out` (the same conversion, into a static buffer)."""
    return logits.float() if out is None else out.copy_(logits)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def repeat_kv(x: torch.Tensor, n_rep: int) -> torch.Tensor:
    if n_rep == 1:
        return x
    b, kv, length, d = x.shape
    return x[:, :, None, :, :].expand(b, kv, n_rep, length, d).reshape(b, kv * n_rep, length, d)
