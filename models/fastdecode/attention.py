"""Attention backends for decoding: which SDPA kernels caught's decoding loops may use (reproducible ones on CUDA)."""

from __future__ import annotations

import contextlib

import torch

SDPA_BACKENDS = ("flash", "efficient", "math", "cudnn")
# The engine's attention backends on CUDA unless told otherwise. PyTorch 2.11 (cu130, cuDNN 9.19) picks cuDNN's
# attention on an H100 for transformers' calls, and its outputs are not reproducible from one call to the next:
# `model.generate` run twice on the same batch (SmolLM2-135M, bf16, 128 rows x 256 greedy tokens) gave the same
# tokens on only 21% of rows (2026-11-26, benchmarks/exact_check.py). Flash, memory-efficient and math
# attention forwards are deterministic; with them the engine's greedy outputs equal generate's run under them.
REPRODUCIBLE_SDPA = "flash+efficient+math"


def default_sdpa(device: torch.device) -> str:
    """The attention backends caught decodes with by default: REPRODUCIBLE_SDPA on CUDA, PyTorch's choice elsewhere."""
    return REPRODUCIBLE_SDPA if device.type == "cuda" else "any"


def sdpa_context(spec: str | None):
    """A context restricting SDPA to `spec`'s backends (see sdpa_backends); "any" or None restricts nothing."""
    backends = sdpa_backends(spec)
    if not backends:
        return contextlib.nullcontext()
    from torch.nn.attention import sdpa_kernel

    return sdpa_kernel(backends)


def sdpa_backends(spec: str | None) -> list | None:
    """`"efficient"` or `"efficient+math"` as torch's SDPBackend list ("any" or None: no restriction)."""
    if spec is None or spec == "any":
        return None
    from torch.nn.attention import SDPBackend

    names = spec.split("+")
    bad = [n for n in names if n not in SDPA_BACKENDS]
    if bad or not names:
        raise ValueError(f"sdpa must be 'any' or one or more of {', '.join(SDPA_BACKENDS)} joined by '+', "
                         f"got {spec!r}")
    return [{"flash": SDPBackend.FLASH_ATTENTION, "efficient": SDPBackend.EFFICIENT_ATTENTION,
             "math": SDPBackend.MATH, "cudnn": SDPBackend.CUDNN_ATTENTION}[n] for n in names]
