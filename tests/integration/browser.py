#!/usr/bin/env python3
"""browser.py — drive nstd's web page (api/web/index.html) in a real headless
Chromium over the W3C WebDriver HTTP protocol, with the standard library
only (urllib against chromedriver). Used by test_web.sh.

  browser.py --driver URL --chromium PATH --profile DIR --images DIR
             --page URL [--expect URL] [--screenshots DIR] SCENARIO…

--driver is a running chromedriver, --page the address to open (--expect
where the browser must land, after a redirect), --images holds content.png
(96x72), style.png (64x64), style2.png (48x48), mask.png, not-an-image.png
and, for the limits scenario (a server with --max-input-pixels 20000,
--max-upload-bytes 30K and --max-styles 4), huge.png (200x150 pixels, a
few KB), heavy.png (over 30 KB) and medium.png (under 30 KB, over it with
content.png).
--screenshots saves the page as PNG after each scenario (to look at it).
Scenarios, run in order in one browser session:

  form     the form carries the server's defaults, limits and choices
  thumbs   the chosen files show as thumbnails, loaded from the files
           themselves, with their pixel sizes
  limits   a file over the pixel limit, one over the upload size, files
           that add up to more than it and more styles than allowed are
           refused in the page, naming the file and the limit, and no
           request is sent; a good choice clears the message
  success  submit (two styles, image_size 64, 3 iterations, a preview
           every iteration) and watch it through to the result: progress,
           preview shown, one point of the loss curve per progress event,
           result image loaded, the download button saves the result
  masks    two styles with a mask file chosen beside the second (the first
           left without one) and a content mask: the job runs to success
           (test_web.sh reads in the server's log that it got two masks)
  errors   no content image, an invalid parameter, a style file that is no
           image: the page shows the API's error in words, naming the
           field, and marks the input
  cancel   a long job: while it runs the loss curve has one point per
           progress event and the remaining time follows the iteration
           rate of the last events; canceled from the page
  recent   the recent jobs: the jobs of success (its result as thumbnail)
           and cancel are listed; Open shows a job again, Delete removes
           a finished one; a running job submitted elsewhere is canceled
           from its card, then deleted
  busy     (the server's queue already full) a submit is refused with 429:
           the page says the queue is full and when to try again
  prefix   every request the page made went below the page's own URL
           (its URLs are relative, so it works under a proxy prefix)

What the page received and sent is seen by a script the test adds to every
document before the page's own (through Chrome's DevTools protocol): it
records each progress event of every event stream and each fetch.

Prints "ok - …" per check; on failure "FAIL: …" with the page's state and
the browser's console, and exits 1.
"""
import argparse
import base64
import json
import os
import struct
import sys
import time
import urllib.error
import urllib.request

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"   # the W3C key of an element reference

# Run in every document before the page's scripts: records what the page
# receives and sends, for the checks to compare the page with.
#   __seen: each progress event of any event stream, as
#           {id, state, iteration, iterations, loss, elapsed}
#   __sent: each fetch, as {method, url}
WATCH = """
(() => {
  const seen = window.__seen = [], sent = window.__sent = [];
  const Source = window.EventSource;
  window.EventSource = class extends Source {
    constructor(url, options) {
      super(url, options);
      this.addEventListener('progress', (ev) => {
        const d = JSON.parse(ev.data), p = d.progress;
        seen.push({id: d.id, state: d.state, iteration: p.iteration, iterations: p.iterations,
                   loss: p.loss.total, elapsed: p.elapsed_s});
      });
    }
  };
  const fetch = window.fetch;
  window.fetch = function (input, init) {
    sent.push({method: (init && init.method) || 'GET', url: new URL(String(input), location.href).href});
    return fetch.apply(this, arguments);
  };
})();
"""
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
        self.cdp("Page.addScriptToEvaluateOnNewDocument", {"source": WATCH})
        self.downloads = os.path.join(profile, "downloads")
        os.makedirs(self.downloads, exist_ok=True)
        self.cdp("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": self.downloads})

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

    def cdp(self, command, params):
        """A command of Chrome's DevTools protocol, through chromedriver."""
        return self.cmd("POST", "/goog/cdp/execute", {"cmd": command, "params": params})

    def screenshot(self, path):
        """The whole page, beyond the window, as PNG."""
        shot = self.cdp("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        with open(path, "wb") as f:
            f.write(base64.b64decode(shot["data"]))

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
        download: $('download').hidden ? null : $('download').href, cancel_hidden: $('cancel').hidden,
        submit_disabled: $('submit').disabled};
