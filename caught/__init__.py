"""The experiment layer and the `caught` command: sweeps, comparisons, reports, cross-model tables, the CLI.

Builds on `training` (organisms, catch, train-against, evaluation) and `models`; nothing below imports it.
"""
