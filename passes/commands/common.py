"""Options and output helpers shared by the CLI commands."""
from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ..analysis.shapes import parse_input_shapes
from ..errors import UserError


def _probe_writable(path: Path, option: str) -> None:
    """The directory `path` would be created in (its nearest existing ancestor) takes new files; nothing
    is left behind."""
    directory = path
    while not directory.exists() and directory != directory.parent:
        directory = directory.parent
    if not directory.is_dir():
        raise UserError(f"{option} {path}: {directory} is not a directory")
    try:
        fd, name = tempfile.mkstemp(prefix=".onnx-tee-probe-", dir=directory)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        raise UserError(f"{option} {path}: cannot write in {directory} ({exc.strerror})") from None


def check_output_file(path: str | Path, option: str = "-o") -> Path:
    """Before any work: `path` can be written as a file (not a directory; its directory exists or can be
    made, and is writable).  Creates nothing; a clear UserError otherwise."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{option} {path} is a directory: give a file name")
    _probe_writable(path.parent, option)
    return path


def check_output_dir(path: str | Path, option: str = "-o") -> Path:
    """Before any work: `path` is (or can be made) a writable directory.  Creates nothing; a clear
    UserError otherwise."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{option} {path} exists and is not a directory: give a directory")
    _probe_writable(path, option)
    return path


def add_input_shape_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input-shape", action="append", default=[], metavar="NAME:D1,D2,...",
                        help="fix a graph input's shape, e.g. data_0:1,3,224,224 (repeat for several inputs)")


def input_shapes(args: argparse.Namespace) -> dict[str, tuple[int, ...]]:
    return parse_input_shapes(args.input_shape)


def console() -> Console:
    """Rich console for tables; wide enough that tensor names are not folded when piped."""
    return Console(width=max(Console().width, 120), highlight=False)


def table(title: str, columns: list[str], rows: list[list], *, right: set[int] = frozenset()) -> Table:
    """A rich table; columns whose index is in `right` are right-aligned (numbers)."""
    result = Table(title=title, title_justify="left")
    for index, column in enumerate(columns):
        result.add_column(column, justify="right" if index in right else "left")
    for row in rows:
        result.add_row(*[str(cell) for cell in row])
    return result


def profile_table(title: str, profile: dict):
    """The by-op-type rows of a profile (`Profile.to_json()`) and the time outside the ops, as a table."""
    compute = profile["compute_s"] or 1.0
    rows = [[r["key"], r["calls"], f"{r['seconds'] * 1e3:.3f}", f"{100 * r['seconds'] / compute:.1f}",
             f"{r['macs'] / 1e6:.1f}"] for r in profile["by_type"]]
    for label, key in (("revalidation", "revalidate_s"), ("body wipe", "wipe_s"), ("other", "other_s")):
        value = profile.get(key, 0.0)
        rows.append([label, "", f"{value * 1e3:.3f}", f"{100 * value / compute:.1f}", ""])
    return table(title, ["op type", "calls", "ms", "% of compute", "MMACs"], rows, right={1, 2, 3, 4})


def format_count(value: int) -> str:
    """`25.6 M`, `4.09 G`, `980 k`, `12`."""
    for factor, unit, digits in ((1e9, "G", 2), (1e6, "M", 1), (1e3, "k", 1)):
        if value >= factor:
            return f"{value / factor:.{digits}f} {unit}"
    return str(value)
