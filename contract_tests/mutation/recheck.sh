#!/usr/bin/env bash
# Re-run chosen mutants of a finished run.sh run against chosen suite tests, without mutmut's
# bookkeeping (for example after adding a property, to see which survivors it kills):
#   bash contract_tests/mutation/recheck.sh memory suite/test_x.py [-k expr] -- <mutant name>...
# Prints "<pytest exit code> <mutant>": 0 = survived, 1 = killed. Mutant names as in the
# summary (orcheo_storage.memory.vault.xǁMemoryVaultRecordStoreǁget_alert__mutmut_4).
set -uo pipefail
target="${1:?usage: recheck.sh memory|sqlite <pytest args> -- <mutants>}"; shift
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
args=(); while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do args+=("$1"); shift; done; shift || true
cd "$root/.mutation/$target/mutants"
export CI=true ORCHEO_CONTRACT_NO_SHRINK=1 PYTHONDONTWRITEBYTECODE=1 PATH="$HOME/.local/bin:$PATH"
for mutant in "$@"; do
    # the mutated copy of the package (mutants/src) must shadow the installed one
    PYTHONPATH="$PWD/src" MUTANT_UNDER_TEST="$mutant" nice -n 10 \
        uv run --project "$root" --no-sync --with mutmut==3.8.1 python -m pytest -x -q \
        -p orcheo_storage_contract_tests.plugin "--orcheo-backend=$target" -p no:cacheprovider \
        --orcheo-report=/dev/null "${args[@]}" >/dev/null 2>&1
    echo "$? $mutant"
done
