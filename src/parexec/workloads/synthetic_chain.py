"""A synthetic chain: a genesis of many funded accounts and a token, and
consecutive blocks of token transfers, produced with real roots
(parexec.chain.producer), so a chain can be imported without a node.

Spec ``erc20:txs=200,blocks=50,accounts=100000,seed=0``: ``accounts`` funded
accounts (the state's size) and ``txs`` transfers a block, each from a sender of
its own (``txs`` x ``blocks`` funded token holders, each sending once, so every
block writes accounts and token slots at new places in the tries, as a real
chain does) to a holder drawn from all accounts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from eth.vm.forks import CancunVM
from eth_hash.auto import keccak

from parexec.chain.producer import ProducerState, genesis_header, produce_block
from parexec.evm.pyevm_objects import header_class
from parexec.state.memory import MemoryState
from parexec.state.state_trie import StateTrie
from parexec.workloads.contracts import TOKEN_CODE
from parexec.workloads.synthetic import COINBASE, FUNDS, TOKEN, WorkloadError, _key

CHAIN_DEFAULTS = {"txs": 200, "blocks": 50, "accounts": 100_000, "seed": 0}
NETWORK = "Cancun"
GAS_LIMIT = 30_000_000


@dataclass
class SyntheticChain:
    network: str
    genesis_rlp: bytes
    pre: MemoryState
    blocks: list[bytes]


def parse_chain_spec(text: str) -> dict:
    name, _, rest = text.partition(":")
    if name != "erc20":
        raise WorkloadError(f"unknown chain workload {name!r} (erc20)")
    params = dict(CHAIN_DEFAULTS)
    for part in filter(None, rest.split(",")):
        key, eq, value = part.partition("=")
        if not eq or key not in params or not value.isdigit():
            raise WorkloadError(f"{text}: bad parameter {part!r} (known: {', '.join(params)})")
        params[key] = int(value)
    if params["txs"] < 1 or params["blocks"] < 1:
        raise WorkloadError(f"{text}: txs and blocks must be at least 1")
    return params


def build_chain(spec: str) -> SyntheticChain:
    p = parse_chain_spec(spec)
    rng = random.Random(p["seed"])
    vm = CancunVM
    senders = [_key(p["seed"], i) for i in range(p["txs"] * p["blocks"])]
    pre = MemoryState(complete=True)
    holders = [keccak(b"account" + i.to_bytes(4, "big"))[:20] for i in range(p["accounts"])]
    for address in holders:
        pre.set_account(address, balance=10**18)
    token = {}
    for key in senders:
        address = key.public_key.to_canonical_address()
        pre.set_account(address, balance=FUNDS)
        token[int.from_bytes(address, "big")] = 10**24
    pre.set_account(TOKEN, nonce=1, code=TOKEN_CODE, storage=token)
    pre.set_account(COINBASE, nonce=1, balance=10**18)
    genesis = genesis_header(vm, pre, COINBASE, GAS_LIMIT, 1_700_000_000, base_fee=7)
    at = ProducerState(genesis, pre, StateTrie.of(pre), {0: genesis.hash})
    builder = vm.get_transaction_builder()
    blocks = []
    for n in range(p["blocks"]):
        txs = []
        for key in senders[n * p["txs"]:(n + 1) * p["txs"]]:
            recipient = rng.choice(holders)
            tx = builder.new_unsigned_dynamic_fee_transaction(
                chain_id=1, nonce=0, max_priority_fee_per_gas=1, max_fee_per_gas=100, gas=80_000,
                to=TOKEN, value=0, data=recipient.rjust(32, b"\x00") + (1).to_bytes(32, "big"), access_list=(),
            ).as_signed_transaction(key)
            txs.append(builder.decode(tx.encode()))
        block_rlp, at = produce_block(vm, at, txs)
        blocks.append(block_rlp)
    genesis_rlp = _encode_genesis(vm, genesis)
    return SyntheticChain(NETWORK, genesis_rlp, pre, blocks)


def _encode_genesis(vm, header) -> bytes:
    import rlp

    assert isinstance(header, header_class(vm))
    return rlp.encode(vm.get_block_class()(header, [], [], []))


def as_blockchain_test(made: SyntheticChain, name: str) -> dict:
    """The chain as a BlockchainTests file (``{name: test}``), which ``parexec chain
    init --fixture`` and ``chain import`` take like any other."""
    import rlp

    genesis = rlp.decode(made.genesis_rlp)[0]
    genesis_hash = keccak(rlp.encode(genesis))
    last = keccak(rlp.encode(rlp.decode(made.blocks[-1])[0])) if made.blocks else genesis_hash
    pre = {}
    for address, acc in made.pre.accounts.items():
        pre["0x" + address.hex()] = {
            "nonce": hex(acc.nonce), "balance": hex(acc.balance),
            "code": "0x" + made.pre.code(acc.code_hash).hex(),
            "storage": {hex(k): hex(v) for k, v in made.pre.slots.get(address, {}).items() if v},
        }
    return {name: {
        "network": made.network,
        "genesisRLP": "0x" + made.genesis_rlp.hex(),
        "genesisBlockHeader": {"hash": "0x" + genesis_hash.hex()},
        "pre": pre,
        "blocks": [{"rlp": "0x" + b.hex()} for b in made.blocks],
        "lastblockhash": "0x" + last.hex(),
        "postStateHash": "0x" + rlp.decode(made.blocks[-1])[0][3].hex() if made.blocks else "0x",
    }}
