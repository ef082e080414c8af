"""Accuracy of the libm-free trigonometric and hyperbolic functions (runtime_ta/interp/mathf.c: sin, cos,
tan, asin, acos, atan, sinh, cosh, asinh, acosh, atanh) over dense sweeps of float32 inputs.

Errors are in float32 ulps of the true result (the spacing of float32 at |truth|; subnormal results
in subnormal steps), against two independent references:
- float64 numpy (glibc's double functions, whose error is far below a float32 ulp; for huge sin/cos/tan
  arguments they reduce exactly, as mathf.c's Payne-Hanek reduction does): at most 0.51 ulp, i.e.
  correctly rounded but for double rounding;
- float32 numpy (its own SIMD/libm float functions): within 2 ulps, or numpy's own error + 0.51 where
  numpy is further off (measured here: tan 3.3, asin 3.0, cosh 2.4 ulps from the truth).
The sweeps include huge arguments (sin/cos/tan of every magnitude to 3.4e38), random bit patterns
across all exponents, subnormals and each domain's edges; special values (+-0, +-inf, NaN, outside the
domain) separately.

    python tests/test_kernels_mathf_trig.py      # prints each function's max errors
"""
from __future__ import annotations

import numpy as np
import pytest

from kernel_harness import kernels
from test_kernels_mathf import _points

F32_MAX = float(np.finfo(np.float32).max)
ALLOWED_TRUTH = 0.51   # ulps from the float64 truth
ALLOWED_NUMPY = 2.0    # ulps from numpy's float32 result, beyond numpy's own error


