#!/usr/bin/env python3
"""images.py — test images for the integration tests, written with the
standard library only (zlib + struct), and a PNG header reader.

  images.py gradient W H OUT      smooth colour gradient
  images.py stripes  W H OUT      diagonal colour stripes
  images.py noise    W H OUT [SEED]  deterministic pseudo-random pixels
  images.py bomb     W H OUT      a valid PNG header declaring W x H, no pixels
  images.py gif      W H OUT      a one-colour GIF (a format nstd refuses)
  images.py bmp      W H OUT      a gradient 24-bit BMP (a format nstd refuses)
  images.py solid    W H OUT      a whole W x H PNG of one colour (a few KB even when huge)
  images.py grey     W H OUT      a grey diagonal ramp (R = G = B)
  images.py red      W H OUT      a texture in shades of red (strokes of red, dark red, orange)
  images.py blue     W H OUT      the same texture in shades of blue
  images.py left     W H OUT      a greyscale mask: the left half white, the right black
  images.py right    W H OUT      the opposite mask
  images.py size FILE             print "W H" of a PNG (fails if not a PNG)
  images.py halves FILE           print the mean R - B (0…255) of an 8-bit RGB PNG's
                                  left and right halves ("LEFT RIGHT")
"""
import random
import struct
import sys
import zlib


def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def png(w, h, pixel):
    raw = bytearray()
    for y in range(h):
        raw.append(0)  # filter: none
        for x in range(w):
            raw.extend(pixel(x, y))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) +
            chunk(b"IDAT", zlib.compress(bytes(raw), 9)) + chunk(b"IEND", b""))


def gradient(w, h):
    return png(w, h, lambda x, y: (255 * x // max(1, w - 1), 255 * y // max(1, h - 1), 128))


def stripes(w, h):
    def px(x, y):
        band = ((x + y) // 4) % 3
        return ((230, 40, 40), (40, 200, 60), (30, 60, 220))[band]
    return png(w, h, px)


def noise(w, h, seed=1):
    rng = random.Random(seed)
    return png(w, h, lambda x, y: (rng.randrange(256), rng.randrange(256), rng.randrange(256)))


def bomb(w, h):
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) +
            chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def gif(w, h):
    """Red, LZW with a 2-bit code size: a clear code before every second
    pixel keeps the codes 3 bits wide (an uncompressed GIF)."""
    codes = [c for i in range(w * h) for c in ([4, 0] if i % 2 == 0 else [0])] + [5]
    bits, acc, out = 0, 0, bytearray()
    for c in codes:
        acc |= c << bits
        bits += 3
        while bits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            bits -= 8
    if bits:
        out.append(acc)
    blocks = b"".join(bytes([len(out[i:i + 255])]) + bytes(out[i:i + 255])
                      for i in range(0, len(out), 255))
    return (b"GIF89a" + struct.pack("<HHBBB", w, h, 0x81, 0, 0) + b"\xff\0\0" * 2 + b"\0\0\0" * 2
            + b"\x2c" + struct.pack("<HHHHB", 0, 0, w, h, 0) + b"\x02" + blocks + b"\0\x3b")


def bmp(w, h):
    stride = (3 * w + 3) & ~3
    rows = b"".join(bytes(v for x in range(w) for v in (128, 255 * y // max(1, h - 1),
                                                          255 * x // max(1, w - 1)))
                    + b"\0" * (stride - 3 * w) for y in reversed(range(h)))
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(rows), 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + len(info) + len(rows), 0, 0, 14 + len(info)) + info + rows


def solid(w, h):
    row = b"\0" + b"\x80\x40\x20" * w
    z = zlib.compressobj(9)
    idat = b"".join(z.compress(row) for _ in range(h)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) +
            chunk(b"IEND", b""))


def grey(w, h):
    return png(w, h, lambda x, y: (40 + 170 * (x + y) // max(1, w + h - 2),) * 3)


def texture(palette):
    """Diagonal strokes in three shades of one colour, broken by a second
    period so the style has texture, not a flat colour."""
    def make(w, h):
        return png(w, h, lambda x, y: palette[((x + 2 * y) // 3 + (x // 7)) % 3])
    return make


red = texture(((220, 30, 20), (150, 10, 10), (240, 110, 40)))
blue = texture(((20, 40, 220), (10, 10, 140), (60, 120, 240)))


def grey_png(w, h, value):
    raw = b"".join(b"\0" + bytes(value(x, y) for x in range(w)) for y in range(h))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) +
            chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def left(w, h):
    return grey_png(w, h, lambda x, y: 255 if x < w // 2 else 0)


def right(w, h):
    return grey_png(w, h, lambda x, y: 0 if x < w // 2 else 255)


def read_rgb(path):
    """The pixels of an 8-bit RGB, non-interlaced PNG (what nstd writes) as rows of bytes."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        sys.exit("%s: not a PNG" % path)
    pos, idat = 8, b""
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if (depth, colour, interlace) != (8, 2, 0):
                sys.exit("%s: not an 8-bit RGB PNG" % path)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw, stride, rows, prev = zlib.decompress(idat), 3 * w, [], bytearray(3 * w)
    for y in range(h):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - 3] if i >= 3 else 0
            b, c = prev[i], prev[i - 3] if i >= 3 else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    return w, h, rows


def halves(path):
    w, h, rows = read_rgb(path)
    sums = [0, 0]
    for row in rows:
        for x in range(w):
            sums[0 if x < w // 2 else 1] += row[3 * x] - row[3 * x + 2]
    print("%.1f %.1f" % (sums[0] / (h * (w // 2)), sums[1] / (h * (w - w // 2))))


def png_size(path):
    """(width, height) of a PNG file, None for other formats (the benches
    import it)."""
    with open(path, "rb") as f:
        head = f.read(24)
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


def size(path):
    wh = png_size(path)
    if wh is None:
        sys.exit("%s: not a PNG" % path)
    print(*wh)


def main(argv):
    if argv[1] == "size":
        return size(argv[2])
    if argv[1] == "halves":
        return halves(argv[2])
    kind, w, h, out = argv[1], int(argv[2]), int(argv[3]), argv[4]
    if kind == "noise":
        data = noise(w, h, int(argv[5]) if len(argv) > 5 else 1)
    else:
        data = {"gradient": gradient, "stripes": stripes, "bomb": bomb, "gif": gif,
                "bmp": bmp, "solid": solid, "grey": grey, "red": red, "blue": blue,
                "left": left, "right": right}[kind](w, h)
    with open(out, "wb") as f:
        f.write(data)


if __name__ == "__main__":
    main(sys.argv)
