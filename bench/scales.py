#!/usr/bin/env python3
"""Time to a given loss with and without coarse-to-fine (params.scales).

    bench/scales.py --content PHOTO --style PAINTING [--nst build/nst]
        [--size 512] [--iters 60] [--scales 2]

Runs nst once at full size for --iters iterations and once with --scales
for 1.5 × --iters iterations (most of them at lower resolution), and prints,
for the full-size run's losses after 1/3, 2/3 and all of its iterations,
the seconds each run needed to get there. Only the coarse-to-fine run's
full-size iterations count (a loss at another resolution is another
function). Times are the sums of nst's per-iteration seconds (style targets
and start-up excluded, the same for both). Not part of CI.
"""
import argparse, re, subprocess, sys


def run(a, scales, iters):
    cmd = [a.nst, "--content", a.content, "--style", a.style, "--output", "/dev/null",
           "--image-size", str(a.size), "--iterations", str(iters), "--scales", str(scales),
           "--preview-every", "0"]
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if out.returncode:
        sys.exit(out.stdout[-2000:])
    rows, t = [], 0.0
    for m in re.finditer(r"iter\s+(\d+)/\d+\s+total (\S+).*?([0-9.]+) s/iter", out.stdout):
        t += float(m.group(3))
        rows.append((int(m.group(1)), float(m.group(2)), t))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nst", default="build/nst")
    ap.add_argument("--content", required=True)
    ap.add_argument("--style", required=True)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--iters", type=int, default=60)
    ap.add_argument("--scales", type=int, default=2)
    a = ap.parse_args()
    single = run(a, 1, a.iters)
    multi_iters = a.iters * 3 // 2
    multi = run(a, a.scales, multi_iters)
    # iterations before the full-size scale, split as nst does (2^(S-1) : … : 2 : 1)
    total = 2 ** a.scales - 1
    fine_from = sum(multi_iters * 2 ** (a.scales - 1 - s) // total for s in range(a.scales - 1))
    multi_fine = [r for r in multi if r[0] > fine_from]
    print(f"{'loss level':>12} {'scales=1 s':>11} {'scales=%d s' % a.scales:>11} {'ratio':>6}")
    for k in (a.iters // 3, 2 * a.iters // 3, a.iters):
        level = single[k - 1][1]
        t1 = single[k - 1][2]
        t2 = next((t for _, loss, t in multi_fine if loss <= level), None)
        ratio = "%.2f" % (t2 / t1) if t2 else "-"
        print(f"{level:>12.4e} {t1:>11.1f} {t2 if t2 else float('nan'):>11.1f} {ratio:>6}")
    print(f"final loss: scales=1 {single[-1][1]:.4e} after {single[-1][2]:.1f} s; "
          f"scales={a.scales} {multi[-1][1]:.4e} after {multi[-1][2]:.1f} s")


if __name__ == "__main__":
    main()
