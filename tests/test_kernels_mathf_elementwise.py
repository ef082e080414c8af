"""Accuracy of the libm-free float32 functions behind the elementwise math ops (runtime_ta/interp/mathf.c:
powf, expm1f, log1pf, the Gelu forms, softplus, mish, softsign; floor/ceil/rint exactly) against
float64 numpy/scipy, as tests/test_kernels_mathf.py does for exp/log/tanh: dense sweeps over each
function's range including subnormal inputs, errors relative to the float64 truth in units of float32
epsilon; subnormal results within one subnormal step.  Special values (+-0, +-inf, NaN) separately.

    python tests/test_kernels_mathf_elementwise.py      # prints the max error of each function
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from kernel_harness import kernels
from test_kernels_mathf import _max_rel_err, _points

F32_MAX = float(np.finfo(np.float32).max)
ALLOWED = 0.51  # float32 eps: correctly rounded but for double-rounding cases (the functions work in double)


def call(name: str, *args: np.ndarray) -> np.ndarray:
    args = [np.ascontiguousarray(a, dtype=np.float32) for a in args]
    out = np.empty_like(args[0])
    getattr(kernels(), f"shim_{name}")(*(a.ctypes.data for a in args), out.ctypes.data, out.size)
    return out


def _signed_geom(lo: float, hi: float, n: int = 300_000) -> np.ndarray:
    g = np.geomspace(lo, hi, n)
    return np.concatenate([g, -g]).astype(np.float32)


def _gelu(x):
    z = np.abs(x) / np.sqrt(2.0)
    return np.where(x < 0, 0.5 * x * special.erfc(z), 0.5 * x * (1.0 + special.erf(z)))


def _gelu_tanh(x):
    u = -2.0 * np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)
    with np.errstate(over="ignore"):
        return x / (1.0 + np.exp(u))


def _pow_inputs() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    x = np.concatenate([rng.uniform(0.0, 4.0, 300_000), np.geomspace(1e-45, 3e38, 300_000),
                        -np.round(rng.uniform(0, 50, 100_000)) - rng.uniform(0, 1, 100_000)]).astype(np.float32)
    y = np.concatenate([rng.uniform(-6.0, 6.0, 300_000), rng.uniform(-1.0, 1.0, 300_000),
                        np.round(rng.uniform(-20, 20, 100_000))]).astype(np.float32)
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    with np.errstate(all="ignore"):
        truth = np.power(x64, y64)
    keep = np.isfinite(truth) & (np.abs(truth) <= F32_MAX) & (x != 0)
    return x[keep], y[keep]


def sweeps() -> dict[str, float]:
    """{function: max error in float32 eps over its sweep}."""
    f64 = lambda a: a.astype(np.float64)  # noqa: E731
    x_expm1 = np.concatenate([_points(-30, 88.7, 500_000), _points(-1e-3, 1e-3, 200_000, 1),
                              _signed_geom(1e-45, 1.0)])
    x_log1p = np.concatenate([np.geomspace(1e-45, 3.4e38, 500_000), -np.geomspace(1e-45, 0.99999994, 300_000),
                              _points(-0.5, 2.0, 200_000, 2)]).astype(np.float32)
    x_gelu = np.concatenate([_points(-20, 20, 500_000, 4), _signed_geom(1e-45, 3e38)])
    x_soft = np.concatenate([_points(-110, 110, 500_000, 5), _signed_geom(1e-45, 3e38)])
    x_mish = np.concatenate([_points(-120, 50, 500_000, 6), _signed_geom(1e-45, 3e38)])
    px, py = _pow_inputs()
    with np.errstate(all="ignore"):
        soft = lambda a: np.logaddexp(0.0, a)  # noqa: E731
        return {
            "expm1f": _max_rel_err(call("expm1f", x_expm1), np.expm1(f64(x_expm1))),
            "log1pf": _max_rel_err(call("log1pf", x_log1p), np.log1p(f64(x_log1p))),
            "geluf": _max_rel_err(call("geluf", x_gelu), _gelu(f64(x_gelu))),
            "gelu_tanhf": _max_rel_err(call("gelu_tanhf", x_gelu), _gelu_tanh(f64(x_gelu))),
            "softplusf": _max_rel_err(call("softplusf", x_soft), soft(f64(x_soft))),
            "mishf": _max_rel_err(call("mishf", x_mish), f64(x_mish) * np.tanh(soft(f64(x_mish)))),
            "softsignf": _max_rel_err(call("softsignf", x_soft), f64(x_soft) / (1.0 + np.abs(f64(x_soft)))),
            "powf": _max_rel_err(call("powf", px, py), np.power(f64(px), f64(py))),
        }


@pytest.fixture(scope="module")
def errors():
    return sweeps()


@pytest.mark.parametrize("fn", ["expm1f", "log1pf", "geluf", "gelu_tanhf", "softplusf", "mishf",
                                "softsignf", "powf"])
def test_max_relative_error(errors, fn):
    assert errors[fn] <= ALLOWED, f"{fn}: max error {errors[fn]:.3f} eps > {ALLOWED} eps"


@pytest.mark.parametrize("name,ref", [("floorf", np.floor), ("ceilf", np.ceil), ("rintf", np.rint)])
def test_rounding_is_exact_on_every_kind_of_float(name, ref):
    """Random bit patterns (all exponents, subnormals, infinities, NaNs) and the halves: bit-exact,
    signed zeros included; Round is half to even."""
    rng = np.random.default_rng(12)
    bits = rng.integers(0, 2**32, 1_000_000, dtype=np.uint64).astype(np.uint32)
    halves = (np.arange(-2000, 2000) / 2).astype(np.float32)
    x = np.concatenate([bits.view(np.float32), halves, _points(-10, 10, 100_000, 7),
                        np.array([0.0, -0.0, 0.49999997, -0.49999997, 8388607.5, -8388607.5, 8388608.0], np.float32)])
    with np.errstate(invalid="ignore"):
        got, want = call(name, x), ref(x)
    nan = np.isnan(want)
    assert np.array_equal(np.isnan(got), nan)
    assert np.array_equal(got[~nan].view(np.uint32), want[~nan].view(np.uint32))


def test_special_values():
    inf, nan = np.inf, np.nan
    x = np.array([inf, -inf, nan, 0.0, -0.0], np.float32)
    cases = {
        "expm1f": [inf, -1, nan, 0.0, -0.0], "log1pf": [inf, nan, nan, 0.0, -0.0],
        "geluf": [inf, nan, nan, 0.0, -0.0], "gelu_tanhf": [inf, -0.0, nan, 0.0, -0.0],
        "softplusf": [inf, 0, nan, np.log(2), np.log(2)], "mishf": [inf, -0.0, nan, 0.0, -0.0],
        "softsignf": [1, -1, nan, 0.0, -0.0],
    }
    for name, want in cases.items():
        got, want = call(name, x), np.array(want, np.float32)
        assert np.array_equal(np.isnan(got), np.isnan(want)), name
        ok = ~np.isnan(want)
        assert np.array_equal(got[ok].view(np.uint32), want[ok].view(np.uint32)), (name, got, want)
    lp = call("log1pf", np.array([-1.0, -2.0], np.float32))
    assert lp[0] == -inf and np.isnan(lp[1])


def test_pow_special_cases_follow_c99():
    """pow's Annex F cases (the same as numpy's float64 power rounded to float32)."""
    vals = np.array([0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 3.0, -3.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45,
                     3e38, -3e38], np.float32)
    exps = np.array([0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 3.0, -3.0, 0.5, -0.5, 1.5, np.inf, -np.inf, np.nan, 1e9,
                     -1e9, 16777217.0, 1e-45], np.float32)
    x, y = (a.ravel() for a in np.meshgrid(vals, exps))
    got = call("powf", x, y)
    with np.errstate(all="ignore"):
        want = np.power(x.astype(np.float64), y.astype(np.float64)).astype(np.float32)
    nan = np.isnan(want)
    assert np.array_equal(np.isnan(got), nan), [(a, b, g, w) for a, b, g, w in zip(x, y, got, want)
                                                 if np.isnan(g) != np.isnan(w)]
    bad = [(a, b, g, w) for a, b, g, w in zip(x[~nan], y[~nan], got[~nan], want[~nan])
           if g.view(np.uint32) != w.view(np.uint32)]
    assert not bad, bad


if __name__ == "__main__":
    for name, err in sweeps().items():
        print(f"{name:11s} max relative error {err:.4f} eps ({err * float(np.finfo(np.float32).eps):.2e}); "
              f"allowed {ALLOWED} eps")
