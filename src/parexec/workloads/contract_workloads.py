"""Workloads on real contracts (Vyper sources in ``workloads/vyper``, compiled
bytecode checked in: parexec.workloads.compiled). Their state is written into the
genesis directly (balances, allowances, reserves, owners), at the slots the
compiler's storage layout gives.

* ``amm``: ``pools`` constant-product pools (Uniswap V2 style, each on its own
  token pair); each transaction is a swap (9 in 10) or an add of liquidity by a
  trader of its own, on a pool drawn at random (Zipf-weighted with ``zipf``), or
  on pool 0 for a ``hot`` share.
  Every transaction on one pool reads and writes its reserves: a pool is a chain.
* ``nft``: an ERC-721 collection; each transaction moves an owner's token to a
  collector (drawn as ``accounts`` and ``zipf`` say), or, for a ``hot`` share,
  mints the next token (mints all wait on the collection's counter).
"""

from __future__ import annotations

import random

from eth_hash.auto import keccak

from parexec.state.memory import MemoryState
from parexec.workloads.compiled import calldata, runtime, slot
from parexec.workloads.synthetic import FUNDS, Popularity, _is_hot, _key, sign

MAX = 2**256 - 1
RESERVE = 10**24
TRADE = 10**18


def _address(label: str, i: int) -> bytes:
    return keccak(f"{label}-{i}".encode())[:20]


def build_contract_workload(name: str, p: dict) -> tuple[list, MemoryState]:
    """The signed transactions and the genesis state of workload ``name``."""
    pre = MemoryState(complete=True)
    rng = random.Random(p["seed"])
    build = _amm if name == "amm" else _nft
    return build(pre, rng, p), pre


def _amm(pre: MemoryState, rng: random.Random, p: dict) -> list:
    pools = p["pools"]
    pairs = [_address("pair", k) for k in range(pools)]
    tokens = [(_address("token-a", k), _address("token-b", k)) for k in range(pools)]
    balances: dict[bytes, dict[int, int]] = {t: {} for pair in tokens for t in pair}
    pair_storage = {}
    for k, pair in enumerate(pairs):
        a, b = tokens[k]
        pair_storage[pair] = {
            slot("pair", "token0"): int.from_bytes(a, "big"), slot("pair", "token1"): int.from_bytes(b, "big"),
            slot("pair", "reserve0"): RESERVE, slot("pair", "reserve1"): RESERVE,
            slot("pair", "totalShares"): RESERVE, slot("pair", "shares", _address("founder", k)): RESERVE,
        }
        for token in (a, b):
            balances[token][slot("token", "balanceOf", pair)] = RESERVE
    signed, popular = [], Popularity(rng, pools, p["zipf"])
    for i in range(p["txs"]):
        key = _key(p["seed"], i)
        trader = key.public_key.to_canonical_address()
        pre.set_account(trader, balance=FUNDS)
        k = 0 if _is_hot(i, p["hot"]) else popular.pick()
        for token in tokens[k]:
            balances[token][slot("token", "balanceOf", trader)] = 1000 * TRADE
            balances[token][slot("token", "allowance", trader, pairs[k])] = MAX
        if rng.random() < 0.1:
            data, gas = calldata("add_liquidity(uint256,uint256)", 10 * TRADE, 10 * TRADE), 250_000
        else:
            data, gas = calldata("swap(uint256,bool,uint256)", TRADE, rng.random() < 0.5, 1), 200_000
        signed.append(sign(key, 0, pairs[k], data, gas))
    for pair in pairs:
        pre.set_account(pair, nonce=1, code=runtime("pair"), storage=pair_storage[pair])
    for token, storage in balances.items():
        pre.set_account(token, nonce=1, code=runtime("token"), storage=storage)
    return signed


def _nft(pre: MemoryState, rng: random.Random, p: dict) -> list:
    collection = _address("collection", 0)
    storage = {slot("nft", "nextId"): p["txs"]}
    signed, collectors = [], Popularity(rng, p["accounts"], p["zipf"])
    for i in range(p["txs"]):
        key = _key(p["seed"], i)
        owner = key.public_key.to_canonical_address()
        pre.set_account(owner, balance=FUNDS)
        storage[slot("nft", "ownerOf", i)] = int.from_bytes(owner, "big")
        storage[slot("nft", "balanceOf", owner)] = 1
        receiver = _address("collector", collectors.pick())
        if _is_hot(i, p["hot"]):
            data, gas = calldata("mint(address)", receiver), 150_000
        else:
            data, gas = calldata("transferFrom(address,address,uint256)", owner, receiver, i), 120_000
        signed.append(sign(key, 0, collection, data, gas))
    pre.set_account(collection, nonce=1, code=runtime("nft"), storage=storage)
    return signed