"""


# The curve and the remaining time of the job on show, and what the page
# received, read in one go (no event can come in between). expected: the
# points the curve must have, one per progress event of the job with a loss
# for a later iteration than the one before.
LIVE = """
const $ = (id) => document.getElementById(id), id = $('job').dataset.id;
const expected = [];
for (const e of window.__seen)
    if (e.id === id && e.loss !== null && (!expected.length || e.iteration > expected[expected.length - 1].iteration))
        expected.push(e);
const line = $('curve-line').getAttribute('points').trim();
return {expected, events: window.__seen.filter((e) => e.id === id).length,
        points: Number($('curve').dataset.points), drawn: line ? line.split(/\\s+/).length : 0,
        curve_shown: !$('curve-box').hidden,
        eta: $('remaining').dataset.etaS === undefined ? null : Number($('remaining').dataset.etaS),
        rate: $('remaining').dataset.rate === undefined ? null : Number($('remaining').dataset.rate),
        remaining: $('remaining').textContent, state: $('status').dataset.state};
"""

# What one file thumbnail shows: {name, check, width, height, caption}.
THUMBS = """
return Array.from(document.querySelectorAll('#' + arguments[0] + '-thumbs figure.thumb'), (f) => {
    const img = f.querySelector('img');
    return {name: img.alt, check: f.dataset.check || null, width: img.naturalWidth,
            height: img.naturalHeight, caption: f.querySelector('figcaption').textContent};
});
"""


class Page:
    def __init__(self, wd, url, expect, images, screenshots=None):
        self.wd, self.url, self.expect, self.images = wd, url, expect or url, images
        self.screenshots = screenshots
        self.jobs = {}   # scenario name → the job it ran, for the recent scenario

    def shot(self, name):
        """With --screenshots, the page as it looks now, in NAME.png."""
        if self.screenshots:
            self.wd.screenshot(os.path.join(self.screenshots, name + ".png"))

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

    def server_status(self, path, method="GET"):
        req = urllib.request.Request(self.expect + path, method=method)
        try:
            with urllib.request.urlopen(req, timeout=10) as res:
                return res.status
        except urllib.error.HTTPError as e:
            return e.code

    def sent(self, method, path):
        """How many fetches with this method the page made to this path."""
        return self.wd.js("return window.__sent.filter((r) => r.method === arguments[0] &&"
                          " r.url === arguments[1]).length", method, self.expect + path)

    def thumbs(self, which, n):
        """The thumbnails of #content or #style once all n are read."""
        self.wd.wait("const t = document.querySelectorAll('#' + arguments[0] + '-thumbs figure.thumb');"
                     "return t.length === arguments[1] && Array.from(t).every((f) => f.dataset.check)",
                     "%d %s thumbnails" % (n, which), 20, which, n)
        return self.wd.js(THUMBS, which)

    def live(self):
        return self.wd.js(LIVE)


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


def scenario_thumbs(page):
    page.load()
    page.wd.set_files("#content", [page.image("content.png")])
    page.wd.set_files("#style", [page.image("style.png"), page.image("style2.png")])
    content, styles = page.thumbs("content", 1), page.thumbs("style", 2)
    for t, (name, w, h) in zip(content + styles,
                               [("content.png", 96, 72), ("style.png", 64, 64), ("style2.png", 48, 48)]):
        check(t["name"] == name and (t["width"], t["height"]) == (w, h) and t["check"] == "ok",
              "thumbnail of %s: %r, expected %dx%d" % (name, t, w, h))
        check("%d × %d" % (w, h) in t["caption"], "the caption of %s: %r" % (name, t["caption"]))
    ok("thumbnails of the chosen files, loaded from them: %s" %
       "; ".join(t["caption"].replace("\n", " ") for t in content + styles))


