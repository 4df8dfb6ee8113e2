"""Inspect entry point (`[project.entry-points.inspect_ai]`): registers caught's tasks and its `ckpt/` provider."""

from tasks.deployment import deployment  # noqa: F401
from tasks.distinguish import distinguish  # noqa: F401
from tasks.testing import testing  # noqa: F401
from tasks.usefulness import usefulness  # noqa: F401
from training.provider import ckpt  # noqa: F401
