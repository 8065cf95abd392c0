"""Operation-level redo (evm.op_log, evm.redo): a stale result, repaired, equals a
full execution on the new state, or the redo declines with a reason.

Each transaction is executed speculatively (with its operation log) on a state
that lags behind serial's, then exactly on serial's; where the speculative
result is stale, the repair must equal the exact result field by field. The
generated contracts exercise what the log has to get right: SSTORE zero and
non-zero transitions and refunds, storage keys computed from storage (which may
name another slot in a repair), jumps on stored values, memory written over
itself, hashes and logs of stored values, calls that pass them on (with the
2,300-gas stipend, and callees that revert), GAS after an SSTORE whose cost may
change, and gas limits tight enough to run out.
"""

from __future__ import annotations

import os
from dataclasses import fields
from pathlib import Path

import pytest
from eth.vm.forks import BerlinVM, ByzantiumVM, CancunVM, IstanbulVM, LondonVM, PetersburgVM
from hypothesis import event, given
from hypothesis import strategies as st

from evm_helpers import addr, address_of, asm, key, make_block, sign_tx
from parexec.block.pipeline import execute_block
from parexec.block.system import block_start
from parexec.evm.redo import redo
from parexec.evm.tx_executor import InvalidTransaction, execute_transaction
from parexec.fixtures.targets import load_targets
from parexec.model import TxResult
from parexec.state.memory import MemoryState
from parexec.state.view import read_value
from parexec.strategies import get_strategy
from test_parallel_equivalence import prop_settings

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CONTRACT, CALLEE, COINBASE = addr(0xC0), addr(0xCA), addr(0xCB)
SENDERS = [key(100 + i) for i in range(6)]
COMPARED = [f.name for f in fields(TxResult) if f.name not in ("op_log", "list_changes")]


def differing(a: TxResult, b: TxResult) -> list[str]:
    return [name for name in COMPARED if getattr(a, name) != getattr(b, name)]


def replay_stale(block, pre, lags) -> dict:
    """Execute every transaction speculatively ``lags[j]`` transactions behind serial
    state, repair what went stale, and check each repair. Returns counts by outcome."""
    env, state = block_start(block, pre)
    history = [state.copy()]
    counts: dict[str, int] = {}
    for j, tx in enumerate(block.transactions):
        base = history[max(0, len(history) - 1 - lags[j % len(lags)])]
        try:
            exact = execute_transaction(env, state, tx, j)
        except InvalidTransaction:
            counts["invalid"] = counts.get("invalid", 0) + 1
            history.append(state.copy())
            continue
        try:
            spec = execute_transaction(env, base, tx, j, predict=True, log_ops=True)
        except InvalidTransaction:
            spec = None
        if spec is not None and any(read_value(state, loc) != v for loc, v in spec.reads.items()):
            repaired = redo(env, spec, lambda loc: read_value(state, loc))
            if isinstance(repaired, str):
                outcome = "fallback: " + repaired
            else:
                assert not differing(exact, repaired), f"tx {j}: repaired result differs in {differing(exact, repaired)}"
                outcome = "repaired" if repaired.success else "repaired failed"
                if repaired.reads.keys() != spec.reads.keys():
                    outcome += ", a key renamed"
            counts[outcome] = counts.get(outcome, 0) + 1
        state.apply(exact.writes, exact.new_code)
        history.append(state.copy())
    return counts


# ------------------------------------------------------------------ generated contracts
def _label(code_so_far: int, *parts) -> int:
    return code_so_far + len(asm(*parts))


