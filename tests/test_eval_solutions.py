"""Each eval of evals/evals.json passes with its solution: a script of the bundle.
The checks share the session's sandbox, reset to the demo tenant before each one."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "evals"))
import check as evals  # noqa: E402
import warm_start  # noqa: E402

SPECS = evals.load_evals()


@pytest.mark.parametrize("spec", SPECS, ids=[s["name"] for s in SPECS])
def test_the_solution_passes(spec, sandbox):
    assert evals.check(spec, evals.solution_command(spec), sandbox=sandbox, popen=warm_start.popen) == []
