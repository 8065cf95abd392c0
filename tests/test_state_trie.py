"""Incremental state roots against the chain: every valid block of the shared
BlockchainTests chains, its root computed from its parent's tries and its diff."""

from __future__ import annotations


import pytest

from conftest import EEST, ETHEREUM_TESTS, require_data
from parexec.block.pipeline import execute_block
from parexec.block.decoding import block_of, decode_block
from parexec.fixtures.blockchain_tests import load_file, load_state
from parexec.fixtures.transactions import hex_bytes
from parexec.forks import fork_rules
from parexec.state.root import state_root
from parexec.state.state_trie import StateTrie
from parexec.strategies import get_strategy

FOLDERS = [
    (EEST, "v4.5.0/blockchain_tests/cancun/eip6780_selfdestruct"),
    (EEST, "v4.5.0/blockchain_tests/prague/eip7702_set_code_tx"),
    (EEST, "v5.4.0/blockchain_tests/prague/eip7251_consolidations"),
    (ETHEREUM_TESTS, "ValidBlocks/bcStateTests"),
    (ETHEREUM_TESTS, "GeneralStateTests/stSelfBalance"),
    (ETHEREUM_TESTS, "GeneralStateTests/stCreate2"),
]

def _chain_roots(test: dict):
    """(header root, incremental root) of every block the chain accepts."""
    fork_at = fork_rules(test["network"], (test.get("config") or {}).get("blobSchedule"))
    pre = load_state(test["pre"])
    genesis = decode_block(fork_at, hex_bytes(test["genesisRLP"])).header
    trie = StateTrie.of(pre)
    yield genesis.state_root, trie.root
    chain = {genesis.hash: (genesis, pre, trie)}
    serial = get_strategy("serial")
    for entry in test["blocks"]:
        if entry.get("expectException"):
            continue
        decoded = decode_block(fork_at, hex_bytes(entry["rlp"]))
        header = decoded.header
        parent_header, parent, parent_trie = chain[header.parent_hash]
        block = block_of(decoded, fork_at(header.block_number, header.timestamp), _hashes(chain, header))
        outcome = execute_block(block, parent, serial, with_state_root=False)
        post = parent.derive(outcome.state_diff, outcome.new_code)
        trie = parent_trie.updated(post, outcome.state_diff)
        yield header.state_root, trie.root
        chain[header.hash] = (header, post, trie)

def _hashes(chain, header) -> dict[int, bytes]:
    out, h = {}, header.parent_hash
    while h in chain and len(out) < 256:
        parent = chain[h][0]
        out[parent.block_number] = h
        h = parent.parent_hash
    return out

def _files():
    for base, folder in FOLDERS:
        yield from sorted((base / folder).rglob("*.json")) if (base / folder).exists() else []

@pytest.mark.conformance
@pytest.mark.parametrize("path", list(_files()), ids=lambda p: p.name)
def test_incremental_root_equals_every_header_root(path):
    blocks = 0
    for name, test in load_file(path).items():
        for want, got in _chain_roots(test):
            assert got == want, f"{name}: state root {got.hex()} != header {want.hex()}"
            blocks += 1
    assert blocks

def test_the_folders_are_there():
    for base, folder in FOLDERS:
        require_data(base / folder)

def test_of_equals_the_one_pass_root():
    path = require_data(EEST / "v5.4.0/blockchain_tests/prague/eip7002_el_triggerable_withdrawals/test_eip_7002.json")
    pre = load_state(next(iter(load_file(path).values()))["pre"])
    assert StateTrie.of(pre).root == state_root(pre)

def test_an_earlier_version_keeps_its_root():
    """A version stays valid after later blocks (a side chain may start from it)."""
    path = require_data(EEST / "v4.5.0/blockchain_tests/cancun/eip6780_selfdestruct")
    pre = load_state(next(iter(load_file(sorted(path.rglob("*.json"))[0]).values()))["pre"])
    first = StateTrie.of(pre)
    address = next(iter(pre.accounts))
    post = pre.copy()
    post.accounts[address].balance += 1
    post.slots.setdefault(address, {})[7] = 9
    second = first.updated(post, {("balance", address): post.accounts[address].balance, ("storage", address, 7): 9})
    assert second.root == state_root(post) != first.root
    assert first.root == state_root(pre)


def test_state_tries_from_a_store_give_the_roots_of_tries_built_in_memory(tmp_path):
    """The committer's tries (StateTrie.stored over the store's trie nodes, cached
    in a tiny cache so most nodes are loaded again) against StateTrie.of on every
    post-state of random blocks: accounts created, deleted and re-created, storage
    written, zeroed and reset."""
    import random

    from parexec.model import BALANCE, EXISTS, NONCE, STORAGE, STORAGE_RESET
    from parexec.state.lmdb_store import LmdbStore
    from parexec.state.memory import MemoryState
    from parexec.state.state_trie import StateTrie
    from parexec.state.stored_trie import TrieNodes
    from parexec.state.writes import creation_writes

    rng = random.Random(3)
    addresses = [bytes([i]) * 20 for i in range(1, 40)]
    state = MemoryState()
    for i, address in enumerate(addresses[:25]):
        state.set_account(address, nonce=i, balance=i * 10**18, storage={s: s + i + 1 for s in range(i % 7)})
    store = LmdbStore(tmp_path / "db")
    genesis = StateTrie.of(state)
    store.commit(0, b"\x00" * 32, b"h", creation_writes(state), {}, nodes=genesis.new_nodes())
    nodes = TrieNodes(store, limit=20)
    trie = StateTrie.stored(genesis.root, nodes)
    for number in range(1, 25):
        diff = {}
        for address in rng.sample(addresses, 8):
            exists = state.account(address) is not None
            if exists and rng.random() < 0.15:
                diff[(EXISTS, address)] = False
                continue
            if not exists:
                diff[(EXISTS, address)] = True
            elif rng.random() < 0.15:
                diff[(STORAGE_RESET, address)] = True
            diff[(NONCE, address)] = rng.randrange(100)
            diff[(BALANCE, address)] = rng.randrange(2**70)
            for _ in range(rng.randrange(5)):
                diff[(STORAGE, address, rng.randrange(9))] = rng.choice([0, rng.randrange(1, 2**200)])
        state = state.derive(diff, {})
        trie = trie.updated(state, diff)
        assert trie.root == StateTrie.of(state).root, number
        written = trie.new_nodes()
        store.commit(number, bytes([number]) * 32, b"h", diff, {}, parent=bytes([number - 1]) * 32 if number > 1
                     else b"\x00" * 32, nodes=written)
        nodes.written(written)
        trie = trie.written()
    assert nodes.loaded > 50  # the small cache made it load nodes again and again
    store.close()
