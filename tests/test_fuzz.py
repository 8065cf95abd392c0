"""Fuzzing what parexec reads from outside: the fixture readers (mutated real
fixtures), block RLP and transaction decoding (mutated real blocks and random
bytes), and both access-list readers (mutated real lists). The property: each
input is read, or refused with the project's error for it (FixtureError,
BlockRejected, InvalidAccessList), never another exception, never a crash. Two
targets are differential: RLP decoding against pyrlp's pure-Python decoder, and
bal's memory of an EIP-7928 list against the list's decoder.

Quick in `make test` (FUZZ_EXAMPLES per target, about 20 s in all);
``PAREXEC_FUZZ_EXAMPLES=N`` runs N per target (`make fuzz`). A crash found is
kept below as an explicit ``@example``.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import tempfile
from pathlib import Path

import pytest
import rlp
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conftest import ETHEREUM_TESTS, MAINNET, PRAGUE, require_data
from parexec.access.access_list import load_access_list
from parexec.access.eip7928 import EncodedList, InvalidAccessList, decode
from parexec.block.decoding import decode_block
from parexec.fixtures.blockchain_tests import BlockchainTestCase, load_state
from parexec.fixtures.case import FAILED
from parexec.fixtures.mainnet import block_from_rpc
from parexec.fixtures.prague_dump import load_block as load_prague_block
from parexec.forks import fork_rules
from parexec.json_input import parse_json
from parexec.model import BlockRejected, FixtureError
from parexec.strategies.serial import SerialStrategy

FUZZ_EXAMPLES = int(os.environ.get("PAREXEC_FUZZ_EXAMPLES", "0") or 0)
BASEFEE = ETHEREUM_TESTS / "ValidBlocks" / "bcExample" / "basefeeExample.json"
MAINNET_BLOCK = MAINNET / "blocks" / "19426587"


def fuzz_settings(quick: int):
    return settings(max_examples=FUZZ_EXAMPLES or quick, deadline=None, derandomize=False,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


# ---------------------------------------------------------------- mutations

HOSTILE_NUMBERS = [0, -1, 2**64, 2**64 - 1, 2**256, 2**256 - 1, 2**2048, 10**100]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.sampled_from(HOSTILE_NUMBERS) | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(["0x", "0x0", "0x00", "-0x1", "0xzz", "1e3", "", "0x" + "f" * 65, "0x" + "ff" * 33,
                       "0x10000000000000000", "0x" + "00" * 20, "0x" + "ab" * 32])
    | st.binary(max_size=40).map(lambda b: "0x" + b.hex()),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


def _paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, prefix + (i,))


def mutate_json(data, doc, rounds: int = 3):
    """``doc`` (a copy) with a few values replaced, deleted or added at random places."""
    doc = copy.deepcopy(doc)
    for _ in range(data.draw(st.integers(1, rounds))):
        paths = list(_paths(doc))
        path = data.draw(st.sampled_from(paths))
        if not path:
            continue
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        op = data.draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if op == "replace":
            parent[path[-1]] = data.draw(JSON_VALUES)
        elif op == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[data.draw(st.text(max_size=8))] = data.draw(JSON_VALUES)
        else:
            parent.append(data.draw(JSON_VALUES))
    return doc


def mutate_bytes(data, raw: bytes, rounds: int = 4) -> bytes:
    """``raw`` with bytes flipped, inserted, deleted, or cut short."""
    out = bytearray(raw)
    for _ in range(data.draw(st.integers(1, rounds))):
        op = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        at = data.draw(st.integers(0, max(len(out) - 1, 0)))
        if op == "flip" and out:
            out[at] = data.draw(st.integers(0, 255))
        elif op == "insert":
            out[at:at] = data.draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del out[at:at + data.draw(st.integers(1, 8))]
        else:
            del out[at:]
    return bytes(out)


# ---------------------------------------------------------------- real inputs

@functools.lru_cache(maxsize=None)
def basefee_test() -> tuple[str, dict]:
    return next(iter(json.loads(require_data(BASEFEE).read_text()).items()))


@functools.lru_cache(maxsize=None)
def mainnet_block_json() -> dict:
    return json.loads((require_data(MAINNET_BLOCK) / "block.json").read_text())


@functools.lru_cache(maxsize=None)
def mainnet_lists() -> tuple[bytes, dict, object]:
    """The block's EIP-7928 list (RLP), its parexec list (JSON) and the block."""
    from parexec.access.access_list import block_access_list
    from parexec.access.eip7928_builder import build_access_list
    from parexec.block.pipeline import execute_block
    from parexec.fixtures.mainnet import load_block

    block, pre, _ = load_block(require_data(MAINNET_BLOCK))
    outcome = execute_block(block, pre, SerialStrategy(), 1, with_state_root=False)
    return build_access_list(block, pre).encode(), block_access_list(block, outcome.tx_results), block


