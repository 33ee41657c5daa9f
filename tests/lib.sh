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
# Nothing checked (every case skipped for want of data or a tool) is a
# skip (77), not a pass.
finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -ne 0 ] && exit 1
    [ "$passed" -eq 0 ] && { echo "nothing was checked: skipped"; exit 77; }
    exit 0
}
if [ ! -x "$WEIR_BIN" ]; then
    fail "weir binary not found at $WEIR_BIN (set WEIR_BIN)"
    finish
fi

# For tests that preload tests/log_delay.c into weir: skips (77) under the
# sanitizers, whose runtime must be loaded first, and sets PRELOAD to the
# module (WEIR_BUILD: the build directory, default build). $1: the test's name.
need_log_delay() {
    if grep -qa -e __asan_init -e __tsan_init "$WEIR_BIN"; then
        echo "$1: skipped under sanitizers (their runtime must come first: no preload)"
        exit 77
    fi
    PRELOAD=${WEIR_BUILD:-build}/libweir_log_delay.so
    [ -f "$PRELOAD" ] || { fail "log delay module not found at $PRELOAD (set WEIR_BUILD)"; finish; }
}

# read_fifo_later FIFO OUT SECONDS: opens FIFO, reads nothing for SECONDS
# (the writer fills the pipe and waits), then copies all of it into OUT
# until the writer closes it. Run it in the background.
read_fifo_later() { # FIFO OUT SECONDS
    /usr/bin/python3 -c '
import os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
time.sleep(float(sys.argv[3]))
with open(sys.argv[2], "wb") as out:
    while True:
        b = os.read(fd, 65536)
        if not b:
            break
        out.write(b)
' "$@"
}

# wait_lines N FILE [TEXT]: until FILE has N lines (containing TEXT), up to
# 20 s; status 1 when they did not come.
wait_lines() { # N FILE [TEXT]
    for _ in $(seq 400); do
        [ -f "$2" ] && [ "$(grep -c "${3:-}" "$2")" -ge "$1" ] && return 0
        sleep 0.05
    done
    return 1
}
