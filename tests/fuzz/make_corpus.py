#!/usr/bin/env python3
"""make_corpus.py — writes the seed corpus of the fuzz targets into
tests/fuzz/corpus/<target>/: tiny images in the formats the decoder reads
(PNG, JPEG; JPEGs with Exif orientations in both byte orders, and a broken
Exif), images in formats it recognises only to refuse them (GIF, BMP, WebP,
TIFF, HEIF: they must fail cleanly with the format named), params bodies, safetensors headers and multipart bodies. The seeds are
committed; run this again only to change them.

Usage: tests/fuzz/make_corpus.py [corpus-dir]
"""
import json
import os
import struct
import sys
import zlib

BOUNDARY = "nstdfuzzboundary"  # as in fuzz_multipart.c


# ---------------------------------------------------------------- images

def png(w, h, channels, pixels):
    color_type = {1: 0, 3: 2, 4: 6}[channels]

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\0" + pixels[y * w * channels:(y + 1) * w * channels] for y in range(h))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color_type, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


def jpeg_gray(w=8, h=8):
    """A w x h mid-grey baseline JPEG: every block DC difference 0, then EOB,
    with one-code Huffman tables (two 0 bits a block)."""
    def segment(marker, data):
        return bytes([0xFF, marker]) + struct.pack(">H", len(data) + 2) + data

    dqt = segment(0xDB, b"\x00" + b"\x01" * 64)
    sof = segment(0xC0, struct.pack(">BHHB", 8, h, w, 1) + b"\x01\x11\x00")
    one_code = b"\x01" + b"\x00" * 15 + b"\x00"   # one code of length 1, symbol 0
    dht = segment(0xC4, b"\x00" + one_code) + segment(0xC4, b"\x10" + one_code)
    sos = segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
    bits = "00" * (((w + 7) // 8) * ((h + 7) // 8))
    bits += "1" * (-len(bits) % 8)                   # padded with 1 bits
    scan = bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))
    return b"\xFF\xD8" + dqt + sof + dht + sos + scan + b"\xFF\xD9"


def jpeg_dht_too_many_codes():
    """jpeg_gray with a DC table of 1 + 255 + 255 codes: stb_image 2.27
    would write past its 256-entry tables; libnst refuses it first."""
    j = bytearray(jpeg_gray())
    dht = j.index(b"\xFF\xC4")
    j[dht + 5 + 14] = j[dht + 5 + 15] = 255
    return bytes(j)


def exif_app1(orientation, big=False, ifd=8):
    """An APP1 Exif segment: TIFF header, IFD0 (at `ifd`) with a Make and an
    Orientation entry."""
    e = ">" if big else "<"
    entries = (struct.pack(e + "HHI", 0x010F, 2, 4) + b"nst\0"
               + struct.pack(e + "HHIHH", 0x0112, 3, 1, orientation, 0))
    tiff = (b"MM" if big else b"II") + struct.pack(e + "HI", 42, ifd) \
        + struct.pack(e + "H", 2) + entries + struct.pack(e + "I", 0)
    body = b"Exif\0\0" + tiff
    return b"\xFF\xE1" + struct.pack(">H", len(body) + 2) + body


def with_exif(jpeg, app1):
    return jpeg[:2] + app1 + jpeg[2:]


def bmp(w, h, rgb):
    stride = (3 * w + 3) & ~3
    rows = b""
    for y in reversed(range(h)):
        row = b"".join(bytes(reversed(rgb[(y * w + x) * 3:(y * w + x) * 3 + 3])) for x in range(w))
        rows += row + b"\0" * (stride - 3 * w)
    header = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(rows), 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + len(header) + len(rows), 0, 0, 14 + len(header)) \
        + header + rows