def _scratch(name: str) -> Path:
    folder = Path(tempfile.gettempdir()) / f"parexec-fuzz-{os.getpid()}"
    folder.mkdir(exist_ok=True)
    return folder / name


# ---------------------------------------------------------------- (a) fixture readers

@fuzz_settings(500)
@given(data=st.data())
@example(data=None)  # the user's report: nesting past the C stack
def test_json_reader_reads_or_refuses(data):
    if data is None:
        text = b"[" * 200_000 + b"]" * 200_000
    else:
        base = json.dumps(basefee_test()[1]["pre"]).encode()
        text = mutate_bytes(data, base if data.draw(st.booleans()) else data.draw(st.binary(max_size=200)))
    outcomes = []
    for read in (_read_here, _read_in_a_thread):  # the recursion limit, or the depth counted first
        try:
            outcomes.append(("ok", read(text)))
        except FixtureError as exc:
            assert str(exc).startswith("fuzz: ")
            outcomes.append(("refused", None))
    assert outcomes[0] == outcomes[1]


def _read_here(text: bytes):
    return parse_json(text, "fuzz")


def _read_in_a_thread(text: bytes):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(parse_json, text, "fuzz").result()


def test_counting_the_depth_is_linear_on_unterminated_strings():
    """Found in review: counting the depth outside the main thread (a node's
    reply) took quadratic time on a string of escaped quotes that never ends."""
    import time

    from parexec.json_input import _depth

    started = time.perf_counter()
    assert _depth(b'"' + b'\\"' * 200_000) == 0
    assert time.perf_counter() - started < 5  # linear: ~20 ms; quadratic: minutes


@fuzz_settings(200)
@given(data=st.data())
def test_blockchain_test_case_runs_or_names_the_fault(data):
    """A mutated ethereum/tests test (pre-state, genesis, blocks, expectations)
    passes, fails or is skipped with a reason; never an internal error."""
    name, test = basefee_test()
    mutated = mutate_json(data, test)
    path = _scratch("case.json")
    path.write_text(json.dumps({name: mutated}))
    from parexec.fixtures.blockchain_tests import read_json
    read_json.cache_clear()
    try:
        result = BlockchainTestCase(path, name).run(SerialStrategy())
    except FixtureError:
        return  # not a BlockchainTests file any more (load_file says so)
    assert result.status != FAILED or not result.detail.startswith("internal error"), result.detail


@fuzz_settings(300)
@given(data=st.data())
def test_pre_state_reader_reads_or_refuses(data):
    pre = mutate_json(data, {"pre": basefee_test()[1]["pre"]})
    try:
        load_state(pre.get("pre"))
    except FixtureError:
        pass


@fuzz_settings(150)
@given(data=st.data())
def test_mainnet_block_reader_reads_or_refuses(data):
    """block.json as a node answers it: the header and every transaction rebuilt
    to their hashes, senders recovered."""
    raw = mainnet_block_json()
    small = dict(raw, transactions=raw["transactions"][:4])
    mutated = mutate_json(data, small)
    try:
        block_from_rpc(mutated, {}, "fuzz")
    except (FixtureError, BlockRejected):
        pass


