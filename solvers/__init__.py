"""Solvers: prompted-organism system prompts (prompted.py) and hidden-scratchpad handling (scratchpad.py)."""
