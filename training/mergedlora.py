"""LoRA layers that train through their merged weight: y = x·(W + s·B·A)ᵀ, one GEMM where PEFT runs three.

PEFT computes a LoRA layer as base(x) + s·B(A(x)): two thin GEMMs and two elementwise passes (the scaling and
the add) over the layer's whole output, forward and backward. On a narrow model (SmolLM2-135M: hidden size
576) every part of a training step is bound by memory traffic, and those passes over T tokens x the output width
cost more than the weight gradient that LoRA saves. The merged form instead builds the layer's effective weight
W + s·B·A (a few million elements, not T x width) and runs one GEMM on it. Its backward computes the
weight gradient G = dYᵀ·x, as full fine-tuning does, and from G the adapter's gradients: dB = s·G·Aᵀ, dA = s·Bᵀ·G.
That costs 2·T·in·out more FLOPs per layer than PEFT's backward, so it pays where a step has many tokens on a GPU, not
on a CPU.

The function and its gradients are PEFT's (in fp32 they agree to rounding: tested). In bf16 the GEMM sees the
merged weight rounded to bf16 once, as full fine-tuning's forward sees its fp32 master weights rounded; PEFT
rounds the base and the adapter's product separately (and stays further from exact training: on SmolLM2, 12 steps,
mean loss fp32 2.751, mixed precision 2.763 merged, 2.793 PEFT's form). The effective weight is formed in fp32, from the base's fp32
weights where the model had them when it was patched (`use_merged_lora` keeps a reference to them, so a model whose
frozen base is cast to bf16 afterwards, as bf16-master training does, still merges into the fp32 base): merged into
a base already rounded to bf16, an adapter's product smaller than half a bf16 step would be rounded away, and the
forward would not see the adapter until it grew past that (measured: LoRA learned less, 2.618 against 2.571 mean
loss over 20 steps on an H100).

Only training forwards take the merged path (`module.training`); evaluation, merged, disabled or mixed-adapter
calls go through PEFT's own forward. The adapter's parameters, and so the saved adapter, are PEFT's.
"""

from __future__ import annotations

from types import MethodType

import torch
import torch.nn.functional as F

# the autograd function lives in models (packed training routes through it there; models may not import training)
from models.multilora import MergedWeight as _MergedWeight


def _merged_forward(self, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    names = [n for n in self.active_adapters if n in self.lora_A]
    if (not self.training or self.disable_adapters or self.merged or len(names) != 1 or args
            or kwargs.get("adapter_names") is not None):
        return type(self).forward(self, x, *args, **kwargs)
    name = names[0]
    base = self.base_layer
    device = x.device.type
    dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else x.dtype
    weight = _MergedWeight.apply(self.merged_base if self.merged_base is not None else base.weight,
                                 self.lora_A[name].weight, self.lora_B[name].weight, self.scaling[name], dtype)
    return F.linear(x, weight, base.bias)


def unsupported_reason(module) -> str | None:
    """Why `module` (a PEFT LoRA Linear) cannot train through its merged weight (None when it can)."""
    for name in module.lora_A:
        if name in getattr(module, "lora_variant", {}):
            return f"adapter {name!r} is a LoRA variant ({type(module.lora_variant[name]).__name__}, e.g. DoRA)"
        if not isinstance(module.lora_dropout[name], torch.nn.Identity):
            return f"adapter {name!r} has LoRA dropout (the merged form has no per-token dropout)"
        if getattr(module, "lora_bias", {}).get(name):
            return f"adapter {name!r} has a LoRA bias"
    if getattr(module, "fan_in_fan_out", False):
        return "the layer stores its weight transposed (fan_in_fan_out)"
    if not isinstance(module.base_layer, torch.nn.Linear):
        return f"the base layer is {type(module.base_layer).__name__}, not torch.nn.Linear"
    return None


def use_merged_lora(model) -> int:
    """Make every LoRA Linear of the PEFT `model` train through its merged weight (this instance only). Returns the
    number of layers patched; raises one clear error naming the first layer that cannot. Base weights that are fp32
    now are kept (by reference, `module.merged_base`) and merged into even if the model is cast to bf16 later."""
    from peft.tuners.lora.layer import Linear as LoraLinear

    patched = 0
    for name, module in model.named_modules():
        if not isinstance(module, LoraLinear):
            continue
        if type(module) is not LoraLinear:
            raise ValueError(f"lora_merged=True: {name} is a {type(module).__name__}, not PEFT's plain LoRA Linear")
        reason = unsupported_reason(module)
        if reason:
            raise ValueError(f"lora_merged=True cannot train {name}: {reason}")
        weight = module.base_layer.weight
        module.merged_base = weight.detach() if weight.dtype == torch.float32 else None
        module.forward = MethodType(_merged_forward, module)
        patched += 1
    if not patched:
        raise ValueError("lora_merged=True: the model has no LoRA Linear layers")
    return patched

