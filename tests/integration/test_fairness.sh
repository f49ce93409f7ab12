#!/usr/bin/env bash
# test_fairness.sh — who gets the CPU: the threads computing a running job
# run at the process's own priority, and the HTTP threads that answered
# requests run --http-nice steps nicer, so that a flood of requests cannot
# take the jobs' cores (with the workers the nicer ones, as before, every
# request did). Read from /proc while a job runs: the thread that used the
# most CPU over two seconds (the job's) against the main thread's niceness.
# No speed is asserted (bench/poll_flood.sh measures it).
. "$(dirname "$0")/lib.sh"
make_images

# "TID CPU-TICKS NICE" per thread of nstd
threads() {
    "$PY" - "$NSTD_PID" <<'EOF'
import os, sys
pid = sys.argv[1]
for tid in os.listdir("/proc/%s/task" % pid):
    try:
        s = open("/proc/%s/task/%s/stat" % (pid, tid)).read()
    except OSError:
        continue
    f = s[s.rindex(")") + 2:].split()   # fields from the 3rd (state) on
    print(tid, int(f[11]) + int(f[12]), int(f[16]))
EOF
}

check_priorities() { # HTTP-NICE
    local id before after
    id=$(submit '{"image_size":64,"iterations":100000,"preview_every":0}')
    wait_state "$id" running 60
    for _ in $(seq 8); do curl -s -o /dev/null "$BASE/v1/info"; done   # new connections
    before=$(threads)
    sleep 2
    after=$(threads)
    "$PY" - "$NSTD_PID" "$1" "$before" "$after" <<'EOF' || fail "thread priorities (--http-nice $1)"
import sys
pid, http_nice = sys.argv[1], int(sys.argv[2])
def parse(text):
    return {t: (int(c), int(n)) for t, c, n in (l.split() for l in text.splitlines())}
a, b = parse(sys.argv[3]), parse(sys.argv[4])
main = b[pid][1]
busy = max((b[t][0] - a[t][0], t) for t in b if t in a)
nice = sorted(set(n for _, n in b.values()))
print("main thread nice %d; busiest thread %s: %d ticks in 2 s at nice %d; niceness in use %s"
      % (main, busy[1], busy[0], b[busy[1]][1], nice))
if busy[0] <= 0:
    sys.exit("no thread computed (is the job running?)")
if b[busy[1]][1] != main:
    sys.exit("the job's thread runs at nice %d, the process at %d" % (b[busy[1]][1], main))
if http_nice and main + http_nice not in nice:
    sys.exit("no HTTP thread at nice %d" % (main + http_nice))
if not http_nice and nice != [main]:
    sys.exit("--http-nice 0: every thread at nice %d expected" % main)
EOF
    ok "--http-nice $1: the job computes at the process's priority, the HTTP threads at +$1"
    req DELETE "/v1/jobs/$id" >/dev/null
    wait_state "$id" canceled 60
}

start_nstd --workers 1 --job-threads 2 --max-iterations 100000
st=$(req GET /v1/info)
expect_eq "$st" 200 "GET /v1/info"
check_priorities 10
stop_nstd

start_nstd --workers 1 --job-threads 2 --max-iterations 100000 --http-nice 0
check_priorities 0