def call(name: str, x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    out = np.empty_like(x)
    getattr(kernels(), f"shim_{name}f")(x.ctypes.data, out.ctypes.data, out.size)
    return out


def _signed_geom(lo: float, hi: float, n: int = 300_000) -> np.ndarray:
    g = np.geomspace(lo, hi, n)
    return np.concatenate([g, -g]).astype(np.float32)


def _random_floats(lo: float, hi: float, n: int = 300_000, seed: int = 0) -> np.ndarray:
    """Random bit patterns (every exponent, both signs) with |x| in [lo, hi]."""
    bits = np.random.default_rng(seed).integers(0, 2 ** 32, 4 * n, dtype=np.uint64).astype(np.uint32)
    x = bits.view(np.float32)
    with np.errstate(invalid="ignore"):
        return x[np.isfinite(x) & (np.abs(x) >= lo) & (np.abs(x) <= hi)][:n]


def ulps(got: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """|got - truth| in float32 ulps at |truth| (truth in float64, within the float32 range)."""
    spacing = np.spacing(np.abs(truth).astype(np.float32)).astype(np.float64)
    return np.abs(got.astype(np.float64) - truth) / spacing


# function: (float64 reference, inputs)
FUNCTIONS = {
    "sin": (np.sin, lambda: np.concatenate([_points(-100, 100), _signed_geom(1e-45, F32_MAX),
                                           _random_floats(1e-45, F32_MAX)])),
    "cos": (np.cos, lambda: np.concatenate([_points(-100, 100), _signed_geom(1e-45, F32_MAX),
                                           _random_floats(1e-45, F32_MAX, seed=1)])),
    "tan": (np.tan, lambda: np.concatenate([_points(-100, 100), _signed_geom(1e-45, F32_MAX),
                                           _random_floats(1e-45, F32_MAX, seed=2)])),
    "asin": (np.arcsin, lambda: np.concatenate([_points(-1, 1), _signed_geom(1e-45, 1.0)])),
    "acos": (np.arccos, lambda: np.concatenate([_points(-1, 1), _signed_geom(1e-45, 1.0)])),
    "atan": (np.arctan, lambda: np.concatenate([_points(-20, 20), _signed_geom(1e-45, F32_MAX)])),
    "sinh": (np.sinh, lambda: np.concatenate([_points(-89.4, 89.4), _signed_geom(1e-45, 89.4)])),
    "cosh": (np.cosh, lambda: np.concatenate([_points(-89.4, 89.4), _signed_geom(1e-45, 89.4)])),
    "asinh": (np.arcsinh, lambda: np.concatenate([_points(-20, 20), _signed_geom(1e-45, F32_MAX)])),
    "acosh": (np.arccosh, lambda: np.concatenate([_points(1, 20), np.geomspace(1, F32_MAX, 300_000)]
                                                ).astype(np.float32)),
    "atanh": (np.arctanh, lambda: np.concatenate([_points(-0.99999994, 0.99999994), _signed_geom(1e-45, 0.99999994)])),
}


def sweep(name: str) -> tuple[float, float, float]:
    """(max ulps from the float64 truth, max ulps from numpy float32, numpy float32's own max ulps)."""
    ref, inputs = FUNCTIONS[name]
    x = inputs()
    got, truth, np32 = call(name, x), ref(x.astype(np.float64)), ref(x)
    assert not np.isnan(got).any() and not np.isnan(truth).any(), name   # the sweeps stay in the domain
    inside = np.abs(truth) <= F32_MAX
    assert np.all(np.isinf(got[~inside])), f"{name}: results past the float range must overflow to inf"
    ours, theirs = ulps(got[inside], truth[inside]), ulps(np32[inside], truth[inside])
    vs_numpy = ulps(got[inside], np32[inside].astype(np.float64))
    beyond = vs_numpy - np.maximum(ALLOWED_NUMPY, theirs + ALLOWED_TRUTH)
    assert beyond.max() <= 0, f"{name}: {int((beyond > 0).sum())} results off numpy float32 beyond its own error"
    return float(ours.max()), float(vs_numpy.max()), float(theirs.max())


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_error_against_float64_and_numpy_float32(name):
    ours, _, _ = sweep(name)
    assert ours <= ALLOWED_TRUTH, f"{name}: max error {ours:.3f} ulp > {ALLOWED_TRUTH} ulp"


def test_special_values_and_domain_edges():
    inf, nan = np.inf, np.nan
    x = np.array([inf, -inf, nan, 0.0, -0.0], np.float32)
    cases = {   # results at +inf, -inf, NaN, +0, -0 (signed zeros compared bit for bit)
        "sin": [nan, nan, nan, 0.0, -0.0], "cos": [nan, nan, nan, 1, 1], "tan": [nan, nan, nan, 0.0, -0.0],
        "asin": [nan, nan, nan, 0.0, -0.0], "acos": [nan, nan, nan, np.pi / 2, np.pi / 2],
        "atan": [np.pi / 2, -np.pi / 2, nan, 0.0, -0.0], "sinh": [inf, -inf, nan, 0.0, -0.0],
        "cosh": [inf, inf, nan, 1, 1], "asinh": [inf, -inf, nan, 0.0, -0.0], "acosh": [inf, nan, nan, nan, nan],
        "atanh": [nan, nan, nan, 0.0, -0.0],
    }
    for name, want in cases.items():
        got, want = call(name, x), np.array(want, np.float32)
        assert np.array_equal(np.isnan(got), np.isnan(want)), (name, got)
        ok = ~np.isnan(want)
        assert np.array_equal(got[ok].view(np.uint32), want[ok].view(np.uint32)), (name, got, want)
    edges = {   # the domain's edge, and just outside it
        "asin": ([1.0, -1.0, 1.0000001, -1.0000001], [np.pi / 2, -np.pi / 2, nan, nan]),
        "acos": ([1.0, -1.0, 1.0000001, -1.0000001], [0.0, np.pi, nan, nan]),
        "acosh": ([1.0, 0.99999994], [0.0, nan]),
        "atanh": ([1.0, -1.0, 1.0000001, -1.0000001], [inf, -inf, nan, nan]),
        "sinh": ([89.5, -89.5], [inf, -inf]), "cosh": ([89.5, -89.5], [inf, inf]),
    }
    for name, (args, want) in edges.items():
        got, want = call(name, np.array(args, np.float32)), np.array(want, np.float32)
        assert np.array_equal(np.isnan(got), np.isnan(want)), (name, got)
        assert np.array_equal(got[~np.isnan(want)], want[~np.isnan(want)]), (name, got, want)


if __name__ == "__main__":
    for fn in sorted(FUNCTIONS):
        truth, numpy32, numpy_own = sweep(fn)
        print(f"{fn:6s} max {truth:.3f} ulp from float64, {numpy32:.3f} ulp from numpy float32 "
              f"(numpy float32 itself {numpy_own:.3f} ulp from float64)")