def scenario_limits(page):
    """Each refused choice: the message names the file and the limit, the
    thumbnail says why, and Submit sends nothing."""
    page.load()
    lim = page.server_json("v1/info")["limits"]
    check(lim["max_input_pixels"] == 20000 and lim["max_upload_bytes"] == 30 * 1024 and lim["max_styles"] == 4,
          "the limits scenario needs --max-input-pixels 20000 --max-upload-bytes 30K --max-styles 4: %s" % lim)
    total = page.server_json("v1/jobs")["total"]
    check(page.sent("GET", "v1/info") == 1, "the fetches are not seen (v1/info: %d)" % page.sent("GET", "v1/info"))
    page.fill(image_size=64, iterations=3)
    cases = [  # (content, styles, code, field, words)
        (["huge.png"], ["style.png"], "image_too_large", "content",
         ["Content image (content)", "huge.png", "200 × 150 = 30,000 pixels", "20,000 pixels",
          "max_input_pixels"]),
        (["content.png"], ["style.png", "heavy.png"], "file_too_large", "style[1]",
         ["Style image 2 (style[1])", "heavy.png", "30 KB", "max_upload_bytes"]),
        (["content.png"], ["medium.png"], "upload_too_large", None,
         ["add up to", "30 KB", "max_upload_bytes"]),
        (["content.png"], ["style.png", "style2.png"] * 2 + ["style.png"], "too_many_styles", "style",
         ["Style image (style)", "5 style images", "4", "max_styles"]),
    ]
    for content, styles, code, field, words in cases:
        page.wd.set_files("#content", [page.image(f) for f in content])
        page.wd.set_files("#style", [page.image(f) for f in styles])
        page.wd.wait("return document.getElementById('error').dataset.code === arguments[0]",
                     "the message %s" % code, 20, code)
        msg = expect_error(page, code, field, words)
        refused = [t["name"] for w in ("content", "style") for t in page.thumbs(w, len(content if w == "content" else styles))
                   if t["check"] == "refused"]
        check(refused == ([f for f in content + styles if f in ("huge.png", "heavy.png")]),
              "thumbnails marked refused: %r" % refused)
        page.submit()
        msg = expect_error(page, code, field, words)
        page.shot("limits-" + code)
        check(page.sent("POST", "v1/jobs") == 0, "the page sent a job despite: %s" % msg)
        ok("%s + %s: refused in the page, nothing sent: %r" % (content, styles, msg))
    page.wd.set_files("#content", [page.image("content.png")])
    page.wd.set_files("#style", [page.image("style.png")])
    page.thumbs("style", 1)
    page.wd.wait("return document.getElementById('error').hidden", "the message to go with a good choice", 10)
    check(page.server_json("v1/jobs")["total"] == total, "the server got a job")
    ok("a good choice takes the message away; the server got no job")


