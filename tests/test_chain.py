"""The chain on LMDB: every shared BlockchainTests chain imported block by block
(a slice of them with block-stm too), every state root computed incrementally
and equal to its header's."""

from __future__ import annotations

import pytest

from conftest import EEST, ETHEREUM_TESTS, require_data
from parexec.chain.chain import Chain, ChainError
from parexec.fixtures.blockchain_tests import chain_from_test, import_test_blocks, load_file
from parexec.forks import UnsupportedFork
from parexec.state.root import state_root
from parexec.strategies import get_strategy

SLICE = [
    (EEST, "v5.4.0/blockchain_tests/prague/eip7002_el_triggerable_withdrawals"),
    (EEST, "v4.5.0/blockchain_tests/prague/eip7685_general_purpose_el_requests"),
    (EEST, "v4.5.0/blockchain_tests/cancun/eip4844_blobs"),
    (EEST, "v4.5.0/blockchain_tests/cancun/eip6780_selfdestruct"),
    (EEST, "v5.4.0/blockchain_tests/osaka/eip7918_blob_reserve_price"),
    (ETHEREUM_TESTS, "ValidBlocks/bcStateTests"),
    (ETHEREUM_TESTS, "ValidBlocks/bcEIP1559"),
    (ETHEREUM_TESTS, "GeneralStateTests/stTransactionTest"),
]


def _files(folders):
    for base, folder in folders:
        yield from sorted((base / folder).rglob("*.json")) if (base / folder).exists() else []


EVERY_CHAIN = [(ETHEREUM_TESTS, "."), (EEST, ".")]


def _import_all(path, tmp_path, strategy: str, workers: int) -> int:
    tests = 0
    for i, (name, test) in enumerate(load_file(path).items()):
        try:
            chain = chain_from_test(test, tmp_path / f"db{i}")
        except UnsupportedFork:
            pytest.fail(f"{name}: unsupported fork {test['network']}")
        try:
            problem = import_test_blocks(chain, test, get_strategy(strategy, min_parallel_txs=2), workers)
            assert problem is None, f"{name}: {problem}"
            assert chain.state_root() == state_root(chain.state())
        finally:
            chain.close()
        tests += 1
    return tests


@pytest.mark.conformance
@pytest.mark.parametrize("path", list(_files(EVERY_CHAIN)), ids=lambda p: p.name)
def test_every_shared_chain_imports_serially_with_every_root_equal(path, tmp_path):
    assert _import_all(path, tmp_path, "serial", 1)


@pytest.mark.conformance
@pytest.mark.parametrize("path", list(_files(SLICE)), ids=lambda p: p.name)
def test_a_slice_imports_with_block_stm(path, tmp_path):
    assert _import_all(path, tmp_path, "block-stm", 2)


def test_the_slice_is_there():
    for base, folder in SLICE:
        require_data(base / folder)


def test_reopen_rewind_and_a_side_chain(tmp_path):
    path = require_data(EEST / "v4.5.0/blockchain_tests/cancun/eip6780_selfdestruct/dynamic_create2_selfdestruct_collision/dynamic_create2_selfdestruct_collision_multi_tx.json")
    test = next(iter(load_file(path).values()))
    chain = chain_from_test(test, tmp_path / "db")
    serial = get_strategy("serial")
    assert import_test_blocks(chain, test, serial) is None
    head = chain.head
    root = chain.state_root()
    chain.close()
    again = Chain(tmp_path / "db")  # a new process would start here
    assert again.head == head and again.state_root() == root
    again.rewind(0)
    assert again.head[0] == 0
    assert import_test_blocks(again, test, serial) is None  # the same blocks again, from genesis
    assert again.head == head
    again.close()
    with pytest.raises(ChainError):
        chain_from_test(test, tmp_path / "db")  # a chain is already there


def _cli(*args):
    from click.testing import CliRunner

    from parexec.cli import main

    result = CliRunner().invoke(main, ["chain", *map(str, args)])
    return result.exit_code, result.output.strip().splitlines()


def test_the_chain_commands(tmp_path):
    fixture = require_data(EEST / "v4.5.0/blockchain_tests/prague/eip7251_consolidations/consolidations/consolidation_requests_negative.json")
    db = tmp_path / "db"
    code, lines = _cli("info", "--db", db)
    assert code == 2 and "no chain here" in lines[-1]
    code, lines = _cli("init", "--db", db, "--fixture", fixture)
    assert code == 0 and "at block 0" in lines[0]
    code, lines = _cli("init", "--db", db, "--fixture", fixture)
    assert code == 2 and "already here" in lines[-1]
    # the first test's only block has a wrong requests hash: rejected, the chain stays at genesis
    code, lines = _cli("import", fixture, "--db", db)
    assert code == 1
    assert lines[0].startswith("rejected:") and "requests_hash mismatch" in lines[0]
    assert lines[-1].startswith("head: block 0") and lines[-1].endswith("1 rejected")
    code, lines = _cli("rewind", "3", "--db", db)
    assert code == 1 and "cannot rewind" in lines[-1]
    code, lines = _cli("info", "--db", db)
    assert code == 0 and lines[0].startswith("head: block 0") and lines[1] == "rules: Prague"


