#!/usr/bin/env python3
"""Writes a zip quine: a zip archive whose one member, NAME, is the archive itself, byte for byte.

Usage: zip_quine.py OUT NAME

The construction is Russ Cox's ("Zip Files All The Way Down", 2010), written here from his
description. A deflate stream is a program of two instructions, each encoded as exactly K bytes
so that an instruction can also be data:

  L n   a stored block: print the next n bytes of the stream literally;
  R n   a fixed-Huffman block holding one copy of length n from distance n (print the last n
        bytes printed again), padded to a byte boundary with empty blocks.

The program below prints its prefix P (the local file header), then itself, then its suffix S
(the central directory and its end record): the member's data inflates to P + data + S, which is
the whole file. The CRC-32 of the file is written in P and S (and so twice more inside the data,
which holds them as literals): CRC-32 is affine over GF(2), so the value that is its own checksum
is found by solving a 32x32 linear system.
"""

import functools
import struct
import sys
import zlib

LENGTH_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83,
               99, 115, 131, 163, 195, 227, 258]
LENGTH_EXTRA = [0] * 8 + [1] * 4 + [2] * 4 + [3] * 4 + [4] * 4 + [5] * 4 + [0]
DIST_BASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769]
DIST_EXTRA = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8]


class Bits:
    """A deflate bit writer: fields least significant bit first, Huffman codes most first."""

    def __init__(self):
        self.out = bytearray()
        self.acc = 0
        self.count = 0

    def put(self, value, width):
        self.acc |= value << self.count
        self.count += width
        while self.count >= 8:
            self.out.append(self.acc & 0xFF)
            self.acc >>= 8
            self.count -= 8

    def code(self, code, width):
        self.put(int(format(code, f"0{width}b")[::-1], 2), width)

    def align(self):
        if self.count:
            self.put(0, 8 - self.count)

    def done(self):
        assert self.count == 0, "an instruction must end on a byte boundary"
        return bytes(self.out)


def empty_fixed_block(bits):
    bits.put(0, 1)  # not final
    bits.put(1, 2)  # fixed Huffman codes
    bits.code(0, 7)  # end of block (symbol 256)


def stored_block(bits, length, final=False):
    bits.put(1 if final else 0, 1)
    bits.put(0, 2)  # stored
    bits.align()
    bits.put(length, 16)
    bits.put(length ^ 0xFFFF, 16)


def copy(bits, length, distance):
    symbol = max(i for i, base in enumerate(LENGTH_BASE) if base <= length)
    code = 257 + symbol
    if code < 280:
        bits.code(code - 256, 7)
    else:
        bits.code(0xC0 + code - 280, 8)
    bits.put(length - LENGTH_BASE[symbol], LENGTH_EXTRA[symbol])
    d = max(i for i, base in enumerate(DIST_BASE) if base <= distance)
    bits.code(d, 5)
    bits.put(distance - DIST_BASE[d], DIST_EXTRA[d])


@functools.cache
def literal(n, k):
    """L n in exactly k bytes: empty blocks before the stored block's header pad it out."""
    for stored in range(3):
        for fixed in range(8):
            bits = Bits()
            for _ in range(stored):
                stored_block(bits, 0)
            for _ in range(fixed):
                empty_fixed_block(bits)
            stored_block(bits, n)
            out = bits.done()
            if len(out) == k:
                return out
    return None


def splits(n):
    """Ways to cut a copy of n bytes into one, two or three copies of 3 to 258 bytes."""
    if n <= 258:
        yield [n]
    for a in range(3, n - 2):
        if n - a <= 258 and a <= 258:
            yield [a, n - a]
    for a in range(3, 40):
        for b in range(3, 40):
            if 3 <= n - a - b <= 258:
                yield [a, b, n - a - b]


@functools.cache
def repeat(n, k, final=False):
    """R n in exactly k bytes: the copy, cut into pieces and followed by empty blocks as needed
    for the length, then an empty stored block, which ends on a byte boundary (and is the
    stream's final block when `final`)."""
    for pieces in splits(n):
        for fixed in range(4):
            bits = Bits()
            bits.put(0, 1)
            bits.put(1, 2)
            for piece in pieces:
                copy(bits, piece, n)
            bits.code(0, 7)
            for _ in range(fixed):
                empty_fixed_block(bits)
            stored_block(bits, 0, final)
            out = bits.done()
            if len(out) == k:
                return out
    return None


