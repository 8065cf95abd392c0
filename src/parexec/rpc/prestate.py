"""A block's pre-state from the prestate tracer, in the dump format.

``debug_traceBlockByNumber(N, {tracer: "prestateTracer"})`` answers, per
transaction, the accounts and slots it touched with their values before *that
transaction*. The block's pre-state is the first appearance of each account
(balance, nonce, code) and of each slot: a later transaction sees what earlier
ones wrote, and what an earlier one changed it had touched. A tracer also
reports an account that does not exist, as an empty one; in the dump an absent
account does not exist and an empty one does (it matters to gas before Spurious
Dragon), so fetch asks the node which empty ones exist. The dump format
(``blocks/N/pre_state.json``) is ``{address: {balance: "0x..", nonce: int,
code_hash?: "0x..", storage: {slot: value}}}`` with code by hash in
``bytecodes.json.gz``; hex numbers without leading zeros, as the shared dumps
write them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from eth_hash.auto import keccak


class MalformedTrace(ValueError):
    """The tracer's answer does not have the prestate tracer's shape."""


@dataclass
class PreState:
    accounts: dict[str, dict] = field(default_factory=dict)  # address -> the dump's account entry
    codes: dict[str, str] = field(default_factory=dict)  # "0x<code hash>" -> "0x<code>"
    absent: set[str] = field(default_factory=set)  # traced, and found not to exist

    def add_account(self, address: str, balance: int, nonce: int, code: bytes) -> None:
        """An account seen for the first time (a later sight changes nothing)."""
        if address in self.accounts:
            return
        entry = {"balance": hex(balance), "nonce": nonce, "storage": {}}
        if code:
            code_hash = "0x" + keccak(code).hex()
            self.codes[code_hash] = "0x" + code.hex()
            entry["code_hash"] = code_hash
        self.accounts[address] = entry

    def add_slot(self, address: str, slot: int, value: int) -> None:
        self.accounts[address]["storage"].setdefault(hex(slot), hex(value))

    def looks_empty(self) -> list[str]:
        """Accounts with nothing in them: a tracer reports an account that does not
        exist the same way, and only the node can tell the two apart (eth_getProof)."""
        return [a for a, e in self.accounts.items() if e["balance"] == "0x0" and e["nonce"] == 0
                and "code_hash" not in e and not any(int(v, 16) for v in e["storage"].values())]

    def drop(self, address: str) -> None:
        """``address`` does not exist: out of the pre-state, and known absent."""
        del self.accounts[address]
        self.absent.add(address)


def merge_traces(traces, txs: int) -> PreState:
    """The block's pre-state from the tracer's per-transaction answers (``txs`` of
    them, in block order). Raises MalformedTrace, naming the transaction."""
    if not isinstance(traces, list) or len(traces) != txs:
        got = f"{len(traces)} traces" if isinstance(traces, list) else type(traces).__name__
        raise MalformedTrace(f"the prestate tracer answered {got} for {txs} transactions")
    pre = PreState()
    for i, trace in enumerate(traces):
        result = trace.get("result", trace) if isinstance(trace, dict) else None
        if isinstance(trace, dict) and trace.get("error"):
            raise MalformedTrace(f"tx {i}: the tracer failed: {trace['error']}")
        if not isinstance(result, dict):
            raise MalformedTrace(f"tx {i}: not a prestate trace: {str(trace)[:80]}")
        try:
            for address, account in result.items():
                address = _address(address)
                pre.add_account(address, _int(account.get("balance", "0x0")), _int(account.get("nonce", 0)),
                                bytes.fromhex(_strip(account.get("code") or "0x")))
                for slot, value in (account.get("storage") or {}).items():
                    pre.add_slot(address, _int(slot), _int(value))
        except (AttributeError, TypeError, ValueError) as exc:
            raise MalformedTrace(f"tx {i}: malformed account in the prestate trace: {exc}") from None
    return pre


def _address(text: str) -> str:
    raw = _strip(text)
    if len(raw) != 40:
        raise ValueError(f"{text!r} is not an address")
    int(raw, 16)
    return "0x" + raw.lower()


def _strip(text: str) -> str:
    if not isinstance(text, str) or not text.startswith("0x"):
        raise ValueError(f"{text!r} is not 0x-prefixed hex")
    return text[2:]


def _int(value) -> int:
    """A quantity as nodes write it: 0x-hex, or a plain integer (nonces)."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    if isinstance(value, int):
        return value
    return int(_strip(value) or "0", 16)
