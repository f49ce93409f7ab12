"""uploads.py — refused uploads reach the client as answers, not resets.

    uploads.py PORT MAX_UPLOAD_BYTES

nstd must run with --max-upload-bytes MAX_UPLOAD_BYTES (small) and the
default --max-discard-bytes. Python's http.client sends the whole body
before it reads the answer (no "Expect: 100-continue"), as browsers do:

1. a multipart body of 32 × MAX_UPLOAD_BYTES with Content-Length → 413
   payload_too_large with its JSON body, no BrokenPipe/ConnectionReset;
2. the same body chunked (no Content-Length) → 413 the same way;
3. a large body that is not multipart → 415 with its JSON body;
4. two conflicting Content-Length headers → exactly one status line, 400
   bad_request (raw socket bytes);
5. Content-Length: abc → a 400 and no answer of the API after it.

Prints "ok - …" lines; exits non-zero on the first failure.
"""
import http.client
import json
import socket
import sys


class Fail(Exception):
    pass


PORT = int(sys.argv[1])
MAX = int(sys.argv[2])
B = "nstdTestBoundary"


def multipart(size):
    head = ('--%s\r\nContent-Disposition: form-data; name="content"; filename="a.png"\r\n'
            'Content-Type: image/png\r\n\r\n' % B).encode()
    return head + b"\0" * size + ("\r\n--%s--\r\n" % B).encode()


def post(body, headers, chunked=False):
    c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    try:
        c.request("POST", "/v1/jobs", body=body, headers=headers, encode_chunked=chunked)
        r = c.getresponse()
        return r.status, r.getheader("Content-Type"), r.read()
    except (BrokenPipeError, ConnectionResetError) as e:
        raise Fail("%s while sending the body instead of an answer" % type(e).__name__)
    finally:
        c.close()


def expect_error(got, status, code, what):
    st, ctype, body = got
    if st != status:
        raise Fail("%s: status %d, expected %d (%r)" % (what, st, status, body[:200]))
    if not (ctype or "").startswith("application/json"):
        raise Fail("%s: Content-Type %r" % (what, ctype))
    c = json.loads(body)["error"]["code"]
    if c != code:
        raise Fail("%s: error code %r, expected %r" % (what, c, code))
    print("ok - %s → %d %s" % (what, status, code))


def raw(request):
    s = socket.create_connection(("127.0.0.1", PORT), timeout=10)
    data = b""
    try:
        s.sendall(request)
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
    except ConnectionResetError:
        pass
    finally:
        s.close()
    return data


def main():
    mp = {"Content-Type": "multipart/form-data; boundary=" + B}
    body = multipart(32 * MAX)
    expect_error(post(body, mp), 413, "payload_too_large", "body of %d bytes" % len(body))

    def pieces():
        for i in range(0, len(body), 64 * 1024):
            yield body[i:i + 64 * 1024]
    expect_error(post(pieces(), dict(mp, **{"Transfer-Encoding": "chunked"}), chunked=True),
                 413, "payload_too_large", "chunked body over the limit")
    expect_error(post(b"x" * (4 * MAX), {"Content-Type": "application/octet-stream"}), 415,
                 "unsupported_media_type", "large body that is not multipart")

    req = ("POST /v1/jobs HTTP/1.1\r\nHost: t\r\nContent-Type: multipart/form-data; "
           "boundary=%s\r\n%%s\r\n--%s--\r\n" % (B, B))
    data = raw((req % "Content-Length: 10\r\nContent-Length: 20\r\n").encode())
    n = data.count(b"HTTP/1.1 ")
    if n != 1 or not data.startswith(b"HTTP/1.1 400 "):
        raise Fail("conflicting Content-Length: %d status lines: %r" % (n, data[:300]))
    code = json.loads(data.partition(b"\r\n\r\n")[2])["error"]["code"]
    if code != "bad_request":
        raise Fail("conflicting Content-Length: error code %r" % code)
    print("ok - conflicting Content-Length → one status line, 400 bad_request")

    # libmicrohttpd answers this itself, before nstd sees the request
    # (0.9.75 repeats its header block; see README, HTTP API).
    data = raw((req % "Content-Length: abc\r\n").encode())
    if not data.startswith(b"HTTP/1.1 400 ") or b"X-Request-Id" in data:
        raise Fail("Content-Length: abc: %r" % data[:300])
    print("ok - Content-Length: abc → 400")


if __name__ == "__main__":
    try:
        main()
    except (Fail, OSError, ValueError, KeyError) as e:
        print("FAIL: %s" % e)
        sys.exit(1)
