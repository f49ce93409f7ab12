#!/usr/bin/env python3
"""browser.py — drive nstd's web page (api/web/index.html) in a real headless
Chromium over the W3C WebDriver HTTP protocol, with the standard library
only (urllib against chromedriver). Used by test_web.sh.

  browser.py --driver URL --chromium PATH --profile DIR --images DIR
             --page URL [--expect URL] SCENARIO…

--driver is a running chromedriver, --page the address to open (--expect
where the browser must land, after a redirect), --images holds content.png,
style.png, style2.png, mask.png and not-an-image.png. Scenarios, run in order in one browser session:

  form     the form carries the server's defaults, limits and choices
  success  submit (two styles, image_size 64, 3 iterations, a preview
           every iteration) and watch it through to the result: progress,
           preview shown, result image loaded, download link to the result
  masks    two styles with a mask file chosen beside the second (the first
           left without one) and a content mask: the job runs to success
           (test_web.sh reads in the server's log that it got two masks)
  errors   no content image, an invalid parameter, a style file that is no
           image: the page shows the API's error in words, naming the
           field, and marks the input
  cancel   a long job, canceled from the page while it runs
  busy     (the server's queue already full) a submit is refused with 429:
           the page says the queue is full and when to try again
  prefix   every request the page made went below the page's own URL
           (its URLs are relative, so it works under a proxy prefix)

Prints "ok - …" per check; on failure "FAIL: …" with the page's state and
the browser's console, and exits 1.
"""
import argparse
import json
import os
import struct
import sys
import time
import urllib.error
import urllib.request

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"   # the W3C key of an element reference
SLOW = int(os.environ.get("NST_TEST_SLOW_FACTOR", "1"))


class Failure(Exception):
    pass


def ok(what):
    print("ok - " + what, flush=True)


def check(cond, what):
    if not cond:
        raise Failure(what)


# ================================================================ WebDriver

class WebDriver:
    """One browser session; the few W3C WebDriver commands the test needs."""

    def __init__(self, driver, chromium, profile):
        self.driver = driver.rstrip("/")
        self.session = None
        caps = {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                # as root Chromium needs --no-sandbox; the profile is the test's own
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions",
                         "--window-size=1200,1000", "--user-data-dir=" + profile],
            },
            "goog:loggingPrefs": {"browser": "ALL"},
        }
        value = self._call("POST", "/session", {"capabilities": {"alwaysMatch": caps}})
        self.session = value["sessionId"]

    def _call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.driver + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60 * SLOW) as res:
                return json.load(res).get("value")
        except urllib.error.HTTPError as e:
            detail = e.read().decode(errors="replace")
            try:
                v = json.loads(detail)["value"]
                detail = "%s: %s" % (v.get("error"), v.get("message", "").split("\n")[0])
            except (ValueError, KeyError, AttributeError):
                pass
            raise Failure("WebDriver %s %s: %s" % (method, path, detail))
        except urllib.error.URLError as e:
            raise Failure("chromedriver at %s does not answer: %s" % (self.driver, e.reason))

    def cmd(self, method, path, body=None):
        return self._call(method, "/session/%s%s" % (self.session, path), body)

    def quit(self):
        if self.session:
            try:
                self._call("DELETE", "/session/" + self.session)
            except Failure:
                pass
            self.session = None

    def open(self, url):
        self.cmd("POST", "/url", {"url": url})

    def js(self, script, *args):
        return self.cmd("POST", "/execute/sync", {"script": script, "args": list(args)})

    def find(self, css):
        return self.cmd("POST", "/element", {"using": "css selector", "value": css})[ELEMENT]

    def click(self, css):
        self.cmd("POST", "/element/%s/click" % self.find(css), {})

    def type(self, css, text):
        """Replace an input's value by typing, as a user would."""
        el = self.find(css)
        self.cmd("POST", "/element/%s/clear" % el, {})
        self.cmd("POST", "/element/%s/value" % el, {"text": str(text)})

    def set_files(self, css, paths):
        """Choose files: the input takes their paths, one per line. chromedriver
        adds to a multiple input's selection, so it is emptied first."""
        el = self.find(css)
        self.js("arguments[0].value = ''", {ELEMENT: el})
        self.cmd("POST", "/element/%s/value" % el, {"text": "\n".join(paths)})

    def wait(self, script, what, timeout=30, *args):
        """Poll a script until it returns something truthy; return that."""
        deadline = time.time() + timeout * SLOW
        while True:
            value = self.js(script, *args)
            if value:
                return value
            if time.time() > deadline:
                raise Failure("timed out after %d s waiting for %s" % (timeout * SLOW, what))
            time.sleep(0.05)

    def console(self):
        """The browser's console messages since the last call ([] if unsupported)."""
        try:
            return self.cmd("POST", "/se/log", {"type": "browser"}) or []
        except Failure:
            return []


