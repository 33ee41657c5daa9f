#!/usr/bin/env bash
# Relative paths in a pipeline file are looked for beside the file first,
# then in the working directory (pipelines written for the repository root);
# --set paths are the working directory's; a file found nowhere is an error
# that names both places. Sources, sinks, dead letters, mask key files and
# @secrets alike.
# Env: WEIR_BIN (the weir binary), WEIR_SRC (the repository root).
set -u

. "$(dirname "$0")/lib.sh"

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

mkdir -p "$T/conf/data" "$T/conf/out" "$T/cwd/data" "$T/cwd/out"
printf 'a,b\n1,2\n' >"$T/conf/data/in.csv"
printf 'a,b\n7,8\n9,10\n' >"$T/cwd/data/only-here.csv"
printf 'data/in.csv\n' >"$T/conf/source-name"
cat >"$T/conf/p.json" <<'JSON'
{
  "source": {"type": "file", "path": "data/in.csv"},
  "operators": [{"type": "extract", "fields": {"a": "/a"}}],
  "sinks": [{"type": "file", "path": "out/res.jsonl"}],
  "dead_letter": {"type": "file", "path": "out/dead.jsonl"}
}
JSON

# Beside the pipeline file, run from elsewhere.
(cd "$T/cwd" && "$WEIR_BIN" run ../conf/p.json --quiet) 2>"$T/err"
if [ "$(cat "$T/conf/out/res.jsonl" 2>/dev/null)" = '{"a":1,"b":2,"alert":false}' ] &&
    [ ! -e "$T/cwd/out/res.jsonl" ]; then ok
else fail "beside the pipeline: $(cat "$T/err") $(ls -R "$T")"; fi

# Only in the working directory: the fallback.
(cd "$T/cwd" && "$WEIR_BIN" run ../conf/p.json --quiet --set source.path=data/only-here.csv) 2>"$T/err"
if [ "$(wc -l <"$T/conf/out/res.jsonl")" -eq 2 ]; then ok; else fail "--set source in cwd: $(cat "$T/err")"; fi
sed 's|data/in.csv|data/only-here.csv|' "$T/conf/p.json" >"$T/conf/q.json"
(cd "$T/cwd" && "$WEIR_BIN" run ../conf/q.json --quiet) 2>"$T/err"
if [ "$(wc -l <"$T/conf/out/res.jsonl")" -eq 2 ]; then ok; else fail "fallback to cwd: $(cat "$T/err")"; fi

# --set sink paths are the working directory's, even when the pipeline's
# directory has the same subdirectory.
(cd "$T/cwd" && "$WEIR_BIN" run ../conf/p.json --quiet --set 'sinks[0].path=out/set.jsonl') 2>"$T/err"
if [ -s "$T/cwd/out/set.jsonl" ] && [ ! -e "$T/conf/out/set.jsonl" ]; then ok
else fail "--set sink path: $(cat "$T/err")"; fi

# Found nowhere: the error says where it looked.
sed 's|data/in.csv|data/nowhere.csv|' "$T/conf/p.json" >"$T/conf/r.json"
(cd "$T/cwd" && "$WEIR_BIN" run ../conf/r.json --quiet) 2>"$T/err"
want="cannot open source file data/nowhere.csv: neither ../conf/data/nowhere.csv (beside the pipeline file) nor data/nowhere.csv (the working directory) exists"
if grep -qF "$want" "$T/err"; then ok; else fail "missing source: $(cat "$T/err")"; fi
sed 's|out/res.jsonl|nodir/res.jsonl|' "$T/conf/p.json" >"$T/conf/s.json"
(cd "$T/cwd" && "$WEIR_BIN" run ../conf/s.json --quiet) 2>"$T/err"
want="cannot create sink file nodir/res.jsonl: neither ../conf/nodir/res.jsonl (beside the pipeline file) nor nodir/res.jsonl (the working directory) is in a directory that exists"
if grep -qF "$want" "$T/err"; then ok; else fail "sink without a directory: $(cat "$T/err")"; fi

# An @secret beside the pipeline file, naming a path beside it.
sed 's|"data/in.csv"|"@source-name"|' "$T/conf/p.json" >"$T/conf/t.json"
rm "$T/conf/out/res.jsonl"
(cd "$T/cwd" && "$WEIR_BIN" run ../conf/t.json --quiet) 2>"$T/err"
if [ "$(cat "$T/conf/out/res.jsonl")" = '{"a":1,"b":2,"alert":false}' ]; then ok
else fail "@file beside the pipeline: $(cat "$T/err")"; fi

# A glob beside the pipeline file, gzip files among them: the first file's
# CSV header is read at load (inflated), so "V*" expands.
mkdir -p "$T/conf/daily"
printf 'V1,V2,W\n1,2,3\n' | gzip >"$T/conf/daily/a.csv.gz"
printf 'V1,V2,W\n4,5,6\n' >"$T/conf/daily/b.csv"
cat >"$T/conf/g.json" <<'JSON'
{
  "source": {"type": "file", "path": "daily/*.csv*"},
  "operators": [{"type": "extract", "fields": {"V*": "/V*"}}],
  "sinks": [{"type": "file", "path": "out/g.jsonl", "fields": ["V*"]}],
  "dead_letter": {"type": "file", "path": "out/gdead.jsonl"}
}
JSON
(cd "$T/cwd" && "$WEIR_BIN" run ../conf/g.json --quiet) 2>"$T/err"
if [ "$(cat "$T/conf/out/g.jsonl" 2>/dev/null)" = '{"V1":1,"V2":2}
{"V1":4,"V2":5}' ]; then ok; else fail "glob beside the pipeline: $(cat "$T/err")"; fi

# A glob that matches nothing beside the pipeline file but files in the
# working directory: read there (the pipeline's own directory always exists,
# so the glob never fell back: "pattern ../conf/*.tsv matches no file").
printf 'V1,V2,W\n7,8,9\n' >"$T/cwd/c.tsv"
sed 's|"daily/\*.csv\*"|"*.tsv"|; s|out/g.jsonl|out/h.jsonl|' "$T/conf/g.json" >"$T/conf/h.json"
(cd "$T/cwd" && "$WEIR_BIN" run ../conf/h.json --set source.format=csv --quiet) 2>"$T/err"
if [ "$(cat "$T/conf/out/h.jsonl" 2>/dev/null)" = '{"V1":7,"V2":8}' ]; then ok
else fail "a glob in the working directory: $(cat "$T/err")"; fi

finish
