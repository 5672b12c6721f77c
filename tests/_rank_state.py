"""Run under a launcher by tests/test_distributed.py: ``_rank_state.py FW OUT ARGS...`` trains with
FW's script and saves this process's final weights and BN statistics to ``OUT/rank{R}.npz``
(the script itself writes only rank 0's checkpoint)."""
import importlib
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from zoo import training  # noqa: E402

fw, out, *argv = sys.argv[1:]
script = importlib.import_module(f"{fw}_impl.train")
result = script.train(training.parse_args(fw, argv))
rank = os.environ.get("RANK", os.environ.get("PADDLE_TRAINER_ID", "0"))
np.savez(Path(out) / f"rank{rank}.npz", **{k: np.asarray(v) for k, v in result.state.items()})
