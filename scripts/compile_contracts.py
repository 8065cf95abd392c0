"""Compile the workloads' Vyper contracts (src/parexec/workloads/vyper/*.vy) into
compiled.json beside them: runtime bytecode and storage layout of each.

    .venv/bin/python scripts/compile_contracts.py          # rewrite compiled.json
    .venv/bin/python scripts/compile_contracts.py --check  # exit 1 if it is stale

The compiler is pinned in pyproject.toml's dev extras (vyper==0.4.3); the test
suite runs --check, so the checked-in bytecode is what the sources compile to.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import vyper

FOLDER = Path(__file__).resolve().parent.parent / "src" / "parexec" / "workloads" / "vyper"
OUTPUT = FOLDER / "compiled.json"


def compile_all() -> dict:
    out = {"compiler": f"vyper {vyper.__version__}"}
    for source in sorted(FOLDER.glob("*.vy")):
        compiled = vyper.compile_code(source.read_text(), output_formats=["bytecode_runtime", "layout"])
        layout = compiled["layout"]["storage_layout"]
        out[source.stem] = {
            "runtime": compiled["bytecode_runtime"],
            "slots": {name: entry["slot"] for name, entry in layout.items()},
        }
    return out


def main() -> int:
    text = json.dumps(compile_all(), indent=1, sort_keys=True) + "\n"
    if "--check" in sys.argv[1:]:
        if not OUTPUT.exists() or OUTPUT.read_text() != text:
            print(f"{OUTPUT} is not what the sources compile to: run scripts/compile_contracts.py")
            return 1
        return 0
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
