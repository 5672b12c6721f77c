"""parity.metrics computes in torch what the harness used to compute with float64 numpy
copies: the same numbers to ~1e-12 relative, on every kind of input the checks pass."""
import math

import numpy as np
import pytest
import torch

from parity import metrics as M


def numpy_errors(pairs, dtype):
    """The numpy formulas parity.metrics used before it moved to torch (the reference)."""
    def as_array(v):
        return np.asarray(v() if callable(v) else v, dtype=np.float64)

    def absmax(x):
        return max(float(x.max()), -float(x.min())) if x.size else 0.0

    def norm(x):
        flat = x.ravel()
        return math.sqrt(float(np.dot(flat, flat))) if flat.size else 0.0

    stats = [(absmax(as_array(a)), absmax(as_array(b)), norm(as_array(b))) for _, a, b in pairs]
    scale = max((max(sa, sb) for sa, sb, _ in stats), default=0.0)
    norm_scale = max((nb for *_, nb in stats), default=0.0)
    out = []
    for (n, a, b), (amax, bmax, bnorm) in zip(pairs, stats):
        a, b = as_array(a), as_array(b)
        if a.shape != b.shape:
            out.append((f"{n} (shapes {list(a.shape)} vs {list(b.shape)})", (math.inf,) * 3))
            continue
        if a.size == 0:
            out.append((n, (0.0, 0.0, 0.0)))
            continue
        diff = a - b
        max_abs = absmax(diff)
        if not math.isfinite(max_abs):
            out.append((f"{n} (non-finite)", (math.inf,) * 3))
            continue
        if max_abs == 0.0:
            out.append((n, (0.0, 0.0, 0.0)))
            continue
        denom = max(amax, bmax, M.SCALE_FLOOR[dtype] * scale)
        norm_denom = max(bnorm, M.SCALE_FLOOR[dtype] * norm_scale)
        out.append((n, (max_abs, max_abs / denom if denom > 0 else math.inf,
                        norm(diff) / norm_denom if norm_denom > 0 else math.inf)))
    return out


def assert_same(pairs, dtype):
    new = M.errors(pairs, dtype)
    old = numpy_errors(pairs, dtype)
    assert [n for n, _ in new] == [n for n, _ in old]
    for (n, e), (_, ref) in zip(new, old):
        for got, want in zip((e.max_abs, e.max_rel, e.norm_rel), ref):
            if math.isinf(want) or want == 0.0:
                assert got == want, n
            else:
                assert got == pytest.approx(want, rel=1e-12, abs=0.0), n


