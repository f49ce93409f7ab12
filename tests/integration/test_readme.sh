#!/usr/bin/env bash
# test_readme.sh — the README's curl examples keep working: every fenced
# block marked `sh readme-flow` is extracted in order and run against a real
# nstd, with only the job sizes shrunk (image_size 256 → 32, iterations
# 100 → 3) so that it stays fast. The flow must end with a valid result PNG
# of the requested size and a preview, and the masked job's result.
. "$(dirname "$0")/lib.sh"
make_images
start_nstd --workers 1

"$PY" - "$SRC/README.md" >"$T/flow.sh" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
blocks = re.findall(r"^```sh readme-flow\n(.*?)^```", text, re.S | re.M)
assert blocks, "README has no readme-flow block"
flow = "\n".join(blocks)
flow = flow.replace('"image_size":256', '"image_size":32').replace('"iterations":100', '"iterations":3')
assert '"image_size":256' not in flow
print("set -euo pipefail")
print(flow)
PY
grep -q 'curl' "$T/flow.sh" || fail "no curl in the README flow"

mkdir -p "$T/work"
cp "$T/content.png" "$T/style.png" "$T/style2.png" "$T/work/"
(cd "$T/work" && NSTD=$BASE timeout $((120 * SLOW)) bash "$T/flow.sh") >"$T/flow.out" 2>&1 ||
    { cat "$T/flow.out" >&2; fail "the README flow failed"; }
grep -q 'succeeded' "$T/flow.out" || fail "the README flow did not reach succeeded: $(tail -5 "$T/flow.out")"
expect_eq "$(png_size "$T/work/result.png")" "32 27" "README result size"
png_size "$T/work/preview.png" >/dev/null || fail "README preview is not a PNG"
expect_eq "$(png_size "$T/work/masked.png")" "32 27" "README result of the masked job"
ok "README curl flow runs end to end"

# every route of the API appears in a README curl example
for route in '-F content=@' '/v1/jobs/$id"' '/result"' '/preview"' '/events"' '/v1/jobs?limit' \
             '-X DELETE' '/v1/info"' '$NSTD/"' '/healthz"' '/readyz"' '/metrics"' '/v1/openapi.json"'; do
    grep -qF -- "$route" "$T/flow.sh" || fail "README flow lacks $route"
done
ok "README covers every route"
stop_nstd
