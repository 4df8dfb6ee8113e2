"""Model registry: turn a model name into a checkpoint directory and load it.

A name is one of: an embedded model (`smollm2-135m`), a checkpoint under `checkpoints/` (or
$CAUGHT_CHECKPOINTS), a path to a checkpoint directory (full weights or a PEFT adapter), or a
Hugging Face hub id (only where the hub is reachable; with HF_HUB_OFFLINE=1 it must already be cached).
Weights are loaded as safetensors only and never with `trust_remote_code`.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from models.embedded import DEFAULT_MODEL, EMBEDDED, embedded_path


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
        base_path = resolve(adapter_base(path))
        model = merge_adapter(AutoModelForCausalLM.from_pretrained(base_path, **kwargs), path)
        tok_path = path if (path / "tokenizer_config.json").is_file() else base_path
    else:
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
        tok_path = path
    tokenizer = AutoTokenizer.from_pretrained(tok_path, trust_remote_code=False)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.to(device).eval()
    return model, tokenizer, path


def merge_adapter(model, adapter: Path):
    """`model` with the PEFT adapter at `adapter` merged into its weights in place (PEFT's merge_and_unload: the
    same module and weight tensors come back)."""
    from peft import PeftModel

    return PeftModel.from_pretrained(model, adapter).merge_and_unload()


def inference_args(device: str | None = None, route: bool = False) -> dict[str, str]:
    """Model args for the `ckpt/` provider in caught's own pipeline: bf16 (about 2x faster than fp32 on CPUs
    with AVX512-BF16, and the GPU default) unless `$CAUGHT_DTYPE` says otherwise. In bf16 a row's greedy and sampled
    tokens depend on which requests share its batch (a single-row matrix multiply and left padding round
    differently: docs/sweeps-and-reports.md, Reproducibility); in float32 the same paths differ by ~1e-7 and change
    tokens far more rarely (benchmarks/batch_invariance.py). Recorded in every Inspect log's model_args and a sweep row's decode_dtype.
    `route`: `share=routed` (a sweep's `eval.pack`): several checkpoints' requests in one batch, each row through its
    own adapter; in the model args, hence in every reuse key, since it rounds differently from merged weights.
    `$CAUGHT_INVARIANT=1`: batch-invariant decoding (`invariant=true`: each request decoded alone, models.engine.Engine):
    every row's tokens the same whichever requests share its batch, so a re-run repeats each sample bit for bit (on the
    same machine and kernels), at the cost of batching."""
    import os

    dtype = os.environ.get("CAUGHT_DTYPE", "bfloat16")
    if dtype not in ("bfloat16", "float32", "float16"):
        raise ValueError(f"CAUGHT_DTYPE={dtype!r} is not accepted; accepted: bfloat16, float32, float16")
    invariant = os.environ.get("CAUGHT_INVARIANT", "0").strip().lower()
    if invariant not in ("0", "1", "false", "true", ""):
        raise ValueError(f"CAUGHT_INVARIANT={invariant!r} is not accepted; accepted: 1/true (batch-invariant "
                         "decoding) or 0/false")
    # route: checkpoints on one base decoded side by side, each row through its own adapter (SharedBase, routed)
    return {"device": device or default_device(), "dtype": dtype, **({"share": "routed"} if route else {}),
            **({"invariant": "true"} if invariant in ("1", "true") else {})}


# Inspect models of local checkpoints kept loaded at once by `inspect_model` (a sweep evaluates dozens of
# checkpoints in one process: each one stays only while it is among the most recently used).
RESIDENT_MAX = 3
_resident: OrderedDict[tuple, Any] = OrderedDict()


def fingerprint(path: Path) -> str:
    """A short hash of a checkpoint's weights and config (cached per file state within a process)."""
    path = Path(path).resolve()
    files = sorted(path.glob("*.safetensors")) + [
        path / n for n in ("adapter_config.json", "config.json") if (path / n).is_file()
    ]
    return _fingerprint(tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files))


@lru_cache(maxsize=64)
def _fingerprint(files: tuple[tuple[str, int, int], ...]) -> str:
    h = hashlib.sha256()
    for name, _, _ in files:
        h.update(Path(name).name.encode())
        with open(name, "rb") as fh:
            while chunk := fh.read(1 << 24):
                h.update(chunk)
    return h.hexdigest()[:16]