def step_code(kind: str, start: int, s: int, t: int, c: int) -> bytes:
    """One step of a generated contract, assembled at ``start`` (for jump targets).
    ``s`` and ``t`` are slots, ``c`` a small constant; the amount is calldata word 0."""
    if kind == "add":  # slot s += amount
        return asm(0, "CALLDATALOAD", s, "SLOAD", "ADD", s, "SSTORE")
    if kind == "set":  # slot s = c (0 or not: SSTORE transitions and refunds)
        return asm(c % 2, s, "SSTORE")
    if kind == "clamp":  # if slot s > amount: s -= amount else s = 0 (a jump on a stored value)
        body = asm(0, "CALLDATALOAD", s, "SLOAD", "SUB", s, "SSTORE")
        head = [0, "CALLDATALOAD", s, "SLOAD", "GT", "ISZERO"]
        else_at = _label(start, *head, 0xFFFF, "JUMPI") + len(body) + len(asm(0xFFFF, "JUMP"))
        end_at = else_at + len(asm("JUMPDEST", 0, s, "SSTORE"))
        return asm(*head, else_at.to_bytes(2, "big"), "JUMPI") + body + asm(end_at.to_bytes(2, "big"), "JUMP") \
            + asm("JUMPDEST", 0, s, "SSTORE", "JUMPDEST")
    if kind == "copy":  # slot t = slot s * 3 + c
        return asm(c, 3, s, "SLOAD", "MUL", "ADD", t, "SSTORE")
    if kind == "alias":  # memory written over itself: a stored word, then the amount c bytes further on
        return asm(s, "SLOAD", 0, "MSTORE", 0, "CALLDATALOAD", c % 33, "MSTORE", 0, "MLOAD", t, "SSTORE",
                   "MSIZE", 0, "MSTORE")
    if kind == "hash":  # slot t = keccak(slot s)
        return asm(s, "SLOAD", 0x40, "MSTORE", 32, 0x40, "SHA3", t, "SSTORE")
    if kind == "log":  # LOG1(data: slot s, topic: slot t)
        return asm(s, "SLOAD", 0, "MSTORE", t, "SLOAD", 32, 0, "LOG1")
    if kind == "gas":  # GAS after an SSTORE whose cost may change
        return asm(s, "SLOAD", 1, "ADD", s, "SSTORE", "GAS", 0, "MSTORE", 32, 0, "LOG0")
    if kind == "call":  # pass slot s to the callee, store what it returns; gas c picks the 2,300 stipend
        gas = 2300 if c % 3 == 0 else 100_000
        return asm(s, "SLOAD", 0, "MSTORE", 32, 32, 32, 0, 0, CALLEE, gas, "CALL", t, "SSTORE",
                   32, "MLOAD", t + 1, "SSTORE")
    if kind == "index":  # slot[c + slot s] += 1: a key computed from storage (a counter numbering entries)
        return asm(s, "SLOAD", c, "ADD", "DUP1", "SLOAD", 1, "ADD", "SWAP1", "SSTORE")
    if kind == "revert":  # the whole transaction reverts when slot s is above c
        over = asm(0, 0, "REVERT")
        skip_at = _label(start, s, "SLOAD", c, "LT", "ISZERO", 0xFFFF, "JUMPI") + len(over)
        return asm(s, "SLOAD", c, "LT", "ISZERO", skip_at.to_bytes(2, "big"), "JUMPI") + over + asm("JUMPDEST")
    raise AssertionError(kind)


STEPS = ("add", "set", "clamp", "copy", "alias", "hash", "log", "gas", "call", "index", "revert")
# the callee: stores its input, reverts when it is a multiple of 3, else returns twice it
_CALLEE_HEAD = asm(0, "CALLDATALOAD", "DUP1", 0, "SSTORE", "DUP1", 3, "SWAP1", "MOD")
_CALLEE_RETURNS_AT = len(_CALLEE_HEAD) + len(asm(0, "JUMPI", 0, 0, "REVERT"))
CALLEE_CODE = _CALLEE_HEAD + asm(_CALLEE_RETURNS_AT, "JUMPI", 0, 0, "REVERT", "JUMPDEST", 2, "MUL", 0, "MSTORE",
                                 32, 0, "RETURN")


def contract(steps) -> bytes:
    code = b""
    for kind, s, t, c in steps:
        code += step_code(kind, len(code), s, t, c)
    return code + asm("STOP")


def test_callee_code_jumps_to_its_jumpdest():
    assert CALLEE_CODE[_CALLEE_RETURNS_AT] == 0x5B  # JUMPDEST where the JUMPI goes


FORKS = [ByzantiumVM, PetersburgVM, IstanbulVM, BerlinVM, LondonVM, CancunVM]
step = st.tuples(st.sampled_from(STEPS), st.integers(0, 3), st.integers(4, 6), st.integers(0, 40))
tx = st.tuples(st.integers(0, len(SENDERS) - 1), st.integers(0, 30), st.sampled_from([45_000, 70_000, 300_000]))


@prop_settings(quick=60)
@given(
    vm=st.sampled_from(FORKS),
    steps=st.lists(step, min_size=1, max_size=7),
    slots=st.lists(st.integers(0, 60), min_size=4, max_size=4),
    txs=st.lists(tx, min_size=2, max_size=10),
    lags=st.lists(st.integers(1, 4), min_size=1, max_size=3),
)
def test_repaired_results_equal_full_execution(vm, steps, slots, txs, lags):
    for outcome in _replay_contract(vm, steps, slots, txs, lags):
        event(outcome)


