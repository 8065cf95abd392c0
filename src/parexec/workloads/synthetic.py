"""Synthetic blocks on Cancun rules (or a later fork's), with signed transactions.

A spec is ``NAME[:k=v,...]``:

* ``transfers``: plain ETH transfers from distinct senders to distinct new accounts.
  ``hot=F``: that share of the transactions is sent by one shared hot sender
  (a nonce chain, so they depend on each other).
* ``erc20``: token transfers between distinct holders of one token contract.
  ``hot=F``: that share of the transfers go to one hot holder (its balance slot
  is read and written by each of them).
* ``chain``: every transaction increments one counter, so each depends on the
  previous one.
* ``amm`` and ``nft``: constant-product pools and an ERC-721 collection, compiled
  from Vyper (parexec.workloads.contract_workloads); ``pools=N`` for amm.
* ``mixed``: a blend in one block: 40% transfers, 30% token transfers, 20% swaps,
  10% NFT moves and mints, interleaved (each part with the spec's parameters).
* ``onewrite``, ``coinbase``, ``redeploy``, ``redelegate`` (Prague by default),
  ``abortonce``: adversarial blocks (parexec.workloads.adversarial): one slot
  every transaction writes, the beneficiary's balance observed, SELFDESTRUCT and
  CREATE2 at the same addresses, EIP-7702 re-delegation mid-block, every
  transaction's first speculation stale.

All take ``txs=N`` (default 1000) and ``seed=S``; ``accounts=N``: the recipients
(transfers, erc20, nft) are drawn from N accounts (default 0: a new one for each
transaction); ``zipf=S``: drawn with Zipf popularity of exponent S (rank k with
weight 1/k^S; pools of amm too), 0 (the default) being uniform; ``blocks=N``: N
consecutive blocks of ``txs`` each, block k+1 on block k's post-state (the
commands take each as a target of its own); ``fork=F``: the rules of ``cancun``
(the default), ``prague``, ``osaka``, ``bpo1`` or ``bpo2`` (from Prague on the
pre-state holds the four system contracts, whose calls every block then makes).
Transactions are signed and handed over undecoded-fresh, so sender recovery is
part of execution.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import random

from eth.vm.forks import CancunVM, PragueVM
from eth_hash.auto import keccak
from eth_keys import keys

from parexec.block.env import AncestorHashes
from parexec.block.requests import requests_hash
from parexec.evm.osaka import BPO1VM, BPO2VM, OsakaVM
from parexec.evm.pyevm_objects import header_class
from parexec.model import Block
from parexec.state.memory import MemoryState
from parexec.state.trie import ordered_trie_root
from parexec.workloads.contracts import COUNTER_CODE, TOKEN_CODE


class WorkloadError(ValueError):
    """A workload spec that cannot be understood."""


ADVERSARIAL = ("onewrite", "coinbase", "redeploy", "redelegate", "abortonce")  # parexec.workloads.adversarial
WORKLOADS = ("transfers", "erc20", "chain", "amm", "nft", "mixed") + ADVERSARIAL
DEFAULTS = {"txs": 1000, "hot": 0.0, "seed": 0, "pools": 4, "accounts": 0, "zipf": 0.0, "blocks": 1,
            "fork": "cancun"}  # pools: amm
FORKS = {"cancun": CancunVM, "prague": PragueVM, "osaka": OsakaVM, "bpo1": BPO1VM, "bpo2": BPO2VM}
MIX = (("transfers", 0.4), ("erc20", 0.3), ("amm", 0.2), ("nft", 0.1))
TOKEN = b"\x70" * 19 + b"\x01"
COUNTER = b"\x70" * 19 + b"\x02"
COINBASE = b"\xc0" * 20
BLOCK_NUMBER = 20_000_000
BASE_FEE = 7
FUNDS = 10**21


def is_workload_spec(text: str) -> bool:
    return text.split(":", 1)[0] in WORKLOADS


def parse_spec(text: str) -> tuple[str, dict]:
    name, _, rest = text.partition(":")
    if name not in WORKLOADS:
        raise WorkloadError(f"unknown workload {name!r}; choose from {', '.join(WORKLOADS)}")
    params = dict(DEFAULTS)
    if name == "redelegate":
        params["fork"] = "prague"  # EIP-7702's set-code transactions
    for part in filter(None, rest.split(",")):
        key, eq, value = part.partition("=")
        if not eq or key not in DEFAULTS:
            raise WorkloadError(f"{text}: bad parameter {part!r} (known: {', '.join(DEFAULTS)})")
        if key == "fork":
            if value.lower() not in FORKS:
                raise WorkloadError(f"{text}: fork must be one of {', '.join(FORKS)}, got {value!r}")
            params[key] = value.lower()
            continue
        try:
            params[key] = float(value) if key in ("hot", "zipf") else int(value)
        except ValueError:
            raise WorkloadError(f"{text}: {key} must be a number, got {value!r}") from None
    if params["txs"] < 1 or params["pools"] < 1 or not 1 <= params["blocks"] <= 1000:
        raise WorkloadError(f"{text}: txs and pools must be at least 1, blocks from 1 to 1000")
    if not 0.0 <= params["hot"] <= 1.0:
        raise WorkloadError(f"{text}: hot must be between 0 and 1")
    if params["accounts"] < 0 or not 0.0 <= params["zipf"] <= 10.0:
        raise WorkloadError(f"{text}: accounts must be at least 0 and zipf between 0 and 10")
    if name == "redelegate" and params["fork"] == "cancun":
        raise WorkloadError(f"{text}: redelegate needs EIP-7702: fork=prague or later")
    return name, params


class Popularity:
    """Who a transaction goes to: one of ``n`` ranks (``n`` 0: a new one each
    time), uniformly or with Zipf weights 1/k^s; deterministic for ``rng``."""

    def __init__(self, rng: random.Random, n: int, s: float):
        self.rng, self.n, self.fresh = rng, n, 0
        self.cumulative = list(itertools.accumulate(1 / (k + 1) ** s for k in range(n))) if n else []

    def pick(self) -> int:
        if not self.n:
            self.fresh += 1
            return self.fresh - 1
        return bisect.bisect_left(self.cumulative, self.rng.random() * self.cumulative[-1])


def _key(seed: int, i: int) -> keys.PrivateKey:
    return keys.PrivateKey(keccak(f"parexec-{seed}-{i}".encode()))


def _is_hot(i: int, share: float) -> bool:
    return int((i + 1) * share) > int(i * share)


def sign(key: keys.PrivateKey, nonce: int, to: bytes, data: bytes, gas: int, value: int = 0):
    """A signed Cancun transaction, decoded anew so that its sender is not cached:
    recovery is part of execution."""
    builder = CancunVM.get_transaction_builder()
    tx = builder.new_unsigned_dynamic_fee_transaction(
        chain_id=1, nonce=nonce, max_priority_fee_per_gas=1,
        max_fee_per_gas=100, gas=gas, to=to, value=value, data=data, access_list=(),
    ).as_signed_transaction(key)
    return builder.decode(tx.encode())


def build_workload(spec: str) -> tuple[Block, MemoryState]:
    """The block of a one-block spec and its pre-state."""
    blocks = workload_blocks(spec)
    if len(blocks) != 1:
        raise WorkloadError(f"{spec}: {len(blocks)} blocks; this takes one")
    return blocks[0]


@functools.lru_cache(maxsize=4)
def workload_blocks(spec: str) -> tuple[tuple[Block, MemoryState], ...]:
    """Each block of ``spec`` with its pre-state: with ``blocks=N``, the
    transactions of N blocks cut in order, each block executed serially to make
    the next one's pre-state (the states are never changed afterwards)."""
    from parexec.block.pipeline import execute_block
    from parexec.strategies.serial import SerialStrategy

    name, p = parse_spec(spec)
    n, size = p["blocks"], p["txs"]
    signed, state = (_mixed if name == "mixed" else workload_txs)(name, {**p, "txs": size * n})
    vm = FORKS[p["fork"]]
    if vm is not CancunVM:  # the same bytes, as the fork's transaction classes
        signed = [vm.get_transaction_builder().decode(tx.encode()) for tx in signed]
    out, parent = [], None
    for k in range(n):
        label = spec if n == 1 else f"{spec} block {k + 1}/{n}"
        block = workload_block(signed[k * size:(k + 1) * size], state, label, BLOCK_NUMBER + k, parent, vm)
        out.append((block, state))
        if k + 1 < n:
            outcome = execute_block(block, state, SerialStrategy(), 1, with_state_root=False)
            state, parent = state.derive(outcome.state_diff, outcome.new_code), block.header
    return tuple(out)


