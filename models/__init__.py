"""Models: everything that turns a name into a model and decodes it (caught's counterpart of `inspect_ai.model`).

`registry` (names -> checkpoints, loading, fingerprints, shared bases), `embedded` (the embedded SmolLM2),
`provider` (the `ckpt/` Inspect provider), `engine` and `fastdecode/` (batched decoding), `generate` (cached
responses for training data) and `serve` (`caught serve`: OpenAI- and Anthropic-compatible HTTP).
Depends on tasks/solvers/scorers only; training and the experiment layer build on it.
"""
