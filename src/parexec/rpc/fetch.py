"""`parexec fetch`: blocks from a JSON-RPC node, written in the mainnet dump format.

Per block N, one batch asks for ``eth_getBlockByNumber(N, true)`` (written as
``blocks/N/block.json``, the node's answer as it is) and
``debug_traceBlockByNumber(N, {tracer: "prestateTracer"})`` (merged into the
pre-state, rpc.prestate). The tracer leaves gaps that other parallel executors
have fallen into: the hashes BLOCKHASH reads (it reports state only), the code of
EIP-7702 delegation targets (the designator's account is traced, the target's
code is not), and whatever system calls read outside any transaction. So each
block is then executed serially on what was fetched, and every location the
execution reads that the trace lacks is asked for at block N-1 (``eth_getBalance``,
``eth_getTransactionCount``, ``eth_getCode``, ``eth_getStorageAt``; hashes by
``eth_getBlockByNumber(M, false)``) and kept when it holds something. The run must
reproduce the header (gas used, logs bloom, receipts root from Byzantium on), or
the node's answers are inconsistent and the block is not written. The tracer
reports accounts that do not exist as empty ones; ``eth_getProof`` tells which
empty ones exist (see rpc.prestate).

A block is whole or absent: it is written into ``DIR/.partial/N`` and renamed
into ``DIR/blocks/N`` after the codes and hashes it needs are in
``bytecodes.json.gz`` and ``block_hashes.json`` (each replaced atomically). A
block already there is skipped, so an interrupted fetch resumes where it stopped.
"""

from __future__ import annotations

import copy
import gzip
import json
import os
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from parexec.json_input import read_json
from parexec.model import FixtureError
from parexec.rpc.client import Call, NodeUnreachable, RpcClient, RpcError
from parexec.rpc.prestate import MalformedTrace, PreState, merge_traces
from parexec.state.memory import MemoryState

TRACER = {"tracer": "prestateTracer", "timeout": "120s"}
METHOD_NOT_FOUND = -32601


class FetchError(Exception):
    """One block could not be fetched; the message names it and says why."""


class NodeLacksMethod(Exception):
    """The node does not serve a method fetch needs: no block can be fetched."""


def parse_block_list(specs: list[str]) -> list[int]:
    """``["17000000", "17000001-17000010"]`` -> the block numbers, in order, once each."""
    numbers: list[int] = []
    for spec in specs:
        first, dash, last = spec.partition("-")
        try:
            low, high = int(first), int(last) if dash else int(first)
        except ValueError:
            raise ValueError(f"{spec!r}: a block is a number N or a range FROM-TO") from None
        if low < 0 or high < low:
            raise ValueError(f"{spec!r}: a range runs from a lower to a higher block number")
        numbers += range(low, high + 1)
    return list(dict.fromkeys(numbers))


@dataclass
class FetchedBlock:
    number: int
    raw: dict  # the eth_getBlockByNumber answer
    pre: PreState
    hashes: dict[int, str] = field(default_factory=dict)  # BLOCKHASH reads: number -> "0x<hash>"
    asked: int = 0  # accounts and slots the trace lacked and the execution read: asked of the node
    kept: int = 0  # of those, the ones that hold something (added to the pre-state)