@fuzz_settings(150)
@given(data=st.data())
def test_prague_dump_reader_reads_or_refuses(data):
    src = require_data(PRAGUE / "22546209")
    block = json.loads((src / "block.json").read_text())
    txs = json.loads((src / "txs.json").read_text())[:3]
    docs = mutate_json(data, {"block": block, "txs": txs, "pre": {}})
    folder = _scratch("prague")
    folder.mkdir(exist_ok=True)
    for name, key in (("block.json", "block"), ("txs.json", "txs"), ("pre_state.json", "pre")):
        (folder / name).write_text(json.dumps(docs.get(key)))
    try:
        load_prague_block(folder)
    except FixtureError:
        pass


# ---------------------------------------------------------------- (b) RLP and transactions

def _blocks_to_fuzz() -> list[tuple[str, bytes]]:
    name, test = basefee_test()
    return [(test["network"], bytes.fromhex(b["rlp"][2:])) for b in test["blocks"]]


def _decode_and_recover(network: str, block_rlp: bytes) -> None:
    """The fixtures' decode path: the block with its fork's rules, then each
    transaction's sender (BlockchainTestCase._import)."""
    from eth_keys.exceptions import BadSignature
    from eth_utils import ValidationError

    decoded = decode_block(fork_rules(network), block_rlp)
    for tx in decoded.transactions:
        try:
            tx.sender
        except (ValidationError, ValueError, BadSignature):
            pass  # what _import turns into INVALID_SIGNATURE_VRS


@fuzz_settings(500)
@given(data=st.data())
@example(data=None)
def test_block_rlp_decodes_or_is_rejected(data):
    network, block_rlp = _blocks_to_fuzz()[0]
    if data is not None:
        block_rlp = mutate_bytes(data, block_rlp) if data.draw(st.booleans()) else data.draw(st.binary(max_size=300))
    else:
        block_rlp = rlp.encode([b"\x01" * 5, [], []])  # a header that is a byte string
    try:
        _decode_and_recover(network, block_rlp)
    except BlockRejected:
        pass


@fuzz_settings(500)
@given(data=st.data())
@example(data=None)  # found: rusty-rlp ends a list at an item that overruns it
def test_rlp_is_read_as_pyrlps_own_decoder_reads_it(data):
    """Every RLP parexec reads goes through rusty-rlp (directly, or through
    pyrlp once it is installed) and evm.strict_rlp; pyrlp's pure-Python decoder is
    the reference: the same bytes are refused, the rest decode the same."""
    import rusty_rlp

    from parexec.evm import strict_rlp

    if data is None:
        raw = bytes.fromhex("c3c0c2c0")
    else:
        raw = _blocks_to_fuzz()[0][1] if data.draw(st.booleans()) else mainnet_lists()[0]
        raw = mutate_bytes(data, raw) if data.draw(st.booleans()) else data.draw(st.binary(max_size=64))
    try:
        expected, _, end = rlp.codec.consume_item(raw, 0)
        if end != len(raw):
            expected = None
    except (rlp.DecodingError, IndexError):
        expected = None
    try:
        got = strict_rlp.decode(raw)
    except rusty_rlp.DecodingError:
        got = None
    assert got == expected
    try:
        via_pyrlp = rlp.decode(raw)  # what py-evm calls
    except rlp.DecodingError:
        via_pyrlp = None
    assert via_pyrlp == expected


@fuzz_settings(500)
@given(data=st.data())
def test_transactions_in_a_block_decode_or_are_rejected(data):
    """A real block with one transaction's own bytes mutated (and the list around
    it re-encoded, so decoding reaches the transaction)."""
    network, block_rlp = _blocks_to_fuzz()[0]
    block = rlp.decode(block_rlp)
    tx = block[1][0]
    block[1][0] = mutate_bytes(data, tx if isinstance(tx, bytes) else rlp.encode(tx))
    try:
        _decode_and_recover(network, rlp.encode(block))
    except BlockRejected:
        pass


