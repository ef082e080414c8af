"""The two hypothesis tests a kernel differential module runs over its checks.

A check is a function of hypothesis' `data` that draws a case and compares the C kernel with
onnxruntime on it.  Every module gets a fixed (derandomized) sample of each check in the default run
and a larger random one under the `slow` marker:

    CHECKS = checks_by_name(check_conv, check_gemm)
    test_kernel_matches_onnxruntime, test_kernel_matches_onnxruntime_many = differential_tests(CHECKS, 15, 300)
"""
from __future__ import annotations

from typing import Callable

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

SUPPRESS = [HealthCheck.filter_too_much, HealthCheck.too_slow, HealthCheck.data_too_large]


def checks_by_name(*checks: Callable) -> dict[str, Callable]:
    """{"conv": check_conv, ...}: the test ids."""
    return {f.__name__.removeprefix("check_"): f for f in checks}


def differential_tests(checks: dict[str, Callable], examples: int, slow_examples: int) -> tuple[Callable, Callable]:
    """(the default-run test: `examples` derandomized cases per check, the slow test: `slow_examples`
    random ones)."""
    @pytest.mark.parametrize("name", list(checks))
    @settings(max_examples=examples, deadline=None, suppress_health_check=SUPPRESS, derandomize=True)
    @given(data=st.data())
    def sample(name, data):
        checks[name](data)

    @pytest.mark.slow
    @pytest.mark.parametrize("name", list(checks))
    @settings(max_examples=slow_examples, deadline=None, suppress_health_check=SUPPRESS)
    @given(data=st.data())
    def many(name, data):
        checks[name](data)

    return sample, many
