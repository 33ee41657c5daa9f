# Shared by the shell tests: locate weir, move to the repository root, count
# results and print the closing "N passed, N failed" line.
# Env: WEIR_BIN (the weir binary), WEIR_SRC (the repository root).

WEIR_BIN=${WEIR_BIN:-build/weir}
case $WEIR_BIN in /*) ;; *) WEIR_BIN=$PWD/$WEIR_BIN ;; esac
cd "${WEIR_SRC:-$(dirname "${BASH_SOURCE[0]}")/..}" || exit 1

passed=0
failed=0
ok() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ] && exit 0
    exit 1
}
if [ ! -x "$WEIR_BIN" ]; then
    fail "weir binary not found at $WEIR_BIN (set WEIR_BIN)"
    finish
fi
