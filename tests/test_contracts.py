"""The workloads' contracts: the checked-in bytecode is what the Vyper sources
compile to (vyper pinned in the dev extras), and the workloads built on them
run every transaction to success with the effects their contracts promise."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import parexec

ROOT = Path(__file__).resolve().parent.parent


def test_the_checked_in_bytecode_is_what_the_sources_compile_to():
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "compile_contracts.py"), "--check"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_amm_swaps_and_adds_liquidity_and_pools_are_the_chains():
    outcome = parexec.execute("amm:txs=120,pools=3")
    assert all(r.success for r in outcome.receipts)
    assert Counter(len(r.logs) for r in outcome.receipts) == {3: 120}  # two Transfers and a Swap or Mint
    summary = parexec.analyze("amm:txs=120,pools=3", repeat=1)
    assert 2.0 < summary["parallelism_bound_gas"] <= 3.5  # three pools, three chains
    assert parexec.analyze("amm:txs=60,hot=1", repeat=1)["parallelism_bound_gas"] == 1.0


def test_nft_transfers_are_independent_and_mints_wait_on_each_other():
    assert parexec.analyze("nft:txs=100,hot=0", repeat=1)["parallelism_bound_gas"] > 10
    mints = parexec.execute("nft:txs=50,hot=1")
    assert all(r.success and len(r.logs) == 1 for r in mints.receipts)
    assert parexec.analyze("nft:txs=50,hot=1", repeat=1)["parallelism_bound_gas"] == 1.0
