"""Per-module summary of a mutmut run: killed / survived / other, and the survivors' names.

    python summary.py <scratch folder>   (run.sh calls it)

Reads mutmut's ``mutants/**/*.py.meta`` files (``exit_code_by_key``); exit code 1 or 3 is
a kill, 0 a survivor, 36/24/-24/152/255 a timeout (counted as killed, as mutmut's score
does), anything else is listed under "other" (no tests, not checked, suspicious).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

KILLED = {1, 3}
TIMEOUT = {36, 24, -24, 152, 255}


def main(folder: Path) -> None:
    totals: Counter[str] = Counter()
    survivors: list[str] = []
    print(f"{'module':<48} {'killed':>7} {'timeout':>8} {'survived':>9} {'other':>6}")
    for meta in sorted((folder / "mutants").rglob("*.py.meta")):
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        row: Counter[str] = Counter()
        for key, code in codes.items():
            if code in KILLED:
                row["killed"] += 1
            elif code in TIMEOUT:
                row["timeout"] += 1
            elif code == 0:
                row["survived"] += 1
                survivors.append(key)
            else:
                row["other"] += 1
        totals.update(row)
        name = str(meta.relative_to(folder / "mutants")).removesuffix(".meta")
        print(
            f"{name:<48} {row['killed']:>7} {row['timeout']:>8} {row['survived']:>9} {row['other']:>6}"
        )
    print(
        f"{'total':<48} {totals['killed']:>7} {totals['timeout']:>8} {totals['survived']:>9} {totals['other']:>6}"
    )
    checked = totals["killed"] + totals["timeout"] + totals["survived"]
    if checked:
        print(
            f"score: {(totals['killed'] + totals['timeout']) / checked:.1%} of {checked} checked mutants"
        )
    print("survivors:")
    for key in survivors:
        print(f"  {key}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