def curve_matches(live, what):
    """The curve has one point per progress event with a loss (for a later
    iteration), and draws them all."""
    n = len(live["expected"])
    check(live["points"] == n and live["drawn"] == n,
          "%s: the curve has %d points (%d drawn), the page received %d progress events with a loss (%d in all)"
          % (what, live["points"], live["drawn"], n, live["events"]))
    check(live["curve_shown"] == (n > 0), "%s: curve shown %s with %d points" % (what, live["curve_shown"], n))


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

    live = page.live()
    curve_matches(live, "at the end")
    check(live["points"] >= 1, "no point on the curve")
    ok("the loss curve has one point per progress event received (%d of %d events)" %
       (live["points"], live["events"]))

    name = "nst-%s.png" % job
    saved = os.path.join(page.wd.downloads, name)
    page.wd.click("#download")
    deadline = time.time() + 20 * SLOW
    while not (os.path.exists(saved) and os.path.getsize(saved) > 0):
        check(time.time() < deadline, "the download button saved nothing: %r" % os.listdir(page.wd.downloads))
        time.sleep(0.05)
    with open(saved, "rb") as f:
        check(png_size(f.read()) == (64, 48), "the saved file is not the 64x48 result")
    ok("the download button saved %s, the 64x48 result" % name)
    page.jobs["success"] = job

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

    # the curve and the remaining time after some progress events (the
    # window of the rate is the last 10 points)
    page.wd.wait("return Number(document.getElementById('curve').dataset.points) >= 12",
                 "12 points on the loss curve", 60)
    live = page.live()
    curve_matches(live, "while running")
    check(live["state"] == "running", "the job is %s" % live["state"])
    window = live["expected"][-10:]
    rate = (window[-1]["iteration"] - window[0]["iteration"]) / (window[-1]["elapsed"] - window[0]["elapsed"])
    eta = (window[-1]["iterations"] - window[-1]["iteration"]) / rate
    check(live["rate"] is not None and abs(live["rate"] - rate) <= 1e-6 * rate,
          "the page's rate %r, the events' %r iterations/s" % (live["rate"], rate))
    check(live["eta"] is not None and abs(live["eta"] - eta) <= 1e-6 * eta,
          "the page's remaining time %r s, from the events %r s" % (live["eta"], eta))
    check(live["remaining"].startswith("about ") and "iterations/s" in live["remaining"],
          "remaining shows %r" % live["remaining"])
    ok("while running: %d points on the curve for %d progress events; remaining %r (%.1f s at %.2f iterations/s"
       " over the last 10 events)" % (live["points"], live["events"], live["remaining"], eta, rate))
    page.shot("cancel-running")
    page.wd.click("#cancel")
    st = page.wait_end(30)
    check(st["state"] == "canceled", "after Cancel the job is %s: %s" % (st["state"], st["status"]))
    check(page.server_json("v1/jobs/" + st["job"])["state"] == "canceled", "the server's job is not canceled")
    ok("Cancel stops a running job (%s, at %s)" % (st["status"], st["iteration"]))
    page.jobs["cancel"] = st["job"]


# The cards of the recent jobs, newest first: [{id, state, thumb: [w, h] of
# its loaded image or null, delete: the label of its delete button,
# download: its link or null}].
CARDS = """Array.from(document.querySelectorAll('#recent-list > li'), (li) => {
    const img = li.querySelector('img.thumb');
    return {id: li.dataset.id, state: li.dataset.state,
            thumb: img.complete && !img.hidden && img.naturalWidth ? [img.naturalWidth, img.naturalHeight] : null,
            delete: li.querySelector('.delete').textContent,
            download: li.querySelector('.download').hidden ? null : li.querySelector('.download').href};
})
"""


def card_where(page, job, cond, what, timeout=30):
    """Wait until the card of job satisfies cond (a JS expression on c); return it."""
    return page.wd.wait("const c = " + CARDS + ".find((c) => c.id === arguments[0]);"
                        " return c && (" + cond + ") ? c : null", what, timeout, job)


