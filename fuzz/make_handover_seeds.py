#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""Writes the seed inputs of the handover_messages fuzz target (fuzz/seeds/handover_messages/)
in its input layout (fuzz_targets/handover_messages.rs): two criteria bytes, then records
`op, len, payload`. The seeds drive whole handovers (messages made by the endpoints themselves)
and carry hand-encoded messages of every kind for the byte-level ops.

    python3 fuzz/make_handover_seeds.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "seeds", "handover_messages")


def rec(op, payload=b""):
    return bytes([op, len(payload)]) + payload


def frame(n, key=False):
    # A big-endian i64 frame, then a flags byte (bit 0: keyframe).
    return struct.pack(">qB", n, 1 if key else 0)


def deliver():
    return rec(5)


def message(kind, role, body, txn=1):
    return b"LKHO" + bytes([1, kind, role]) + struct.pack(">HQ", len(body), txn) + body


def sync(first, last, key, earliest, caps=False):
    flags = 1 | (2 if key is not None else 0) | (4 if earliest is not None else 0) | (8 if caps else 0)
    body = bytes([flags]) + struct.pack(">qq", first, last)
    if key is not None:
        body += struct.pack(">q", key)
    if earliest is not None:
        body += struct.pack(">q", earliest)
    return body


def happy(delay, alignment, miss=False):
    # Both encoders run; the updated one is intra-only here (every frame a keyframe), so the agreed
    # frame is one. After each frame the switch happens if the agreed frame was reached (an empty
    # op-6 payload); with `miss` the switching core first reports the scheduled switch as failed
    # (an empty op-7 payload, once).
    seed = bytes([delay, alignment]) + deliver()
    for i, n in enumerate(range(100, 100 + delay + alignment + 80)):
        seed += rec(2, frame(n)) + rec(3, frame(n, key=True)) + deliver() + deliver()
        if miss and i == 8:
            seed += rec(7) + deliver() + deliver()
        seed += rec(6) + deliver() + deliver() + rec(4, b"\x01")
    return seed


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {
        "happy": happy(10, 5),
        "happy_aligned": happy(0, 25),
        "missed": happy(3, 0, miss=True),
        "abort": bytes([0, 0]) + deliver() + rec(2, frame(7)) + rec(3, frame(7)) + deliver() + rec(8, b"\x00") + deliver(),
        "second_request": bytes([0, 0]) + deliver() + rec(9) + deliver() + deliver(),
        "timeouts": bytes([0, 0]) + b"".join(rec(4, b"\xff") for _ in range(8)),
    }
    raw = bytes([5, 10])
    raw += rec(0, message(1, 1, struct.pack(">II", 5, 10)))
    raw += rec(0, message(2, 1, sync(90, 100, 95, 110, caps=True)))
    raw += rec(1, message(2, 0, sync(0, 100, None, 103)))
    raw += rec(1, message(3, 0, struct.pack(">Iq", 1, 110)))
    raw += rec(0, message(4, 1, struct.pack(">Iq", 1, 110)))
    raw += rec(0, message(5, 1, struct.pack(">IqB", 1, 120, 1)))
    raw += rec(1, message(6, 0, struct.pack(">Iq", 1, 110)))
    raw += rec(0, message(7, 1, struct.pack(">IqB", 1, 110, 1) + sync(90, 111, 95, 114)))
    raw += rec(1, message(8, 0, struct.pack(">IqB", 1, 109, 0)))
    raw += rec(0, message(8, 1, struct.pack(">IqB", 1, 110, 1)))
    raw += rec(1, message(9, 0, bytes([6, 5])))
    seeds["raw_messages"] = raw
    for name, data in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
