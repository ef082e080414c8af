"""Accuracy of the libm-free float32 math (runtime_ta/interp/mathf.c) against float64 numpy.

Dense sweeps over each function's useful range (plus random points); the error is measured
relative to the float64 truth, in units of float32 epsilon (2^-23 = 1.19e-7).  Results that are
float32 subnormals are checked in absolute terms (one subnormal step) since their relative
precision is lower by construction.

    python tests/test_kernels_mathf.py      # prints the max error of each function
"""
from __future__ import annotations

import numpy as np
import pytest

from kernel_harness import kernels

EPS = float(np.finfo(np.float32).eps)
TINY = float(np.finfo(np.float32).tiny)
SUBNORMAL_STEP = 2.0 ** -149


def _call(name: str, *args: np.ndarray) -> np.ndarray:
    args = [np.ascontiguousarray(a, dtype=np.float32) for a in args]
    out = np.empty_like(args[0])
    getattr(kernels(), f"shim_{name}")(*(a.ctypes.data for a in args), out.ctypes.data, out.size)
    return out


def _points(lo: float, hi: float, n: int = 1_000_000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([np.linspace(lo, hi, n), rng.uniform(lo, hi, n // 4)]).astype(np.float32)


def _max_rel_err(got: np.ndarray, truth: np.ndarray) -> float:
    """Max |got - truth| / |truth| over normal-range results, in units of EPS; subnormal results
    must be within one subnormal step."""
    got64 = got.astype(np.float64)
    normal = np.abs(truth) >= TINY
    assert np.all(np.abs(got64[~normal] - truth[~normal]) <= SUBNORMAL_STEP), "subnormal results off by > 1 step"
    rel = np.abs(got64[normal] - truth[normal]) / np.abs(truth[normal])
    return float(rel.max() / EPS) if rel.size else 0.0


def sweeps() -> dict[str, tuple[float, float]]:
    """{function: (max error in EPS units, allowed)} over the sweeps."""
    x_exp = np.concatenate([_points(-103.9, 88.7), _points(-1, 1, 200_000, 1)])
    x_log = np.concatenate([np.geomspace(1e-45, 3.4e38, 1_000_000).astype(np.float32), _points(0.5, 2.0, 200_000, 2)])
    x_sqrt = np.concatenate([np.geomspace(1e-45, 3.4e38, 1_000_000).astype(np.float32), _points(0, 4, 200_000, 3)])
    x_tanh = np.concatenate([_points(-20, 20), _points(-1e-3, 1e-3, 200_000, 4), _points(-0.7, 0.7, 200_000, 5)])
    x_sig = _points(-100, 100)
    rng = np.random.default_rng(6)
    x_pow = np.concatenate([rng.uniform(0.5, 1e4, 500_000), np.geomspace(1e-30, 1e30, 500_000)]).astype(np.float32)
    y_pow = rng.uniform(-1.0, 1.0, x_pow.size).astype(np.float32)
    x64 = {k: v.astype(np.float64) for k, v in dict(e=x_exp, l=x_log, s=x_sqrt, t=x_tanh, g=x_sig).items()}
    return {
        "expf": (_max_rel_err(_call("expf", x_exp), np.exp(x64["e"])), 0.51),
        "logf": (_max_rel_err(_call("logf", x_log)[x_log != 1], np.log(x64["l"])[x_log != 1]), 0.51),
        "sqrtf": (_max_rel_err(_call("sqrtf", x_sqrt), np.sqrt(x64["s"])), 0.51),
        "tanhf": (_max_rel_err(_call("tanhf", x_tanh), np.tanh(x64["t"])), 0.51),
        "sigmoidf": (_max_rel_err(_call("sigmoidf", x_sig), 1.0 / (1.0 + np.exp(-x64["g"]))), 0.51),
        "powf_pos": (_max_rel_err(_call("powf_pos", x_pow, y_pow),
                                  np.power(x_pow.astype(np.float64), y_pow.astype(np.float64))), 0.51),
    }


@pytest.fixture(scope="module")
def errors():
    return sweeps()


@pytest.mark.parametrize("fn", ["expf", "logf", "sqrtf", "tanhf", "sigmoidf", "powf_pos"])
def test_max_relative_error(errors, fn):
    err, allowed = errors[fn]
    assert err <= allowed, f"{fn}: max error {err:.3f} eps > {allowed} eps"


def test_special_values():
    inf, nan = np.float32(np.inf), np.float32(np.nan)
    x = np.array([inf, -inf, nan, 0.0, -0.0, 89.0, -200.0], np.float32)
    np.testing.assert_array_equal(_call("expf", x)[[0, 1, 3, 4, 5, 6]], [inf, 0, 1, 1, inf, 0])
    assert np.isnan(_call("expf", x)[2])
    lg = _call("logf", np.array([0.0, -1.0, inf, nan, 1.0], np.float32))
    assert lg[0] == -inf and np.isnan(lg[1]) and lg[2] == inf and np.isnan(lg[3]) and lg[4] == 0
    sq = _call("sqrtf", np.array([0.0, -1.0, inf, nan, 4.0], np.float32))
    assert sq[0] == 0 and np.isnan(sq[1]) and sq[2] == inf and np.isnan(sq[3]) and sq[4] == 2
    th = _call("tanhf", np.array([inf, -inf, 50.0, -50.0, 0.0], np.float32))
    np.testing.assert_array_equal(th, [1, -1, 1, -1, 0])
    sg = _call("sigmoidf", np.array([inf, -inf, 0.0, 1e30, -1e30], np.float32))
    np.testing.assert_array_equal(sg, [1, 0, 0.5, 1, 0])
    pw = _call("powf_pos", np.array([0.0, 2.0, 7.0, inf], np.float32), np.array([2.0, 0.0, 1.0, -1.0], np.float32))
    np.testing.assert_array_equal(pw, [0, 1, 7, 0])


if __name__ == "__main__":
    for name, (err, allowed) in sweeps().items():
        print(f"{name:9s} max relative error {err:.3f} eps ({err * EPS:.2e}); allowed {allowed} eps")
