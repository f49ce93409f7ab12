#!/usr/bin/env python3
"""Reference values for libnst's loss and image gradient, computed with PyTorch
(with and without masks: guided Gram matrices and a content mask).

Run once by hand (needs Debian's python3-torch and python3-numpy, which the
system's /usr/bin/python3 sees) after exporting the embedded model:
    build/nst --export-model /tmp/vgg19-random.safetensors
    /usr/bin/python3 tests/reference/make_reference.py /tmp/vgg19-random.safetensors \
        > tests/reference/reference.json
PyTorch's sums on several threads differ in the last bits from run to run, so
a case added later may be appended to the committed file instead (the two
mask cases were, to the three before them). The C test
tests/unit/test_reference.c recomputes every case with libnst and
compares. Images are generated from closed formulas that the C test
reproduces, so no picture file is involved. CI never runs this script.
"""
import json, math, struct, sys
import numpy as np
import torch
import torch.nn.functional as F

LAYERS = [("conv1_1", 3, 64, 0, 0), ("conv1_2", 64, 64, 1, 2), ("conv2_1", 64, 128, 0, 5),
          ("conv2_2", 128, 128, 1, 7), ("conv3_1", 128, 256, 0, 10), ("conv3_2", 256, 256, 0, 12),
          ("conv3_3", 256, 256, 0, 14), ("conv3_4", 256, 256, 1, 16), ("conv4_1", 256, 512, 0, 19),
          ("conv4_2", 512, 512, 0, 21), ("conv4_3", 512, 512, 0, 23), ("conv4_4", 512, 512, 1, 25),
          ("conv5_1", 512, 512, 0, 28), ("conv5_2", 512, 512, 0, 30), ("conv5_3", 512, 512, 0, 32),
          ("conv5_4", 512, 512, 1, 34)]
NAMES = [l[0] for l in LAYERS]


def load_safetensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    tensors = {}
    for name, t in header.items():
        assert t["dtype"] == "F32", name
        b, e = t["data_offsets"]
        tensors[name] = torch.from_numpy(
            np.frombuffer(raw[base + b:base + e], dtype="<f4").reshape(t["shape"]).copy())
    return tensors, meta


def image(kind, w, h):
    """The closed-form test images; tests/unit/test_reference.c has the same."""
    ys, xs = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
    chans = []
    for c in range(3):
        if kind == "content":
            v = 0.5 + 0.4 * np.sin(0.3 * xs + 0.2 * ys + c)
        elif kind == "style0":
            v = 0.5 + 0.45 * np.sin(0.9 * xs + 2.0 * c) * np.cos(0.5 * ys)
        elif kind == "style1":
            v = 0.5 + 0.45 * np.cos(0.021 * xs * ys + 0.7 * c)
        elif kind == "mask_left":
            v = 1.0 / (1.0 + np.exp(0.6 * (xs - 0.5 * w)))
        elif kind == "mask_right":
            v = 1.0 - 1.0 / (1.0 + np.exp(0.6 * (xs - 0.5 * w)))
        elif kind == "mask_spot":
            v = np.exp(-((xs - 0.6 * w) ** 2 + (ys - 0.4 * h) ** 2) / (0.1 * w * h))
        else:  # the point x where loss and gradient are taken
            v = 0.5 + 0.3 * np.sin(0.7 * xs - 0.4 * ys + 1.3 * c) + 0.1 * np.cos(1.7 * ys + c)
        chans.append(v)
    return torch.from_numpy(np.stack(chans).astype(np.float32))[None]


def features(net, meta, img, depth, pooling):
    mean = torch.tensor([float(v) for v in meta.get("nst.mean", "0.485,0.456,0.406").split(",")])
    std = torch.tensor([float(v) for v in meta.get("nst.std", "0.229,0.224,0.225").split(",")])
    x = (img * float(meta.get("nst.value_range", "1")) - mean[None, :, None, None]) / std[None, :, None, None]
    out = {}
    for i in range(depth):
        name, _, _, pool, idx = LAYERS[i]
        x = F.relu(F.conv2d(x, net[f"features.{idx}.weight"], net[f"features.{idx}.bias"], padding=1))
        out[name] = x
        if pool and i + 1 < depth:
            x = F.max_pool2d(x, 2) if pooling == "max" else F.avg_pool2d(x, 2)
    return out


def gram(f):
    _, c, h, w = f.shape
    f = f.reshape(c, h * w)
    return f @ f.t() / (h * w)


def mask(kind, w, h):
    """A mask image as the engine reads it: the luma of the grey test image."""
    img = image(kind, w, h)[0]
    return (0.299 * img[0] + 0.587 * img[1] + 0.114 * img[2]).clamp(0, 1)[None, None]


def mask_levels(m, depth):
    """The mask at each layer's resolution: average-pooled where the features are pooled."""
    out = {}
    for i in range(depth):
        name, _, _, pool, _ = LAYERS[i]
        out[name] = m
        if pool and i + 1 < depth:
            m = F.avg_pool2d(m, 2)
    return out


