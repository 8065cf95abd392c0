"""State roots and pre-Byzantium receipt roots, checked against py-evm's own trie-backed AccountDB."""

from __future__ import annotations

import random

from eth.db.atomic import AtomicDB
from eth.vm.execution_context import ExecutionContext
from eth.vm.forks import FrontierVM
from eth_keys import keys

from parexec.block.env import AncestorHashes
from parexec.block.pipeline import execute_block
from parexec.evm.pyevm_objects import header_class
from parexec.model import Block
from parexec.state.memory import MemoryState
from parexec.state.root import state_root
from parexec.strategies import get_strategy

from evm_helpers import pyevm_db


def random_state(seed: int) -> MemoryState:
    rng = random.Random(seed)
    state = MemoryState()
    for i in range(30):
        address = rng.randbytes(20)
        storage = {rng.randrange(2**256): rng.randrange(1, 2**200) for _ in range(rng.randrange(4))}
        state.set_account(
            address,
            nonce=rng.randrange(5),
            balance=rng.randrange(10**20),
            code=rng.randbytes(rng.randrange(3) * 7),
            storage=storage,
        )
    return state


def test_state_root_equals_pyevm():
    for seed in range(3):
        state = random_state(seed)
        assert state_root(state) == pyevm_db(state).state_root


def test_pre_byzantium_receipts_carry_intermediate_roots():
    key = keys.PrivateKey(b"\x01" * 32)
    sender = key.public_key.to_canonical_address()
    coinbase = b"\xcc" * 20
    pre = MemoryState()
    pre.set_account(sender, balance=10**18)
    recipients = [bytes([i]) * 20 for i in (0x11, 0x22)]
    txs = [
        FrontierVM.create_unsigned_transaction(
            nonce=i, gas_price=10, gas=21000, to=r, value=1000 + i, data=b""
        ).as_signed_transaction(key)
        for i, r in enumerate(recipients)
    ]
    header = header_class(FrontierVM)(
        difficulty=1, block_number=1, gas_limit=1_000_000, timestamp=10, coinbase=coinbase
    )
    block = Block(
        header=header,
        transactions=txs,
        vm_class=FrontierVM,
        ancestor_hashes=AncestorHashes(1, {0: b"\x00" * 32}),
    )
    outcome = execute_block(block, pre, get_strategy("serial"))

    # The same transactions through py-evm's own State on a trie.
    db = AtomicDB()
    root = pyevm_db(pre, db).state_root
    context = ExecutionContext(
        coinbase=coinbase, timestamp=10, block_number=1, difficulty=1, mix_hash=b"\x00" * 32,
        gas_limit=1_000_000, prev_hashes=(), chain_id=1,
    )
    state = FrontierVM.get_state_class()(db, context, root)
    expected_roots = []
    for tx in txs:
        state.lock_changes()
        state.apply_transaction(tx)
        expected_roots.append(state.make_state_root())
    assert [r.state_root for r in outcome.receipts] == expected_roots
    assert outcome.gas_used == 2 * 21000

