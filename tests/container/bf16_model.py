#!/usr/bin/env python3
"""bf16_model.py IN OUT NAME — a model file half the size of IN, for the
container test to bake into the image: IN is a safetensors file of F32
tensors (as `nst --export-model` writes it), OUT has the same tensors in
BF16 (the upper 16 bits of each float) and the metadata nst.name = NAME,
which /v1/info then reports. Standard library only."""
import json
import struct
import sys

src, dst, name = sys.argv[1:4]
data = open(src, "rb").read()
(n,) = struct.unpack("<Q", data[:8])
header = json.loads(data[8:8 + n])
base = 8 + n
out = bytearray()
tensors = sorted((v["data_offsets"][0], k) for k, v in header.items() if k != "__metadata__")
for _, key in tensors:
    t = header[key]
    if t["dtype"] != "F32":
        sys.exit(f"{src}: tensor {key} is {t['dtype']}, not F32")
    a, b = t["data_offsets"]
    half = bytearray((b - a) // 2)
    half[0::2] = data[base + a + 2:base + b:4]   # little-endian: bytes 2 and 3
    half[1::2] = data[base + a + 3:base + b:4]   # of each float are its BF16
    t["dtype"] = "BF16"
    t["data_offsets"] = [len(out), len(out) + len(half)]
    out += half
header.setdefault("__metadata__", {})["nst.name"] = name
h = json.dumps(header, separators=(",", ":")).encode()
h += b" " * (-len(h) % 8)
with open(dst, "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + out)