def _committed_head(db) -> int:
    from parexec.state.lmdb_store import LmdbStore

    store = LmdbStore(db, readonly=True)
    try:
        return store.head()[0]
    finally:
        store.close()


def test_an_import_killed_anywhere_keeps_what_it_committed_and_resumes(tmp_path):
    """SIGKILL `parexec chain import` at random points of a synthetic chain: the store
    stays at its last committed block, readable, with that block's state root; run
    again, the import goes on from there to the last block."""
    import json
    import random
    import signal
    import subprocess
    import sys
    import time

    from parexec.workloads.synthetic_chain import as_blockchain_test, build_chain

    fixture = tmp_path / "chain.json"
    fixture.write_text(json.dumps(as_blockchain_test(build_chain("erc20:txs=30,blocks=60,accounts=2000"), "kill")))
    test = load_file(fixture)["kill"]
    db = tmp_path / "db"
    chain_from_test(test, db).close()
    command = [sys.executable, "-m", "parexec.cli", "chain", "import", str(fixture), "--db", str(db)]
    rng = random.Random(11)
    heads = [0]
    for _ in range(5):
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while _committed_head(db) <= heads[-1] and process.poll() is None:  # it is importing now
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.3))
        process.send_signal(signal.SIGKILL)
        process.wait()
        time.sleep(0.5)  # a commit under way when it was killed (the committer's own process) ends
        chain = Chain(db)
        number, block_hash = chain.head
        assert chain.state_root() == chain.header(block_hash).state_root  # the committed block, whole
        heads.append(number)
        chain.close()
    heads = heads[1:]
    assert heads == sorted(heads) and heads[0] > 0 and sum(h < 60 for h in heads) >= 3, heads  # mid-import
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{heads[-1]} already on the chain" in done.stdout
    chain = Chain(db)
    assert "0x" + chain.head[1].hex() == test["lastblockhash"] and chain.head[0] == 60
    chain.close()


def test_a_synthetic_chain_imports_with_every_root_checked(tmp_path):
    """Blocks made by the producer (parexec.chain.producer) carry real roots: the
    import checks them like any chain's, serially and with block-stm, one block at
    a time and pipelined (the committer in its own process)."""
    from parexec.chain.chain import ChainConfig, ImportTimes
    from parexec.workloads.synthetic_chain import build_chain

    made = build_chain("erc20:txs=20,blocks=4,accounts=1000")
    heads = []
    runs = [("serial", 1, False), ("block-stm", 2, False), ("serial", 1, True), ("block-stm", 2, True)]
    for i, (strategy, workers, pipeline) in enumerate(runs):
        Chain.init(tmp_path / f"db{i}", ChainConfig(made.network), made.genesis_rlp, made.pre).close()
        chain = Chain(tmp_path / f"db{i}", pipeline=pipeline)
        times = ImportTimes()
        settled = list(chain.import_blocks(enumerate(made.blocks), get_strategy(strategy, min_parallel_txs=2),
                                           workers, times))
        assert settled == [(n, None) for n in range(4)]
        assert times.blocks == 4 and not times.rejected and times.gas > 4 * 20 * 21000
        assert times.state_root > 0 and times.persistence > 0
        heads.append((chain.head, chain.state_root()))
        chain.close()
    assert len(set(heads)) == 1 and heads[0][0][0] == 4