def _replay_contract(vm, steps, slots, txs, lags) -> dict:
    """replay_stale of a block of calls to the contract of ``steps`` (its slots from 0
    holding ``slots``), each (sender, amount, gas) of ``txs`` a transaction."""
    pre = MemoryState()
    for k in SENDERS:
        pre.set_account(address_of(k), balance=10**18)
    pre.set_account(COINBASE, balance=1)
    pre.set_account(CONTRACT, nonce=1, code=contract(steps), storage=dict(enumerate(slots)))
    pre.set_account(CALLEE, nonce=1, code=CALLEE_CODE)
    nonces = [0] * len(SENDERS)
    signed = []
    for sender, amount, gas in txs:
        signed.append(sign_tx(vm, SENDERS[sender], nonces[sender], CONTRACT, data=amount.to_bytes(32, "big"), gas=gas))
        nonces[sender] += 1
    return replay_stale(make_block(vm, signed, COINBASE), pre, lags)


def _round_robin(amounts, gas=300_000) -> list[tuple]:
    """Transactions from each sender in turn."""
    return [(i % len(SENDERS), amount, gas) for i, amount in enumerate(amounts)]


def test_the_generated_contracts_get_repaired_and_fall_back():
    """The generator reaches both sides: repairs, and each main reason to decline."""
    seen: dict[str, int] = {}

    def add(counts):
        for outcome, count in counts.items():
            seen[outcome] = seen.get(outcome, 0) + count

    for n in range(40):
        steps = [(STEPS[(n + i) % len(STEPS)], i % 4, 4 + i % 3, (n * 7 + i) % 41) for i in range(1 + n % 5)]
        amounts = [(i * 13 + n) % 50 for i in range(6)]
        add(_replay_contract(CancunVM, steps, [5, 0, 40, 7], _round_robin(amounts), [1, 3]))
    # a counter that grows past a limit (transactions revert there) and comes back under it
    # (adding 2**256 - 20 subtracts 20): speculation on an older state fails where serial does not
    amounts = [7] * 5 + [2**256 - 20] + [7] * 3
    add(_replay_contract(CancunVM, [("add", 0, 4, 0), ("revert", 0, 4, 30)], [0] * 4, _round_robin(amounts), [2]))
    # transactions that revert on both states, at the same point, having read different values
    amounts = [2**256 - 80, 50, 2**256 - 5, 50, 2**256 - 3, 50]
    add(_replay_contract(CancunVM, [("add", 0, 4, 0), ("revert", 0, 4, 30)], [100] * 4, _round_robin(amounts), [2]))
    # a counter numbering the slots of a mapping: a repair names other slots (Cancun: no access list)
    add(_replay_contract(CancunVM, [("add", 0, 4, 0), ("index", 0, 4, 100)], [0] * 4, _round_robin([1] * 8), [2]))
    # ... and one whose new slot is one the transaction also touches at a constant key: no repair
    add(_replay_contract(CancunVM, [("add", 0, 4, 0), ("copy", 1, 4, 0), ("index", 0, 4, 0)], [1, 0, 0, 0],
                         _round_robin([1] * 8), [2]))
    assert seen.get("repaired", 0) >= 20, seen
    assert seen.get("repaired, a key renamed", 0) >= 3, seen
    assert seen.get("repaired failed", 0) > 0, seen  # a transaction that fails at the same point
    for reason in ("JUMPI condition", "SSTORE gas changed", "storage key"):
        assert seen.get("fallback: " + reason, 0) > 0, (reason, seen)


# ------------------------------------------------------------------ real blocks and workloads
def _target(spec: str):
    if spec.startswith("mainnet/"):
        path = DATA / "mainnet" / "blocks" / spec.split("/")[1]
        if not path.exists():
            pytest.fail(f"shared data missing: {path} (the tests read ../shared/data)")
        return load_targets([str(path)])[0]
    return load_targets([spec])[0]


@pytest.mark.parametrize("spec,least", [("erc20:txs=120,hot=0.5", 30), ("mainnet/6196166", 40),
                                        ("mainnet/8889776", 60)])
