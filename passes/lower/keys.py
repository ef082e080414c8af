"""Model keys: 32 random bytes (AES-256), kept in a file only its owner can read; the vendor key pair.

A key file holds exactly the 32 raw key bytes.  `keygen` makes one; `lower --key FILE` encrypts
a model's partitions for it; the device gets the same key either by one-time provisioning into
TEE secure storage, or the model is encrypted for the key the TA derives from the device's
hardware-unique key (see runtime_ta/README.md, "Keys").

The device-bound key leaves the TA only wrapped for the vendor: RSA-OAEP (SHA-256, MGF1-SHA-256, empty
label) under a 3072-bit vendor key whose public half is built into the TA (`keygen --vendor` writes the
private key and the C header the TA build takes; `unwrap_device_key` opens an enrolment).
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ..errors import UserError

KEY_BYTES = 32
VENDOR_KEY_BITS = 3072           # OT_VENDOR_KEY_BITS
WRAPPED_BYTES = VENDOR_KEY_BITS // 8


def generate_key() -> bytes:
    """A fresh AES-256 key from the operating system's CSPRNG."""
    return os.urandom(KEY_BYTES)


def write_key(path: str | Path, key: bytes, *, overwrite: bool = False) -> Path:
    """Write `key` to `path` with mode 0600; refuse to replace an existing key unless asked."""
    if len(key) != KEY_BYTES:
        raise UserError(f"a key has {KEY_BYTES} bytes, got {len(key)}")
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path} is a directory: give a file name for the key")
    if not path.parent.exists():
        raise UserError(f"directory {path.parent} does not exist")
    if path.is_symlink():
        raise UserError(f"{path} is a symbolic link: refusing to write a key through it")
    if overwrite and path.exists():
        # replace, never truncate in place: a new file beside it (O_EXCL, so nothing planted there is
        # followed), then an atomic rename over the old name
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        _write_new(tmp, key)
        os.replace(tmp, path)
        return path
    try:
        _write_new(path, key)
    except FileExistsError:
        raise UserError(f"{path} already exists: refusing to overwrite a key (use --force)") from None
    return path


def _write_new(path: Path, data: bytes) -> None:
    """Create `path` (it must not exist, not even as a dangling link) with mode 0600 and write `data`."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def key_in_output_dir(path: str | Path) -> bytes | None:
    """The key `lower` uses when no --key is given: an existing valid key file at `path` (so a rebuild stays
    decryptable with the key already provisioned), else None (a new key is made and written there with
    `write_key`, which never replaces a file).  Never reads through a symbolic link."""
    path = Path(path)
    if path.is_symlink():
        raise UserError(f"{path} is a symbolic link: refusing to read or write a key through it "
                        f"(remove it, or give --key FILE)")
    if not path.exists():
        return None
    if not path.is_file():
        raise UserError(f"{path} exists and is not a key file (remove it, or give --key FILE)")
    try:
        return load_key(path)
    except UserError as err:
        raise UserError(f"{err}; refusing to replace it (remove it, or give --key FILE)") from None


def load_key(path: str | Path) -> bytes:
    """Read a key file written by `write_key`; a clear UserError if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"key file {path} does not exist (make one with `python cli.py keygen -o {path}`)")
    size = path.stat().st_size
    if size != KEY_BYTES:
        raise UserError(f"{path} is not a key file: it has {size} bytes, a key has {KEY_BYTES}")
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise UserError(f"key file {path} is readable by others: run `chmod 600 {path}`")
    return path.read_bytes()


# ---- the vendor key pair (device-key enrolment) ------------------------------------------------

def generate_vendor_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=VENDOR_KEY_BITS)


def vendor_modulus(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> bytes:
    """The public modulus, big-endian, as the TA build takes it (exponent 65537)."""
    public = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    numbers = public.public_numbers()
    if numbers.e != 65537 or public.key_size != VENDOR_KEY_BITS:
        raise UserError(f"a vendor key is RSA-{VENDOR_KEY_BITS} with exponent 65537")
    return numbers.n.to_bytes(WRAPPED_BYTES, "big")


def vendor_key_header(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> str:
    """The C header the TA build includes (make VENDOR_KEY=vendor_key.h)."""
    data = vendor_modulus(key)
    rows = ",\n".join("\t" + ", ".join(f"0x{b:02x}" for b in data[i:i + 12]) for i in range(0, len(data), 12))
    return ("/* The vendor's RSA-3072 public key (exponent 65537) the device key is wrapped for at enrolment.\n"
            " * Written by `onnx-tee keygen --vendor`. */\n"
            f"static const uint8_t ot_vendor_modulus[{len(data)}] = {{\n{rows}\n}};\n")


def write_vendor_key(out_dir: str | Path) -> tuple[Path, Path, Path]:
    """Create `vendor.pem` (the private key, 0600), `vendor_key.h` (for the TA build) and
    `vendor_modulus.bin` (for the simulator) in `out_dir`; refuses to replace any of them."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise UserError(f"{out_dir} is not a directory")
    paths = out_dir / "vendor.pem", out_dir / "vendor_key.h", out_dir / "vendor_modulus.bin"
    for path in paths:
        if path.exists() or path.is_symlink():
            raise UserError(f"{path} already exists: refusing to replace a vendor key")
    key = generate_vendor_key()
    _write_new(paths[0], key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    _write_new(paths[1], vendor_key_header(key).encode())
    _write_new(paths[2], vendor_modulus(key))
    return paths


def load_vendor_key(path: str | Path) -> rsa.RSAPrivateKey:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"vendor key {path} does not exist (make one with `keygen --vendor -o DIR`)")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError):
        raise UserError(f"{path} is not an unencrypted PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise UserError(f"{path} is not an RSA key")
    vendor_modulus(key)
    return key


def unwrap_device_key(vendor_key: rsa.RSAPrivateKey, wrapped: bytes) -> bytes:
    """The device key inside an enrolment (OT_CMD_ENROL_DEVICE's output)."""
    if len(wrapped) != WRAPPED_BYTES:
        raise UserError(f"an enrolment has {WRAPPED_BYTES} bytes, got {len(wrapped)}")
    try:
        key = vendor_key.decrypt(wrapped, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(),
                                                       label=None))
    except ValueError:
        raise UserError("the enrolment does not open with this vendor key (another vendor key, or altered)") from None
    if len(key) != KEY_BYTES:
        raise UserError("the enrolment does not hold a 32-byte key")
    return key
