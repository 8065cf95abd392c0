"""The Ethereum execution specification (``ethereum-execution``) as an oracle.

It cannot share parexec's venv: ethereum-execution 2.20.0 requires
``coincurve>=20,<21`` and parexec pins ``coincurve==21.0.0``. So it gets its own
venv, ``build/spec-venv``, made on first use with pinned packages from PyPI and
reused after (a stamp file holds the pins; a new pin rebuilds it). Concurrent
test processes (pytest-xdist) wait on a lock for the one that builds it.

This file is also the program run in that venv: ``run_blocks`` sends it blocks as
JSON on stdin; it executes their transactions with the spec's own
``process_transaction`` and prints, per block, each transaction's gas used,
status and logs (or the first invalid transaction) and the whole post-state.
A block whose env gives ``parent_hash`` also gets the fork's system calls, as
the spec's ``apply_body`` makes them (EIP-4788, EIP-2935 before the
transactions, the EIP-7002/7251 requests after), and its requests hash.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SPEC_PINS = (
    "ethereum-execution==2.20.0",
    "ethereum-rlp==0.1.7",
    "ethereum-types==0.2.5",
    "coincurve==20.0.0",
    "cryptography==45.0.7",
    "py-ecc==8.0.0",
    "pycryptodome==3.24.1",
)
REPO = Path(__file__).resolve().parent.parent
VENV = REPO / "build" / "spec-venv"


# ------------------------------------------------ parexec's side (the tests)


def spec_python() -> Path:
    """The spec venv's interpreter, building the venv first if needed."""
    import fcntl

    python = VENV / "bin" / "python"
    stamp = VENV / ".pins"
    wanted = "\n".join(SPEC_PINS)
    VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(VENV.parent / "spec-venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists() and stamp.read_text() == wanted and python.exists():
            return python
        _build_venv()
        stamp.write_text(wanted)
    return python


def _build_venv() -> None:
    import shutil

    shutil.rmtree(VENV, ignore_errors=True)
    base = getattr(sys, "_base_executable", sys.executable)
    _run([base, "-m", "venv", str(VENV)])
    _run([str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet",
          "--disable-pip-version-check", *SPEC_PINS])


def _run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")


def run_blocks(blocks: list[dict]) -> list[dict]:
    """Each block's transactions through the spec (see ``_run_block`` for the format)."""
    done = subprocess.run(
        [str(spec_python()), __file__], input=json.dumps(blocks),
        capture_output=True, text=True, timeout=600,
    )
    if done.returncode:
        raise RuntimeError(f"spec oracle failed:\n{done.stderr}")
    return json.loads(done.stdout)


# ------------------------------------------ the spec's side (in its own venv)


def _run_block(block: dict) -> dict:
    """``block``: {fork, env: {coinbase, number, timestamp, gas_limit, base_fee,
    excess_blob_gas, [parent_hash]}, pre: {address: {nonce, balance, code, storage}},
    txs: [hex]} (hex strings throughout). Returns {invalid: null | {tx, reason},
    receipts: [{gas_used, success}], logs: [[[address, [topic], data]] per tx],
    post: like pre, requests_hash: hex | null (with parent_hash, from Prague on)}."""
    import importlib

    from ethereum.exceptions import EthereumException
    from ethereum_rlp import rlp
    from ethereum_types.bytes import Bytes32
    from ethereum_types.numeric import U64, U256, Uint

    fork_name = block["fork"]
    fork = importlib.import_module(f"ethereum.forks.{fork_name}.fork")
    vm = importlib.import_module(f"ethereum.forks.{fork_name}.vm")
    st = importlib.import_module(f"ethereum.forks.{fork_name}.state")
    types = importlib.import_module(f"ethereum.forks.{fork_name}.fork_types")
    txs = importlib.import_module(f"ethereum.forks.{fork_name}.transactions")
    blocks = importlib.import_module(f"ethereum.forks.{fork_name}.blocks")
    trie = importlib.import_module(f"ethereum.forks.{fork_name}.trie")

    state = st.State()
    for address, acc in block["pre"].items():
        addr = types.Address(bytes.fromhex(address[2:]))
        code = bytes.fromhex(acc["code"][2:])
        st.set_account(state, addr, types.Account(
            nonce=Uint(int(acc["nonce"], 16)), balance=U256(int(acc["balance"], 16)), code=code))
        for slot, value in acc["storage"].items():
            st.set_storage(state, addr, U256(int(slot, 16)).to_be_bytes32(), U256(int(value, 16)))
    env = block["env"]
    system = "parent_hash" in env
    hashes = [Bytes32(bytes.fromhex(env["parent_hash"][2:]))] if system else []
    block_env = vm.BlockEnvironment(
        chain_id=U64(1), state=state, block_gas_limit=Uint(int(env["gas_limit"], 16)),
        block_hashes=hashes, coinbase=types.Address(bytes.fromhex(env["coinbase"][2:])),
        number=Uint(int(env["number"], 16)), base_fee_per_gas=Uint(int(env["base_fee"], 16)),
        time=U256(int(env["timestamp"], 16)), prev_randao=Bytes32(b"\0" * 32),
        excess_blob_gas=U64(int(env["excess_blob_gas"], 16)),
        parent_beacon_block_root=Bytes32(b"\0" * 32),
    )
    output = vm.BlockOutput()
    if system:
        _pre_block_calls(fork, block_env)
    receipts, logs, invalid = [], [], None
    for i, raw_hex in enumerate(block["txs"]):
        raw = bytes.fromhex(raw_hex[2:])
        before = output.block_gas_used
        try:
            tx = txs.decode_transaction(raw if raw[0] < 0xC0 else rlp.decode_to(txs.LegacyTransaction, raw))
            fork.process_transaction(block_env, output, tx, Uint(i))
        except EthereumException as exc:
            invalid = {"tx": i, "reason": f"{type(exc).__name__}: {exc}"}
            break
        receipt = trie.trie_get(output.receipts_trie, rlp.encode(Uint(i)))
        if isinstance(receipt, bytes):
            receipt = rlp.decode_to(blocks.Receipt, receipt[1:])
        receipts.append({"gas_used": int(output.block_gas_used - before), "success": bool(receipt.succeeded)})
        logs.append([["0x" + bytes(log.address).hex(), ["0x" + bytes(t).hex() for t in log.topics],
                      "0x" + bytes(log.data).hex()] for log in receipt.logs])
    requests_hash = None
    if system and invalid is None and hasattr(fork, "process_general_purpose_requests"):
        try:
            fork.process_general_purpose_requests(block_env, output)
        except EthereumException as exc:  # a request contract without code, or failing
            invalid = {"tx": None, "reason": f"{type(exc).__name__}: {exc}"}
        hashed = importlib.import_module(f"ethereum.forks.{fork_name}.requests").compute_requests_hash
        requests_hash = "0x" + bytes(hashed(output.requests)).hex()
    return {"invalid": invalid, "receipts": receipts, "logs": logs, "post": _dump_state(state),
            "requests_hash": requests_hash}


def _pre_block_calls(fork, block_env) -> None:
    """The system calls ``apply_body`` makes before the transactions (those the fork has)."""
    fork.process_unchecked_system_transaction(block_env, fork.BEACON_ROOTS_ADDRESS, block_env.parent_beacon_block_root)
    if hasattr(fork, "HISTORY_STORAGE_ADDRESS"):
        fork.process_unchecked_system_transaction(block_env, fork.HISTORY_STORAGE_ADDRESS, block_env.block_hashes[-1])


def _dump_state(state) -> dict:
    """Every account of a spec State (its tries' contents), as hex strings."""
    post = {}
    for address, account in state._main_trie._data.items():
        if account is None:
            continue
        storage = state._storage_tries.get(address)
        slots = {} if storage is None else {
            hex(int.from_bytes(k, "big")): hex(int(v)) for k, v in storage._data.items() if int(v)
        }
        post["0x" + bytes(address).hex()] = {
            "nonce": hex(int(account.nonce)), "balance": hex(int(account.balance)),
            "code": "0x" + bytes(account.code).hex(), "storage": slots,
        }
    return post


if __name__ == "__main__":
    json.dump([_run_block(b) for b in json.load(sys.stdin)], sys.stdout)