def test_chain_import_with_eip7928_lists(tmp_path):
    """`chain import --strategy bal --hints` runs each block with its list and says
    so; a list that does not fit its block rejects it (the chain stays at its
    parent, every root checked), or, with --fallback, the block runs with dag."""
    import json

    from click.testing import CliRunner

    from parexec.cli import main
    from parexec.workloads.synthetic_chain import as_blockchain_test, build_chain

    fixture = tmp_path / "chain.json"
    fixture.write_text(json.dumps(as_blockchain_test(build_chain("erc20:txs=20,blocks=3,accounts=500"), "lists")))
    lists = tmp_path / "lists"
    made = CliRunner().invoke(main, ["access-list", str(fixture), "--format", "eip7928", "-o", str(lists)])
    assert made.exit_code == 0 and len(list(lists.glob("*.rlp"))) == 3, made.output
    first = tmp_path / "first.rlp"  # block 1's list, given alone: every block's
    first.write_bytes(sorted(lists.glob("1-*.rlp"))[0].read_bytes())
    runs = [(lists, [], 0, 3, "bal ran 3 blocks: 3 with an EIP-7928 list"),
            (first, [], 1, 1, "bal ran 1 block: 1 with an EIP-7928 list"),
            (first, ["--fallback"], 0, 3, "bal ran 3 blocks: 1 with an EIP-7928 list, 2 with a wrong list, run with dag")]
    for i, (hints, options, code, head, said) in enumerate(runs):
        db = tmp_path / f"db{i}"
        assert _cli("init", "--db", db, "--fixture", fixture)[0] == 0
        got, lines = _cli("import", fixture, "--db", db, "--strategy", "bal", "--hints", hints, *options)
        assert got == code and lines[-1] == said, lines
        assert any(line.startswith(f"head: block {head} ") for line in lines), lines
        if code:
            assert lines[0].startswith("rejected: lists block at position 2 of the test: invalid access list: tx ")
    code, lines = _cli("import", fixture, "--db", tmp_path / "db0", "--strategy", "dag", "--hints", lists)
    assert code == 0 and "3 already on the chain" in lines[-2] and lines[-1] == "dag ran 0 blocks", lines


def _with_state_root(block_rlp: bytes, root: bytes) -> bytes:
    """The block with another state root in its header (so another hash)."""
    import rlp

    from parexec.block.decoding import decode_block
    from parexec.forks import fork_rules

    block = decode_block(fork_rules("Cancun", None), block_rlp)
    return rlp.encode(block.copy(header=block.header.copy(state_root=root)))


@pytest.mark.parametrize("pipeline", [False, True])
def test_a_wrong_state_root_is_rejected_and_what_was_executed_on_it_discarded(tmp_path, pipeline):
    """Block 2 claims a wrong root: it is rejected, the store stays at block 1, and
    the blocks executed on its post-state meanwhile (pipelined) are discarded and
    executed again, where they meet their unknown parent."""
    from parexec.chain.chain import ChainConfig, ImportTimes
    from parexec.workloads.synthetic_chain import build_chain

    made = build_chain("erc20:txs=10,blocks=4,accounts=500")
    blocks = list(made.blocks)
    blocks[1] = _with_state_root(blocks[1], b"\x11" * 32)
    Chain.init(tmp_path / "db", ChainConfig(made.network), made.genesis_rlp, made.pre).close()
    chain = Chain(tmp_path / "db", pipeline=pipeline)
    times = ImportTimes()
    settled = dict(chain.import_blocks(enumerate(blocks), get_strategy("serial"), 1, times))
    assert settled[0] is None
    assert "state root mismatch" in settled[1]
    assert "unknown parent" in settled[2] and "unknown parent" in settled[3]
    assert times.blocks == 1 and len(times.rejected) == 3
    assert chain.head[0] == 1 and chain.state_root() == chain.header(chain.head[1]).state_root
    chain.close()