def scenario_recent(page):
    done, canceled = page.jobs["success"], page.jobs["cancel"]
    page.load()
    card = card_where(page, done, "c.thumb !== null", "the card of job %s with its thumbnail" % done)
    check(card["state"] == "succeeded" and card["thumb"] == [64, 48] and card["delete"] == "Delete",
          "the card of the succeeded job: %r" % card)
    check(card["download"] == page.expect + "v1/jobs/%s/result" % done, "its download link: %r" % card["download"])
    card = card_where(page, canceled, "true", "the card of the canceled job %s" % canceled)
    check(card["state"] == "canceled", "the card of the canceled job: %r" % card)
    ids = [c["id"] for c in page.wd.js("return " + CARDS)]
    check(ids.index(canceled) < ids.index(done), "not newest first: %r" % ids)
    ok("the recent jobs list the succeeded job (its 64x48 result as thumbnail) and the canceled one")

    page.wd.click('#recent-list li[data-id="%s"] .actions .open' % done)
    page.wd.wait("return document.getElementById('job').dataset.id === arguments[0] &&"
                 " document.getElementById('result').naturalWidth > 0", "the job to open", 20, done)
    st = page.state()
    check(st["state"] == "succeeded" and st["iteration"].startswith("3 of 3") and
          (st["result_width"], st["result_height"]) == (64, 48) and st["download"],
          "the reopened job: %r" % st)
    ok("Open shows the job again: %s, %s, its result and download" % (st["status"], st["iteration"]))

    page.wd.click('#recent-list li[data-id="%s"] .delete' % canceled)
    page.wd.wait("return !document.querySelector('#recent-list li[data-id=\"' + arguments[0] + '\"]')",
                 "the deleted job's card to go", 20, canceled)
    check(page.server_status("v1/jobs/" + canceled) == 404, "the deleted job is still on the server")
    ok("Delete removes a finished job from the list and the server")

    # a job from elsewhere (a long one, running or queued behind the end of
    # the canceled one): Refresh lists it, its card cancels it, then deletes it
    other = multipart_job(page, {"image_size": 64, "iterations": 300, "preview_every": 1})
    page.wd.click("#recent-refresh")
    card = card_where(page, other, "c.delete === 'Cancel'", "the card of the running job %s" % other)
    page.wd.click('#recent-list li[data-id="%s"] .delete' % other)
    card = card_where(page, other, "c.state === 'canceled' && c.delete === 'Delete'",
                      "the card of job %s to show it canceled" % other)
    check(page.server_json("v1/jobs/" + other)["state"] == "canceled", "the server's job is not canceled")
    page.wd.click('#recent-list li[data-id="%s"] .delete' % other)
    page.wd.wait("return !document.querySelector('#recent-list li[data-id=\"' + arguments[0] + '\"]')",
                 "the canceled job's card to go", 20, other)
    check(page.server_status("v1/jobs/" + other) == 404, "the deleted job is still on the server")
    ok("a job submitted elsewhere: listed after Refresh, canceled from its card, then deleted")


def multipart_job(page, params):
    """Submit a job as another client would (content.png, style.png); its id."""
    boundary = "nst-test-boundary"
    parts = []
    for name, fname in (("content", "content.png"), ("style", "style.png")):
        with open(page.image(fname), "rb") as f:
            parts.append(b"--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
                         b"Content-Type: image/png\r\n\r\n" % (boundary.encode(), name.encode(), fname.encode())
                         + f.read() + b"\r\n")
    parts.append(b"--%s\r\nContent-Disposition: form-data; name=\"params\"\r\n\r\n%s\r\n--%s--\r\n"
                 % (boundary.encode(), json.dumps(params).encode(), boundary.encode()))
    req = urllib.request.Request(page.expect + "v1/jobs", data=b"".join(parts), method="POST",
                                 headers={"Content-Type": "multipart/form-data; boundary=" + boundary})
    with urllib.request.urlopen(req, timeout=30) as res:
        return json.load(res)["id"]


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


SCENARIOS = {"form": scenario_form, "thumbs": scenario_thumbs, "limits": scenario_limits,
             "success": scenario_success, "errors": scenario_errors, "cancel": scenario_cancel,
             "recent": scenario_recent, "masks": scenario_masks, "busy": scenario_busy, "prefix": scenario_prefix}


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
    ap.add_argument("--screenshots")
    ap.add_argument("scenarios", nargs="+", choices=sorted(SCENARIOS))
    args = ap.parse_args()

    wd, page = None, None
    try:
        wd = WebDriver(args.driver, args.chromium, args.profile)
        page = Page(wd, args.page, args.expect, args.images, args.screenshots)
        for name in args.scenarios:
            SCENARIOS[name](page)
            page.shot(name)
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
