"""Reading IDX files (the MNIST / Fashion-MNIST format), gzip-compressed or not."""

from __future__ import annotations

import zlib

import numpy as np

__all__ = ["_read_idx"]

# IDX type codes (third magic byte) -> big-endian numpy dtype.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _decompress(data, filename):
    """Inflate (possibly multi-member) gzip data, or return it unchanged."""
    if data[:2] != b"\x1f\x8b":
        return data  # an uncompressed IDX file is accepted too
    chunks = []
    try:
        while data:
            inflater = zlib.decompressobj(wbits=31)
            chunks.append(inflater.decompress(data))
            if not inflater.eof:
                raise ValueError(
                    f"Corrupt Fashion-MNIST file {filename!r}: the gzip stream is "
                    "truncated (the file is incomplete). Reinstall it, e.g. "
                    "`sudo apt-get install --reinstall dataset-fashion-mnist`."
                )
            data = inflater.unused_data
            if data.strip(b"\x00") == b"":  # trailing zero padding, as gzip allows
                break
    except zlib.error as exc:
        raise ValueError(
            f"Corrupt Fashion-MNIST file {filename!r}: cannot decompress the gzip "
            f"data ({exc}). Reinstall it, e.g. "
            "`sudo apt-get install --reinstall dataset-fashion-mnist`."
        ) from None
    return b"".join(chunks)


def _read_idx(filename):
    """Read one IDX file (gzip-compressed or not) into a native-endian array."""
    with open(filename, "rb") as f:
        raw = f.read()
    data = _decompress(raw, filename)

    def corrupt(reason):
        return ValueError(f"Corrupt IDX file {filename!r}: {reason}.")

    if len(data) < 4:
        raise corrupt(f"it holds only {len(data)} bytes, fewer than the 4-byte magic number")
    if data[0] != 0 or data[1] != 0:
        raise corrupt(
            f"bad magic number 0x{data[:4].hex()} (an IDX file starts with two zero bytes)"
        )
    type_code, ndim = data[2], data[3]
    if type_code not in _IDX_DTYPES:
        raise corrupt(f"unknown data type code 0x{type_code:02x} in the magic number")
    if ndim == 0:
        raise corrupt("the magic number declares 0 dimensions")
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise corrupt(f"the header of {header_size} bytes is truncated ({len(data)} bytes)")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[type_code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    found = len(data) - header_size
    if found < expected:
        raise corrupt(
            f"the header declares shape {shape} ({expected} data bytes) but only "
            f"{found} bytes follow, so the file is truncated"
        )
    if found > expected:
        raise corrupt(
            f"the header declares shape {shape} ({expected} data bytes) but "
            f"{found} bytes follow ({found - expected} unexpected trailing bytes)"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header_size).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=True)  # writable, native order
