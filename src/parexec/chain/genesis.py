"""A chain's genesis from a genesis file, in the shape of geth's ``genesis.json``
(``alloc`` and the block's fields) with the fork rules named by ``network``:

    {"network": "Cancun", "gasLimit": "0x1c9c380", "timestamp": "0x0",
     "baseFeePerGas": "0x7", "coinbase": "0x00...",
     "alloc": {"0x...": {"balance": "0x...", "nonce": "0x1", "code": "0x...",
                         "storage": {"0x0": "0x1"}}}}

Numbers are hex ("0x...") or decimal strings or JSON integers. Forks from Cancun
on (the genesis header carries their fields).
"""

from __future__ import annotations

from pathlib import Path

import rlp

from parexec.chain.chain import ChainConfig
from parexec.chain.producer import genesis_header
from parexec.forks import UnsupportedFork
from parexec.json_input import read_json
from parexec.model import FixtureError
from parexec.state.memory import MemoryState

GENESIS_DEFAULTS = {"gasLimit": 30_000_000, "timestamp": 0, "baseFeePerGas": 7, "coinbase": "0x" + "00" * 20}


def _number(value, where: str, bits: int = 256) -> int:
    try:
        n = value if isinstance(value, int) and not isinstance(value, bool) else int(str(value), 0)
    except ValueError:
        raise FixtureError(f"{where}: {value!r} is not a number") from None
    if n < 0 or n >> bits:
        raise FixtureError(f"{where}: {value!r} is out of range (0 to 2**{bits}-1)")
    return n


def _bytes(value, where: str, size: int | None = None) -> bytes:
    text = str(value)
    try:
        data = bytes.fromhex(text[2:] if text.startswith("0x") else text)
    except ValueError:
        raise FixtureError(f"{where}: {value!r} is not hex") from None
    if size is not None and len(data) != size:
        raise FixtureError(f"{where}: {value!r} is not {size} bytes")
    return data


def load_genesis(path: Path) -> tuple[ChainConfig, bytes, MemoryState]:
    """The chain's rules, its genesis block (RLP) and the genesis state."""
    try:
        spec = read_json(Path(path))
    except FixtureError as exc:
        raise FixtureError(f"{exc} (not a readable genesis file)") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("alloc"), dict) or "network" not in spec:
        raise FixtureError(f"{path}: a genesis file needs \"network\" and an \"alloc\" object")
    config = ChainConfig(str(spec["network"]))
    try:
        vm_class = config.fork_at()(0, _number(spec.get("timestamp", 0), f"{path}: timestamp"))
    except UnsupportedFork as exc:
        raise FixtureError(f"{path}: {exc}") from None
    fields = {k: spec.get(k, v) for k, v in GENESIS_DEFAULTS.items()}
    pre = MemoryState(complete=True)
    for addr, acc in spec["alloc"].items():
        where = f"{path}: alloc {addr}"
        if not isinstance(acc, dict):
            raise FixtureError(f"{where}: not an object")
        storage = acc.get("storage") or {}
        if not isinstance(storage, dict):
            raise FixtureError(f"{where}: storage is not an object")
        pre.set_account(
            _bytes(addr, where, 20), nonce=_number(acc.get("nonce", 0), f"{where} nonce", 64),
            balance=_number(acc.get("balance", 0), f"{where} balance"), code=_bytes(acc.get("code", "0x"), where),
            storage={_number(k, f"{where} slot"): _number(v, f"{where} storage[{k}]") for k, v in storage.items()},
        )
    try:
        header = genesis_header(vm_class, pre, _bytes(fields["coinbase"], f"{path}: coinbase", 20),
                                _number(fields["gasLimit"], f"{path}: gasLimit"),
                                _number(fields["timestamp"], f"{path}: timestamp"),
                                _number(fields["baseFeePerGas"], f"{path}: baseFeePerGas"))
    except TypeError:
        raise FixtureError(f"{path}: network {config.network} is before Cancun (not supported for a genesis file)") \
            from None
    block = vm_class.get_block_class()(header, [], [], [])
    return config, rlp.encode(block), pre
