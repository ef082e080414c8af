"""`python cli.py keygen -o KEY`: make a fresh AES-256 model key file (mode 0600).

Also the vendor side of device-key enrolment (runtime_ta/README.md, "Keys"):

    keygen --vendor -o DIR                                 vendor.pem (private), vendor_key.h (TA build:
                                                           make VENDOR_KEY=DIR/vendor_key.h), vendor_modulus.bin
    keygen --unwrap ENROLMENT --vendor-key vendor.pem -o KEY   the device key inside an enrolment
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UserError
from ..lower.keys import (generate_key, load_vendor_key, unwrap_device_key, write_key, write_vendor_key)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "keygen", help="make a fresh model key file (or the vendor key pair, or open an enrolment)",
        description="Write 32 random bytes (an AES-256 key) to a new file readable only by you. "
                    "Encrypt a model for it with `lower --key FILE` and provision it into the device "
                    "(see runtime_ta/README.md).  --vendor makes the vendor key pair a device-key TA is "
                    "built with; --unwrap opens a device's enrolment into its device key file.")
    parser.add_argument("-o", "--output", required=True, metavar="KEY", help="key file to create (--vendor: a "
                                                                              "directory)")
    parser.add_argument("--force", action="store_true", help="replace an existing key file")
    parser.add_argument("--vendor", action="store_true", help="make the vendor key pair in directory KEY")
    parser.add_argument("--unwrap", metavar="ENROLMENT", help="the wrapped key a device's enrolment returned")
    parser.add_argument("--vendor-key", metavar="PEM", help="the vendor private key (with --unwrap)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.vendor:
        if args.unwrap or args.vendor_key:
            raise UserError("--vendor makes a vendor key pair: it takes no --unwrap or --vendor-key")
        private, header, modulus = write_vendor_key(args.output)
        print(f"wrote the vendor key pair: {private} (private: keep it off devices), {header} (build the TA "
              f"with make VENDOR_KEY={header}), {modulus}")
        return 0
    if args.unwrap:
        if not args.vendor_key:
            raise UserError("--unwrap needs --vendor-key PEM (the private key of `keygen --vendor`)")
        wrapped = Path(args.unwrap)
        if not wrapped.is_file():
            raise UserError(f"enrolment file {wrapped} does not exist")
        key = unwrap_device_key(load_vendor_key(args.vendor_key), wrapped.read_bytes())
        path = write_key(args.output, key, overwrite=args.force)
        print(f"wrote the device key to {path}")
        return 0
    path = write_key(args.output, generate_key(), overwrite=args.force)
    print(f"wrote a 256-bit key to {path}")
    return 0
