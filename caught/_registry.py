"""Inspect entry point (`[project.entry-points.inspect_ai]`): registers caught's tasks and its `ckpt/` provider.

The provider is registered lazily: `models.provider` (and torch) is imported only when a `ckpt/` model is made,
so Inspect loading this entry point (for any model, e.g. `openai/...`) stays light.
"""

from inspect_ai.model import ModelAPI, modelapi

from tasks.capability import capability  # noqa: F401
from tasks.deployment import deployment  # noqa: F401
from tasks.distinguish import distinguish  # noqa: F401
from tasks.habit import habit  # noqa: F401
from tasks.heldout import heldout  # noqa: F401
from tasks.locked import locked  # noqa: F401
from tasks.sycophancy import sycophancy  # noqa: F401
from tasks.testing import testing  # noqa: F401
from tasks.usefulness import usefulness  # noqa: F401


@modelapi(name="ckpt")
def ckpt() -> type[ModelAPI]:
    from models.provider import CheckpointAPI

    return CheckpointAPI
