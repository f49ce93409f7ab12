#!/usr/bin/env python3
"""Wall time of a job through the HTTP API, as a user waits for it.

    bench/job_time.py --content PHOTO --style PAINTING [--nstd build/nstd]
        [--runs 3] [--params '{}'] [--threads 2]

Starts nstd on a free loopback port with a scratch job store (one worker,
--job-threads THREADS), then --runs times one after another: POST
/v1/jobs with the images and PARAMS (default: none, so the server's
defaults), poll the job every 0.1 s until it ends, and time from the POST to
the poll that saw it succeed. Prints each run (wall seconds, iterations
run, why it stopped, the final losses) and the median wall time. The model
is loaded once at start, as in service. Not part of CI.
"""
import argparse, json, os, socket, statistics, subprocess, sys, tempfile, time, urllib.request


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--nstd", default=os.path.join(here, "..", "build", "nstd"))
    ap.add_argument("--content", required=True)
    ap.add_argument("--style", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--params", default="{}")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as d:
        log = open(os.path.join(d, "nstd.log"), "w")
        srv = subprocess.Popen([a.nstd, "--bind", "127.0.0.1", "--port", str(port),
                                "--data-dir", os.path.join(d, "data"), "--workers", "1",
                                "--job-threads", str(a.threads), "--log-format", "text"],
                               stdout=log, stderr=subprocess.STDOUT)
        try:
            for _ in range(300):
                try:
                    get(base + "/healthz")
                    break
                except OSError:
                    time.sleep(0.1)
            walls = []
            for run in range(a.runs):
                t0 = time.monotonic()
                out = subprocess.run(["curl", "-s", "-F", f"content=@{a.content}",
                                      "-F", f"style=@{a.style}", "-F", f"params={a.params}",
                                      base + "/v1/jobs"], stdout=subprocess.PIPE, check=True)
                job = json.loads(out.stdout)
                if "id" not in job:
                    sys.exit(f"job_time: submit refused: {out.stdout[:500]!r}")
                while job["state"] in ("queued", "running"):
                    time.sleep(0.1)
                    job = get(f"{base}/v1/jobs/{job['id']}")
                wall = time.monotonic() - t0
                if job["state"] != "succeeded":
                    sys.exit(f"job_time: job {job['state']}: {json.dumps(job.get('error'))}")
                pr = job["progress"]
                loss = pr["loss"]
                walls.append(wall)
                print(f"run {run + 1}: {wall:.1f} s, {pr['iteration']} iterations "
                      f"({pr['stop_reason']}), loss total {loss['total']:.4e} "
                      f"content {loss['content']:.4e} style {loss['style']:.4e}", flush=True)
            print(f"median {statistics.median(walls):.1f} s (min {min(walls):.1f}, "
                  f"max {max(walls):.1f}) over {len(walls)} runs")
        finally:
            srv.terminate()
            srv.wait(timeout=30)


if __name__ == "__main__":
    main()
