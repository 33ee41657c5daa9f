#!/usr/bin/env bash
# weir runs to its end under valgrind, threads and all. Valgrind runs one
# thread at a time and (3.19) does not count io_uring_enter as a call that
# may block, so a loop thread waiting in it kept the gzip helper from ever
# inflating the file it waited for: the run hung with no CPU used. The loop
# now waits 1 ms at a time and yields under valgrind (engine/loop.c).
#   1. gzip files inflated ahead on the helper (the default) under
#      `valgrind --tool=none`: the run ends, output identical to a run without
#      valgrind.
#   2. The same under memcheck: no error, no definite leak.
# Skipped (77) without valgrind, and under the sanitizers (their runtimes
# and valgrind's cannot share a process).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
if ! command -v valgrind >/dev/null; then
    echo "test_valgrind: skipped: no valgrind"
    exit 77
fi
if grep -qa -e __asan_init -e __tsan_init "$WEIR_BIN"; then
    echo "test_valgrind: skipped under sanitizers"
    exit 77
fi
T=$(mktemp -d /tmp/weir-test-valgrind.XXXXXX)
trap 'rm -rf "$T"' EXIT

mkdir -p "$T/in"
for f in a b c; do
    /usr/bin/python3 - "$f" <<'PY' | gzip >"$T/in/$f.csv.gz"
import sys
k = ord(sys.argv[1])
print("id,v")
for i in range(20000):
    print(f"{k * 100000 + i},{(i * 37 + k) % 1000 / 7:.3f}")
PY
done
cat >"$T/p.json" <<JSON
{"name": "vg", "source": {"type": "file", "path": "$T/in"},
 "operators": [{"type": "extract", "fields": {"id": "/id", "v": "/v"}}],
 "sinks": [{"type": "file", "path": "$T/out.jsonl"}]}
JSON
"$WEIR_BIN" run "$T/p.json" --quiet --set sinks[0].path="$T/plain.jsonl" 2>"$T/err"
rc=$?
if [ $rc -eq 0 ] && [ "$(wc -l <"$T/plain.jsonl")" -eq 60000 ]; then ok; else
    fail "without valgrind: rc $rc, $(wc -l <"$T/plain.jsonl" 2>/dev/null) lines (want 60000)"
    cat "$T/err"
fi

# 1. valgrind --tool=none: it ends (it hung for ever before). SIGKILL: a
# process hung this way never runs its signal handlers, so TERM would not
# end it.
hung="137: it hung; weir built without <valgrind/valgrind.h>?"
timeout -s KILL 120 valgrind -q --tool=none "$WEIR_BIN" run "$T/p.json" --quiet 2>"$T/err"
rc=$?
if [ $rc -eq 0 ] && cmp -s "$T/out.jsonl" "$T/plain.jsonl"; then ok; else
    lines=$(wc -l <"$T/out.jsonl" 2>/dev/null)
    fail "valgrind --tool=none: rc $rc ($hung), output ${lines:-no} lines"
    tail -5 "$T/err"
fi

# 2. memcheck
rm -f "$T/out.jsonl"
timeout -s KILL 300 valgrind -q --error-exitcode=9 --leak-check=full \
    --errors-for-leak-kinds=definite "$WEIR_BIN" run "$T/p.json" --quiet 2>"$T/err"
rc=$?
if [ $rc -eq 0 ] && cmp -s "$T/out.jsonl" "$T/plain.jsonl"; then ok; else
    fail "valgrind memcheck: rc $rc (9: errors; $hung)"
    tail -20 "$T/err"
fi
finish