def test_stale_results_of_hot_blocks_are_repaired_exactly(spec, least):
    target = _target(spec)
    counts = replay_stale(target.block, target.pre_state, [8])
    assert counts.get("repaired", 0) >= least, counts


def test_occ_with_redo_equals_serial_with_every_repair_checked(monkeypatch):
    monkeypatch.setenv("PAREXEC_REDO_CHECK", "1")
    target = _target("mainnet/6196166")
    serial = execute_block(target.block, target.pre_state, get_strategy("serial"), 1)
    for redo_mode in ("on", "auto"):
        outcome = execute_block(target.block, target.pre_state, get_strategy("occ", redo=redo_mode), 2)
        assert serial.first_difference(outcome) is None
        stats = outcome.stats.redo
        assert stats is not None and stats.logged > 0 and stats.log_bytes > 0
        assert stats.repaired + sum(stats.fallbacks.values()) + outcome.stats.speculative_accepted > 0
    off = execute_block(target.block, target.pre_state, get_strategy("occ", redo="off"), 2)
    assert off.stats.redo is None and serial.first_difference(off) is None


def test_the_check_mode_catches_a_wrong_repair(monkeypatch):
    """A repair that differs from full execution is an error, not a result."""
    import parexec.parallel.commit as commit

    monkeypatch.setenv("PAREXEC_REDO_CHECK", "1")
    monkeypatch.setattr(commit, "redo", lambda env, result, value_of: _wrong(result))
    target = _target("erc20:txs=60,hot=0.9")
    with pytest.raises(commit.RedoMismatch, match="differs from full execution"):
        for _ in range(5):  # until a result goes stale
            execute_block(target.block, target.pre_state, get_strategy("occ", redo="on"), 2)


def _wrong(result: TxResult) -> TxResult:
    from dataclasses import replace

    return replace(result, gas_used=result.gas_used + 1, op_log=None)


def test_redo_mode_is_validated():
    with pytest.raises(ValueError, match="redo must be one of"):
        get_strategy("occ", redo="sometimes")
    assert os.environ.get("PAREXEC_REDO_CHECK", "") in ("", "0", "1")


def test_auto_keeps_logging_a_contract_only_while_its_repairs_pay_for_its_logs():
    from types import SimpleNamespace

    from parexec.parallel.redo_choice import ALLOWANCE, LOG_FIXED, RedoMemory, logged

    hot, cold, quiet, heavy = b"\x01" * 20, b"\x02" * 20, b"\x03" * 20, b"\x04" * 20
    block = SimpleNamespace(transactions=[SimpleNamespace(to=to) for to in [hot, cold, quiet, heavy] * 40])
    memory = RedoMemory()
    assert logged(block, "auto", memory) == frozenset(range(4, 160))  # each called before: all logged
    small = 1000  # bytes of a token transfer's log
    # hot: two in three stale and repaired; cold: stale and never repaired; quiet: never stale
    memory.learn(block, {j: ("valid" if j % 3 == 0 else "repaired", small) for j in range(4, 160, 4)})
    memory.learn(block, {j: ("declined", small) for j in range(5, 5 + 4 * 10, 4)})
    memory.learn(block, {j: ("valid", small) for j in range(6, 6 + 4 * 10, 4)})
    memory.learn(block, {7: ("valid", ALLOWANCE // 2)})  # heavy: a big log, not yet judged
    chosen = logged(block, "auto", memory)
    assert {4, 5, 6, 7} <= chosen  # within the allowance
    memory.learn(block, {j: ("declined", small) for j in range(5, 5 + 4 * 10, 4)})
    quiet_rounds = ALLOWANCE // (10 * (LOG_FIXED + small)) - 1  # rounds still within the allowance
    for _ in range(quiet_rounds):
        memory.learn(block, {j: ("valid", small) for j in range(6, 6 + 4 * 10, 4)})
    memory.learn(block, {11: ("valid", ALLOWANCE // 2)})
    chosen = logged(block, "auto", memory)
    assert 4 in chosen  # hot: its repairs pay for its logs
    assert 5 not in chosen  # cold: stale twenty times, never repaired
    assert 6 in chosen  # quiet: cheap logs, not yet over the allowance
    assert 7 not in chosen  # heavy: two big logs and no repair
    memory.learn(block, {j: ("valid", small) for j in range(6, 6 + 4 * 10, 4)})
    assert 6 not in logged(block, "auto", memory)  # quiet: now over it
    assert logged(block, "on", memory) == frozenset(range(160)) and logged(block, "off", memory) is None
