"""Making blocks as a block producer does: the next header's fields from its
parent, the transactions executed, and the header sealed with the roots they
give. Synthetic chains (parexec.workloads.synthetic_chain) are made this way,
so that importing them checks every root like any other chain's."""

from __future__ import annotations

from dataclasses import dataclass

import rlp
from eth.db.trie import make_trie_root_and_nodes
from eth.vm.forks.london.headers import calculate_expected_base_fee_per_gas
from eth_hash.auto import keccak

from parexec.block.env import AncestorHashes
from parexec.block.pipeline import execute_block
from parexec.block.requests import requests_hash
from parexec.evm.osaka import expected_excess_blob_gas
from parexec.evm.pyevm_objects import header_class
from parexec.model import EMPTY_TRIE_ROOT, Block
from parexec.state.memory import MemoryState
from parexec.state.state_trie import StateTrie
from parexec.strategies import get_strategy

EMPTY_UNCLES_HASH = keccak(rlp.encode([]))
SECONDS_PER_BLOCK = 12


@dataclass
class ProducerState:
    """What the producer builds on: the parent's header, state, tries and hashes."""

    header: object
    state: MemoryState
    trie: StateTrie
    hashes: dict[int, bytes]  # number -> hash of every block so far (BLOCKHASH)


def genesis_header(vm_class: type, state: MemoryState, coinbase: bytes, gas_limit: int, timestamp: int,
                   base_fee: int):
    """Block 0 of a chain on ``state`` (forks from Cancun on)."""
    cls = header_class(vm_class)
    extra = {"requests_hash": requests_hash([])} if "requests_hash" in cls._meta.field_names else {}
    return cls(
        parent_hash=b"\x00" * 32, uncles_hash=EMPTY_UNCLES_HASH, coinbase=coinbase,
        state_root=StateTrie.of(state).root, transaction_root=EMPTY_TRIE_ROOT, receipt_root=EMPTY_TRIE_ROOT,
        bloom=0, difficulty=0, block_number=0, gas_limit=gas_limit, gas_used=0, timestamp=timestamp,
        extra_data=b"", mix_hash=b"\x00" * 32, nonce=b"\x00" * 8, base_fee_per_gas=base_fee,
        withdrawals_root=EMPTY_TRIE_ROOT, blob_gas_used=0, excess_blob_gas=0,
        parent_beacon_block_root=b"\x00" * 32, **extra,
    )


def produce_block(vm_class: type, parent: ProducerState, transactions: list) -> tuple[bytes, ProducerState]:
    """The next block's RLP holding ``transactions`` (executed serially, as a
    producer would), and what the block after it builds on."""
    prev = parent.header
    number = prev.block_number + 1
    header = header_class(vm_class)(
        parent_hash=prev.hash, uncles_hash=EMPTY_UNCLES_HASH, coinbase=prev.coinbase,
        state_root=EMPTY_TRIE_ROOT, transaction_root=make_trie_root_and_nodes(transactions)[0],
        receipt_root=EMPTY_TRIE_ROOT, bloom=0, difficulty=0, block_number=number, gas_limit=prev.gas_limit,
        gas_used=0, timestamp=prev.timestamp + SECONDS_PER_BLOCK, extra_data=b"", mix_hash=b"\x00" * 32,
        nonce=b"\x00" * 8, base_fee_per_gas=calculate_expected_base_fee_per_gas(prev),
        withdrawals_root=EMPTY_TRIE_ROOT, blob_gas_used=0,
        excess_blob_gas=expected_excess_blob_gas(vm_class, prev), parent_beacon_block_root=b"\x00" * 32,
    )
    block = Block(header=header, transactions=transactions, vm_class=vm_class,
                  ancestor_hashes=AncestorHashes(number, parent.hashes))
    outcome = execute_block(block, parent.state, get_strategy("serial"), with_state_root=False)
    post = parent.state.derive(outcome.state_diff, outcome.new_code)
    trie = parent.trie.updated(post, outcome.state_diff)
    sealed = header.copy(state_root=trie.root, receipt_root=outcome.receipts_root, bloom=outcome.logs_bloom,
                         gas_used=outcome.gas_used, blob_gas_used=outcome.blob_gas_used)
    block_rlp = rlp.encode(vm_class.get_block_class()(sealed, transactions, [], []))
    return block_rlp, ProducerState(sealed, post, trie, {**parent.hashes, number: sealed.hash})
