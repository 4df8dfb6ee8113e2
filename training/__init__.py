"""Training: SFT and its speed-ups, organism building, catch, train-against, checkpoint manifests, evaluation runs.

Builds on `models` (loading and decoding) and the Inspect tasks; the experiment layer (`caught`) builds on it.
"""
