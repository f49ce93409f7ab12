"""slow_clients.py — slow and excess connections against a running nstd.

    slow_clients.py PORT HEADER_TIMEOUT MAX_CONNECTIONS

nstd must run with --header-timeout HEADER_TIMEOUT, --max-connections
MAX_CONNECTIONS and no per-IP limit. Every connection goes to 127.0.0.1;
every loop is bounded in count and time, and every socket is closed on exit.

1. Slow headers: up to 150 connections (fewer when this process may not
   open that many files) send a request line and then one header line every
   half second, never ending the headers (which keeps resetting an idle
   timer). While they are open, GET /healthz and GET /v1/info must be
   answered (within 5 s: a hang detector, not a speed test). Within
   HEADER_TIMEOUT + 5 s the server must have closed every one of them.
2. Slow body: a POST announcing 100 kB that sends 10 bytes every half
   second must be closed within HEADER_TIMEOUT + 5 s (the minimum upload
   rate, after a grace of HEADER_TIMEOUT).
3. Over the cap: MAX_CONNECTIONS idle connections, then one more client:
   it must get 503 with Retry-After and a JSON error too_many_connections.
   Once they are closed, /healthz answers 200 again.

Prints "ok - …" lines; exits non-zero on the first failure.
"""
import errno
import json
import resource
import socket
import sys
import time


class Fail(Exception):
    pass


PORT = int(sys.argv[1])
HEADER_TIMEOUT = float(sys.argv[2])
MAX_CONNECTIONS = int(sys.argv[3])
OPEN = []   # every socket this script opened, closed at exit


def connect():
    s = socket.create_connection(("127.0.0.1", PORT), timeout=5)
    s.settimeout(None)   # blocking: MSG_DONTWAIT then means "do not wait"
    OPEN.append(s)
    return s


def close_all(socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


def get(path, timeout=5.0):
    """One GET on a fresh connection: (status, headers dict, body)."""
    s = connect()
    try:
        s.settimeout(timeout)
        s.sendall(("GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" % path).encode())
        data = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                d = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                raise Fail("GET %s: connection reset (after %d bytes)" % (path, len(data)))
            if not d:
                break
            data += d
        if not data:
            raise Fail("GET %s: no answer within %.0f s" % (path, timeout))
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        return status, hdrs, body
    finally:
        s.close()


def closed_by_server(s):
    """True once the server has closed s (EOF or reset); non-blocking."""
    try:
        d = s.recv(65536, socket.MSG_DONTWAIT)
        return d == b""
    except BlockingIOError:
        return False
    except (ConnectionResetError, BrokenPipeError):
        return True


def trickle(socks, line):
    for s in socks:
        try:
            s.send(line, socket.MSG_DONTWAIT)
        except OSError:
            pass


def fd_room():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft - 64


def wait_closed(socks, seconds, what, keep_sending=None):
    deadline = time.monotonic() + seconds
    open_ = list(socks)
    while open_ and time.monotonic() < deadline:
        if keep_sending:
            trickle(open_, keep_sending)
        time.sleep(0.5)
        open_ = [s for s in open_ if not closed_by_server(s)]
    if open_:
        raise Fail("%s: %d of %d connections still open after %.0f s"
                   % (what, len(open_), len(socks), seconds))


def slow_headers(n):
    socks = []
    for _ in range(n):
        s = connect()
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
        socks.append(s)
    print("ok - %d slow-header connections open" % n)
    for path in ("/healthz", "/v1/info"):
        st, _, _ = get(path)
        if st != 200:
            raise Fail("GET %s while slow clients are connected: status %d" % (path, st))
        print("ok - GET %s answered while %d slow clients are connected" % (path, n))
    wait_closed(socks, HEADER_TIMEOUT + 5, "slow headers", b"X-Slow: 1\r\n")
    print("ok - the server closed every slow-header connection")
    close_all(socks)


def slow_body():
    s = connect()
    s.sendall(b"POST /v1/jobs HTTP/1.1\r\nHost: t\r\n"
              b"Content-Type: multipart/form-data; boundary=XyZ\r\n"
              b"Content-Length: 100000\r\n\r\n--XyZ\r\n")
    wait_closed([s], HEADER_TIMEOUT + 5, "slow body", b"0123456789")
    print("ok - the server closed a body slower than the minimum upload rate")
    close_all([s])


def over_cap():
    socks = [connect() for _ in range(MAX_CONNECTIONS)]
    # until the server has accepted them all (bounded: a slow build is slow)
    deadline = time.monotonic() + 10
    while True:
        time.sleep(0.3)
        st, hdrs, body = get("/healthz")
        if st == 503 or time.monotonic() > deadline:
            break
    if st != 503:
        raise Fail("connection over --max-connections: status %d (expected 503)" % st)
    if not hdrs.get("retry-after", "").isdigit():
        raise Fail("503 over --max-connections without Retry-After: %r" % hdrs)
    code = json.loads(body)["error"]["code"]
    if code != "too_many_connections":
        raise Fail("503 over --max-connections: error code %r" % code)
    print("ok - a connection over --max-connections gets 503 too_many_connections, Retry-After")
    close_all(socks)
    deadline = time.monotonic() + 10
    while True:
        st, _, _ = get("/healthz")
        if st == 200:
            break
        if time.monotonic() > deadline:
            raise Fail("/healthz still %d after the excess connections closed" % st)
        time.sleep(0.2)
    print("ok - /healthz answers again once they are closed")


def main():
    room = fd_room()
    if room < MAX_CONNECTIONS + 8:
        raise Fail("this process may open only %d files" % room)
    slow_headers(min(150, room - 8, MAX_CONNECTIONS - 8))
    slow_body()
    over_cap()


if __name__ == "__main__":
    try:
        main()
    except (Fail, OSError, ValueError, KeyError) as e:
        print("FAIL: %s" % e)
        sys.exit(1)
    finally:
        close_all(OPEN)