def gif_1x1():
    return (b"GIF89a" + struct.pack("<HHBBB", 1, 1, 0x80, 0, 0) + b"\xff\x00\x00\x00\x00\xff"
            + b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00\x3b")


RGB4 = bytes([255, 0, 0, 0, 255, 0, 0, 0, 255, 128, 128, 128])   # 2x2
IMAGES = {
    "png_rgb_2x2": png(2, 2, 3, RGB4),
    "png_rgba_1x1": png(1, 1, 4, bytes([10, 20, 30, 255])),
    "png_gray_3x1": png(3, 1, 1, bytes([0, 128, 255])),
    "png_huge_header": png(100000, 100000, 3, b"")[:33],   # IHDR only: too many pixels
    "png_rgba_alpha_2x1": png(2, 1, 4, bytes([255, 0, 0, 0, 0, 0, 0, 128])),
    "jpeg_gray_8x8": jpeg_gray(),
    "jpeg_dht_too_many_codes": jpeg_dht_too_many_codes(),
    # found by the fuzzer: a corrupt JPEG whose bit reader runs out of bits
    # (stb_image 2.27 then shifts by more than 31; see core/stbi.c)
    "jpeg_bits_run_out": bytes.fromhex(
        "ffd8ffdb00430001010101010101330000000000000001010000000000000021"
        "0101010101be000000000000000101010101010101010101010101010101ff5d"
        "01010101010101010101ffc0000b0800fe00d101011100ffc400140001000000"
        "00000000000000000000000000ffc40014000100000000000000000000000000"
        "000000ffda0008010100000000002c000000003f003fffd9"),
    # found by the fuzzer: the same, then a negative Huffman symbol index
    "jpeg_huffman_symbol_negative": bytes.fromhex(
        "ffd8ffffdb004300010101010101013300000000000000010100000000000000"
        "21010101010101dfd70001010301010101010101010101010101010101010001"
        "ff5d0101010101010101010100000000210101ffc0000b08001c00d101011100"
        "ffc40014000100000000000000000000000000000000ffc40014000100000000"
        "000000000000000000000000ffda0008010130000000000069000000ff003f7c"
        "7c7c7c7c7c7c7c7c807c7c7c7c7c7c7cffffffffff7c7c7c7c7c817c003f000f"
        "ffd9"),
    # found by the fuzzer: a symbol index that reads past the heap object
    # (fixed by the 2.28 checks core/stb_patch.cmake applies)
    "jpeg_huffman_heap_overflow": bytes.fromhex(
        "ffd8ffffdb004300010101010101013300000000000000010100000000000000"
        "21010101010101dfd70001010301010101010101010101010101010101010001"
        "ff5d0101010101010101010100000000210101ffc0000b08001c00d101011100"
        "ffc40014000100000000000000000000000000000000ffc40014000100000000"
        "000000000000000000000000ffda0008010130000000000069000000ff003f7c"
        "f80b0400106100007c7c7c7c7c7c7c7c80937c7c7c7c7c7c7cffffffffff7c7c"
        "7c7c7c817c003f000fffd9"),
    "jpeg_exif_ii_6": with_exif(jpeg_gray(16, 8), exif_app1(6)),
    "jpeg_exif_mm_8": with_exif(jpeg_gray(16, 8), exif_app1(8, big=True)),
    "jpeg_exif_bad_ifd": with_exif(jpeg_gray(16, 8), exif_app1(5, ifd=0xFFFFFFF0)),
    "not_an_image": b"P6\n2 2\n255\n" + RGB4,
    # refused by name (NST_EFORMAT), never decoded
    "refused_bmp_2x2": bmp(2, 2, RGB4),
    "refused_gif_1x1": gif_1x1(),
    "refused_webp": b"RIFF\x24\0\0\0WEBPVP8 \x18\0\0\0",
    "refused_tiff": b"II*\0\x08\0\0\0\0\0\0\0",
    "refused_heic": b"\0\0\0\x18ftypheic\0\0\0\0mif1heic",
}

# ---------------------------------------------------------------- params

PARAMS = {
    "empty": {},
    "small": {"iterations": 10, "image_size": 64, "preserve_colors": "luminance"},
    "all": {"content_layers": ["conv4_2"], "style_layers": ["conv1_1", "conv2_1", "conv3_1"],
            "style_layer_weights": [0.5, 0.3, 0.2], "alpha": 1, "beta": 1000, "tv_weight": 0.01,
            "iterations": 100, "optimizer": "adam", "learning_rate": 0.02, "init": "noise",
            "seed": 7, "image_size": 256, "style_scale": 1.5, "style_blend_weights": [1, 2],
            "pooling": "avg", "preserve_colors": "histogram", "preview_every": 5, "scales": 2},
    "null_blend": {"style_blend_weights": None, "optimizer": "lbfgs", "init": "style"},
}
PARAMS_RAW = {"unknown_key": b'{"brightness": 2}', "bad_type": b'{"iterations": "ten"}',
              "truncated": b'{"alpha": 1e3, "style_layers": ["conv1_'}

# ---------------------------------------------------------------- safetensors


def safetensors(header, data=b""):
    text = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(text)) + text + data


