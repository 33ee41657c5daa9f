#!/usr/bin/env bash
# mask end to end (`weir run`, file source and sinks): card numbers, e-mails
# and IPs in a JSON Lines file and a CSV file become their HMAC-SHA256,
# checked against `openssl dgst -sha256 -hmac` and Python's hmac; no raw
# value is left in any output (JSON, text) or dead letter, whether the record
# was killed before mask (invalid JSON) or after it (a later extract); the
# key comes from a file beside the pipeline (run from elsewhere) or from an
# environment variable; a key in the pipeline file is refused; fields nested
# in objects are masked by JSON pointer.
# Env: WEIR_BIN (the weir binary), WEIR_SRC (the repository root).
set -u

. "$(dirname "$0")/lib.sh"

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
PY=/usr/bin/python3

mkdir -p "$T/conf"
printf 'k3y-from-file\n' >"$T/conf/mask.key"
cat >"$T/in.jsonl" <<'IN'
{"card":"4111111111111111","email":"ann@example.com","ip":"10.1.2.3","amount":12.5}
{"card":4222222222222222,"email":"bob@example.com","ip":"10.9.9.9"}
{"card":"4333333333333333","email":"c\u0040example.com","ip":"10.7.7.7","amount":1,"card":"4444444444444444"}
{"card":"4555555555555555", "email": "dan@example.com"
{"card":null,"email":"eve@example.com","ip":"10.0.0.1","amount":3}
IN
cat >"$T/conf/p.json" <<JSON
{
  "source": {"type": "file", "path": "$T/in.jsonl"},
  "operators": [
    {"type": "mask", "fields": ["card", "email", "ip"], "key_file": "mask.key"},
    {"type": "extract", "fields": {"amount": "/amount"}}
  ],
  "sinks": [
    {"type": "file", "path": "$T/out.jsonl"},
    {"type": "file", "path": "$T/out.txt", "format": "text"},
    {"type": "file", "path": "$T/cards.jsonl", "fields": ["card", "amount"]}
  ],
  "dead_letter": {"type": "file", "path": "$T/dead.jsonl"}
}
JSON
(cd / && "$WEIR_BIN" run "$T/conf/p.json" --quiet) 2>"$T/err"
rc=$?
if [ "$rc" -eq 0 ]; then ok; else fail "run: exit $rc: $(cat "$T/err")"; fi
if [ "$(wc -l <"$T/out.jsonl")" -eq 3 ] && [ "$(wc -l <"$T/dead.jsonl")" -eq 2 ]; then ok
else fail "3 outputs and 2 dead letters expected: $(cat "$T/out.jsonl" "$T/dead.jsonl")"; fi

# No raw value anywhere.
leaks=$(grep -l -E '4[1-5]{3}[0-9]{12}|@example|10\.[0-9]+\.[0-9]+\.[0-9]+|c\\u0040' \
    "$T/out.jsonl" "$T/out.txt" "$T/cards.jsonl" "$T/dead.jsonl" "$T/err")
if [ -z "$leaks" ]; then ok; else fail "raw values in: $leaks"; fi

# The masks are HMAC-SHA256 with the file's key (newline stripped).
want=$(printf '%s' 4111111111111111 | openssl dgst -sha256 -hmac k3y-from-file | sed 's/.*= //')
got=$(head -1 "$T/out.jsonl" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["card"])')
if [ -n "$want" ] && [ "$got" = "$want" ]; then ok; else fail "card mask $got, openssl says $want"; fi
if "$PY" - "$T/out.jsonl" "$T/cards.jsonl" <<'PYEOF'; then ok; else fail "masks differ from Python's hmac"; fi
import hashlib, hmac, json, sys
def m(v):
    return hmac.new(b"k3y-from-file", v.encode(), hashlib.sha256).hexdigest()
out = [json.loads(l, object_pairs_hook=lambda p: p) for l in open(sys.argv[1])]
# line 1, line 3 (a duplicated key, an escaped e-mail), line 5 (null card)
assert dict(out[0])["email"] == m("ann@example.com") and dict(out[0])["ip"] == m("10.1.2.3")
assert [v for k, v in out[1] if k == "card"] == [m("4333333333333333"), m("4444444444444444")]
assert dict(out[1])["email"] == m("c@example.com")
assert dict(out[2])["card"] is None and dict(out[2])["email"] == m("eve@example.com")
cards = [json.loads(l) for l in open(sys.argv[2])]
assert cards[0] == {"card": m("4111111111111111"), "amount": 12.5}, cards[0]
PYEOF
# The record killed after mask (no amount) has its masked bytes as raw; the
# one killed before (invalid JSON) has none.
if "$PY" - "$T/dead.jsonl" <<'PYEOF'; then ok; else fail "dead letters: $(cat "$T/dead.jsonl")"; fi
import hashlib, hmac, json, sys
dead = {d["line"]: d for d in map(json.loads, open(sys.argv[1]))}
assert dead[4]["raw"] == "" and "invalid JSON" in dead[4]["reason"], dead[4]
raw2 = json.loads(dead[2]["raw"])
assert raw2["card"] == hmac.new(b"k3y-from-file", b"4222222222222222", hashlib.sha256).hexdigest()
PYEOF

# CSV (its path from the environment: ${VAR}), a key from the environment,
# truncated: same key, same mask (joins).
printf 'card,amount\n4111111111111111,5\n4111111111111111,6\n' >"$T/in.csv"
cat >"$T/c.json" <<JSON
{
  "source": {"type": "file", "path": "\${WEIR_TEST_T}/in.csv"},
  "operators": [{"type": "mask", "fields": ["card"], "key_env": "WEIR_TEST_KEY", "length": 16}],
  "sinks": [{"type": "file", "path": "$T/c.jsonl"}],
  "dead_letter": {"type": "file", "path": "$T/cdead.jsonl"}
}
JSON
WEIR_TEST_T=$T WEIR_TEST_KEY=k3y-from-file "$WEIR_BIN" run "$T/c.json" --quiet 2>"$T/err"
w16=${want:0:16}
if [ "$(cat "$T/c.jsonl")" = "{\"card\":\"$w16\",\"amount\":5,\"alert\":false}
{\"card\":\"$w16\",\"amount\":6,\"alert\":false}" ]; then ok
else fail "csv mask: $(cat "$T/c.jsonl" "$T/err")"; fi

# Nested fields by JSON pointer, grouped by the masked column: the raw value
# is gone from outputs and from the dead letter of a record killed later.
cat >"$T/n.jsonl" <<'IN'
{"user":{"card":"4111111111111111","name":"ann"},"amount":1}
{"user":{"card":"4111111111111111"},"amount":2}
{"user":{"card":"4999999999999999"}}
IN
cat >"$T/n.json" <<JSON
{
  "source": {"type": "file", "path": "$T/n.jsonl"},
  "operators": [{"type": "mask", "fields": ["/user/card"], "key_env": "WEIR_TEST_KEY"},
                {"type": "extract", "fields": {"amount": "/amount"}}],
  "sinks": [{"type": "file", "path": "$T/n.out"}],
  "dead_letter": {"type": "file", "path": "$T/n.dead"}
}
JSON
WEIR_TEST_KEY=k3y-from-file "$WEIR_BIN" run "$T/n.json" --quiet 2>"$T/err"
if "$PY" - "$T/n.out" "$T/n.dead" "$want" <<'PYEOF'; then ok; else fail "nested mask: $(cat "$T/n.out" "$T/n.dead" "$T/err")"; fi
import json, sys
out = [json.loads(l) for l in open(sys.argv[1])]
assert [o["user"]["card"] for o in out] == [sys.argv[3]] * 2, out
assert out[0]["user"]["name"] == "ann"
dead = [json.loads(l) for l in open(sys.argv[2])]
assert len(dead) == 1 and "4999" not in json.dumps(dead), dead
PYEOF

# Without the key there is no run; a key written in the file is refused.
WEIR_TEST_T=$T env -u WEIR_TEST_KEY "$WEIR_BIN" validate "$T/c.json" >/dev/null 2>"$T/err"
if grep -q 'operators\[0\].key_env: expected the environment variable WEIR_TEST_KEY to hold the key' "$T/err"; then ok
else fail "unset key: $(cat "$T/err")"; fi
WEIR_TEST_T=$T WEIR_TEST_KEY=x "$WEIR_BIN" validate "$T/c.json" --set 'operators[0].key=abc' >/dev/null 2>"$T/err"
if grep -q 'operators\[0\].key: unknown option' "$T/err"; then ok; else fail "literal key: $(cat "$T/err")"; fi
rm "$T/conf/mask.key"
(cd / && "$WEIR_BIN" validate "$T/conf/p.json") >/dev/null 2>"$T/err"
if grep -q "operators\[0\].key_file: expected a readable key file, got mask.key: neither $T/conf/mask.key (beside the pipeline file) nor mask.key (the working directory) exists" "$T/err"; then ok
else fail "missing key file: $(cat "$T/err")"; fi

finish
