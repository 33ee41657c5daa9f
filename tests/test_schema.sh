#!/usr/bin/env bash
# `weir schema` (engine/jsonschema.c) and --help:
#   1. The schema is a valid draft-07 schema (python3-jsonschema's
#      check_schema) and every shipped pipeline (pipelines/, tests/pipelines/
#      but bad/, tests/golden/, bench/pipelines/) is valid against it; each of
#      them `weir validate` accepts too.
#   2. It rejects what weir rejects by the tables: an unknown top-level key, an
#      unknown operator option, a wrong enum value, a string for a number, an
#      unknown source type; and it names the option of the type at hand.
#   3. No file under tests/pipelines/bad/ is accepted by weir (the schema may
#      accept some: cross-field rules are weir validate's).
#   4. Every command answers --help (exit 0, a usage line).
# Skipped (77) when /usr/bin/python3 lacks jsonschema (Debian: python3-jsonschema).
set -u

. "$(dirname "$0")/lib.sh"

if ! /usr/bin/python3 -c 'import jsonschema' 2>/dev/null; then
    echo "python3-jsonschema is not installed; skipped (bash scripts/install.sh installs it)"
    exit 77
fi
T=$(mktemp -d /tmp/weir-test-schema.XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT

"$WEIR_BIN" schema >"$T/schema.json" && ok || fail "weir schema failed"

good=(pipelines/*.json tests/pipelines/*.json tests/golden/pipeline.json bench/pipelines/*.json)
good=("${good[@]/*.test.json/}") # weir test's files (pipelines/x.test.json) are not pipelines
good=(${good[@]})
for f in "${good[@]}"; do
    "$WEIR_BIN" validate "$f" >/dev/null 2>&1 && ok || fail "weir validate rejects shipped $f"
done

cat >"$T/check.py" <<'PY'
import json, sys
import jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft7Validator.check_schema(schema)
v = jsonschema.Draft7Validator(schema)
mode = sys.argv[2]
bad = 0
for f in sys.argv[3:]:
    errs = sorted(v.iter_errors(json.load(open(f))), key=lambda e: list(e.path))
    if mode == "valid" and errs:
        bad += 1
        print(f"{f}: {errs[0].message} at {list(errs[0].path)}")
    if mode == "invalid" and not errs:
        bad += 1
        print(f"{f}: accepted, want rejected")
    if mode == "invalid" and errs and len(sys.argv) == 4:
        print("\n".join(e.message for e in errs))
sys.exit(1 if bad else 0)
PY
if /usr/bin/python3 "$T/check.py" "$T/schema.json" valid "${good[@]}" >"$T/out" 2>&1; then ok; else
    fail "shipped pipelines against the schema: $(cat "$T/out")"
fi

# mutate EXPR NAME: tests/golden/pipeline.json changed by a python expression on d.
mutate() {
    /usr/bin/python3 -c "import json,sys; d=json.load(open('tests/golden/pipeline.json')); $1; json.dump(d, open(sys.argv[1],'w'))" "$T/$2.json"
}
mutate 'd["colour"]="red"' unknown-top
mutate 'd["operators"][1]["mdoe"]="ewm"' unknown-op-option
mutate 'd["operators"][1]["mode"]="fast"' bad-enum
mutate 'd["operators"][3]["above"]="high"' string-for-number
mutate 'd["source"]["type"]="ftp"' unknown-source
mutate 'd["http"]={"listen":"0","tokenfile":"x"}' http-typo
mutate 'd["dead_letter"]["exclude"]=["x"]' dead-exclude # weir refuses it; the schema took it
for n in unknown-top unknown-op-option bad-enum string-for-number unknown-source http-typo dead-exclude; do
    "$WEIR_BIN" validate "$T/$n.json" >/dev/null 2>&1 && fail "weir validate accepts $n"
    if /usr/bin/python3 "$T/check.py" "$T/schema.json" invalid "$T/$n.json" >"$T/$n.out" 2>&1; then ok; else
        fail "schema accepts $n: $(cat "$T/$n.out")"
    fi
done
grep -q "'mdoe' was unexpected" "$T/unknown-op-option.out" && ok ||
    fail "the operator's own options are not what the schema checks: $(cat "$T/unknown-op-option.out")"

# A duration the schema's pattern allows is one weir takes, and the other way
# round (strtod's other forms, " 5s", "+5s", "0x10s", "inf", are neither).
for dur in 250ms 5s 1.5h .5d 5. 1e3ms 2E-1m ' 5s' +5s 0x10s inf 5e -1s '5 s' 1,5s; do
    mutate "d['allowed_lateness']='$dur'" dur
    w=taken s=taken
    "$WEIR_BIN" validate "$T/dur.json" >/dev/null 2>&1 || w=refused
    /usr/bin/python3 "$T/check.py" "$T/schema.json" valid "$T/dur.json" >/dev/null 2>&1 || s=refused
    [ "$w" = "$s" ] && ok || fail "duration \"$dur\": weir: $w, the schema: $s"
done

# A string is expanded before it is checked: "${VAR}" or "@file" where a
# duration or a choice goes is one weir takes; the schema took neither.
mutate "d['allowed_lateness']='\${LATENESS}'" dur
LATENESS=5s "$WEIR_BIN" validate "$T/dur.json" >/dev/null 2>&1 &&
    /usr/bin/python3 "$T/check.py" "$T/schema.json" valid "$T/dur.json" >/dev/null 2>&1 && ok ||
    fail "a duration given as \${LATENESS}: the schema refuses it"
mutate "d['operators'][1]['mode']='\${MODE}'" enum
MODE=ewm "$WEIR_BIN" validate "$T/enum.json" >/dev/null 2>&1 &&
    /usr/bin/python3 "$T/check.py" "$T/schema.json" valid "$T/enum.json" >/dev/null 2>&1 && ok ||
    fail "a choice given as \${MODE}: weir or the schema refuses it"

for f in tests/pipelines/bad/*.json; do
    "$WEIR_BIN" validate "$f" >/dev/null 2>&1 && fail "weir validate accepts bad $f" || ok
done

for c in run validate docs schema help replay; do
    out=$("$WEIR_BIN" "$c" --help 2>&1)
    rc=$?
    if [ $rc -eq 0 ] && grep -q "^usage: weir $c" <<<"$out"; then ok; else
        fail "weir $c --help: exit $rc: $(head -2 <<<"$out")"
    fi
done

finish