def noisy(rng, shape, dtype, eps):
    a = rng.standard_normal(shape).astype(dtype)
    return a, (a * (1 + eps * rng.standard_normal(shape))).astype(dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_torch_metrics_equal_the_numpy_formulas(dtype):
    rng = np.random.RandomState(0)
    eps = 1e-12 if dtype == "float64" else 1e-6
    a, b = noisy(rng, (64, 3, 5, 5), dtype, eps)
    c, d = noisy(rng, (1000,), dtype, eps)
    big = rng.standard_normal(200_000).astype(dtype) * 1e3
    tiny = np.full(7, 1e-9, dtype=dtype)  # under the check's scale floor
    ro = b.copy()
    ro.flags.writeable = False  # paddle hands out read-only arrays
    pairs = [("conv.weight", a, b), ("fc.bias", c, d), ("big", big, big * (1 + eps)),
             ("floored", tiny, np.zeros(7, dtype=dtype)), ("same", c, c.copy()),
             ("readonly", a, ro), ("strided", a[:, :, ::-1, ::2], b[:, :, ::-1, ::2]),
             ("scalar", np.float64(2.5), np.float64(2.5 + 1e-9)), ("ints", np.arange(5), np.arange(5) + 1),
             ("lazy", lambda: c, lambda: d)]
    assert_same(pairs, dtype)


def test_mixed_dtypes_torch_tensors_and_float32_differences_are_taken_in_float64():
    rng = np.random.RandomState(1)
    a64 = rng.standard_normal(4096)
    a32 = a64.astype(np.float32)
    # A float32 difference would round these to a few digits; float64 keeps them exact.
    b32 = np.nextafter(a32, np.float32(np.inf))
    pairs = [("mixed", a64, a32), ("ulp", a32, b32), ("torch", torch.from_numpy(a32), b32)]
    assert_same(pairs, "float32")
    name, err = M.errors([("ulp", a32, b32)], "float32")[0]
    assert err.max_abs == float(np.max(np.abs(a32.astype(np.float64) - b32.astype(np.float64))))


def test_empty_mismatched_and_non_finite_tensors():
    rng = np.random.RandomState(2)
    a = rng.standard_normal((3, 4))
    with_inf, with_nan = a.copy(), a.copy()
    with_inf[1, 2] = np.inf
    with_nan[0, 0] = np.nan
    pairs = [("empty", np.zeros((0, 4)), np.zeros((0, 4))), ("shapes", a, a.T), ("inf", a, with_inf),
             ("nan", with_nan, a), ("ok", a, a + 1e-13)]
    assert_same(pairs, "float64")
    names = [n for n, _ in M.errors(pairs, "float64")]
    assert names == ["empty", "shapes (shapes [3, 4] vs [4, 3])", "inf (non-finite)", "nan (non-finite)", "ok"]
    assert M.errors([], "float64") == []


def test_absmax_and_norm_on_arrays_and_tensors():
    x = np.array([[-3.0, 1.0], [2.0, 0.5]], dtype=np.float32)
    assert M.absmax(x) == 3.0 and M.absmax(torch.from_numpy(x)) == 3.0 and M.absmax(np.zeros(0)) == 0.0
    assert M.norm(x) == pytest.approx(math.sqrt(9 + 1 + 4 + 0.25), rel=1e-15) and M.norm(np.zeros((0, 3))) == 0.0
    assert M.as_operand(x) is x  # small: numpy, as it is
    big = np.ones(M.SMALL, dtype=np.float32)
    assert M.as_operand(big).data_ptr() == big.ctypes.data  # large: a torch view, not a copy
    assert M.absmax(-2 * big) == 2.0 and M.norm(big) == pytest.approx(math.sqrt(M.SMALL), rel=1e-15)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_both_sides_of_the_numpy_torch_threshold(dtype):
    rng = np.random.RandomState(3)
    pairs = []
    for n in (M.SMALL - 1, M.SMALL, 3 * M.SMALL):
        a = rng.standard_normal(n).astype(dtype)
        b = (a + 1e-6 * rng.standard_normal(n)).astype(dtype)
        pairs += [(f"np{n}", a, b), (f"torch{n}", torch.from_numpy(a), torch.from_numpy(b)),
                  (f"mixed{n}", a.astype(np.float64), b)]
    assert_same(pairs, dtype)


def test_large_tensors_are_measured_chunk_by_chunk_and_a_late_nan_still_counts():
    # Python's max() drops a NaN that is not first: a NaN in a later chunk must still make
    # the pair non-finite, and the chunked norms must equal the whole-tensor formulas.
    rng = np.random.RandomState(4)
    n = 5 * M.CHUNK + 17
    assert n >= M.SMALL
    a = rng.standard_normal(n)
    late_nan = a.copy()
    late_nan[-3] = np.nan
    pairs = [("nan", a, late_nan), ("ok", a, a + 1e-9 * rng.standard_normal(n))]
    assert_same(pairs, "float64")
    assert [n for n, _ in M.errors(pairs, "float64")] == ["nan (non-finite)", "ok"]
    assert math.isnan(M.absmax(torch.from_numpy(late_nan)))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_transposed_view_is_compared_in_tiles_without_a_copy(dtype, monkeypatch):
    # paddle's [in, out] Linear weight, read as torch's [out, in] through a transposed view:
    # the tiled difference must equal the formulas on contiguous arrays, at shapes that are
    # not multiples of the tile, with the difference's worst element in the last partial tile,
    # on either side and on both, and a NaN there must still count.
    monkeypatch.setattr(M, "TILE", 96)
    rng = np.random.RandomState(5)
    rows, cols = 333, 1000
    assert rows * cols >= M.SMALL
    a = rng.standard_normal((rows, cols)).astype(dtype)
    b = (a * (1 + 1e-6 * rng.standard_normal((rows, cols)))).astype(dtype)
    b[-1, -1] = a[-1, -1] + 0.5
    paddle_layout = np.ascontiguousarray(b.T)
    transposed = torch.from_numpy(paddle_layout).t()
    assert not transposed.is_contiguous()
    pairs = [("tb", torch.from_numpy(a), transposed),
             ("both", torch.from_numpy(np.ascontiguousarray(a.T)).t(), transposed)]
    cases = [(pairs, [("tb", a, b), ("both", a, b)]),
             ([("first", transposed, torch.from_numpy(a))], [("first", b, a)])]
    for tiled, contiguous in cases:
        for (name, err), (_, want) in zip(M.errors(tiled, dtype), numpy_errors(contiguous, dtype)):
            assert (err.max_abs, err.max_rel, err.norm_rel) == pytest.approx(want, rel=1e-12, abs=0.0), name
    with_nan = paddle_layout.copy()
    with_nan[-1, -1] = np.nan
    assert M.errors([("nan", torch.from_numpy(a), torch.from_numpy(with_nan).t())], dtype)[0][0] == "nan (non-finite)"