def program(prefix, suffix, k):
    """The deflate stream that prints prefix + itself + suffix, or None if some instruction
    does not fit in k bytes."""
    p, s = len(prefix), len(suffix)
    L = lambda n: literal(n, k)  # noqa: E731
    R = lambda n, final=False: repeat(n, k, final)  # noqa: E731
    ops = [
        # Print P and this first L: the output is now P + the first k bytes of the stream.
        L(p + k), prefix, L(p + k),
        # Print them again: that is the literal data just read.
        R(p + k),
        # Print that R, then the L before it, then the four instructions of the next line.
        L(k), R(p + k),
        L(k), L(k),
        L(4 * k), R(p + k), L(k), L(k), L(4 * k),
        R(4 * k),
        # The self-reproducing core: from one R not yet printed to one L printed ahead.
        L(4 * k), R(4 * k), L(4 * k), R(4 * k), L(4 * k),
        R(4 * k),
        L(4 * k), R(4 * k), L(0), L(0), L(s + k),
        R(4 * k),
        L(0), L(0),
        # Print the last R and S, then both again: the last R, and S after the stream.
        L(s + k), R(s + k, True), suffix,
        R(s + k, True),
    ]
    if any(op is None for op in ops):
        return None
    return b"".join(ops)


def solve_crc(build):
    """The c with crc32(build(c)) == c: build places c at fixed places, so the checksum is
    affine in c's bits; solve (A + I) c = crc32(build(0)) over GF(2)."""
    base = zlib.crc32(build(0))
    rows = []  # each row: (coefficient mask over c's 32 bits, right-hand bit)
    columns = [zlib.crc32(build(1 << i)) ^ base for i in range(32)]
    for bit in range(32):
        mask = 0
        for i in range(32):
            if (columns[i] >> bit) & 1:
                mask |= 1 << i
        mask ^= 1 << bit
        rows.append([mask, (base >> bit) & 1])
    pivots = []  # (column, row index)
    for col in range(32):
        used = {index for _, index in pivots}
        found = next((i for i, r in enumerate(rows) if i not in used and (r[0] >> col) & 1), None)
        if found is None:
            continue
        pivot = rows[found]
        for i, other in enumerate(rows):
            if i != found and (other[0] >> col) & 1:
                other[0] ^= pivot[0]
                other[1] ^= pivot[1]
        pivots.append((col, found))
    if any(r[0] == 0 and r[1] for r in rows):
        return None
    c = 0
    for col, index in pivots:
        if rows[index][1]:
            c |= 1 << col
    return c if zlib.crc32(build(c)) == c else None


def quine(name):
    """The quine's bytes, for member name `name`: tries op sizes and file times until every
    instruction fits and the CRC has a fixed point."""
    raw = name.encode()
    for time in range(0, 24 << 11, 0x20):  # the DOS time field (a minute later each try)
        for k in range(5, 16):
            def headers(crc, data_size):
                p = 30 + len(raw)
                s = 46 + len(raw) + 22
                size = p + data_size + s
                local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, time, 0x5A21, crc,
                                    data_size, size, len(raw), 0) + raw
                central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, time,
                                      0x5A21, crc, data_size, size, len(raw), 0, 0, 0, 0, 0,
                                      0) + raw
                end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central),
                                  p + data_size, 0)
                return local, central + end

            local, suffix = headers(0, 0)
            data = program(local, suffix, k)
            if data is None:
                continue
            size = len(data)

            def build(crc):
                local, suffix = headers(crc, size)
                return local + program(local, suffix, k) + suffix

            crc = solve_crc(build)
            if crc is not None:
                return build(crc)
    raise SystemExit("no quine found")


def main():
    out, name = sys.argv[1], sys.argv[2]
    with open(out, "wb") as f:
        f.write(quine(name))


if __name__ == "__main__":
    main()
