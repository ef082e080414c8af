"""`python cli.py keygen -o KEY`: make a fresh AES-256 model key file (mode 0600)."""
from __future__ import annotations

import argparse

from ..lower.keys import generate_key, write_key


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "keygen", help="make a fresh model key file",
        description="Write 32 random bytes (an AES-256 key) to a new file readable only by you. "
                    "Encrypt a model for it with `lower --key FILE` and provision it into the device "
                    "(see runtime_ta/README.md).")
    parser.add_argument("-o", "--output", required=True, metavar="KEY", help="key file to create")
    parser.add_argument("--force", action="store_true", help="replace an existing key file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    path = write_key(args.output, generate_key(), overwrite=args.force)
    print(f"wrote a 256-bit key to {path}")
    return 0