def guided_gram(f, m):
    """Gram of the masked features, normalised by the mask's area (sum of m squared)."""
    _, c, h, w = f.shape
    fm = (f * m).reshape(c, h * w)
    return fm @ fm.t() / (m ** 2).sum()


def case(net, meta, name, params, w, h, styles, style_masks=None, content_mask=None):
    """style_masks: per style a mask kind or None; content_mask: a mask kind or None.
    The unmasked styles are blended into one target (their weights normalised
    among them; the loss weighs their share of the blend), outside the content
    mask when there is one; each masked style has a guided loss of its own
    against its own Gram, weighted by its blend weight, on its mask times
    1 - the content mask; the content loss weighs content_mask_weight inside
    the content mask."""
    depth = 1 + max(NAMES.index(l) for l in params["content_layers"] + params["style_layers"])
    pooling = params["pooling"]
    style_masks = style_masks or [None] * len(styles)
    content = features(net, meta, image("content", w, h), depth, pooling)
    blend = params.get("style_blend_weights", [1.0] * len(styles))
    total_b = sum(blend)
    keep = mask(content_mask, w, h) if content_mask else None
    terms = []  # (weight, targets, mask levels or None)
    plain = [(k, b) for k, (b, m) in enumerate(zip(blend, style_masks)) if m is None and b != 0]
    if plain:
        sum_u = sum(b for _, b in plain)
        targets = {l: 0 for l in params["style_layers"]}
        for k, b in plain:
            fs = features(net, meta, image(styles[k], w, h), depth, pooling)
            for l in params["style_layers"]:
                targets[l] = targets[l] + (b / sum_u) * gram(fs[l])
        levels = mask_levels(1 - keep, depth) if keep is not None else None
        terms.append((sum_u / total_b, targets, levels))
    for k, (b, m) in enumerate(zip(blend, style_masks)):
        if m is None or b == 0:
            continue
        fs = features(net, meta, image(styles[k], w, h), depth, pooling)
        mk = mask(m, w, h) * (1 - keep if keep is not None else 1)
        terms.append((b / total_b, {l: gram(fs[l]) for l in params["style_layers"]},
                      mask_levels(mk, depth)))
    x = image("x", w, h).requires_grad_(True)
    fx = features(net, meta, x, depth, pooling)
    cw = mask_levels(1 + (params.get("content_mask_weight", 10) - 1) * keep, depth) \
        if keep is not None else None
    lc = sum(0.5 * ((cw[l] if cw else 1) * (fx[l] - content[l].detach()) ** 2).sum()
             for l in params["content_layers"])
    ls = 0
    for weight, targets, levels in terms:
        for l, wl in zip(params["style_layers"], params["style_layer_weights"]):
            n = fx[l].shape[1]
            g = guided_gram(fx[l], levels[l]) if levels else gram(fx[l])
            ls = ls + weight * wl * ((g - targets[l].detach()) ** 2).sum() / (4 * n * n)
    tv = ((x[..., :, 1:] - x[..., :, :-1]) ** 2).sum() + ((x[..., 1:, :] - x[..., :-1, :]) ** 2).sum()
    total = params["alpha"] * lc + params["beta"] * ls + params["tv_weight"] * tv
    total.backward()
    out = {"name": name, "width": w, "height": h, "styles": styles, "params": params}
    if any(style_masks):
        out["style_masks"] = style_masks
    if content_mask:
        out["content_mask"] = content_mask
    out.update({"loss": {"total": total.item(), "content": params["alpha"] * lc.item(),
                         "style": params["beta"] * float(ls), "tv": params["tv_weight"] * tv.item()},
                "grad": [float("%.8g" % v) for v in x.grad.flatten().tolist()]})
    return out


def main():
    torch.set_num_threads(2)
    net, meta = load_safetensors(sys.argv[1])
    layers5 = ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]
    base = {"content_layers": ["conv4_2"], "style_layers": layers5,
            "style_layer_weights": [0.2] * 5, "alpha": 1.0, "beta": 1e4, "tv_weight": 0.5}
    cases = [
        case(net, meta, "max-pooling", dict(base, pooling="max"), 32, 24, ["style0"]),
        case(net, meta, "avg-pooling", dict(base, pooling="avg"), 32, 24, ["style0"]),
        case(net, meta, "blend", dict(base, pooling="avg", style_blend_weights=[0.7, 0.3],
                                      content_layers=["conv2_2", "conv4_2"],
                                      style_layers=["conv1_1", "conv3_1"],
                                      style_layer_weights=[0.3, 0.7]), 24, 32, ["style0", "style1"]),
        case(net, meta, "masks", dict(base, pooling="avg", style_blend_weights=[0.7, 0.3]), 32, 24,
             ["style0", "style1"], style_masks=["mask_left", "mask_right"]),
        case(net, meta, "content-mask", dict(base, pooling="max", content_mask_weight=5.0,
                                             content_layers=["conv2_2", "conv4_2"]), 24, 32,
             ["style0", "style1"], style_masks=["mask_spot", None], content_mask="mask_left"),
    ]
    json.dump({"generator": "tests/reference/make_reference.py", "torch": torch.__version__,
               "cases": cases}, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
