#!/usr/bin/env python3
"""Print sizes: peak memory and time per evaluation by output size, nst
against the peer where the peer fits.

    bench/print_size.py [--nst build/nst] [--sizes 512,1024,2048,4096]
        [--budgets 2048:1456,4096:3968] [--iters 2] [--threads 2]
        [--peer "python3 path/to/torch_gatys.py"] [--peer-max-side 1400]

For each size nst runs --iters L-BFGS iterations (tolerance 0, no previews)
on a 4:3 content and a square style made by tests/integration/images.py,
under GNU time: its peak RSS (the model included), its own memory estimate
(the line it prints; the model's weights come on top), the median
seconds per iteration after the first and the forward and backward passes
those iterations made (about one each: L-BFGS's line search may try a
point twice; on tiles a forward pass is the value pass, a backward pass
the gradient pass with its own forward). A size listed in --budgets
runs with --max-memory MIB, the job's budget, which is what makes the engine
split a large evaluation into tiles (the defaults leave the model's 80 MiB
room within 1.5 and 4 GiB); nst refuses a size whose estimate is
over its budget, and the table says so. The peer, `PEER SIDE ITERS THREADS`
printing `s_per_eval=SECONDS`, runs on a square of as many pixels as nst's
output (SIDE = √(w·h)) up to --peer-max-side (it keeps every activation:
about 23 GiB at 2048²), its peak RSS from GNU time too. Prints a Markdown
table. Not part of CI.
"""
import argparse, math, os, re, statistics, subprocess, sys, tempfile

# the PNG reader of the tests' image generator
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from images import png_size  # noqa: E402

ITER = re.compile(r"iter +(\d+)/\d+ .* ([0-9.]+) s/iter +evals (\d+) grads (\d+)")


def timed(cmd):
    """Run cmd under GNU time: (exit code, output, peak RSS in MiB, wall s)."""
    p = subprocess.run(["/usr/bin/time", "-f", "@@rss %M wall %e"] + cmd,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    m = re.search(r"@@rss (\d+) wall ([0-9.]+)", p.stdout)
    rss = int(m.group(1)) / 1024 if m else float("nan")
    return p.returncode, p.stdout, rss, float(m.group(2)) if m else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--nst", default=os.path.join(here, "..", "build", "nst"))
    ap.add_argument("--sizes", default="512,1024,2048,4096")
    ap.add_argument("--budgets", default="2048:1456,4096:3968",
                    help="SIZE:MIB,… --max-memory per size")
    ap.add_argument("--iters", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--peer")
    ap.add_argument("--peer-max-side", type=int, default=1400)
    a = ap.parse_args()
    budgets = dict(tuple(int(v) for v in b.split(":")) for b in a.budgets.split(",") if b)
    images = os.path.join(here, "..", "tests", "integration", "images.py")
    rows = []
    with tempfile.TemporaryDirectory() as d:
        content, style, out = (os.path.join(d, n) for n in ("c.png", "s.png", "o.png"))
        subprocess.run([sys.executable, images, "gradient", "1600", "1200", content], check=True)
        subprocess.run([sys.executable, images, "stripes", "1024", "1024", style], check=True)
        for size in [int(s) for s in a.sizes.split(",")]:
            cmd = [a.nst, "--content", content, "--style", style, "--output", out,
                   "--image-size", str(size), "--iterations", str(a.iters), "--tolerance", "0",
                   "--preview-every", "0", "--threads", str(a.threads)]
            if size in budgets:
                cmd += ["--max-memory", str(budgets[size])]
            rc, text, rss, _ = timed(cmd)
            est = re.search(r"memory estimate ([0-9.]+) MiB", text)
            est = f"{float(est.group(1)):.0f}" if est else "–"
            tile = re.search(r"evaluated on (\d+) px tiles", text)
            tile = f"{tile.group(1)} px" if tile else "untiled"
            budget = str(budgets.get(size, "–"))
            if rc != 0:
                said = [l for l in text.splitlines() if l.startswith("nst:") and "model" not in l]
                why = said[-1][5:] if said else f"exit {rc}"
                rows.append(f"| {size} | – | {budget} | – | {est} | refused or failed: {why} "
                            "| | | | | |")
                print(f"# {size}: nst exit {rc}", file=sys.stderr, flush=True)
                continue
            w, h = png_size(out)
            lines = ITER.findall(text)
            its = [float(s) for _, s, _, _ in lines]
            per = statistics.median(its[1:] if len(its) > 1 else its)
            # forward and backward passes an iteration after the first
            first, last, n = lines[0], lines[-1], len(lines) - 1
            passes = (f"{(int(last[2]) - int(first[2])) / n:.2f}, "
                      f"{(int(last[3]) - int(first[3])) / n:.2f}" if n else "–")
            side = round(math.sqrt(w * h))
            peer_rss = peer_s = ratio = "–"
            if a.peer and side <= a.peer_max_side:
                prc, ptext, prss, _ = timed(a.peer.split() + [str(side), str(a.iters),
                                                              str(a.threads)])
                m = re.search(r"s_per_eval=([0-9.]+)", ptext)
                if prc == 0 and m:
                    peer_rss, peer_s = f"{prss:.0f}", f"{float(m.group(1)):.2f}"
                    ratio = f"{per / float(m.group(1)):.2f}"
            rows.append(f"| {size} | {w}×{h} | {budget} | {tile} | {est} | {rss:.0f} | {per:.2f} | "
                        f"{passes} | {peer_rss} | {peer_s} | {ratio} |")
            print(f"# {size}: done", file=sys.stderr, flush=True)
    print("| size | output | budget MiB | tile | nst estimate MiB | nst peak RSS MiB | "
          "nst s / iteration | forward, backward passes per iteration | peer peak RSS MiB | "
          "peer s / evaluation | nst / peer |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