def test_a_typed_transaction_holding_a_list_where_an_integer_goes_is_rejected():
    """Found by the fuzzer in CI: a type-2 payload whose chain id is a list made
    the integer decoder raise TypeError, which escaped decode_block."""
    network, block_rlp = _blocks_to_fuzz()[0]
    block = rlp.decode(block_rlp)
    block[1][0] = b"\x02" + rlp.encode([[b"\x00"] * 6] + [b""] * 11)
    with pytest.raises(BlockRejected, match="does not decode"):
        _decode_and_recover(network, rlp.encode(block))


# ---------------------------------------------------------------- (c) access lists

@fuzz_settings(500)
@given(data=st.data())
def test_eip7928_list_decodes_or_names_the_fault(data):
    encoded, _, block = mainnet_lists()
    mutated = mutate_bytes(data, encoded)
    try:
        decode(mutated).check(len(block.transactions))
    except InvalidAccessList:
        pass
    try:
        EncodedList(mutated, "fuzz").decode(len(block.transactions))
    except FixtureError as exc:
        assert str(exc).startswith("fuzz: not a valid EIP-7928 list: ")


@fuzz_settings(500)
@given(data=st.data())
def test_eip7928_list_memory_refuses_what_the_decoder_refuses(data):
    """bal's memory indexes the list's accounts from their RLP headers and decodes
    each entry when it enters it: entered whole, it refuses a damaged list exactly
    when the decoder does, and only with InvalidAccessList."""
    from parexec.parallel.list_memory import ListMemory
    from parexec.state.memory import MemoryState
    from parexec.state.overlay import OverlayState

    encoded, _, block = mainnet_lists()
    n = len(block.transactions)
    mutated = mutate_bytes(data, encoded)
    try:
        decode(mutated).check(n)
        refused_by_decoder = False
    except InvalidAccessList:
        refused_by_decoder = True
    try:
        ListMemory(OverlayState(MemoryState()), mutated, n).enter_all()
        refused_here = False
    except InvalidAccessList:
        refused_here = True
    assert refused_here == refused_by_decoder


@fuzz_settings(200)
@given(data=st.data())
def test_location_list_reads_or_names_the_fault(data):
    _, listed, block = mainnet_lists()
    path = _scratch("al.json")
    if data.draw(st.booleans()):
        path.write_text(json.dumps(mutate_json(data, listed)))
    else:
        path.write_bytes(mutate_bytes(data, json.dumps(listed).encode()))
    try:
        load_access_list(path, block)
    except FixtureError as exc:
        assert str(exc).startswith(str(path))


# ---------------------------------------------------------------- crashes found, kept

@pytest.mark.parametrize("genesis_rlp", ["0X00", None])
def test_found_a_malformed_genesis_rlp_is_a_malformed_test(genesis_rlp):
    """Fuzzing found: a genesisRLP that does not decode escaped the case as
    BlockRejected (an internal error in verify)."""
    name, test = basefee_test()
    path = _scratch("genesis.json")
    path.write_text(json.dumps({name: dict(test, genesisRLP=genesis_rlp)}))
    result = BlockchainTestCase(path, name).run(SerialStrategy())
    assert (result.status, result.detail, result.bad_input) == (
        FAILED, "malformed test: genesisRLP: block RLP is malformed", True)


def test_found_an_account_that_is_null_is_refused():
    """Fuzzing found: ``"0x...": null`` in a pre-state reached ``None.get``."""
    with pytest.raises(FixtureError, match=r"pre: account '0x00+01': expected an object, got NoneType"):
        load_state({"0x" + "00" * 19 + "01": None}, "pre")


def test_found_a_location_list_whose_block_is_not_an_object_is_refused():
    """Fuzzing found: ``"block": true`` in a parexec list reached ``True.get``."""
    _, listed, block = mainnet_lists()
    path = _scratch("block-true.json")
    path.write_text(json.dumps(dict(listed, block=True)))
    with pytest.raises(FixtureError, match='"block" is not an object'):
        load_access_list(path, block)


@pytest.fixture(scope="module", autouse=True)
def _clean_scratch():
    yield
    import shutil

    shutil.rmtree(Path(tempfile.gettempdir()) / f"parexec-fuzz-{os.getpid()}", ignore_errors=True)
