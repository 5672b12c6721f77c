"""Shared test setup: thread counts before the frameworks load, and quiet imports."""
import os

# paddle sets OMP_NUM_THREADS=1 when unset, which would also slow torch in this process.
# Under pytest-xdist (pyproject's addopts run one worker per core) each worker gets one
# thread; a plain run gets both cores. A worker is set, not defaulted: it inherits the
# controller's environment, where this file has already put 2, so each of the two workers
# ran 2 threads on the 2 cores (load average 4; efficientnet_b0's parity test took 18 s in
# one run and 115 s in the next while the OpenMP threads waited on each other).
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"
else:
    os.environ.setdefault("OMP_NUM_THREADS", "2")

import parity  # noqa: E402,F401  first: it silences the frameworks' import messages (parity/quiet.py)
from parity import hugepages  # noqa: E402

# Huge pages for torch here, and for glibc's malloc in the pytest-xdist workers, which start
# after this file has run in the controller (parity/hugepages.py).
hugepages.enable()
import paddle  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

paddle.set_device("cpu")
torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)
    paddle.seed(0)
    yield


# Failures seen in a full run that are not fixed yet, as "nodeid": "issue N: what fails".
# They are listed here, in one place, as non-strict xfails so that they stay visible in
# every run's summary; each must belong to an open issue. Remove an entry as soon as its
# test passes. (Empty: the last entries were fixed in session 3.)
KNOWN_FAILURES: dict[str, str] = {}


def pytest_collection_modifyitems(config, items):
    for item in items:
        reason = KNOWN_FAILURES.get(item.nodeid)
        if reason is not None:
            item.add_marker(pytest.mark.xfail(reason=reason, strict=False))
