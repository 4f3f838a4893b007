#!/usr/bin/env bash
# Mutation testing of a backend with the contract suite as the test command (mutmut 3).
#   bash contract_tests/mutation/run.sh memory|sqlite [mutmut args...]
# Runs niced in a scratch folder (.mutation/<target>/ at the repository root, git-ignored),
# with the default Hypothesis profile derandomized (CI=true), so a re-run sees the same
# examples. Prints the per-module summary at the end (summary.py). See ../MUTATION.md.
set -euo pipefail
target="${1:?usage: run.sh memory|sqlite [mutmut args...]}"; shift || true
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
case "$target" in
    memory) package="$root/orcheo_storage" ;;
    sqlite) package="$root/orcheo_storage_sqlite" ;;
    *) echo "unknown target $target (memory|sqlite)" >&2; exit 2 ;;
esac
suite="$root/contract_tests/src/orcheo_storage_contract_tests/suite"
work="$root/.mutation/$target"
mkdir -p "$work"
rm -rf "$work/src"
cp -r "$package/src" "$work/src"
cp "$here/$target.toml" "$work/pyproject.toml"
# mutmut runs pytest inside mutants/ and re-runs tests by the ids it recorded: with the suite
# linked there, the ids (suite/test_x.py::...) resolve, and the suite's plugin still sees
# its own files (it resolves the link).
mkdir -p "$work/mutants"
ln -sfn "$suite" "$work/mutants/suite"
cd "$work"
# Derandomized default profile; no shrinking (a killed mutant stops at its first failing example).
export CI=true ORCHEO_CONTRACT_NO_SHRINK=1 PYTHONDONTWRITEBYTECODE=1
PATH="$HOME/.local/bin:$PATH"
start=$(date +%s)
nice -n 10 uv run --project "$root" --no-sync --with mutmut==3.8.1 mutmut run --max-children "${MUTATION_JOBS:-2}" "$@" || true
echo "mutmut run took $(( $(date +%s) - start ))s"
uv run --project "$root" --no-sync --with mutmut==3.8.1 python "$here/summary.py" "$work"