def inspect_model(name: str, **model_args):
    """The Inspect model for `name`. `ckpt/` checkpoints come from a small least-recently-used pool keyed by
    the checkpoint's path, the fingerprint of its weights and the model args: a checkpoint evaluated again
    (the organism by its judges, catch and its k=0 cell) is not reloaded, new weights under the same path are,
    and a checkpoint that drops out of the pool releases its GPU memory (weights, KV caches, CUDA graphs).
    Other providers go through Inspect's own `get_model`."""
    from inspect_ai.model import get_model

    if not name.startswith("ckpt/"):
        return get_model(name, **model_args)
    path = resolve(name.removeprefix("ckpt/"))
    key = (str(path), fingerprint(path), tuple(sorted((k, str(v)) for k, v in model_args.items())))
    if key in _resident:
        _resident.move_to_end(key)
        return _resident[key]
    for k in [k for k in _resident if k[0] == key[0]]:  # older weights under the same path
        release(_resident.pop(k))
    while len(_resident) >= RESIDENT_MAX:
        release(_resident.popitem(last=False)[1])
    model = get_model(f"ckpt/{path}", memoize=False, **model_args)
    _resident[key] = model
    return model


def release_models(keep_shared: bool = False) -> None:
    """Drop every pooled checkpoint model and (unless `keep_shared`) every shared base, and their GPU memory."""
    while _resident:
        release(_resident.popitem(last=False)[1])
    if not keep_shared:
        _shared.clear()
        gc.collect()


class SharedBase:
    """One loaded base model, with one Engine, shared by the `ckpt/` models of the checkpoints built on it (the base
    itself and LoRA adapters trained on it), instead of a model and an Engine (and its CUDA graphs) per checkpoint.

    `activate(adapter)` makes the model hold `adapter` merged into the base (None: the base itself): the linear
    weights are restored from a pristine copy, then PEFT loads the adapter into the model and merges it in place
    (`merge_and_unload`, the same merge `load` does on a fresh base), so the weight tensors, and the Engine's CUDA
    graphs that hold their addresses, stay valid. Callers hold `lock` from `activate` to the end of their decode.
    Adapters that change more than linear weights (`modules_to_save`, trainable tokens) are not shared
    (`can_share`). Costs one extra copy of the linear weights, made at the first adapter.

    `routed=True` (`ckpt/`'s `share=routed`): nothing is merged. Every adapter of a `ckpt/` model on this base is
    `register`ed, hooked onto the base with the others (models.multilora.MultiLoRA, rebuilt when the set changes), and
    the models' requests go through one `Batcher` (`batcher`): a batch holds rows of several checkpoints, each row
    routed to its own adapter (y = base(x) + s·B·A·x; the base's rows get the base alone), in the fast engine's
    routed step where it runs (models.fastdecode.decoder: not the exact layout), else the Engine's hf loop. Evaluations of a sweep's cells run side by side this way
    (caught.sweep, `eval.pack`). The outputs are the adapters' functions to rounding: merged weights round
    W + s·B·A once, routing adds s·B·A·x to W·x; in fp32 greedy rows agree (tests/test_provider.py), in bf16 a
    share of rows part at some token, as any two bf16 decodings of one function do (docs/performance.md).
    """

    def __init__(self, path: Path, device: str, dtype: str | None, engine_options: dict, routed: bool = False):
        import torch

        from models.engine import Engine

        self.model, self.tokenizer, self.path = load(str(path), device=device, dtype=dtype)
        self.engine = Engine(self.model, self.tokenizer, **engine_options)
        self.linears = [m for _, m in self.model.named_modules() if isinstance(m, torch.nn.Linear)]
        self.pristine: list | None = None
        self.active: tuple[Path, str] | None = None  # the merged adapter and its weights' fingerprint
        self.lock = threading.Lock()
        self.swaps = 0
        self.swap_seconds = 0.0
        self.routed = routed
        self.routes: dict[str, Path] = {}  # route name -> adapter directory, for the adapters of live models
        self.users: dict[str, int] = {}  # route name -> live models using it
        self.multi = None  # the MultiLoRA hooked on the model (routed), over `routes` as they were when built
        self.batcher = None  # routed: the one Batcher of every model on this base (made by the first, `batcher_for`)
        self.stats = {"new_tokens": 0, "decode_seconds": 0.0, "batch_sizes": [], "rebuilds": 0,
                      "rebuild_seconds": 0.0}

    def register(self, adapter: Path) -> str:
        """Route name of `adapter` (its path and weights' fingerprint) for a new model using it (routed)."""
        name = f"{adapter}@{fingerprint(adapter)}"
        with self.lock:
            self.routes[name] = adapter
            self.users[name] = self.users.get(name, 0) + 1
        return name

    def unregister(self, name: str) -> None:
        """A model using route `name` was released; the adapter leaves the hooks at the next rebuild once unused."""
        with self.lock:
            self.users[name] = self.users.get(name, 1) - 1
            if self.users[name] <= 0:
                self.users.pop(name)
                self.routes.pop(name, None)

    def batcher_for(self, batch_size: int):
        """The base's one Batcher (routed), made at `batch_size` by the first model that asks."""
        if self.batcher is None:
            from models.provider import Batcher

            self.batcher = Batcher(self.run_routed, batch_size)
        return self.batcher

    def run_routed(self, requests: list) -> list:
        """Decode a batch of several checkpoints' requests, each routed to its request's `adapter` (in a worker
        thread: the Batcher's)."""
        from models.multilora import MultiLoRA

        started = time.perf_counter()
        with self.lock:
            wanted = {r.adapter for r in requests if r.adapter is not None}
            built = set(self.multi.names) if self.multi is not None else set()
            if not wanted <= built or (built - set(self.routes) and wanted):
                t0 = time.perf_counter()
                if self.multi is not None:
                    self.multi.remove()
                    self.multi = self.engine.adapters = None
                missing = wanted - set(self.routes)
                if missing:
                    raise RuntimeError(f"request for released route {sorted(missing)[0]!r}")
                self.multi = MultiLoRA.load(self.model, dict(self.routes))
                self.engine.adapters = self.multi
                self.stats["rebuilds"] += 1
                self.stats["rebuild_seconds"] += time.perf_counter() - t0
            results = self.engine.generate(requests)
        from models.provider import count_batch

        return count_batch(self.stats, started, results)

    @staticmethod
    def can_share(adapter: Path) -> bool:
        config = json.loads((adapter / "adapter_config.json").read_text())
        return (config.get("peft_type", "LORA") == "LORA" and not config.get("modules_to_save")
                and not config.get("trainable_token_indices"))

    def activate(self, adapter: Path | None) -> None:
        import torch

        # the adapter's files as they are now: one rewritten under the same path is merged again
        wanted = None if adapter is None else (adapter, fingerprint(adapter))
        if wanted == self.active:
            return
        started = time.perf_counter()
        with torch.no_grad():
            if self.active is not None:
                for module, weight in zip(self.linears, self.pristine):
                    module.weight.copy_(weight)
                self.active = None
            if adapter is not None:
                if self.pristine is None:
                    self.pristine = [m.weight.detach().clone() for m in self.linears]
                if merge_adapter(self.model, adapter) is not self.model:
                    raise RuntimeError(f"merging {adapter} did not return the shared base model")
                self.active = wanted
        self.swaps += 1
        self.swap_seconds += time.perf_counter() - started