class DumpFolder:
    """``DIR/blocks/N/{block.json,pre_state.json}``, ``DIR/bytecodes.json.gz``,
    ``DIR/block_hashes.json``: the layout parexec reads (fixtures.mainnet)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        (self.root / "blocks").mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.root / ".partial", ignore_errors=True)  # an interrupted write
        self.codes: dict[str, str] = {}
        self.hashes: dict[str, str] = {}
        codes_path, hashes_path = self.root / "bytecodes.json.gz", self.root / "block_hashes.json"
        try:
            if codes_path.exists():
                self.codes = read_json(codes_path)
            if hashes_path.exists():
                self.hashes = read_json(hashes_path)
        except FixtureError as exc:
            raise ValueError(f"{exc}; fetch into a new folder") from None
        if not (isinstance(self.codes, dict) and isinstance(self.hashes, dict)):
            raise ValueError(f"{self.root}: its bytecodes or block hashes are not JSON objects; "
                             "fetch into a new folder")

    def has(self, number: int) -> bool:
        folder = self.root / "blocks" / str(number)
        return (folder / "block.json").is_file() and (folder / "pre_state.json").is_file()

    def known_hashes(self) -> dict[int, bytes]:
        return {int(n): bytes.fromhex(h[2:]) for n, h in self.hashes.items()}

    def write(self, block: FetchedBlock) -> None:
        partial = self.root / ".partial" / str(block.number)
        partial.mkdir(parents=True, exist_ok=True)
        _write_json(partial / "block.json", block.raw)
        _write_json(partial / "pre_state.json", block.pre.accounts)
        new_codes = {h: c for h, c in block.pre.codes.items() if h not in self.codes}
        if new_codes:
            self.codes.update(new_codes)
            _replace(self.root / "bytecodes.json.gz", lambda fh: fh.write(gzip.compress(
                json.dumps(self.codes, sort_keys=True).encode())))
        new_hashes = {str(n): h for n, h in block.hashes.items() if str(n) not in self.hashes}
        if new_hashes:
            self.hashes.update(new_hashes)
            ordered = dict(sorted(self.hashes.items(), key=lambda kv: int(kv[0])))
            _replace(self.root / "block_hashes.json", lambda fh: fh.write(json.dumps(ordered, indent=1).encode()))
        target = self.root / "blocks" / str(block.number)
        if target.exists():  # a folder without both files, left by something else: not a block
            shutil.rmtree(target)
        os.replace(partial, target)


def _write_json(path: Path, value) -> None:
    with open(path, "w") as fh:
        json.dump(value, fh)
        fh.flush()
        os.fsync(fh.fileno())


def _replace(path: Path, write: Callable) -> None:
    """Write ``path`` whole or not at all: into a temporary file, then renamed over it."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        write(fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def download(client: RpcClient, number: int) -> tuple[dict, PreState]:
    """The block's answer and its traced pre-state (one batch)."""
    try:
        raw, traces = client.batch([Call("eth_getBlockByNumber", (hex(number), True)),
                                    Call("debug_traceBlockByNumber", (hex(number), TRACER))])
    except RpcError as exc:
        if exc.code == METHOD_NOT_FOUND:
            raise NodeLacksMethod(f"the node does not serve {exc.method}: fetch needs eth_getBlockByNumber, "
                                  "debug_traceBlockByNumber with the prestateTracer, eth_getBalance, "
                                  "eth_getTransactionCount, eth_getCode, eth_getStorageAt and eth_getProof "
                                  "(an archive node with the debug API)") from None
        raise FetchError(f"block {number}: the node answered an error: {exc}") from None
    except NodeUnreachable as exc:
        raise FetchError(f"block {number}: {exc}") from None
    if raw is None:
        raise FetchError(f"block {number}: the node does not have it")
    if not isinstance(raw, dict) or not isinstance(raw.get("transactions"), list):
        raise FetchError(f"block {number}: the node answered something that is not a block: {str(raw)[:80]}")
    if raw.get("number") != hex(number):
        raise FetchError(f"block {number}: the node answered block {raw.get('number')!r} instead")
    try:
        pre = merge_traces(traces, len(raw["transactions"]))
    except MalformedTrace as exc:
        raise FetchError(f"block {number}: {exc}") from None
    _drop_nonexistent(client, number, pre)
    return raw, pre


def _drop_nonexistent(client: RpcClient, number: int, pre: PreState) -> None:
    """Drop the traced accounts that look empty and do not exist at block N-1
    (their proof's code hash is zero). A node without eth_getProof keeps them."""
    empty = pre.looks_empty()
    if not empty:
        return
    try:
        proofs = client.batch([Call("eth_getProof", (a, [], hex(number - 1))) for a in empty])
    except RpcError as exc:
        if exc.code == METHOD_NOT_FOUND:
            return
        raise FetchError(f"block {number}: eth_getProof: {exc}") from None
    except NodeUnreachable as exc:
        raise FetchError(f"block {number}: {exc}") from None
    for address, proof in zip(empty, proofs):
        code_hash = proof.get("codeHash") if isinstance(proof, dict) else None
        if not isinstance(code_hash, str):
            raise FetchError(f"block {number}: eth_getProof answered no code hash for {address}")
        if int(code_hash, 16) == 0:
            pre.drop(address)


def complete(client: RpcClient, number: int, raw: dict, pre: PreState, known_hashes: dict[int, bytes]) -> FetchedBlock:
    """Execute the block on what was fetched, asking the node for what the trace
    lacks; check the result against the header."""
    from parexec.block.pipeline import execute_block
    from parexec.fixtures.case import first_difference
    from parexec.fixtures.mainnet import block_from_rpc
    from parexec.model import BlockRejected, FixtureError
    from parexec.strategies.serial import SerialStrategy

    hashes = HashesFromNode(client, known_hashes)
    state = NodeState(pre, client, number)
    try:
        block, expected = block_from_rpc(copy.deepcopy(raw), hashes, f"block {number}")
        outcome = execute_block(block, state, SerialStrategy(), 1, with_state_root=False)
    except FixtureError as exc:
        raise FetchError(str(exc)) from None
    except BlockRejected as exc:
        raise FetchError(f"block {number}: it does not execute on the fetched state: {exc}") from None
    except (NodeUnreachable, RpcError, ValueError, KeyError, TypeError) as exc:
        raise FetchError(f"block {number}: completing its pre-state from the node failed: {exc}") from None
    diff = first_difference(expected, outcome)
    if diff:
        raise FetchError(f"block {number}: the fetched state does not reproduce the block ({diff}): "
                         "the node's answers are inconsistent")
    return FetchedBlock(number, raw, pre, {n: "0x" + h.hex() for n, h in hashes.asked.items()},
                        state.asked, state.kept)


