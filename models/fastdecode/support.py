"""Which models the fast decoder runs: Llama-family architectures whose math it implements, and why others are refused."""

from __future__ import annotations

import torch
from torch import nn

ARCHITECTURES = {"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM", "qwen2": "Qwen2ForCausalLM"}
STATIC_ROPE_TYPES = {"default", "linear", "llama3"}  # inv_freq fixed at load; dynamic/longrope/yarn refused
# forward hooks the fast engine may ignore: transformers' enable_input_require_grads (gradient checkpointing), which
# changes no value; models.multilora's routing hooks, which add nothing outside a `routed` block and whose adapters
# the fast engine routes itself (FastDecoder.generate(adapters=))
HARMLESS_HOOKS = {"make_inputs_require_grads", "multilora_route"}


class UnsupportedModel(ValueError):
    """A model whose math this engine does not implement."""


def unsupported_reason(model) -> str | None:
    """Why `FastDecoder` cannot run `model` exactly, or None when it can."""
    config = getattr(model, "config", None)
    model_type = getattr(config, "model_type", None)
    cls = type(model).__name__
    if model_type not in ARCHITECTURES or cls != ARCHITECTURES[model_type]:
        return f"architecture {cls} (model_type {model_type!r}) is not one of {sorted(ARCHITECTURES.values())}"
    if getattr(config, "hidden_act", None) != "silu":
        return f"hidden_act {getattr(config, 'hidden_act', None)!r} (only silu)"
    rope = getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {}
    if any(isinstance(v, dict) for v in rope.values()):
        return "per-layer-type RoPE parameters"
    rope_type = rope.get("rope_type", rope.get("type", "default"))
    if rope_type not in STATIC_ROPE_TYPES:
        return f"RoPE type {rope_type!r} (supported: {sorted(STATIC_ROPE_TYPES)})"
    if model_type == "mistral" and getattr(config, "sliding_window", None) is not None:
        return f"sliding-window attention (sliding_window={config.sliding_window})"
    layer_types = getattr(config, "layer_types", None)
    if layer_types and any(t != "full_attention" for t in layer_types):
        return "sliding-window attention layers"
    if getattr(config, "pretraining_tp", 1) not in (None, 1):
        return f"pretraining_tp={config.pretraining_tp}"
    inner = getattr(model, "model", None)
    needed = ("embed_tokens", "layers", "norm", "rotary_emb")
    if inner is None or not all(hasattr(inner, a) for a in needed):
        return "unexpected module layout"
    if len(inner.layers) != config.num_hidden_layers:
        return "the model does not use all its layers"
    rotary = inner.rotary_emb
    if not isinstance(getattr(rotary, "inv_freq", None), torch.Tensor) or getattr(rotary, "rope_type", None) != rope_type:
        return "unexpected rotary embedding"
    if type(inner.embed_tokens) is not nn.Embedding or type(model.lm_head) is not nn.Linear or model.lm_head.bias is not None:
        return "embedding or lm_head is not a plain nn.Embedding / bias-free nn.Linear"
    for i, layer in enumerate(inner.layers):
        attn, mlp = layer.self_attn, layer.mlp
        linears = [attn.q_proj, attn.k_proj, attn.v_proj, attn.o_proj, mlp.gate_proj, mlp.up_proj, mlp.down_proj]
        if any(type(m) is not nn.Linear for m in linears):
            return f"layer {i} has non-standard linear layers (quantized or adapted?)"
        for norm in (layer.input_layernorm, layer.post_attention_layernorm):
            if not hasattr(norm, "variance_epsilon") or norm.weight.shape != (config.hidden_size,):
                return f"layer {i} has a non-RMSNorm normalization"
    for m in model.modules():
        hooks = [h for h in [*m._forward_hooks.values(), *m._forward_pre_hooks.values()]
                 if getattr(h, "__name__", "") not in HARMLESS_HOOKS]
        if hooks:
            return f"module {type(m).__name__} has forward hooks (offloading or instrumentation)"
    params = list(model.parameters())
    if len({p.device for p in params}) != 1:
        return "parameters on several devices"
    if len({p.dtype for p in params}) != 1 or params[0].dtype not in (torch.float32, torch.bfloat16, torch.float16):
        return "mixed or unsupported parameter dtypes"
    return None