_sharing = [False]  # the default of `ckpt/`'s share arg where neither -M share nor $CAUGHT_SHARE says


def share_default() -> bool | str:
    """`ckpt/`'s share when its model args do not say: `$CAUGHT_SHARE` if set, else what `sharing` set (off)."""
    return os.environ.get("CAUGHT_SHARE", _sharing[-1])


@contextmanager
def sharing(on: bool):
    """Within the block, `ckpt/` models share resident bases by default (`$CAUGHT_SHARE` still decides if set). A
    sweep on CUDA runs its cells in `sharing(True)`."""
    _sharing.append(on)
    try:
        yield
    finally:
        _sharing.pop()


# Shared bases kept in the registry (least recently used first out). A base leaves the registry, not the models
# that use it: its memory is freed once the last `ckpt/` model using it is released.
SHARED_MAX = 2
_shared: OrderedDict[tuple, SharedBase] = OrderedDict()


def shared_base(name: str, device: str, dtype: str | None, engine_options: dict,
                routed: bool = False) -> tuple[SharedBase, Path | None, Path]:
    """(the shared base, the adapter to activate or None, the checkpoint's path) for checkpoint `name`: an adapter
    shares its base's model, a full checkpoint is the base itself. Raises ValueError for an adapter that cannot be
    shared (see `SharedBase.can_share`). `routed`: a base whose adapters are routed per row, not merged (a base of
    its own, apart from the merged one)."""
    path = resolve(name)
    adapter = path if is_adapter(path) else None
    if adapter is not None and not SharedBase.can_share(adapter):
        raise ValueError(f"adapter {adapter} changes more than linear weights (modules_to_save or trainable "
                         "tokens): it cannot share its base; load it with share=false")
    base = resolve(adapter_base(adapter)) if adapter is not None else path
    key = (str(base), fingerprint(base), device, str(dtype), tuple(sorted((k, str(v)) for k, v in engine_options.items())),
           routed)
    if key in _shared:
        _shared.move_to_end(key)
    else:
        for k in [k for k in _shared if k[0] == key[0] and k[1] != key[1]]:  # older weights under the same path
            del _shared[k]
        while len(_shared) >= SHARED_MAX:
            _shared.popitem(last=False)
        _shared[key] = SharedBase(base, device, dtype, engine_options, routed=routed)
    return _shared[key], adapter, path


def release(model) -> None:
    """Free a `ckpt/` model (one leaving the pool, or made outside it: training.evaluate.evaluate_pack): its weights or
    its share of a shared base, and its route there."""
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