# ================================================================ the page

STATE = """
const $ = (id) => document.getElementById(id);
return {url: location.href, ready: document.body.dataset.ready || null,
        job: $('job').hidden ? null : $('job').dataset.id,
        state: $('status').dataset.state || null, status: $('status').textContent,
        iteration: $('iteration').textContent, remaining: $('remaining').textContent,
        error: $('error').hidden ? null : $('error').textContent,
        error_code: $('error').dataset.code || null, error_field: $('error').dataset.field || null,
        previews: Number($('preview').dataset.loads),
        result_width: $('result').naturalWidth, result_height: $('result').naturalHeight,
        download: $('download').href, cancel_hidden: $('cancel').hidden,
        submit_disabled: $('submit').disabled};
"""


class Page:
    def __init__(self, wd, url, expect, images):
        self.wd, self.url, self.expect, self.images = wd, url, expect or url, images

    def state(self):
        return self.wd.js(STATE)

    def load(self):
        """A fresh page, with the settings read from the server."""
        self.wd.open(self.url)
        self.wd.wait("return document.body.dataset.ready === 'true'", "the page to load its settings", 20)
        st = self.state()
        check(st["url"].split("#")[0] == self.expect, "the page is at %s, expected %s" % (st["url"], self.expect))
        check(st["error"] is None, "error at load: %s" % st["error"])

    def image(self, name):
        return os.path.join(self.images, name)

    def fill(self, **params):
        """Type parameters into the form; the more-parameters box is opened first."""
        self.wd.js("document.querySelector('#job-form details').open = true")
        for name, value in params.items():
            self.wd.type("[name=%s]" % name, value)

    def submit(self):
        self.wd.click("#submit")

    def wait_end(self, timeout=60):
        """Wait for the job on show to reach a final state; return the page state."""
        self.wd.wait("const s = document.getElementById('status').dataset.state;"
                     "return ['succeeded', 'failed', 'canceled', 'gone'].includes(s)",
                     "the job to end (%s)" % self.state()["status"], timeout)
        return self.state()

    def server_json(self, path):
        with urllib.request.urlopen(self.expect + path, timeout=10) as res:
            return json.load(res)


