"""The workloads' compiled Vyper contracts (sources and compiled.json in
``workloads/vyper``, made by scripts/compile_contracts.py): runtime bytecode,
storage slots, and what it takes to call them."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from eth_hash.auto import keccak

COMPILED = Path(__file__).resolve().parent / "vyper" / "compiled.json"


@cache
def _compiled() -> dict:
    return json.loads(COMPILED.read_text())


def runtime(contract: str) -> bytes:
    return bytes.fromhex(_compiled()[contract]["runtime"][2:])


def slot(contract: str, variable: str, *keys) -> int:
    """The storage slot of ``variable`` (with HashMap ``keys``: addresses or ints):
    Vyper puts ``map[key]`` at keccak256(slot ++ key)."""
    at = _compiled()[contract]["slots"][variable]
    for key in keys:
        word = key.rjust(32, b"\x00") if isinstance(key, bytes) else key.to_bytes(32, "big")
        at = int.from_bytes(keccak(at.to_bytes(32, "big") + word), "big")
    return at


def calldata(signature: str, *args) -> bytes:
    """ABI-encoded call of ``signature`` (``swap(uint256,bool,uint256)``) with static arguments."""
    words = b"".join(a.rjust(32, b"\x00") if isinstance(a, bytes) else int(a).to_bytes(32, "big") for a in args)
    return keccak(signature.encode())[:4] + words
