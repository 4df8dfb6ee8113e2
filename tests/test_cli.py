"""The `caught` command line: bad input gets one clear error line and exit code 2."""

import subprocess
import sys

import pytest


def caught(*args):
    code = "from caught.cli import main; import sys; sys.argv = ['caught', *sys.argv[1:]]; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["organism", "--scenario", "year2"], "unknown scenario 'year2'; accepted: trigger"),
        (["organism", "--behavior", "rude"], "unknown behavior 'rude'; accepted: covert, hate, refusal, sandbagging"),
        (["catch", "no-such-organism"], "unknown model 'no-such-organism'. Accepted: embedded models: smollm2-135m"),
        (["train-against", "smollm2-135m", "--responses", "friend"], "unknown responses source 'friend'"),
        (["compare", "smollm2-135m", "--reasoning", "cot"],
         "unknown organism reasoning 'cot'; accepted: none, scratchpad, distilled"),
    ],
)
def test_bad_input_is_one_clear_line(args, message, tmp_path, monkeypatch):
    monkeypatch.setenv("CAUGHT_CHECKPOINTS", str(tmp_path))
    done = caught(*args)
    out = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == 2, out
    assert message in out
    assert "Traceback" not in out
    assert not list(tmp_path.iterdir())  # nothing half-written