def test_the_chain_benchmark_reports_every_run_and_the_ratios(tmp_path):
    import json

    from click.testing import CliRunner

    from parexec.cli import main

    out = tmp_path / "bench.json"
    result = CliRunner().invoke(main, ["chain", "bench", "erc20:txs=12,blocks=3,accounts=300", "--strategies",
                                       "serial,occ,bal", "--repeat", "2", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "state root:" in result.output and "end to end: " in result.output
    # bal gets every block's exact EIP-7928 list, and says it used them
    assert "bal w2 pipelined: bal ran 3 blocks: 3 with an EIP-7928 list" in result.output
    data = json.loads(out.read_text())
    assert [c["config"]["strategy"] for c in data["configs"]] == ["serial", "serial", "occ", "occ", "bal", "bal"]
    for config in data["configs"]:
        assert len(config["runs"]) == 2
        for run in config["runs"]:
            assert run["blocks"] == 3 and not run["rejected"] and run["peak_mb"]["importer"] > 0
            if config["config"]["pipeline"]:
                assert run["peak_mb"]["committer"] > 0
            assert bool(run["ran"]) == (config["config"]["strategy"] == "bal")
    assert data["summary"]["best_parallel"] in ("occ w2 pipelined", "bal w2 pipelined")
    assert set(data["summary"]["pipelining"]) == {"serial", "occ", "bal"}


def test_the_chain_benchmark_writes_each_blocks_exact_lists(tmp_path):
    """EIP-7928 lists for bal and parexec's for the declared strategies, one per
    block, each fitting its block and equal to the list of that block run alone."""
    from parexec.access.access_list import AccessListHints
    from parexec.access.eip7928_builder import build_access_list
    from parexec.block.decoding import block_of, decode_block
    from parexec.chain.bench import write_exact_lists
    from parexec.forks import fork_rules
    from parexec.workloads.synthetic_chain import build_chain

    made = build_chain("erc20:txs=10,blocks=2,accounts=200")
    write_exact_lists(made, {"bal", "dag"}, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eip7928", "parexec"]  # the store is gone
    hints = AccessListHints(tmp_path)
    fork_at = fork_rules(made.network, None)
    decoded = decode_block(fork_at, made.blocks[0])
    first = block_of(decoded, fork_at(1, decoded.header.timestamp), {0: decoded.header.parent_hash})
    assert hints.eip7928_for(first) == build_access_list(first, made.pre)
    assert len(hints.footprints_for(first)) == 10
    for block_rlp in made.blocks[1:]:
        decoded = decode_block(fork_at, block_rlp)
        later = block_of(decoded, fork_at(2, decoded.header.timestamp), {})
        assert hints.eip7928_for(later) is not None and len(hints.footprints_for(later)) == 10


def test_a_chain_from_a_genesis_file_imports_its_blocks(tmp_path):
    """`chain init --genesis FILE` (geth's genesis.json shape): the genesis block
    made from the file is the one a producer's next block builds on, and bad
    files are refused with the field they get wrong."""
    import json

    import rlp

    from parexec.block.decoding import decode_block
    from parexec.chain.genesis import load_genesis
    from parexec.chain.producer import ProducerState, produce_block
    from parexec.state.state_trie import StateTrie
    from parexec.workloads.synthetic import _key

    key = _key(7, 0)
    sender = key.public_key.to_canonical_address()
    genesis = tmp_path / "genesis.json"
    genesis.write_text(json.dumps({"network": "Cancun", "baseFeePerGas": "7", "alloc": {
        "0x" + sender.hex(): {"balance": str(10**20)},
        "0x" + "ab" * 20: {"balance": "0x1", "code": "0x6001600055", "storage": {"0x1": "0x2"}}}}))
    code, lines = _cli("init", "--db", tmp_path / "db", "--genesis", genesis)
    assert code == 0 and "at block 0" in lines[0] and "2 accounts" in lines[0]
    config, genesis_rlp, pre = load_genesis(genesis)
    vm = config.fork_at()(1, 12)
    header = decode_block(config.fork_at(), genesis_rlp).header
    builder = vm.get_transaction_builder()
    tx = builder.new_unsigned_dynamic_fee_transaction(
        chain_id=1, nonce=0, max_priority_fee_per_gas=1, max_fee_per_gas=100, gas=100_000, to=b"\xab" * 20,
        value=5, data=b"", access_list=()).as_signed_transaction(key)
    block_rlp, _ = produce_block(vm, ProducerState(header, pre, StateTrie.of(pre), {0: header.hash}),
                                 [builder.decode(tx.encode())])
    chain = Chain(tmp_path / "db")
    chain.import_block(block_rlp, get_strategy("serial"))
    assert chain.head[0] == 1 and chain.state_root() == rlp.decode(block_rlp)[0][3]
    chain.close()
    bad = tmp_path / "bad.json"
    for text, problem in [("{", "not a readable genesis file"), ('{"alloc": {}}', "needs \"network\""),
                          ('{"network": "Cancun", "alloc": {"0x12": {}}}', "not 20 bytes"),
                          ('{"network": "Cancun", "alloc": {"0x' + "00" * 20 + '": {"balance": "-1"}}}',
                           "out of range")]:
        bad.write_text(text)
        code, lines = _cli("init", "--db", tmp_path / "other", "--genesis", bad)
        assert code == 2 and problem in lines[-1], lines
    assert not (tmp_path / "other").exists()


def test_a_committer_that_dies_is_reported_and_the_store_keeps_what_it_committed(tmp_path):
    import os
    import signal

    from parexec.chain.chain import ChainConfig
    from parexec.chain.committer import CommitterError
    from parexec.workloads.synthetic_chain import build_chain

    made = build_chain("erc20:txs=5,blocks=3,accounts=200")
    Chain.init(tmp_path / "db", ChainConfig(made.network), made.genesis_rlp, made.pre).close()
    chain = Chain(tmp_path / "db", pipeline=True)
    assert list(chain.import_blocks([(0, made.blocks[0])], get_strategy("serial"))) == [(0, None)]
    os.kill(chain.committer.process.pid, signal.SIGKILL)
    with pytest.raises(CommitterError, match="committer process died"):
        list(chain.import_blocks(enumerate(made.blocks[1:], 1), get_strategy("serial")))
    chain.close()
    again = Chain(tmp_path / "db")
    assert again.head[0] == 1 and again.state_root() == again.header(again.head[1]).state_root
    again.close()
