# Sourced by the other scripts: make sure uv exists and the workspace venv is in sync.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if ! command -v uv >/dev/null 2>&1; then
    if [ -x "$HOME/.local/bin/uv" ]; then
        export PATH="$HOME/.local/bin:$PATH"
    else
        echo "==> installing uv (python3 -m pip install --user uv)" >&2
        python3 -m pip install --quiet --user uv >&2 || python3 -m pip install --quiet uv >&2
        export PATH="$HOME/.local/bin:$PATH"
    fi
fi
echo "==> uv sync (all workspace distributions, locked)" >&2
uv sync --locked --all-packages --all-extras --quiet >&2
