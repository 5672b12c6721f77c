"""Order-preserving alignment of two sequences by a pairwise score (a weighted longest
common subsequence): what pairs records (parity/pairing.py) and state-dict tensors
(parity/weights.py) when names do not, so that one side's extra run (an aux head, a
module-level ReLU) is left unpaired instead of shifting every later pair."""
from __future__ import annotations

import numpy as np


def align(score: np.ndarray) -> list[tuple[int | None, int | None]]:
    """Index pairs (i, j), or (i, None) / (None, j) for an unpaired element, in order.

    ``score[i, j] > 0`` allows pairing element i of the first sequence with element j of the
    second; the pairing maximises the total score, preferring the earlier pair on ties.
    """
    n, m = score.shape
    best = np.zeros((n + 1, m + 1), dtype=np.int64)
    for i in range(1, n + 1):
        s = score[i - 1]
        diag = np.where(s > 0, best[i - 1, :-1] + s, -1)
        # best[i, j] = max(best[i-1, j], best[i-1, j-1] + s, best[i, j-1]): the last term is a running max.
        best[i, 1:] = np.maximum.accumulate(np.maximum(best[i - 1, 1:], diag))
    i, j, back = n, m, []
    while i > 0 and j > 0:
        s = score[i - 1, j - 1]
        if s > 0 and best[i, j] == best[i - 1, j - 1] + s:
            back.append((i - 1, j - 1))
            i, j = i - 1, j - 1
        elif best[i, j] == best[i - 1, j]:
            back.append((i - 1, None))
            i -= 1
        else:
            back.append((None, j - 1))
            j -= 1
    back += [(k, None) for k in range(i - 1, -1, -1)]
    back += [(None, k) for k in range(j - 1, -1, -1)]
    return back[::-1]
