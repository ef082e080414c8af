"""Human sizes: `8MiB`, `512KiB`, `1.5MB`, plain bytes."""
from __future__ import annotations

import re

from .errors import UserError

_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3, "gb": 1000**3,
          "kib": 1024, "mib": 1024**2, "gib": 1024**3}


def parse_size(text: str | int) -> int:
    """Parse a byte size such as `8MiB`, `512KiB`, `1048576`; raise UserError otherwise."""
    if isinstance(text, int):
        if text <= 0:
            raise UserError(f"size must be positive, got {text}")
        return text
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", str(text))
    unit = match.group(2).lower() if match else None
    if not match or unit not in _UNITS:
        raise UserError(f"'{text}' is not a size: use e.g. 8MiB, 512KiB or a number of bytes")
    value = int(float(match.group(1)) * _UNITS[unit])
    if value <= 0:
        raise UserError(f"size must be positive, got '{text}'")
    return value


def format_size(nbytes: int) -> str:
    """Format a byte count for humans: `8.00 MiB`, `512.0 KiB`, `100 B`."""
    if nbytes >= 1024**3:
        return f"{nbytes / 1024**3:.2f} GiB"
    if nbytes >= 1024**2:
        return f"{nbytes / 1024**2:.2f} MiB"
    if nbytes >= 1024:
        return f"{nbytes / 1024:.1f} KiB"
    return f"{nbytes} B"