def workload_txs(name: str, p: dict) -> tuple[list, MemoryState]:
    """The signed transactions of workload ``name`` and their genesis state."""
    if name in ("amm", "nft"):
        from parexec.workloads.contract_workloads import build_contract_workload

        return build_contract_workload(name, p)
    if name in ADVERSARIAL:
        from parexec.workloads.adversarial import build_adversarial

        return build_adversarial(name, p)
    n, hot, seed = p["txs"], p["hot"], p["seed"]
    pre = MemoryState(complete=True)
    recipients = Popularity(random.Random(seed), p["accounts"], p["zipf"])
    hot_key = _key(seed, -1)
    hot_address = hot_key.public_key.to_canonical_address()
    hot_holder = keccak(b"hot-holder")[:20]
    nonces: dict[bytes, int] = {}
    signed = []
    token_slots = {}
    for i in range(n):
        key = _key(seed, i)
        if name == "transfers" and _is_hot(i, hot):
            key = hot_key
        sender = hot_address if key is hot_key else key.public_key.to_canonical_address()
        if sender not in nonces:
            pre.set_account(sender, balance=FUNDS)
            nonces[sender] = 0
        if name == "transfers":
            to, value, data, gas = keccak(b"to" + recipients.pick().to_bytes(4, "big"))[:20], 1, b"", 21000
        elif name == "erc20":
            token_slots[int.from_bytes(sender, "big")] = 10**24
            recipient = hot_holder if _is_hot(i, hot) else keccak(b"holder" + recipients.pick().to_bytes(4, "big"))[:20]
            to, value, gas = TOKEN, 0, 80_000
            data = recipient.rjust(32, b"\x00") + (1).to_bytes(32, "big")
        else:
            to, value, data, gas = COUNTER, 0, b"", 50_000
        signed.append(sign(key, nonces[sender], to, data, gas, value))
        nonces[sender] += 1
    if name == "erc20":
        pre.set_account(TOKEN, nonce=1, code=TOKEN_CODE, storage=token_slots)
    if name == "chain":
        pre.set_account(COUNTER, nonce=1, code=COUNTER_CODE)
    return signed, pre


