#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""Writes the small seed inputs of the fuzz targets (fuzz/seeds/<target>/) from the timecode
fixtures: the first access units of a stream with every slice cut to a few bytes (the readers
only look at a slice's first header fields), in the input layout of fuzz_targets/common.rs:
one selector byte, then chunks separated by b"!AU!".

    python3 fuzz/make_seeds.py [tests/data/timecode]
"""
import os
import re
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "tests", "data", "timecode")
SEP = b"!AU!"
SLICE_KEEP = 12


def nal_units(data):
    starts = [m.end() for m in re.finditer(b"\x00\x00\x01", data)]
    out = []
    for i, s in enumerate(starts):
        end = starts[i + 1] - 3 if i + 1 < len(starts) else len(data)
        out.append(data[s:end].rstrip(b"\x00"))
    return out


def h264_type(n):
    return n[0] & 0x1F


def h265_type(n):
    return (n[0] >> 1) & 0x3F


def access_units(nals, is_vcl, first_slice, is_prefix, is_aud):
    aus, cur, seen = [], [], False
    for n in nals:
        begins = is_aud(n) or (seen and (is_prefix(n) or (is_vcl(n) and first_slice(n))))
        if begins and cur:
            aus.append(cur)
            cur, seen = [], False
        if is_vcl(n):
            seen = True
            n = n[:SLICE_KEEP]
        cur.append(n)
    if cur:
        aus.append(cur)
    return aus


def h264_aus(data):
    return access_units(
        nal_units(data),
        lambda n: h264_type(n) in (1, 5),
        lambda n: n[1] & 0x80,
        lambda n: h264_type(n) in (6, 7, 8),
        lambda n: h264_type(n) == 9,
    )


def h265_aus(data):
    return access_units(
        nal_units(data),
        lambda n: h265_type(n) < 32,
        lambda n: n[2] & 0x80,
        lambda n: h265_type(n) in (32, 33, 34, 39),
        lambda n: h265_type(n) == 35,
    )


def annex_b(au):
    return b"".join(b"\x00\x00\x00\x01" + n for n in au)


def length_prefixed(au, size_len=4):
    return b"".join(len(n).to_bytes(size_len, "big") + n for n in au)


def avcc(sps, pps):
    out = bytearray([1, sps[0][1], sps[0][2], sps[0][3], 0xFF, 0xE0 | len(sps)])
    for n in sps:
        out += struct.pack(">H", len(n)) + n
    out.append(len(pps))
    for n in pps:
        out += struct.pack(">H", len(n)) + n
    return bytes(out)


def hvcc(arrays):
    out = bytearray([1, 0x01, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 60, 0xF0, 0, 0xFC, 0xFD, 0xF8, 0xF8, 0, 0, 0x0F])
    out.append(len(arrays))
    for t, nals in arrays:
        out += bytes([0x80 | t]) + struct.pack(">H", len(nals))
        for n in nals:
            out += struct.pack(">H", len(n)) + n
    return bytes(out)


def write(target, name, data):
    d = os.path.join(HERE, "seeds", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    for fname in sorted(os.listdir(FIXTURES)):
        path = os.path.join(FIXTURES, fname)
        stem = fname.rsplit(".", 1)[0]
        if fname.endswith(".h264"):
            aus = h264_aus(open(path, "rb").read())[:3]
            write("h264_access_unit", stem + "_annexb", b"\x00" + SEP.join(annex_b(a) for a in aus))
            write("h264_access_unit", stem + "_avc4", b"\x03" + SEP.join(length_prefixed(a) for a in aus))
            sps = [n for n in aus[0] if h264_type(n) == 7]
            pps = [n for n in aus[0] if h264_type(n) == 8]
            rest = [[n for n in a if h264_type(n) not in (7, 8)] for a in aus]
            write("codec_data", stem + "_avcc",
                  b"\x00" + SEP.join([avcc(sps, pps)] + [length_prefixed(a) for a in rest]))
        elif fname.endswith(".h265"):
            aus = h265_aus(open(path, "rb").read())[:3]
            write("h265_access_unit", stem + "_annexb", b"\x00" + SEP.join(annex_b(a) for a in aus))
            write("h265_access_unit", stem + "_hvc4", b"\x03" + SEP.join(length_prefixed(a) for a in aus))
            arrays = [(t, [n for n in aus[0] if h265_type(n) == t]) for t in (32, 33, 34)]
            rest = [[n for n in a if h265_type(n) not in (32, 33, 34)] for a in aus]
            write("codec_data", stem + "_hvcc",
                  b"\x01" + SEP.join([hvcc(arrays)] + [length_prefixed(a) for a in rest]))


if __name__ == "__main__":
    main()
