#!/usr/bin/env python3
"""Writes the seed corpus of FuzzReadIDX and FuzzReadCIFAR (Go's corpus format).

Run from this directory: python3 gen_corpus.py
"""
import gzip
import os
import struct


def idx(dims, data, typ=0x08):
    return bytes([0, 0, typ, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + bytes(data)


def cifar(label, seed):
    return bytes([label]) + bytes((seed + i) % 256 for i in range(3072))


def write(fuzzer, name, data):
    os.makedirs(fuzzer, exist_ok=True)
    lit = "".join("\\x%02x" % b for b in data)
    with open(os.path.join(fuzzer, name), "w") as f:
        f.write('go test fuzz v1\n[]byte("%s")\n' % lit)


def gz(b):
    return gzip.compress(b, mtime=0)


good = idx([3, 2, 2], range(12))
write("FuzzReadIDX", "valid_raw", good)
write("FuzzReadIDX", "valid_gzip", gz(good))
write("FuzzReadIDX", "labels", idx([5], [0, 9, 3, 3, 1]))
write("FuzzReadIDX", "truncated", good[:-3])
write("FuzzReadIDX", "trailing", good + b"\x07")
write("FuzzReadIDX", "bad_magic", b"\x01\x02\x08\x01\x00\x00\x00\x01\x05")
write("FuzzReadIDX", "huge_claim", idx([1 << 14, 1 << 16], range(20)))
write("FuzzReadIDX", "huge_claim_gzip", gz(idx([1 << 15, 1 << 15], range(20))))
write("FuzzReadIDX", "over_limit", idx([1 << 16, 1 << 16], []))
write("FuzzReadIDX", "float_type", idx([2], [0] * 8, typ=0x0D))
write("FuzzReadIDX", "gzip_cut", gz(good)[:-4])

write("FuzzReadCIFAR", "one_record", cifar(3, 0))
write("FuzzReadCIFAR", "two_records", cifar(9, 1) + cifar(0, 2))
write("FuzzReadCIFAR", "bad_label", cifar(10, 0))
write("FuzzReadCIFAR", "short", cifar(1, 0)[:100])
write("FuzzReadCIFAR", "extra_bytes", cifar(2, 0) + b"\x01\x02")
write("FuzzReadCIFAR", "empty", b"")
