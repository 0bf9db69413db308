"""The memory guard under a low address-space limit: huge requests are refused with a
ValueError saying what they need *before* allocating, so they never reach MemoryError (or
the machine's memory). Each case runs in a subprocess limited to 1.5 GiB of address space."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

resource = pytest.importorskip("resource")

SRC = str(Path(__file__).resolve().parents[1] / "src")
LIMIT = 3 * 2**29          # 1.5 GiB: enough to import numpy and convwise, far below every request below

PROBE = textwrap.dedent("""
    import json, resource, sys
    import numpy as np
    import convwise as cw
    from convwise import functional as F, nn
    resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
    cw.set_config(memory_mib=512)              # the budget these requests exceed
    x = np.ones((1, 1, 4, 4), np.float32)
    try:
        {call}
        print(json.dumps({{"result": "returned"}}))
    except BaseException as error:
        print(json.dumps({{"result": type(error).__name__, "message": str(error)}}))
""")


def run_limited(call: str) -> dict:
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    code = PROBE.format(limit=LIMIT, call=call)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("call, needs", [
    ("F.pad(x, (10**9, 0))", "pad: needs 14.9 GiB of memory"),
    ("F.pad(x, (0, 10**6, 10**5, 0))", "pad: needs"),
    ("F.pad(np.ones((1, 4, 4), np.float32), (10**9, 10**9), mode='replicate')", "pad: needs"),
    ("nn.Linear(10**6, 10**6)", "Linear: needs"),
    ("nn.Conv2d(10**4, 10**4, 100)", "Conv2d: needs"),
    ("nn.ConvTranspose2d(10**4, 10**4, 100)", "ConvTranspose2d: needs"),
    ("nn.Linear(10**5, 10**4, dtype=np.float64)", "Linear: needs"),
])
def test_huge_requests_are_refused_before_allocating(call, needs):
    outcome = run_limited(call)
    assert outcome["result"] == "ValueError", outcome
    assert outcome["message"].startswith(needs), outcome["message"]
    assert "more than the budget of 512.0 MiB" in outcome["message"]
    assert "convwise.set_config(memory_mib=...)" in outcome["message"]


def test_requests_under_the_budget_still_run():
    outcome = run_limited("assert F.pad(x, (10**6, 0)).shape == (1, 1, 4, 1000004); nn.Linear(1000, 1000)")
    assert outcome == {"result": "returned"}


@pytest.mark.parametrize("call, words", [
    # vectorised windows: refused for the memory their bounds and output would take, before allocating
    ("F.adaptive_avg_pool1d(np.ones((1, 4), np.float32), 10**8)", ("needs", "of memory", "more than the budget")),
    ("cw.arithmetic.uncovered_cells(cw.arithmetic.conv_geometry(10**9, 2, stride=7))",
     ("would loop over", "more than the limit")),
])
def test_huge_loops_are_refused_before_looping(call, words):
    outcome = run_limited(call)
    assert outcome["result"] == "ValueError", outcome
    assert all(word in outcome["message"] for word in words), outcome
