#!/usr/bin/python3
"""Writes reference.safetensors, the cross-check file of reference_test.go.

The values come from libraries independent of gotrain: numpy rounds float32
to float16 and widens float16 to float32; torch rounds float32 to bfloat16
and widens it back. The Hugging Face `safetensors` package is not available
from Debian, so the file itself is laid out here by hand, following the
spec: u64 little-endian header length, JSON header padded with spaces to 8
bytes, then the data. It deliberately differs from gotrain's writer in ways
the spec allows (json.dumps spacing, header keys in another order than the
data, data not sorted by dtype), so the reader is tested on a layout it did
not produce.

Run from this folder:  /usr/bin/python3 gen_reference.py
Needs Debian's python3-numpy and python3-torch.
"""
import json
import struct

import numpy as np
import torch

rng = np.random.default_rng(20240601)


def f32(bits):
    return np.array(bits, dtype=np.uint32).view(np.float32)


def midpoints16(bits16, widen):
    """float32 midpoints between consecutive 16-bit values, and 1 ulp either side."""
    lo = widen(np.array(bits16, dtype=np.uint16)).astype(np.float64)
    hi = widen(np.array(bits16, dtype=np.uint16) + 1).astype(np.float64)
    mid = ((lo + hi) / 2).astype(np.float32)  # exact: 12 or 9 significant bits
    ok = np.isfinite(mid)
    mid = mid[ok]
    up = np.nextafter(mid, np.float32(np.inf))
    down = np.nextafter(mid, np.float32(-np.inf))
    return np.concatenate([mid, up, down])


def widen_f16(b):
    return b.view(np.float16).astype(np.float32)


def widen_bf16(b):
    return (b.astype(np.uint32) << 16).view(np.float32)


specials = np.array([
    0.0, -0.0, np.inf, -np.inf, 1.0, -1.0, 0.1, 1 / 3,
    65504.0, 65519.99, 65520.0, -65520.0, 70000.0,  # float16 max, tie to Inf
    2.0**-24, 2.0**-25, 2.0**-25 * (1 + 2.0**-23), 2.0**-26, 2.0**-14, 2.0**-15 * 3,
    3.3895313892515355e38, 3.4028234663852886e38,  # bfloat16 max, float32 max
], dtype=np.float32)
specials = np.concatenate([
    specials,
    f32([0x00000001, 0x807fffff, 0x00800000, 0x7f7fffff, 0xff7fffff,
         0x3f808000, 0x3f818000, 0x3f808001, 0x3f817fff]),  # subnormals, bf16 ties
])
# A quiet NaN last: values compared by NaN-ness only.
nan = np.array([np.nan], dtype=np.float32)
h_bits = rng.integers(0, 0x7bff, size=150)
b_bits = rng.integers(0, 0x7f7f, size=150)
rand = (rng.standard_normal(300) * 10.0 ** rng.integers(-9, 6, size=300)).astype(np.float32)
src = np.concatenate([
    specials,
    midpoints16(h_bits, widen_f16), -midpoints16(h_bits, widen_f16)[:100],
    midpoints16(b_bits, widen_bf16), -midpoints16(b_bits, widen_bf16)[:100],
    rand, nan,
]).astype(np.float32)

with np.errstate(over="ignore"):  # values past 65504 become Inf, as intended
    as_f16 = src.astype(np.float16)
bf = torch.from_numpy(src.copy()).to(torch.bfloat16)
as_bf16 = bf.view(torch.int16).numpy().view(np.uint16)
as_bf16_wide = bf.to(torch.float32).numpy()

# Every subnormal float16, then every 31st bit pattern, and all NaN/Inf ones
# at the top: widened by numpy.
table = np.unique(np.concatenate([
    np.arange(0, 0x400), np.arange(0, 0x10000, 31), np.arange(0x7c00, 0x7c08),
    np.arange(0xfbf0, 0xfc10), [0x7e00, 0xfe00, 0x7fff, 0xffff],
])).astype(np.uint16)

tensors = [  # data order: by name, not by dtype
    ("as_bf16", "BF16", [len(src)], as_bf16.astype("<u2").tobytes()),
    ("as_bf16_widened", "F32", [len(src)], as_bf16_wide.astype("<f4").tobytes()),
    ("as_f16", "F16", [len(src)], as_f16.astype("<f2").tobytes()),
    ("as_f16_widened", "F32", [len(src)], as_f16.astype(np.float32).astype("<f4").tobytes()),
    ("empty", "F32", [0, 4], b""),
    ("f16_table", "F16", [len(table)], table.astype("<u2").tobytes()),
    ("f16_table_widened", "F32", [len(table)], table.view(np.float16).astype("<f4").tobytes()),
    ("i32", "I32", [2, 3], np.array([[1, -2, 3], [2**31 - 1, -2**31, 0]], dtype="<i4").tobytes()),
    ("i64", "I64", [3], np.array([2**63 - 1, -2**63, -1], dtype="<i8").tobytes()),
    ("scalar", "F32", [], np.array(2.5, dtype="<f4").tobytes()),
    ("src", "F32", [len(src)], src.astype("<f4").tobytes()),
    ("u8", "U8", [5], bytes([0, 1, 127, 128, 255])),
]
header = {}
data = b""
for name, dtype, shape, raw in tensors:
    header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
    data += raw
header = dict(reversed(list(header.items())))
header["__metadata__"] = {"format": "pt", "source": "gen_reference.py"}
hb = json.dumps(header).encode()
hb += b" " * (-len(hb) % 8)
with open("reference.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(hb)) + hb + data)
print(f"reference.safetensors: {len(src)} source values, {len(table)} float16 patterns, {8 + len(hb) + len(data)} bytes")