def png_size(data):
    check(data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", "not a PNG")
    return struct.unpack(">II", data[16:24])


# ================================================================ scenarios

def scenario_form(page):
    page.load()
    info = page.server_json("v1/info")
    fields = page.wd.js("""
        const f = {};
        for (const el of document.querySelectorAll('[data-param]'))
            f[el.name] = {value: el.value, min: el.min, max: el.max,
                          options: el.tagName === 'SELECT' ? Array.from(el.options, (o) => o.value) : null};
        return f;""")
    d, lim = info["defaults"], info["limits"]
    for name in ("image_size", "iterations", "alpha", "beta", "tv_weight", "preview_every", "seed"):
        check(float(fields[name]["value"]) == float(d[name]),
              "%s shows %r, the server's default is %r" % (name, fields[name]["value"], d[name]))
    for name in ("optimizer", "init", "preserve_colors", "pooling"):
        check(fields[name]["value"] == d[name], "%s shows %r, default %r" % (name, fields[name]["value"], d[name]))
    check(fields["image_size"]["max"] == str(lim["max_image_size"]), "image_size max %r" % fields["image_size"]["max"])
    check(fields["iterations"]["max"] == str(lim["max_iterations"]), "iterations max %r" % fields["iterations"]["max"])
    check(fields["optimizer"]["options"] == ["lbfgs", "adam"], "optimizer choices %r" % fields["optimizer"]["options"])
    check(fields["preserve_colors"]["options"] == ["none", "luminance", "histogram"],
          "preserve_colors choices %r" % fields["preserve_colors"]["options"])
    about = page.wd.js("return document.getElementById('about').textContent")
    check(info["model"]["name"] in about, "the model is not named: %r" % about)
    ok("the form shows the server's defaults, limits and choices (%s)" % page.url)


def scenario_success(page):
    page.load()
    page.wd.set_files("#content", [page.image("content.png")])
    page.wd.set_files("#style", [page.image("style.png"), page.image("style2.png")])
    page.fill(image_size=64, iterations=3, preview_every=1)
    page.submit()
    st = page.wait_end()
    job = st["job"]
    check(st["state"] == "succeeded", "the job ended %s: %s" % (st["state"], st["status"]))
    check(st["iteration"].startswith("3 of 3 (100 %)"), "progress shows %r" % st["iteration"])
    ok("submitted from the page; job %s succeeded, progress %s" % (job, st["iteration"]))

    st = page.state()
    if not st["result_width"]:
        page.wd.wait("return document.getElementById('result').naturalWidth > 0", "the result image", 20)
        st = page.state()
    check((st["result_width"], st["result_height"]) == (64, 48),
          "result image %dx%d, expected 64x48" % (st["result_width"], st["result_height"]))
    want = page.expect + "v1/jobs/%s/result" % job
    check(st["download"] == want, "download link %s, expected %s" % (st["download"], want))
    with urllib.request.urlopen(st["download"], timeout=10) as res:
        check(png_size(res.read()) == (64, 48), "the download is not the 64x48 result")
    ok("result image loaded (%dx%d) and the download link is the job's result" %
       (st["result_width"], st["result_height"]))

    check(st["previews"] >= 1, "no preview was shown")
    check(st["cancel_hidden"] and not st["submit_disabled"], "Cancel still shown or Submit still disabled")
    job_json = page.server_json("v1/jobs/" + job)
    check(job_json["params"]["iterations"] == 3 and job_json["params"]["image_size"] == 64 and
          job_json["params"]["preview_every"] == 1, "the job's params: %s" % job_json["params"])
    check(page.wd.js("return location.hash") == "#job=" + job, "the address does not name the job")
    ok("the preview was shown (%d loads); the job got the form's params" % st["previews"])


def scenario_masks(page):
    page.load()
    page.wd.set_files("#content", [page.image("content.png")])
    page.wd.set_files("#style", [page.image("style.png"), page.image("style2.png")])
    n = page.wd.wait("return document.querySelectorAll('#style-masks input[type=file]').length",
                     "a mask input beside each style", 10)
    check(n == 2, "%d mask inputs for two styles" % n)
    page.wd.set_files("#style-masks label:nth-child(2) input", [page.image("mask.png")])
    page.wd.set_files("#content_mask", [page.image("mask.png")])
    page.fill(image_size=64, iterations=2, preview_every=1)
    page.submit()
    st = page.wait_end()
    check(st["state"] == "succeeded", "the masked job ended %s: %s" % (st["state"], st["status"]))
    ok("a mask beside the second style and a content mask, submitted from the page: job %s "
       "succeeded" % st["job"])


def expect_error(page, code, field, words):
    """The page shows the API's error `code` (naming `field`, or none) in a
    message with these words, marks that input, and shows no job."""
    page.wd.wait("const e = document.getElementById('error'); return !e.hidden && e.dataset.code",
                 "an error message", 20)
    st = page.state()
    check(st["error_code"] == code and st["error_field"] == field,
          "error %s/%s, expected %s/%s: %s" % (st["error_code"], st["error_field"], code, field, st["error"]))
    for w in words:
        check(w in st["error"], "the message %r does not say %r" % (st["error"], w))
    check(st["job"] is None, "a job is shown after a refused submit")
    invalid = page.wd.js("return Array.from(document.querySelectorAll('[aria-invalid=true]'), (e) => e.name)")
    check(invalid == ([field.split("[")[0]] if field else []), "inputs marked invalid: %r" % invalid)
    return st["error"]


def scenario_errors(page):
    page.load()
    page.wd.set_files("#style", [page.image("style.png")])
    page.submit()
    msg = expect_error(page, "missing_part", "content", ["Content image", "(content)"])
    ok("no content image: the page says %r" % msg)

    page.wd.set_files("#content", [page.image("content.png")])
    page.fill(iterations=0)
    page.submit()
    msg = expect_error(page, "invalid_params", "iterations", ["Iterations (iterations)"])
    ok("invalid iterations: the page says %r" % msg)

    page.fill(iterations=3)
    page.wd.set_files("#style", [page.image("style.png"), page.image("not-an-image.png")])
    page.submit()
    msg = expect_error(page, "invalid_image", "style[1]", ["Style image 2 (style[1])"])
    ok("a second style that is no image: the page says %r" % msg)


def scenario_cancel(page):
    page.load()
    page.wd.set_files("#content", [page.image("content.png")])
    page.wd.set_files("#style", [page.image("style.png")])
    maximum = page.wd.js("return document.querySelector('[name=iterations]').max")
    page.fill(image_size=64, iterations=maximum, preview_every=1)
    page.submit()
    page.wd.wait("return document.getElementById('status').dataset.state === 'running' &&"
                 " Number(document.getElementById('preview').dataset.loads) > 0",
                 "the job to run and show a preview", 60)
    st = page.state()
    check(not st["cancel_hidden"] and st["submit_disabled"], "Cancel hidden or Submit enabled while running")
    check(st["remaining"].startswith("about "), "no remaining time while running: %r" % st["remaining"])
    page.wd.click("#cancel")
    st = page.wait_end(30)
    check(st["state"] == "canceled", "after Cancel the job is %s: %s" % (st["state"], st["status"]))
    check(page.server_json("v1/jobs/" + st["job"])["state"] == "canceled", "the server's job is not canceled")
    ok("Cancel stops a running job (%s, at %s)" % (st["status"], st["iteration"]))


def scenario_busy(page):
    page.load()
    page.wd.set_files("#content", [page.image("content.png")])
    page.wd.set_files("#style", [page.image("style.png")])
    page.fill(image_size=64, iterations=3)
    page.submit()
    msg = expect_error(page, "queue_full", None, ["queue is full", "Try again in"])
    ok("queue full (429): the page says %r" % msg)


def scenario_prefix(page):
    urls = page.wd.js("return performance.getEntriesByType('resource').map((e) => e.name)")
    check(len(urls) >= 4, "only %d requests recorded: %r" % (len(urls), urls))
    outside = [u for u in urls if not u.startswith(page.expect)]
    check(not outside, "requests outside %s: %r" % (page.expect, outside))
    ok("all %d requests of the page stayed below %s" % (len(urls), page.expect))


SCENARIOS = {"form": scenario_form, "success": scenario_success, "masks": scenario_masks,
             "errors": scenario_errors,
             "cancel": scenario_cancel, "busy": scenario_busy, "prefix": scenario_prefix}


# ================================================================ main

def problems(entries):
    """Console entries that mean the page is broken: script errors, blocked loads."""
    bad = ("Uncaught", "Content Security Policy", "Refused to")
    return [e.get("message", "") for e in entries if any(b in e.get("message", "") for b in bad)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--driver", required=True)
    ap.add_argument("--chromium", required=True)
    ap.add_argument("--profile", required=True)
    ap.add_argument("--images", required=True)
    ap.add_argument("--page", required=True)
    ap.add_argument("--expect")
    ap.add_argument("scenarios", nargs="+", choices=sorted(SCENARIOS))
    args = ap.parse_args()

    wd, page = None, None
    try:
        wd = WebDriver(args.driver, args.chromium, args.profile)
        page = Page(wd, args.page, args.expect, args.images)
        for name in args.scenarios:
            SCENARIOS[name](page)
            bad = problems(wd.console())
            check(not bad, "the browser's console after %s: %s" % (name, bad))
        return 0
    except Failure as e:
        print("FAIL: %s" % e, file=sys.stderr)
        if wd and wd.session:
            try:
                print("page state: %s" % json.dumps(page.state()), file=sys.stderr)
            except Failure:
                pass
            for entry in wd.console():
                print("console: %s %s" % (entry.get("level"), entry.get("message")), file=sys.stderr)
        return 1
    finally:
        if wd:
            wd.quit()


if __name__ == "__main__":
    sys.exit(main())
