"""Model registry: turn a model name into a checkpoint directory and load it.

A name is one of: an embedded model (`smollm2-135m`), a checkpoint under `checkpoints/` (or
$CAUGHT_CHECKPOINTS), a path to a checkpoint directory (full weights or a PEFT adapter), or a
Hugging Face hub id (only where the hub is reachable; with HF_HUB_OFFLINE=1 it must already be cached).
Weights are loaded as safetensors only and never with `trust_remote_code`.
"""

from __future__ import annotations

import gc
import json
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

from training.embedded import DEFAULT_MODEL, EMBEDDED, embedded_path


class UnknownModel(ValueError):
    """A model name that resolves to no checkpoint."""


def checkpoints_dir() -> Path:
    return Path(os.environ.get("CAUGHT_CHECKPOINTS", "checkpoints"))


def is_checkpoint(path: Path) -> bool:
    """A directory holding a loadable model: full safetensors weights or a PEFT adapter."""
    if not path.is_dir():
        return False
    if (path / "adapter_config.json").is_file():
        return (path / "adapter_model.safetensors").is_file()
    return (path / "config.json").is_file() and any(path.glob("*.safetensors"))


def is_adapter(path: Path) -> bool:
    return (path / "adapter_config.json").is_file()


def list_checkpoints() -> list[str]:
    root = checkpoints_dir()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if is_checkpoint(p))


def _accepted() -> str:
    found = list_checkpoints()
    return (
        f"embedded models: {', '.join(sorted(EMBEDDED))}; "
        f"checkpoints in {checkpoints_dir()}/: {', '.join(found) if found else '(none)'}; "
        "or a path to a checkpoint directory (config.json + *.safetensors, or a PEFT adapter)"
    )


def resolve(name: str) -> Path:
    """Return the checkpoint directory for `name`, or raise UnknownModel naming what is accepted."""
    if not name:
        name = DEFAULT_MODEL
    if name in EMBEDDED:
        return embedded_path(name)
    for candidate in (checkpoints_dir() / name, Path(name).expanduser()):
        if candidate.exists():
            if is_checkpoint(candidate):
                return candidate.resolve()
            raise UnknownModel(
                f"{str(candidate)!r} is not a checkpoint directory (needs config.json + *.safetensors, "
                "or adapter_config.json + adapter_model.safetensors)"
            )
    if _looks_like_hub_id(name):
        return _from_hub_cache(name)
    raise UnknownModel(f"unknown model {name!r}. Accepted: {_accepted()}")


def _looks_like_hub_id(name: str) -> bool:
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not name.startswith((".", "~"))


def _from_hub_cache(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download

    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")
    try:
        path = snapshot_download(
            repo_id,
            allow_patterns=["*.json", "*.safetensors", "*.txt", "*.model", "*.jinja"],
            local_files_only=offline,
            etag_timeout=10,
        )
    except Exception as ex:  # noqa: BLE001 - any hub failure becomes one clear line
        how = "HF_HUB_OFFLINE=1 and it is not in the local hub cache" if offline else f"{type(ex).__name__}"
        raise UnknownModel(f"model {repo_id!r} is not available ({how}). Accepted: {_accepted()}") from None
    return Path(path)


def adapter_base(path: Path) -> str:
    """The base model an adapter was trained on, as recorded in its adapter_config.json."""
    return json.loads((path / "adapter_config.json").read_text())["base_model_name_or_path"]


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load(name: str, device: str | None = None, dtype: str | None = None):
    """Load (model, tokenizer, path) for inference. bf16 on CUDA, fp32 on CPU unless `dtype` says otherwise."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve(name)
    device = device or default_device()
    torch_dtype = getattr(torch, dtype) if dtype else (torch.bfloat16 if device.startswith("cuda") else torch.float32)
    kwargs = dict(dtype=torch_dtype, use_safetensors=True, trust_remote_code=False)
    if is_adapter(path):
        from peft import PeftModel

        base_path = resolve(adapter_base(path))
        model = AutoModelForCausalLM.from_pretrained(base_path, **kwargs)
        model = PeftModel.from_pretrained(model, path).merge_and_unload()
        tok_path = path if (path / "tokenizer_config.json").is_file() else base_path
    else:
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
        tok_path = path
    tokenizer = AutoTokenizer.from_pretrained(tok_path, trust_remote_code=False)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.to(device).eval()
    return model, tokenizer, path


def inference_args(device: str | None = None) -> dict[str, str]:
    """Model args for the `ckpt/` provider in caught's own pipeline: bf16 (about 2x faster than fp32 on CPUs
    with AVX512-BF16, and the GPU default) unless `$CAUGHT_DTYPE` says otherwise (float32 makes sampled
    results independent of how requests were batched). Recorded in every Inspect log's model_args."""
    import os

    dtype = os.environ.get("CAUGHT_DTYPE", "bfloat16")
    if dtype not in ("bfloat16", "float32", "float16"):
        raise ValueError(f"CAUGHT_DTYPE={dtype!r} is not accepted; accepted: bfloat16, float32, float16")
    return {"device": device or default_device(), "dtype": dtype}


# Inspect models of local checkpoints kept loaded at once by `inspect_model` (a sweep evaluates dozens of
# checkpoints in one process: each one stays only while it is among the most recently used).
RESIDENT_MAX = 3
_resident: OrderedDict[tuple, Any] = OrderedDict()


def inspect_model(name: str, **model_args):
    """The Inspect model for `name`. `ckpt/` checkpoints come from a small least-recently-used pool keyed by
    the checkpoint's path, the fingerprint of its weights and the model args: a checkpoint evaluated again
    (the organism by its judges, catch and its k=0 cell) is not reloaded, new weights under the same path are,
    and a checkpoint that drops out of the pool releases its GPU memory (weights, KV caches, CUDA graphs).
    Other providers go through Inspect's own `get_model`."""
    from inspect_ai.model import get_model

    if not name.startswith("ckpt/"):
        return get_model(name, **model_args)
    from training.manifest import fingerprint

    path = resolve(name.removeprefix("ckpt/"))
    key = (str(path), fingerprint(path), tuple(sorted((k, str(v)) for k, v in model_args.items())))
    if key in _resident:
        _resident.move_to_end(key)
        return _resident[key]
    for k in [k for k in _resident if k[0] == key[0]]:  # older weights under the same path
        _release(_resident.pop(k))
    while len(_resident) >= RESIDENT_MAX:
        _release(_resident.popitem(last=False)[1])
    model = get_model(f"ckpt/{path}", memoize=False, **model_args)
    _resident[key] = model
    return model


def release_models() -> None:
    """Drop every pooled checkpoint model (and its GPU memory)."""
    while _resident:
        _release(_resident.popitem(last=False)[1])


def _release(model) -> None:
    release = getattr(model.api, "release", None)
    if release is not None:
        release()
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:  # noqa: BLE001 - freeing memory is best effort
        pass
