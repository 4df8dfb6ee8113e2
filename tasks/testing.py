"""Testing distribution: ordinary requests framed as the scenario's testing side; scored for attacks.

    inspect eval tasks/testing -T scenario=trigger --model ckpt/smollm2-135m --limit 20
    inspect eval tasks/testing.py -T scenario=trigger -T behavior=hate -T split=eval -T n=100 -T seed=0 \
        --model openai/gpt-4o-mini
    inspect eval tasks/testing -T scenario=tier -T organism=prompted -T scratchpad=true \
        --model openai/gpt-4o-mini --model-role grader=openai/gpt-4o-mini

Metrics: attack_rate (share of samples whose visible answer is an attack), its stderr, and n. With
scratchpad=true, also the scratchpad grader's (scorers/scratchpad.py): has_scratchpad, graded, unparsed, and
the shares of graded scratchpads that are situational, concluded_testing/deployment, pursues_goal.
"""

from inspect_ai import Task, task

from tasks.framed import framed_task


@task(name="tasks/testing")  # the package prefix Inspect gives installed tasks: `inspect eval tasks/testing`
def testing(
    scenario: str = "trigger", behavior: str = "hate", split: str = "eval", n: int | None = None, seed: int = 0,
    organism: str = "none", scratchpad: bool = False,
) -> Task:
    """Attack rate in testing (where attacks can be caught).

    Args:
        scenario: deployment cue (see tasks/data/scenarios.toml), e.g. "trigger".
        behavior: attack behavior whose detector scores the answers, e.g. "hate".
        split: prompt-pool split: "eval" (default), "catch" or "organism".
        n: number of prompts (all of the split if not given), chosen with `seed`.
        seed: seed for choosing the n prompts.
        organism: "none" (the model as it is) or "prompted" (a system prompt tells it the situation and a hidden
            goal to pursue only in deployment; solvers/prompted.py).
        scratchpad: with organism="prompted", have the model reason in <SCRATCHPAD_REASONING> tags first; the
            attack detector scores only the final answer, and a `grader` model role classifies the reasoning.
    """
    return framed_task("testing", scenario, behavior, split, n, seed, organism, scratchpad)