class HashesFromNode(dict):
    """Block hashes by number for BLOCKHASH: those known, and any other asked of
    the node when the execution reads it (remembered in ``asked``)."""

    def __init__(self, client: RpcClient, known: dict[int, bytes]):
        super().__init__(known)
        self.client = client
        self.asked: dict[int, bytes] = {}

    def __missing__(self, number: int) -> bytes:
        raw = self.client.call("eth_getBlockByNumber", hex(number), False)
        if not isinstance(raw, dict) or not isinstance(raw.get("hash"), str):
            raise ValueError(f"the node has no header for block {number}, whose hash BLOCKHASH reads")
        found = bytes.fromhex(raw["hash"][2:])
        self[number] = self.asked[number] = found
        return found


class NodeState(MemoryState):
    """The traced pre-state, completed from the node at block N-1: an account or
    slot the execution reads and the trace lacks is asked for, and kept in
    ``pre`` when it holds something (absent means empty in the dump format)."""

    def __init__(self, pre: PreState, client: RpcClient, number: int):
        super().__init__(complete=False)
        self.pre, self.client, self.at = pre, client, hex(number - 1)
        self.known_slots: set[tuple[bytes, int]] = set()
        self.known_accounts: set[bytes] = {bytes.fromhex(a[2:]) for a in pre.absent}
        self.asked = self.kept = 0
        for code_hash, code in pre.codes.items():
            self.codes[bytes.fromhex(code_hash[2:])] = bytes.fromhex(code[2:])
        for address, entry in pre.accounts.items():
            self._take(address, entry)

    def _take(self, address: str, entry: dict) -> None:
        raw = bytes.fromhex(address[2:])
        storage = {int(k, 16): int(v, 16) for k, v in entry["storage"].items()}
        code_hash = bytes.fromhex(entry["code_hash"][2:]) if "code_hash" in entry else None
        self.set_account(raw, nonce=entry["nonce"], balance=int(entry["balance"], 16), storage=storage,
                         code_hash=code_hash)
        self.known_accounts.add(raw)
        self.known_slots.update((raw, slot) for slot in storage)

    def account(self, address: bytes):
        if address not in self.known_accounts:
            self.known_accounts.add(address)
            self.asked += 1
            text = "0x" + address.hex()
            balance, nonce, code = self.client.batch([Call(m, (text, self.at)) for m in (
                "eth_getBalance", "eth_getTransactionCount", "eth_getCode")])
            balance, nonce, code = int(balance, 16), int(nonce, 16), bytes.fromhex(code[2:])
            if balance or nonce or code:
                self.kept += 1
                self.pre.add_account(text, balance, nonce, code)
                self._take(text, self.pre.accounts[text])
        return super().account(address)

    def storage(self, address: bytes, slot: int) -> int:
        if (address, slot) not in self.known_slots:
            self.known_slots.add((address, slot))
            if self.account(address) is not None:
                self.asked += 1
                text = "0x" + address.hex()
                value = int(self.client.call("eth_getStorageAt", text, hex(slot), self.at), 16)
                if value:
                    self.kept += 1
                    self.pre.add_slot(text, slot, value)
                    self._put_slot(address, slot, value)
        return super().storage(address, slot)


@dataclass
class FetchSummary:
    fetched: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)  # already in the folder
    failed: dict[int, str] = field(default_factory=dict)
    asked: int = 0  # accounts and slots the tracer left out, asked of the node
    kept: int = 0  # of those, the ones that hold something


def fetch_blocks(client: RpcClient, numbers: list[int], out: Path, concurrency: int = 4,
                 on_block: Callable[[int, str], None] = lambda _n, _status: None) -> FetchSummary:
    """Fetch ``numbers`` into ``out``: downloads run ``concurrency`` at a time, and
    each block is completed, checked and written as its download arrives.
    ``on_block(number, status)`` hears of each block (fetched, skipped, failed).
    Raises NodeLacksMethod when the node cannot serve fetch at all."""
    folder = DumpFolder(out)
    summary = FetchSummary()
    todo = []
    for n in numbers:
        if folder.has(n):
            summary.skipped.append(n)
            on_block(n, "skipped")
        else:
            todo.append(n)
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        futures = {pool.submit(download, client, n): n for n in todo}
        try:
            for future in as_completed(futures):
                n = futures[future]
                try:
                    raw, pre = future.result()
                    fetched = complete(client, n, raw, pre, folder.known_hashes())
                    folder.write(fetched)
                except FetchError as exc:
                    summary.failed[n] = str(exc)
                    on_block(n, "failed")
                    continue
                summary.fetched.append(n)
                summary.asked += fetched.asked
                summary.kept += fetched.kept
                on_block(n, "fetched")
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    summary.fetched.sort()
    return summary
