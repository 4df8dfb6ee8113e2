"""The fast decoder: a lean Llama-family forward pass over a static KV cache, one CUDA graph per decode step.

`decoder` (FastDecoder), `exact` (its layout bit-identical to `generate`), `layout` (buckets and static buffers),
`ops` (eager building blocks), `sampler` (seeded per-row sampling), `attention` (SDPA backends), `support`
(which models it runs) and `fusedops` (Triton-fused elementwise kernels for the decode step).
"""
