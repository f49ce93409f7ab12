#!/usr/bin/env python3
"""Time to result: how long the user waits for the picture, per size.

    bench/time_to_result.py --content PHOTO --style PAINTING [--nst build/nst]
        [--sizes 256,512,1024] [--runs 3] [--threads 2] [--reference-iters 300]
        [--peer "python3 /path/to/torch_gatys.py"]

For each size, in one session:
  reference  nst with tolerance 0 and --reference-iters iterations (once): its
             final loss is the reference; "within 5 %" is the first iteration
             whose loss is at most 1.05 × that, and its time is read from nst's
             per-iteration lines
  default    nst with its default parameters (the stopping rule on) --runs
             times, alternated with the peer: wall time of the whole process
             (model, style targets and all), the iterations it ran, its final
             loss against the reference's
  peer       the peer command `PEER SIDE ITERS THREADS` doing the same work:
             as many iterations as the default job ran, on a square image of
             as many pixels as nst's output (SIDE = √(w·h); the peer makes
             square images, nst keeps the photo's aspect); it prints
             s_per_eval=SECONDS, and its time is that times the iterations
Prints a Markdown table: medians (min–max) and the ratio nst / peer.
Not part of CI.
"""
import argparse, math, re, statistics, subprocess, sys, tempfile, time, os

# the PNG reader of the tests' image generator
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from images import png_size  # noqa: E402

LINE = re.compile(r"iter +(\d+)/\d+ +total (\S+) .* ([0-9.]+) s/iter")


def run_nst(a, size, extra, out):
    cmd = [a.nst, "--content", a.content, "--style", a.style, "--output", out,
           "--image-size", str(size), "--threads", str(a.threads)] + extra
    t0 = time.monotonic()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.monotonic() - t0
    if p.returncode:
        sys.exit(f"bench: {' '.join(cmd)} failed:\n{p.stdout[-2000:]}")
    its, losses, elapsed, t = [], [], [], 0.0
    for m in LINE.finditer(p.stdout):
        it, loss, dt = int(m.group(1)), float(m.group(2)), float(m.group(3))
        t += dt * (it - (its[-1] if its else 0))
        its.append(it), losses.append(loss), elapsed.append(t)
    if not its:
        sys.exit(f"bench: no progress lines from {' '.join(cmd)}")
    return wall, its, losses, elapsed


def run_peer(a, side, iters):
    cmd = a.peer.split() + [str(side), str(iters), str(a.threads)]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    m = re.search(r"s_per_eval=([0-9.]+)", p.stdout)
    if p.returncode or not m:
        sys.exit(f"bench: {' '.join(cmd)} failed:\n{p.stdout[-2000:]}")
    return float(m.group(1)) * iters


def fmt(xs):
    return f"{statistics.median(xs):.1f} ({min(xs):.1f}–{max(xs):.1f})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nst", default="build/nst")
    ap.add_argument("--content", required=True)
    ap.add_argument("--style", required=True)
    ap.add_argument("--sizes", default="256,512,1024")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reference-iters", type=int, default=300)
    ap.add_argument("--peer")
    a = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out.png")
        for size in [int(s) for s in a.sizes.split(",")]:
            _, its, losses, elapsed = run_nst(
                a, size, ["--tolerance", "0", "--iterations", str(a.reference_iters)], out)
            ref = losses[-1]
            k = next(i for i, l in enumerate(losses) if l <= 1.05 * ref)
            w, h = png_size(out)
            side = round(math.sqrt(w * h))
            walls, ran, rel, peers = [], [], [], []
            for _ in range(a.runs):
                wall, its_d, losses_d, _ = run_nst(a, size, [], out)
                walls.append(wall), ran.append(its_d[-1]), rel.append(losses_d[-1] / ref)
                if a.peer:
                    peers.append(run_peer(a, side, its_d[-1]))
            rows.append((size, its[k], elapsed[k], walls, ran, rel, peers, elapsed[-1], side))
            print(f"# {size}: done", file=sys.stderr, flush=True)
    print("| size | default job: wall s | iterations run | final loss / reference | "
          "reference: s to within 5 % (iteration) | s for all reference iterations | "
          "peer, same iterations and pixels: side, s | nst / peer |")
    print("|---|---|---|---|---|---|---|---|")
    for size, k_it, k_s, walls, ran, rel, peers, all_s, side in rows:
        peer = f"{side}², {fmt(peers)}" if peers else "–"
        ratio = f"{statistics.median(walls) / statistics.median(peers):.2f}" if peers else "–"
        print(f"| {size} | {fmt(walls)} | {statistics.median(ran):.0f} | "
              f"{statistics.median(rel):.3f} | {k_s:.1f} ({k_it}) | {all_s:.1f} | {peer} | {ratio} |")


if __name__ == "__main__":
    main()
