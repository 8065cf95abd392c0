"""A JSON-RPC node on loopback that answers from the shared mainnet dumps, for
`parexec fetch`'s tests: the methods fetch uses, answered as geth answers them,
and faults on request (a rate limit, a timeout, a malformed reply).

Its prestate tracer is emulated with parexec's own serial execution: for each
transaction, the dump's accounts and slots it touched, with their values before
that transaction (what earlier transactions wrote included), storage keys and
values as 32-byte hex; what no transaction touched rides with the first one.
State queries at block N-1 answer from block N's pre-state."""

from __future__ import annotations

import gzip
import json
import threading
import time
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from eth_hash.auto import keccak

from parexec.block.pipeline import execute_block
from parexec.fixtures.mainnet import load_block
from parexec.model import STORAGE
from parexec.state.overlay import OverlayState
from parexec.strategies.serial import SerialStrategy


class Dataset:
    def __init__(self, root: Path):
        self.root = root
        self.blocks = {int(p.name): p for p in (root / "blocks").iterdir() if p.name.isdigit()}
        with gzip.open(root / "bytecodes.json.gz", "rt") as fh:
            self.codes = json.load(fh)
        self.hashes = {int(n): h for n, h in json.loads((root / "block_hashes.json").read_text()).items()}

    @lru_cache(maxsize=None)
    def block(self, n: int) -> dict:
        return json.loads((self.blocks[n] / "block.json").read_text())

    @lru_cache(maxsize=None)
    def pre_state(self, n: int) -> dict:
        return json.loads((self.blocks[n] / "pre_state.json").read_text())

    @lru_cache(maxsize=None)
    def traces(self, n: int) -> list:
        original = self.pre_state(n)
        block, pre, _ = load_block(self.blocks[n])
        outcome = execute_block(block, pre, SerialStrategy(), 1, with_state_root=False)
        state = OverlayState(pre)
        traces = []
        for tx, result in zip(block.transactions, outcome.tx_results):
            touched = {loc[1] for loc in (*result.reads, *result.writes)}
            slots = {(loc[1], loc[2]) for loc in (*result.reads, *result.writes) if loc[0] == STORAGE}
            trace = {}
            for address in touched:
                text = "0x" + address.hex()
                if text not in original:  # as geth does: an account that is not there, traced empty
                    trace[text] = {"balance": "0x0"}
                    continue
                account = state.account(address)
                if account is None:  # destroyed by an earlier transaction: it traced it first
                    continue
                entry = {"balance": hex(account.balance), "nonce": account.nonce}
                code = state.code(account.code_hash)
                if code:
                    entry["code"] = "0x" + code.hex()
                storage = {_word(slot): _word(state.storage(address, slot)) for a, slot in slots
                           if a == address and hex(slot) in original[text]["storage"]}
                if storage:
                    entry["storage"] = storage
                trace[text] = entry
            traces.append({"txHash": "0x" + tx.hash.hex(), "result": trace})
            state.apply(result.writes, result.new_code)
        if traces:  # what no transaction touched: with the first one, at its pre-block value
            first = traces[0]["result"]
            seen = {(a, s) for t in traces for a, e in t["result"].items() for s in e.get("storage", {})}
            for text, account in original.items():
                entry = first.setdefault(text, self._account(account))
                for slot, value in account["storage"].items():
                    if (text, _word(int(slot, 16))) not in seen:
                        entry.setdefault("storage", {})[_word(int(slot, 16))] = _word(int(value, 16))
        return traces

    def _account(self, account: dict) -> dict:
        entry = {"balance": account["balance"], "nonce": account["nonce"]}
        if account.get("code_hash"):
            entry["code"] = self.codes[account["code_hash"]]
        return entry


