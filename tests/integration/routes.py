"""routes.py — walk the API's OpenAPI document against a running nstd.

    routes.py walk PORT CONTENT.png STYLE.png
    routes.py head-stream PORT JOB-ID

walk: fetches /v1/openapi.json (built from the route table, api/routes.c),
submits a small job through the document's POST operation, waits for it to
succeed, then makes one request for every operation of every path — GET and
HEAD for a GET, OPTIONS, and DELETE last — with {id} the job's id. Each
answer's status must be one the operation lists, its Content-Type one the
document lists for that status (none when the status has no content), and
a HEAD answer must have no body. Everything goes over one kept-alive
connection, read byte by byte as sent, so a stray byte after a response
(such as a chunked stream's closing chunk after a HEAD) spoils the next one.

head-stream: HEAD on the job's event stream, then GET /healthz on the same
connection must get a clean answer.

Prints "ok - …" lines; exits non-zero on the first failure.
"""
import json
import socket
import sys
import time
import uuid


class Fail(Exception):
    pass


class Conn:
    """One raw HTTP/1.1 connection, kept alive across requests."""

    def __init__(self, port):
        self.port = port
        self.sock = None
        self.buf = b""

    def _connect(self):
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        self.buf = b""

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise Fail("the server closed the connection")
        self.buf += data

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exactly(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def stray_bytes(self, wait=0.3):
        """Bytes the server sent after the last response (none expected)."""
        self.sock.settimeout(wait)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            data = b""
        finally:
            self.sock.settimeout(30)
        return self.buf + data

    def request(self, method, path, headers=None, body=b""):
        if self.sock is None:
            self._connect()
        head = "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n" % (method, path)
        for k, v in (headers or {}).items():
            head += "%s: %s\r\n" % (k, v)
        if body:
            head += "Content-Length: %d\r\n" % len(body)
        self.sock.sendall(head.encode() + b"\r\n" + body)
        status_line = self._line().decode("latin-1")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise Fail("%s %s: not a status line: %r" % (method, path, status_line))
        status = int(parts[1])
        hdrs = {}
        while True:
            line = self._line().decode("latin-1")
            if not line:
                break
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        if method == "HEAD" or status in (204, 304) or status < 200:
            data = b""
        elif hdrs.get("transfer-encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    while self._line():   # trailers, then the empty line
                        pass
                    break
                data += self._exactly(size)
                self._exactly(2)
        elif "content-length" in hdrs:
            data = self._exactly(int(hdrs["content-length"]))
        else:   # read to the end
            data = self.buf
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                data += chunk
            hdrs["connection"] = "close"
        if hdrs.get("connection", "").lower() == "close":
            self.sock.close()
            self.sock = None
        return status, hdrs, data


def resolve(doc, obj):
    ref = obj.get("$ref")
    if ref:
        node = doc
        for key in ref[2:].split("/"):
            node = node[key]
        return node
    return obj


def check(doc, op, method, path, status, hdrs, body):
    what = "%s %s → %d" % (method, path, status)
    responses = op["responses"]
    if str(status) not in responses:
        raise Fail("%s: not among the operation's statuses %s" % (what, sorted(responses)))
    media = list(resolve(doc, responses[str(status)]).get("content", {}))
    ctype = hdrs.get("content-type", "").split(";")[0].strip().lower()
    if media:
        if ctype not in media:
            raise Fail("%s: Content-Type %r, the document lists %s" % (what, ctype, media))
    elif ctype or body:
        raise Fail("%s: the document lists no content, the answer has %r (%d bytes)"
                   % (what, ctype, len(body)))
    if method == "HEAD" and body:
        raise Fail("%s: HEAD answered a body" % what)


def multipart(fields):
    boundary = uuid.uuid4().hex
    out = b""
    for name, filename, data in fields:
        out += b"--%s\r\nContent-Disposition: form-data; name=\"%s\"" % (boundary.encode(), name.encode())
        if filename:
            out += b"; filename=\"%s\"\r\nContent-Type: application/octet-stream" % filename.encode()
        out += b"\r\n\r\n" + data + b"\r\n"
    out += b"--%s--\r\n" % boundary.encode()
    return "multipart/form-data; boundary=" + boundary, out


def walk(port, content_png, style_png):
    c = Conn(port)
    status, hdrs, body = c.request("GET", "/v1/openapi.json")
    if status != 200:
        raise Fail("GET /v1/openapi.json: %d" % status)
    doc = json.loads(body)
    paths = doc["paths"]

    # the job, through the document's POST operation
    post = [(p, item["post"]) for p, item in paths.items() if "post" in item]
    if len(post) != 1:
        raise Fail("expected one POST operation, found %d" % len(post))
    post_path, post_op = post[0]
    ctype, form = multipart([("content", "content.png", open(content_png, "rb").read()),
                             ("style", "style.png", open(style_png, "rb").read()),
                             ("params", None, b'{"image_size": 32, "iterations": 3, "preview_every": 1}')])
    status, hdrs, body = c.request("POST", post_path, {"Content-Type": ctype}, form)
    check(doc, post_op, "POST", post_path, status, hdrs, body)
    if status != 202:
        raise Fail("POST %s: %d %s" % (post_path, status, body[:300]))
    job = json.loads(body)["id"]
    print("ok - POST %s → 202" % post_path)
    deadline = time.time() + 120
    while True:
        status, hdrs, body = c.request("GET", "/v1/jobs/" + job)
        state = json.loads(body)["state"] if status == 200 else "?"
        if state == "succeeded":
            break
        if state in ("failed", "canceled", "?") or time.time() > deadline:
            raise Fail("job %s: %d %s" % (job, status, body[:300]))
        time.sleep(0.1)

    count = 0
    deletes = []
    for path, item in paths.items():
        concrete = path.replace("{id}", job)
        for method, op in item.items():
            if method == "get":
                requests = ["GET", "HEAD"]
            elif method == "options":
                requests = ["OPTIONS"]
            elif method == "delete":
                deletes.append((concrete, op))
                continue
            else:
                continue
            for m in requests:
                status, hdrs, body = c.request(m, concrete)
                check(doc, op, m, concrete, status, hdrs, body)
                if m == "HEAD" and c.sock is not None:
                    stray = c.stray_bytes()
                    if stray:
                        raise Fail("HEAD %s: %d bytes after the headers: %r"
                                   % (concrete, len(stray), stray[:40]))
                count += 1
                print("ok - %s %s → %d %s" % (m, path, status, hdrs.get("content-type", "")))
    for concrete, op in deletes:
        status, hdrs, body = c.request("DELETE", concrete)
        check(doc, op, "DELETE", concrete, status, hdrs, body)
        count += 1
        print("ok - DELETE %s → %d" % (concrete, status))
    if count < 2 * len(paths):
        raise Fail("only %d requests for %d paths" % (count, len(paths)))
    print("ok - %d requests, every answer as the document describes" % count)


def head_stream(port, job):
    c = Conn(port)
    path = "/v1/jobs/%s/events" % job
    status, hdrs, body = c.request("HEAD", path)
    if status != 200 or not hdrs.get("content-type", "").startswith("text/event-stream"):
        raise Fail("HEAD %s: %d %s" % (path, status, hdrs.get("content-type")))
    if c.sock is None:
        raise Fail("HEAD %s closed the connection" % path)
    stray = c.stray_bytes()
    if stray:
        raise Fail("HEAD %s: %d bytes after the headers: %r" % (path, len(stray), stray[:40]))
    c.buf = stray
    status, hdrs, body = c.request("GET", "/healthz")
    if status != 200 or json.loads(body) != {"status": "ok"}:
        raise Fail("GET /healthz after HEAD: %d %r" % (status, body[:80]))
    print("ok - HEAD on the event stream: headers only, the connection stays usable")


if __name__ == "__main__":
    try:
        if sys.argv[1] == "walk":
            walk(int(sys.argv[2]), sys.argv[3], sys.argv[4])
        elif sys.argv[1] == "head-stream":
            head_stream(int(sys.argv[2]), sys.argv[3])
        else:
            raise Fail("unknown command " + sys.argv[1])
    except Fail as e:
        print("FAIL: %s" % e, file=sys.stderr)
        sys.exit(1)