def _mixed(_name: str, p: dict) -> tuple[list, MemoryState]:
    """MIX's parts, each with its share of ``txs`` and a seed of its own (so their
    senders differ), interleaved in a deterministic shuffle."""
    pre, parts = MemoryState(complete=True), []
    for k, (part, share) in enumerate(MIX):
        count = max(1, round(p["txs"] * share))
        signed, state = workload_txs(part, {**p, "txs": count, "seed": p["seed"] * len(MIX) + k + 1})
        pre.accounts.update(state.accounts)
        pre.slots.update(state.slots)
        pre.codes.update(state.codes)
        parts.append(signed)
    rng = random.Random(p["seed"])
    order = [k for k, signed in enumerate(parts) for _ in signed]
    rng.shuffle(order)
    queues = [iter(signed) for signed in parts]
    return [next(queues[k]) for k in order], pre


def workload_block(signed: list, pre: MemoryState, spec: str, number: int = BLOCK_NUMBER, parent=None,
                   vm: type = CancunVM) -> Block:
    """The block holding ``signed`` (block ``number``, after ``parent``'s header if
    given) on ``vm``'s rules. Adds an existing beneficiary to ``pre`` if it has none,
    as on mainnet (a missing one is created by the first transaction, and every
    transaction would read its existence), and from Prague on the system contracts."""
    if pre.account(COINBASE) is None:
        pre.set_account(COINBASE, nonce=1, balance=10**18)
    extra = {}
    if "requests_hash" in header_class(vm)._meta.field_names:
        from parexec.workloads.system_contracts import PRAGUE_SYSTEM_CONTRACTS

        for address, code in PRAGUE_SYSTEM_CONTRACTS.items():
            if pre.account(address) is None:
                pre.set_account(address, nonce=1, code=code)
        extra["requests_hash"] = requests_hash([])  # no deposits or requests in these blocks
    parent_hash = keccak(b"parent") if parent is None else parent.hash
    header = header_class(vm)(
        parent_hash=parent_hash,
        coinbase=COINBASE,
        difficulty=0,
        block_number=number,
        gas_limit=max(30_000_000, sum(tx.gas for tx in signed)),
        timestamp=1_700_000_000 + 12 * (number - BLOCK_NUMBER),
        base_fee_per_gas=BASE_FEE,
        parent_beacon_block_root=b"\x00" * 32,
        excess_blob_gas=0,
        # the real root: blocks with other transactions get other hashes (lists and
        # hints are filed by number and hash)
        transaction_root=ordered_trie_root([tx.encode() for tx in signed]),
        **extra,
    )
    return Block(
        header=header,
        transactions=signed,
        vm_class=vm,
        ancestor_hashes=AncestorHashes(number, {number - 1: parent_hash}),
        name=spec,
    )