SAFETENSORS = {
    "metadata_only": safetensors({"__metadata__": {
        "nst.name": "seed", "nst.pretrained": "0", "nst.channel_order": "bgr",
        "nst.value_range": "255", "nst.mean": "0.485,0.456,0.406", "nst.std": "0.229,0.224,0.225",
        "nst.pooling": "avg", "nst.alpha": "1", "nst.beta": "1000", "nst.tv_weight": "0"}}),
    "bias_f32": safetensors({"features.0.bias": {"dtype": "F32", "shape": [64],
                                                 "data_offsets": [0, 256]}}, b"\0" * 256),
    "bias_f16": safetensors({"features.0.bias": {"dtype": "F16", "shape": [64],
                                                 "data_offsets": [0, 128]}}, b"\x00\x3c" * 64),
    "weight_bf16_short": safetensors({"features.0.weight": {
        "dtype": "BF16", "shape": [64, 3, 3, 3], "data_offsets": [0, 3456]}}, b"\x80\x3f" * 8),
    "ignored_tensor": safetensors({"classifier.0.bias": {"dtype": "F32", "shape": [2],
                                                         "data_offsets": [0, 8]}}, b"\0" * 8),
}

# ---------------------------------------------------------------- multipart


def multipart(parts, end=True):
    out = b""
    for name, filename, ctype, body in parts:
        out += b"--" + BOUNDARY.encode() + b"\r\n"
        disp = 'form-data; name="%s"' % name + ('; filename="%s"' % filename if filename else "")
        out += b"Content-Disposition: " + disp.encode() + b"\r\n"
        if ctype:
            out += b"Content-Type: " + ctype.encode() + b"\r\n"
        out += b"\r\n" + body + b"\r\n"
    return out + (b"--" + BOUNDARY.encode() + b"--\r\n" if end else b"")


CONTENT = ("content", "c.png", "image/png", IMAGES["png_rgb_2x2"])
STYLE = ("style", "s.png", "image/png", IMAGES["png_gray_3x1"])
PARAM = ("params", None, None, json.dumps(PARAMS["small"]).encode())
MULTIPART = {
    "job": multipart([CONTENT, STYLE, PARAM]),
    "two_styles_blend": multipart([CONTENT, STYLE, ("style", "s.jpg", "image/jpeg",
                                                    IMAGES["jpeg_exif_ii_6"]),
                                   ("params", None, "application/json",
                                    b'{"style_blend_weights": [1, 3]}')]),
    "jpeg_no_params": multipart([("content", "c.jpg", "image/jpeg", IMAGES["jpeg_gray_8x8"]), STYLE]),
    "gif_style_refused": multipart([CONTENT, ("style", "s.gif", "image/gif",
                                              IMAGES["refused_gif_1x1"])]),
    "missing_style": multipart([CONTENT, PARAM]),
    "unknown_part": multipart([CONTENT, STYLE, ("mask", "m.png", "image/png", b"x")]),
    "truncated": multipart([CONTENT, STYLE], end=False)[:-40],
    "style_masks": multipart([CONTENT, STYLE, STYLE, ("style_mask", "", "application/octet-stream", b""),
                              ("style_mask", "m.png", "image/png", IMAGES["png_gray_3x1"]),
                              ("content_mask", "k.png", "image/png", IMAGES["png_rgb_2x2"]), PARAM]),
    "mask_count": multipart([CONTENT, STYLE, STYLE,
                             ("style_mask", "m.png", "image/png", IMAGES["png_gray_3x1"])]),
}


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus")
    seeds = {
        "fuzz_image": IMAGES,
        "fuzz_params": {**{k: json.dumps(v).encode() for k, v in PARAMS.items()}, **PARAMS_RAW},
        "fuzz_safetensors": SAFETENSORS,
        "fuzz_multipart": MULTIPART,
    }
    for target, files in seeds.items():
        os.makedirs(os.path.join(root, target), exist_ok=True)
        for name, data in files.items():
            with open(os.path.join(root, target, name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