def _word(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


class RpcError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


class FakeNode:
    """``faults``: request number (1, 2, ...) -> "rate-limit" | "timeout" |
    "malformed"; ``omit``: addresses left out of every trace (a tracer gap);
    ``no_debug``: the node has no debug API; ``garbage``: every answer is bad JSON;
    ``zero_balance``: addresses whose traced balance is 0 (an inconsistent node)."""

    def __init__(self, data: Path, faults: dict | None = None, omit=(), no_debug=False, garbage=False,
                 stall: float = 3.0, zero_balance=()):
        self.data = Dataset(data)
        self.faults = dict(faults or {})
        self.omit = {a.lower() for a in omit}
        self.zero_balance = {a.lower() for a in zero_balance}
        self.no_debug, self.garbage, self.stall = no_debug, garbage, stall
        self.requests = 0
        self.methods: list[str] = []
        self.lock = threading.Lock()
        node = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with node.lock:
                    node.requests += 1
                    fault = node.faults.pop(node.requests, None)
                if node.garbage or fault == "malformed":
                    return self._send(200, b"<html>502 Bad Gateway</html>")
                if fault == "rate-limit":
                    return self._send(429, b"Too Many Requests", {"Retry-After": "0"})
                if fault == "timeout":
                    time.sleep(node.stall)
                answers = [node.answer(call) for call in json.loads(body)]
                self._send(200, json.dumps(answers).encode())

            def _send(self, status, payload, headers=None):
                try:
                    self.send_response(status)
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout it was meant to hit)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def prepare(self, numbers) -> "FakeNode":
        """Trace these blocks ahead (emulating the tracer executes each block), so
        that answers come at once and only the injected timeout is slow."""
        for n in numbers:
            self.data.traces(n)
        return self

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def answer(self, call: dict) -> dict:
        with self.lock:
            self.methods.append(call["method"])
        try:
            result = self.dispatch(call["method"], call.get("params", []))
        except RpcError as exc:
            return {"jsonrpc": "2.0", "id": call["id"], "error": {"code": exc.code, "message": str(exc)}}
        return {"jsonrpc": "2.0", "id": call["id"], "result": result}

    def dispatch(self, method: str, params: list):
        data = self.data
        if method == "eth_getBlockByNumber":
            n, full = int(params[0], 16), params[1]
            if full:
                return data.block(n) if n in data.blocks else None
            if n in data.hashes:
                return {"number": hex(n), "hash": data.hashes[n]}
            return {"number": hex(n), "hash": data.block(n)["hash"]} if n in data.blocks else None
        if method == "debug_traceBlockByNumber":
            if self.no_debug:
                raise RpcError(-32601, "the method debug_traceBlockByNumber does not exist/is not available")
            traces = data.traces(int(params[0], 16))
            return [{**t, "result": {a: {**e, "balance": "0x0"} if a in self.zero_balance else e
                                     for a, e in t["result"].items() if a not in self.omit}} for t in traces]
        if method in ("eth_getBalance", "eth_getTransactionCount", "eth_getCode", "eth_getStorageAt",
                      "eth_getProof"):
            n = int(params[-1], 16) + 1
            if n not in data.blocks:
                raise RpcError(-32000, f"missing trie node (state at block {n - 1} is not available)")
            account = data.pre_state(n).get(params[0].lower())
            if method == "eth_getProof":  # as geth: a zero code hash for an account that does not exist
                code = bytes.fromhex(data.codes[account["code_hash"]][2:]) if account and account.get("code_hash") else b""
                return {"address": params[0], "codeHash": "0x" + (keccak(code).hex() if account else "00" * 32),
                        "balance": account["balance"] if account else "0x0", "accountProof": []}
            if method == "eth_getStorageAt":
                value = (account or {}).get("storage", {}).get(hex(int(params[1], 16)), "0x0")
                return _word(int(value, 16))
            if method == "eth_getCode":
                return data.codes[account["code_hash"]] if account and account.get("code_hash") else "0x"
            key = "balance" if method == "eth_getBalance" else "nonce"
            return hex(int(str(account[key]), 0)) if account else "0x0"
        raise RpcError(-32601, f"the method {method} does not exist/is not available")
