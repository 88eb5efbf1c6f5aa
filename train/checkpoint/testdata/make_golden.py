#!/usr/bin/env python3
"""Writes golden.safetensors and golden_expected.json with the standard
library only (struct + json), as an implementation of the safetensors format
independent of the Go reader it checks.

The tensors are laid out in a deliberately unaligned, non-alphabetical order
and the header carries a __metadata__ entry, as files from other writers may.
golden_expected.json gives, for each tensor, its dtype, shape and the bit
pattern of every element (hex strings, so NaN payloads and -0 are exact).

Run from this directory: python3 make_golden.py
"""
import json
import struct


def f32_bits(x):
    return struct.unpack('<I', struct.pack('<f', x))[0]


def f64_bits(x):
    return struct.unpack('<Q', struct.pack('<d', x))[0]


tensors = [
    # name, dtype, shape, element bit patterns
    ("scalar", "F32", [], [f32_bits(1.5)]),
    ("layer0.weight", "F32", [2, 3],
     [f32_bits(0.1 * i - 0.2) for i in range(5)] + [0x7FC00123]),  # quiet NaN with payload
    ("adam.m", "F64", [2, 1, 2],
     [f64_bits(-0.0), f64_bits(5e-324), f64_bits(1.7976931348623157e308), f64_bits(-1e-5)]),
    ("bias", "F64", [3], [f64_bits(1.0 / 3.0), f64_bits(-2.5e-300), f64_bits(float("inf"))]),
]

header = {"__metadata__": {"format": "pt", "writer": "make_golden.py"}}
data = b""
for name, dtype, shape, bits in tensors:
    fmt = "<%d%s" % (len(bits), "I" if dtype == "F32" else "Q")
    raw = struct.pack(fmt, *bits)
    header[name] = {"dtype": dtype, "shape": shape,
                    "data_offsets": [len(data), len(data) + len(raw)]}
    data += raw

hdr = json.dumps(header).encode()
with open("golden.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(hdr)))
    f.write(hdr)
    f.write(data)

expected = {name: {"dtype": dtype, "shape": shape, "bits": ["0x%x" % b for b in bits]}
            for name, dtype, shape, bits in tensors}
with open("golden_expected.json", "w") as f:
    json.dump(expected, f, indent=1, sort_keys=True)
    f.write("\n")
