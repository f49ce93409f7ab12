#!/usr/bin/env python3
"""Seconds per iteration and peak memory of `nst`, optionally beside a peer.

    bench/bench.py [--nst build/nst] [--content PHOTO --style PAINTING] \
        [--sizes 256,512] [--iters 10] [--runs 3] [--threads 2] \
        [--peer "python3 /path/to/torch_gatys.py"]

The peer optimises a SIZE×SIZE image; so does nst here: without --content
and --style the bench writes square noise images (speed does not depend on
the pixels), and given images must be square (nst keeps the content's aspect,
so a 4:3 photo would make nst's image 25% smaller than the peer's).

For each size it runs `nst` --runs times (--iters L-BFGS iterations each,
default layers: content conv4_2, style conv1_1…conv5_1) and, when --peer is
given, the peer command `PEER SIZE ITERS THREADS` as many times, alternating
the two so drift hits both alike. A peer prints `evals=N s_per_eval=SECONDS`
for its ITERS iterations. nst prints one line per iteration; the first
iteration (which includes the style targets and the first evaluation) is
left out. A run's seconds per iteration is its time over its iterations;
figures are the median, min and max of the runs' figures; peak RSS comes
from /usr/bin/time.
The peer evaluates loss and gradient once per iteration (no line search).
nst's L-BFGS mostly does too, but when it rejects a trial point it has
paid for that point's loss (a forward pass) and not its gradient; evals/it
and grads/it count forward and backward passes per iteration. GFLOP/s
counts their convolutions (2·9·Cin·Cout·H·W per layer and pass, up to
conv5_1, the deepest layer used).
Not part of CI.
"""
import argparse, os, re, statistics, subprocess, sys, tempfile

# the PNG reader of the tests' image generator
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from images import png_size  # noqa: E402

LAYERS = [(3, 64, 0), (64, 64, 1), (64, 128, 0), (128, 128, 1), (128, 256, 0), (256, 256, 0),
          (256, 256, 0), (256, 256, 1), (256, 512, 0), (512, 512, 0), (512, 512, 0), (512, 512, 1),
          (512, 512, 0)]  # up to conv5_1: (cin, cout, pool after)


def gflop_per_pass(w, h):
    """GFLOP of the convolutions of one forward (or one backward) pass."""
    flop = 0
    for cin, cout, pool in LAYERS:
        flop += 2 * 9 * cin * cout * w * h
        if pool:
            w, h = w // 2, h // 2
    return flop / 1e9


def timed(cmd):
    """Run cmd under /usr/bin/time; return (stdout+stderr text, peak RSS MiB)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", tf.name] + cmd,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if p.returncode != 0:
            sys.exit(f"bench: {' '.join(cmd)} failed:\n{p.stdout[-2000:]}")
        rss_kib = int(tf.read().strip().splitlines()[-1])
    return p.stdout, rss_kib / 1024


def run_nst(a, size, out_dir):
    out = os.path.join(out_dir, f"bench-{size}.png")
    cmd = [a.nst, "--content", a.content, "--style", a.style, "--output", out,
           "--image-size", str(size), "--iterations", str(a.iters), "--preview-every", "0",
           "--threads", str(a.threads)] + a.nst_args
    text, rss = timed(cmd)
    lines = re.findall(r"([0-9.]+) s/iter +evals (\d+) grads (\d+)", text)
    if len(lines) < 2:
        sys.exit(f"bench: no iteration lines from nst:\n{text[-2000:]}")
    iters = len(lines) - 1
    (_, e0, g0), (_, e1, g1) = lines[0], lines[-1]
    return {"s_iter": sum(float(l[0]) for l in lines[1:]) / iters,
            "evals_per_iter": (int(e1) - int(e0)) / iters,
            "grads_per_iter": (int(g1) - int(g0)) / iters, "rss": rss}


def run_peer(a, size):
    text, rss = timed(a.peer.split() + [str(size), str(a.iters), str(a.threads)])
    m = re.search(r"evals=(\d+) s_per_eval=([0-9.]+)", text)
    if not m:
        sys.exit(f"bench: the peer printed no evals=N s_per_eval=S:\n{text[-2000:]}")
    per_iter = int(m.group(1)) / a.iters
    return {"s_iter": float(m.group(2)) * per_iter, "evals_per_iter": per_iter,
            "grads_per_iter": per_iter, "rss": rss}


def summary(runs, key):
    xs = [r[key] for r in runs]
    return statistics.median(xs), min(xs), max(xs)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nst", default="build/nst")
    ap.add_argument("--content")
    ap.add_argument("--style")
    ap.add_argument("--sizes", default="256,512")
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--peer", default=None, help="peer command; gets SIZE ITERS THREADS")
    ap.add_argument("--nst-args", default="", help="extra nst flags, e.g. '--pooling max'")
    a = ap.parse_args()
    a.nst_args = a.nst_args.split()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if not a.content or not a.style:
            make = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration", "images.py")
            big = max(int(s) for s in a.sizes.split(","))
            a.content, a.style = os.path.join(tmp, "content.png"), os.path.join(tmp, "style.png")
            subprocess.run([sys.executable, make, "noise", str(big), str(big), a.content, "1"], check=True)
            subprocess.run([sys.executable, make, "noise", str(big), str(big), a.style, "2"], check=True)
        elif png_size(a.content) and png_size(a.content)[0] != png_size(a.content)[1]:
            sys.exit(f"bench: {a.content} is not square; see --help")
        for size in [int(s) for s in a.sizes.split(",")]:
            mine, peer = [], []
            for _ in range(a.runs):
                mine.append(run_nst(a, size, tmp))
                if a.peer:
                    peer.append(run_peer(a, size))
            rows.append((size, mine, peer))
    print(f"{'size':>5} {'who':>5} {'s/iter med':>10} {'min':>7} {'max':>7} {'evals/it':>8} "
          f"{'grads/it':>8} {'GFLOP/s':>8} {'peak RSS MiB':>12} {'time ratio':>10} {'RSS ratio':>9}")
    for size, mine, peer in rows:
        gf = gflop_per_pass(size, size)
        for who, runs in (("nst", mine), ("peer", peer)):
            if not runs:
                continue
            med, lo, hi = summary(runs, "s_iter")
            rss = statistics.median(r["rss"] for r in runs)
            epi = statistics.median(r["evals_per_iter"] for r in runs)
            gpi = statistics.median(r["grads_per_iter"] for r in runs)
            ratio = rss_ratio = ""
            if who == "nst" and peer:
                ratio = "%.2f" % (med / summary(peer, "s_iter")[0])
                rss_ratio = "%.2f" % (rss / statistics.median(r["rss"] for r in peer))
            print(f"{size:>5} {who:>5} {med:>10.3f} {lo:>7.3f} {hi:>7.3f} {epi:>8.2f} {gpi:>8.2f} "
                  f"{gf * (epi + gpi) / med:>8.1f} {rss:>12.0f} {ratio:>10} {rss_ratio:>9}")


if __name__ == "__main__":
    main()
