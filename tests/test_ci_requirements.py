"""require_tool(): a missing tool skips a test locally and fails it under CI (CI=true)."""
import pytest

from conftest import in_ci, require_tool

MISSING = "no-such-tool-onnx-tee-xyz"


def test_present_tool_is_found():
    assert require_tool("sh").endswith("/sh")


def test_missing_tool_skips_locally(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    assert not in_ci()
    with pytest.raises(pytest.skip.Exception, match=MISSING):
        require_tool(MISSING)


@pytest.mark.parametrize("value", ["true", "1"])
def test_missing_tool_fails_under_ci(monkeypatch, value):
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        require_tool(MISSING, "apt-get install it")
