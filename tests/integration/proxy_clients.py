"""proxy_clients.py — many clients behind one proxy (test_proxy_clients.sh).

    proxy_clients.py PROXY-PORT PREFIX STREAM-JOB OTHER-JOB LIMIT N-CLIENTS

Every connection goes to the proxy on 127.0.0.1:PROXY-PORT and claims its
own client address with X-Forwarded-For, which the proxy extends with the
address it saw (127.0.0.1, a trusted proxy), so the claim is the rightmost
untrusted hop.

  1. N-CLIENTS event streams of STREAM-JOB, each from its own client, are
     opened and held: every one answers 200;
  2. meanwhile GET /healthz and GET of OTHER-JOB through the proxy answer 200,
     and the metrics count every client (nstd_http_clients);
  3. one client opens LIMIT streams (all 200), then its next request gets
     429 too_many_connections with Retry-After and a JSON error, while
     another client is served;
  4. all streams close; the limited client is served again.

Every socket has a timeout and every loop a bound. Prints "ok - …" lines;
exits non-zero on the first failure.
"""
import json
import socket
import sys
import time

TIMEOUT = 30


class Fail(Exception):
    pass


def request(port, path, client=None, keep=False):
    """One request; returns (status, headers dict, body bytes or None, socket).
    With keep, the body is not read and the socket stays open."""
    s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    head = "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % (path, port)
    if client:
        head += "X-Forwarded-For: %s\r\n" % client
    if not keep:
        head += "Connection: close\r\n"
    s.sendall((head + "\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = s.recv(65536)
        if not data:
            raise Fail("%s (client %s): the proxy closed the connection: %r" % (path, client, buf[:200]))
        buf += data
        if len(buf) > 1 << 20:
            raise Fail("%s: no end of headers" % path)
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if keep:
        return status, headers, None, s
    body = rest
    while True:   # Connection: close: the body ends with the connection
        data = s.recv(65536)
        if not data:
            break
        body += data
        if len(body) > 1 << 22:
            raise Fail("%s: endless body" % path)
    s.close()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = dechunk(body)
    return status, headers, body, None


def dechunk(b):
    out = b""
    while b:
        size_line, _, b = b.partition(b"\r\n")
        n = int(size_line.split(b";")[0], 16)
        if n == 0:
            break
        out, b = out + b[:n], b[n + 2:]
    return out


def expect(cond, what):
    if not cond:
        raise Fail(what)


def main():
    port, prefix, stream_job, other_job = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    limit, n_clients = int(sys.argv[5]), int(sys.argv[6])
    events = "%s/v1/jobs/%s/events" % (prefix, stream_job)
    held = []
    try:
        # 1. one stream per client, all held open
        for i in range(n_clients):
            client = "203.0.113.%d" % (i + 1) if i < 250 else "2001:db8::%x" % i
            st, h, _, s = request(port, events, client, keep=True)
            expect(st == 200, "stream %d (client %s): status %d, expected 200" % (i + 1, client, st))
            expect(h.get("content-type", "").startswith("text/event-stream"),
                   "stream %d: content type %r" % (i + 1, h.get("content-type")))
            held.append(s)
        print("ok - %d event streams from %d forwarded clients held open through the proxy"
              % (n_clients, n_clients))

        # 2. the service still answers
        st, _, body, _ = request(port, prefix + "/healthz")
        expect(st == 200, "GET /healthz with %d streams open: %d %r" % (n_clients, st, body[:200]))
        st, _, body, _ = request(port, "%s/v1/jobs/%s" % (prefix, other_job), "198.51.100.20")
        expect(st == 200 and json.loads(body)["id"] == other_job,
               "GET job with %d streams open: %d %r" % (n_clients, st, body[:200]))
        print("ok - GET /healthz and GET of a job answer 200 with %d streams open" % n_clients)
        st, _, body, _ = request(port, prefix + "/metrics", "198.51.100.21")
        gauge = [l for l in body.decode().splitlines() if l.startswith("nstd_http_clients ")]
        expect(st == 200 and gauge and int(gauge[0].split()[1]) >= n_clients + 1,
               "nstd_http_clients with %d streams open: %r" % (n_clients, gauge))
        print("ok - the metrics count %s clients" % gauge[0].split()[1])

        # 3. one client up to its limit, then 429; others are still served
        hog = "198.51.100.7"
        for i in range(limit):
            st, _, _, s = request(port, events, hog, keep=True)
            expect(st == 200, "stream %d of client %s (limit %d): status %d" % (i + 1, hog, limit, st))
            held.append(s)
        st, h, body, _ = request(port, prefix + "/healthz", hog)
        expect(st == 429, "client %s over its limit of %d: status %d, expected 429" % (hog, limit, st))
        err = json.loads(body).get("error", {})
        expect(err.get("code") == "too_many_connections" and err.get("message"),
               "429 body: %r" % body[:300])
        expect(h.get("retry-after", "").isdigit(), "429 without Retry-After: %r" % h)
        expect(hog in err["message"], "the message names the client: %r" % err["message"])
        st, _, _, _ = request(port, prefix + "/healthz", "198.51.100.8")
        expect(st == 200, "another client while %s is limited: %d" % (hog, st))
        print("ok - a client over max_connections_per_ip (%d) gets 429 too_many_connections "
              "with Retry-After; another client is served" % limit)
    finally:
        for s in held:
            s.close()

    # 4. the streams' slots are given back once they close (nginx closes its
    # side when it next writes to the gone client: a keep-alive comment;
    # bounded wait)
    deadline = time.monotonic() + TIMEOUT
    while True:
        st, _, _, _ = request(port, prefix + "/healthz", "198.51.100.7")
        if st == 200:
            break
        expect(time.monotonic() < deadline, "client still limited after its streams closed: %d" % st)
        time.sleep(0.1)
    print("ok - closed streams give their slots back")


if __name__ == "__main__":
    try:
        main()
    except (Fail, OSError, ValueError, KeyError) as e:
        print("FAIL: %s" % e, file=sys.stderr)
        sys.exit(1)
