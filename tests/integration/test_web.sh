#!/usr/bin/env bash
# test_web.sh — the web page at GET / in a real browser: headless Chromium
# driven through chromedriver by browser.py (W3C WebDriver from the Python
# standard library) against a real nstd with small limits (64 px).
#
#   at the root of a plain nstd: the form shows the server's defaults and
#     limits; the chosen files show as thumbnails; files over the pixel or
#     upload limits are refused in the page, naming file and limit, with
#     nothing sent; a job submitted from it runs to the end with progress,
#     a preview, a loss curve of one point per progress event, the result
#     image and a download button that saves it; the API's errors (no
#     content image, an invalid parameter, a style file that is no image)
#     are shown naming the field; while a long job runs the curve grows and
#     the remaining time follows the iteration rate, and Cancel stops it;
#     the recent jobs list those jobs with thumbnails, reopen, cancel and
#     delete them; a mask chosen beside the second of two styles and a
#     content mask reach the server in their places; a full queue (429) is
#     explained
#   under the base path /nst, directly (nstd redirects /nst to /nst/) and
#     through a real nginx with docker/nginx.conf, which forwards only
#     /nst/: a job runs from the page, and every request the page makes
#     stays below /nst/ (its URLs are relative)
#
# Chromium and chromedriver are required (scripts/test installs the
# chromium and chromium-driver packages); without them the test fails.
. "$(dirname "$0")/lib.sh"
CHROMIUM=${NST_CHROMIUM:-/usr/bin/chromium}
CHROMEDRIVER=${NST_CHROMEDRIVER:-/usr/bin/chromedriver}
[ -x "$CHROMIUM" ] || fail "$CHROMIUM not found: install the chromium package (scripts/test does)"
[ -x "$CHROMEDRIVER" ] || fail "$CHROMEDRIVER not found: install the chromium-driver package (scripts/test does)"

# inputs: a 4:3 photo (a 64 px result is 64x48) and two styles
$IMAGES gradient 96 72 "$T/content.png"
$IMAGES stripes 64 64 "$T/style.png"
$IMAGES noise 48 48 "$T/style2.png" 7
echo "not a picture" >"$T/not-an-image.png"
# for the limits (20000 pixels an image, 30 KB an upload): 30000 pixels in a
# few KB, 36 KB of 12000 pixels, and 24 KB that with content.png (14 KB) is
# too much
$IMAGES solid 200 150 "$T/huge.png"
$IMAGES noise 120 100 "$T/heavy.png" 3
$IMAGES noise 100 80 "$T/medium.png" 5
$IMAGES right 32 24 "$T/mask.png"

# chromedriver in its own process group, so that the browsers it starts go
# with it at exit
DPORT=$(free_port)
DRIVER=http://127.0.0.1:$DPORT
setsid "$CHROMEDRIVER" --port="$DPORT" --log-path="$T/chromedriver.log" >/dev/null 2>&1 &
keep_pid $!
deadline=$(( $(date +%s) + 20 * SLOW ))
until curl -fs "$DRIVER/status" 2>/dev/null | grep -q '"ready": *true'; do
    [ "$(date +%s)" -lt $deadline ] || fail "chromedriver did not start: $(tail -n 20 "$T/chromedriver.log")"
    sleep 0.1
done
ok "chromedriver $("$CHROMEDRIVER" --version | awk '{print $2}') is ready"

browser() { # --page URL [--expect URL] SCENARIO…: one browser session
    "$PY" "$SRC/tests/integration/browser.py" --driver "$DRIVER" --chromium "$CHROMIUM" \
        --profile "$T/profile-$RANDOM" --images "$T" ${NST_WEB_SCREENSHOTS:+--screenshots "$NST_WEB_SCREENSHOTS"} \
        "$@" || fail "the page in the browser ($*)"
}

LIMITS=(--workers 1 --max-image-size 64 --max-iterations 300 --max-input-pixels 20000 --max-upload-bytes 30K
        --max-styles 4)

# ---------------------------------------------------------------- at the root
# (a queue of one: the page's jobs run one at a time, so it is never full
# until two long jobs fill the worker and the queue)
start_nstd "${LIMITS[@]}" --queue-size 1
browser --page "$BASE/" form thumbs limits success errors cancel recent masks
grep -q '"event":"job_submitted","styles":2,"masks":2,' "$NSTD_LOG" ||
    fail "the page's masked job did not reach the server with its two masks"
compgen -G "$DATA/jobs/*/style-mask-1" >/dev/null && compgen -G "$DATA/jobs/*/content-mask" >/dev/null &&
    ! compgen -G "$DATA/jobs/*/style-mask-0" >/dev/null ||
    fail "the stored masks are not the second style's and the content's: $(ls "$DATA"/jobs/*/)"
ok "the page sent the style mask in the second style's place and the content mask"
# the first must be running (the worker may still be ending the canceled
# job) before the second can take the one place in the queue
long=$(submit '{"image_size":64,"iterations":300}')
wait_state "$long" running 60
submit '{"image_size":64,"iterations":300}' >/dev/null
browser --page "$BASE/" busy
stop_nstd
expect_eq "$STOP_RC" 0 "exit status"

# ---------------------------------------------------------------- under /nst
DATA=$T/data-nst   # a fresh store: the long jobs above would resume first
start_nstd "${LIMITS[@]}" --base-path /nst
start_proxy
browser --page "$BASE/nst" --expect "$BASE/nst/" success prefix
ok "directly under the base path: /nst redirects to /nst/ and the page works there"
browser --page "$PROXY" --expect "$PROXY/" success prefix
ok "through nginx under /nst/: the page works with its relative URLs"
stop_nstd
expect_eq "$STOP_RC" 0 "exit status"
