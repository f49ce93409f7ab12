"""webhook_receiver.py — a webhook receiver for test_webhooks.sh (stdlib only).

Listens on 127.0.0.1 (a free port, written to --port-file), checks every
delivery's Standard Webhooks signature with --secret, answers 500 to the
first --fail-first requests and 204 to the rest, and appends one JSON line
per request to --log: type, job id and state of the body, webhook-id,
whether the signature is valid, the status answered and the time received.
"""
import argparse
import base64
import hashlib
import hmac
import http.server
import json
import threading
import time


def key_of(secret):
    if secret.startswith("whsec_"):
        return base64.b64decode(secret[len("whsec_"):])
    return secret.encode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--secret", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--fail-first", type=int, default=0)
    args = ap.parse_args()
    key = key_of(args.secret)
    lock = threading.Lock()
    count = [0]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            t = time.time()
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            mid = self.headers.get("webhook-id", "")
            ts = self.headers.get("webhook-timestamp", "")
            sigs = self.headers.get("webhook-signature", "").split()
            want = base64.b64encode(hmac.new(key, f"{mid}.{ts}.".encode() + body,
                                             hashlib.sha256).digest()).decode()
            valid = any(s.startswith("v1,") and hmac.compare_digest(s[3:], want) for s in sigs)
            fresh = ts.isdigit() and abs(int(ts) - t) < 300
            try:
                d = json.loads(body)
            except ValueError:
                d = {}
            data = d.get("data") or {}
            with lock:
                count[0] += 1
                status = 500 if count[0] <= args.fail_first else 204
                rec = {"type": d.get("type"), "job": data.get("id"), "state": data.get("state"),
                       "iteration": (data.get("progress") or {}).get("iteration"),
                       "timestamp": d.get("timestamp"), "id": mid, "valid": valid and fresh,
                       "status": status, "t": t, "path": self.path,
                       "content_type": self.headers.get("Content-Type")}
                with open(args.log, "a") as f:
                    f.write(json.dumps(rec) + "\n")
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.replace(args.port_file + ".tmp", args.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
