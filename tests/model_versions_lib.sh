# Shared by the tests of a directory of model versions (test_model_cli.sh,
# test_model_reload.sh): skip without numpy, a temporary directory $T with
# v/ (served) and stage/ (written, copied in by the test), a clean-up that
# kills $PID and closes fd 3, and write_linear NAME W... [-- FEATURE...]: a
# one-layer safetensors model y = W·features into $T/stage (default
# features f0 f1), written with scripts/export_safetensors.py.
PY=/usr/bin/python3
if ! $PY -c 'import numpy' 2>/dev/null; then
    echo "skipped: /usr/bin/python3 with numpy is needed (Debian: python3-numpy)"
    exit 77
fi
T=$(mktemp -d)
cleanup() {
    [ -n "${PID:-}" ] && kill -KILL "$PID" 2>/dev/null
    exec 3>&- 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
mkdir "$T/v" "$T/stage"

write_linear() {
    $PY - "$T/stage" "$@" <<'PY'
import json, sys
import numpy as np
sys.path.insert(0, "scripts")
from export_safetensors import write_safetensors
d, name, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
w, features = (rest[:rest.index("--")], rest[rest.index("--") + 1:]) if "--" in rest else (rest, ["f0", "f1"])
arch = {"features": features, "layers": [{"weight": "w"}], "output": "raw"}
write_safetensors(f"{d}/{name}", {"w": np.array([[float(x) for x in w]], np.float32)}, {"weir": json.dumps(arch)})
PY
}
