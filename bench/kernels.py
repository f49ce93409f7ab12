#!/usr/bin/env python3
"""Milliseconds per evaluation by kernel path, optionally beside a peer.

    bench/kernels.py [--bench build/eval_bench] [--sizes 512] [--runs 3] \
        [--rounds 3] [--evals 2] [--threads 2] [--peer "python3 path/to/torch_gatys.py"]

One evaluation is the loss and its gradient: VGG19's forward pass to conv5_1
and the backward pass to the image (default layers and weights, square noise
images). For each size the bench runs `eval_bench` (cmake --build build
--target eval_bench) --runs times; each run times every kernel path the CPU
has (portable, avx2, avx512: core/cpu.h) alternately in one process,
--rounds rounds of --evals evaluations, and reports each path's median. With
--peer, the peer command `PEER SIZE ITERS THREADS` runs between them (so
drift hits both alike) and prints `evals=N s_per_eval=SECONDS`; the table
then gives each path's time over the peer's. Figures are the median, min and
max over the runs; CPU ms counts every thread's CPU time, which other
programs on the machine inflate less than the wall time.
OpenBLAS picks its own kernels whatever the path (OPENBLAS_CORETYPE set in
the environment changes them). Not part of CI.
"""
import argparse, re, statistics, subprocess, sys


def run_bench(a, size):
    cmd = [a.bench, str(size), str(a.rounds), str(a.threads), str(a.evals)]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        sys.exit(f"kernels: {' '.join(cmd)} failed:\n{p.stdout[-2000:]}")
    found = re.findall(r"^path=(\S+) ms_per_eval=([0-9.]+) cpu_ms_per_eval=([0-9.]+)$",
                       p.stdout, re.M)
    if not found:
        sys.exit(f"kernels: no path= lines from {a.bench}:\n{p.stdout[-2000:]}")
    return {name: (float(ms), float(cpu)) for name, ms, cpu in found}


def run_peer(a, size):
    cmd = a.peer.split() + [str(size), str(a.peer_iters), str(a.threads)]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    m = re.search(r"evals=(\d+) s_per_eval=([0-9.]+)", p.stdout)
    if p.returncode != 0 or not m:
        sys.exit(f"kernels: the peer printed no evals=N s_per_eval=S:\n{p.stdout[-2000:]}")
    return 1e3 * float(m.group(2))


def spread(values):
    return statistics.median(values), min(values), max(values)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bench", default="build/eval_bench")
    ap.add_argument("--sizes", default="512")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--evals", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--peer", help="command taking SIZE ITERS THREADS")
    ap.add_argument("--peer-iters", type=int, default=5)
    a = ap.parse_args()
    print("| size | path | ms / evaluation (median, min–max) | CPU ms | vs portable | vs peer |")
    print("|---|---|---|---|---|---|")
    for size in (int(s) for s in a.sizes.split(",")):
        paths, peer = {}, []
        for _ in range(a.runs):
            for name, (ms, cpu) in run_bench(a, size).items():
                paths.setdefault(name, []).append((ms, cpu))
            if a.peer:
                peer.append(run_peer(a, size))
        portable = statistics.median(ms for ms, _ in paths.get("portable", [(0, 0)]))
        peer_ms = statistics.median(peer) if peer else 0
        for name, runs in paths.items():
            med, lo, hi = spread([ms for ms, _ in runs])
            cpu = statistics.median(c for _, c in runs)
            vs_portable = f"{med / portable:.2f}" if portable else ""
            vs_peer = f"{med / peer_ms:.3f}" if peer_ms else ""
            print(f"| {size} | {name} | {med:.0f} ({lo:.0f}–{hi:.0f}) | {cpu:.0f} | "
                  f"{vs_portable} | {vs_peer} |")
        if peer:
            med, lo, hi = spread(peer)
            print(f"| {size} | peer | {med:.0f} ({lo:.0f}–{hi:.0f}) | | | |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
