"""Adversarial workloads (issue 18): blocks built to break parallel engines, or to
make them slower than serial. Each is a spec like the others
(``onewrite:txs=400``), taking ``txs``, ``seed`` and ``blocks``; the contracts
are hand-assembled below, each with its assembly.

* ``onewrite``: every transaction writes the same slot of one contract, with a
  value of its own (its sender, or zero for one in three). The value written
  does not depend on the slot, but SSTORE's gas and refund (EIP-2200, EIP-3529)
  depend on the value before it: an engine that takes blind writes for no
  dependency gets gas wrong. Every transaction depends on the one before.
* ``coinbase``: transactions observe the beneficiary's exact balance, so each
  depends on every fee paid before it: half call a probe that stores
  BALANCE(COINBASE), a quarter call the beneficiary itself (a contract here)
  with a wei of value, whose code stores SELFBALANCE; a quarter are plain
  transfers (they only pay fees).
* ``redeploy``: mass SELFDESTRUCT and CREATE2 re-deploy at the same addresses
  (Cancun: EIP-6780). A factory CREATE2s a child at one of a few salts; in
  "cycle" mode it then calls the child, which self-destructs: created in the
  same transaction, so it is deleted, and the next cycle of that salt creates it
  again at the same address. Later in the block one "deploy" keeps the child; from
  then on a call to the child self-destructs it without deleting it (not created
  in that transaction: only its balance moves), and each further CREATE2 at that
  address collides (it returns 0 and consumes the gas it was given).
* ``redelegate``: EIP-7702 (Prague rules: ``fork`` defaults to ``prague``).
  A few EOAs are delegated, re-delegated between two contracts C and D, and
  cleared, by set-code transactions (type 4) of sponsors, mid-block, while other
  transactions call them (running C or D in the EOA's account, or nothing) and
  the EOAs send transactions of their own (bumping the nonces later
  authorizations must name). The bug class pevm, bor and grevm had: a call must
  see the delegation set before it, and only that one.
* ``abortonce``: transaction j increments counter j mod STRIDE (4) of one
  contract: a dependency on the transaction 4 places before, never the one
  right before. Speculation on the state before
  the block goes stale for nearly every transaction, once; executed again after
  its writer, it holds. Aborts and accepted results so come in equal numbers, so a
  detector that waits for aborts to outrun accepted results does not see a chain.
"""

from __future__ import annotations

import random

from eth.vm import opcode_values
from eth.vm.forks import PragueVM
from eth.vm.forks.prague.constants import MAGIC
from eth_hash.auto import keccak
import rlp

from parexec.state.memory import MemoryState
from parexec.workloads.synthetic import COINBASE, FUNDS, _key, sign

SLOT_WRITER = b"\x70" * 19 + b"\x03"
PROBE = b"\x70" * 19 + b"\x04"
FACTORY = b"\x70" * 19 + b"\x05"
COUNTERS = b"\x70" * 19 + b"\x06"
DELEGATE_C = b"\x70" * 19 + b"\x07"
DELEGATE_D = b"\x70" * 19 + b"\x08"
ZERO = b"\x00" * 20


def asm(*items) -> bytes:
    """Opcode names (py-evm's, eth.vm.opcode_values) and ints (pushed with the
    smallest PUSHn; PUSH0 for 0); ``bytes`` pushed as they are."""
    out = bytearray()
    for item in items:
        if isinstance(item, str):
            out.append(getattr(opcode_values, item))
            continue
        raw = item if isinstance(item, bytes) else item.to_bytes((item.bit_length() + 7) // 8, "big")
        out.append(0x5F + len(raw))
        out += raw
    return bytes(out)


# onewrite: storage[0] = calldata word 0.
#   PUSH0 CALLDATALOAD PUSH0 SSTORE STOP
SLOT_WRITER_CODE = asm("PUSH0", "CALLDATALOAD", "PUSH0", "SSTORE", "STOP")

# coinbase, the probe: storage[CALLER] = BALANCE(COINBASE).
#   COINBASE BALANCE CALLER SSTORE STOP
PROBE_CODE = asm("COINBASE", "BALANCE", "CALLER", "SSTORE", "STOP")
# coinbase, the beneficiary's own code: storage[CALLER] = SELFBALANCE.
#   SELFBALANCE CALLER SSTORE STOP
BENEFICIARY_CODE = asm("SELFBALANCE", "CALLER", "SSTORE", "STOP")

# redeploy, the child's runtime: SELFDESTRUCT to the transaction's sender.
#   ORIGIN SELFDESTRUCT
CHILD_RUNTIME = asm("ORIGIN", "SELFDESTRUCT")
# The child's init code (13 bytes): storage[0] = ORIGIN, then return the runtime.
#   ORIGIN PUSH0 SSTORE  PUSH2 0x32ff PUSH0 MSTORE  PUSH1 2 PUSH1 30 RETURN
CHILD_INIT = asm("ORIGIN", "PUSH0", "SSTORE", CHILD_RUNTIME, "PUSH0", "MSTORE", 2, 30, "RETURN")


def _factory(end: int) -> bytes:
    """calldata = salt | mode. CREATE2 the child (no value) at ``salt``, store the
    address it got (0: a collision) at storage[CALLER]; mode 0 ends there; mode 1
    calls the child (it self-destructs).

    ::

        PUSH13 <init> PUSH0 MSTORE                       ; memory[19:32] = init
        PUSH0 CALLDATALOAD PUSH1 13 PUSH1 19 PUSH0 CREATE2  ; [child]
        DUP1 CALLER SSTORE                               ; storage[CALLER] = child
        PUSH1 32 CALLDATALOAD ISZERO PUSH1 end JUMPI     ; mode 0: keep it
        PUSH0 PUSH0 PUSH0 PUSH0 PUSH0 DUP6 GAS CALL POP  ; call the child
        end: JUMPDEST STOP
    """
    size = len(CHILD_INIT)
    return asm(
        CHILD_INIT, "PUSH0", "MSTORE",
        "PUSH0", "CALLDATALOAD", size, 32 - size, "PUSH0", "CREATE2",
        "DUP1", "CALLER", "SSTORE",
        32, "CALLDATALOAD", "ISZERO", end, "JUMPI",
        "PUSH0", "PUSH0", "PUSH0", "PUSH0", "PUSH0", "DUP6", "GAS", "CALL", "POP",
    ) + asm("JUMPDEST", "STOP")


FACTORY_CODE = _factory(len(_factory(0xFF)) - 2)

# abortonce: counter[calldata word 0] += 1.
#   PUSH0 CALLDATALOAD DUP1 SLOAD PUSH1 1 ADD SWAP1 SSTORE STOP
COUNTERS_CODE = asm("PUSH0", "CALLDATALOAD", "DUP1", "SLOAD", 1, "ADD", "SWAP1", "SSTORE", "STOP")

# redelegate, the two delegates (they run in the calling EOA's account):
# storage[CALLER] = 0xC1 (C) or 0xD1 (D), storage[0] += 1 (C) or += 100 (D) is
# left out on purpose: calls of one EOA depend on its delegation only.
#   PUSH1 0xc1 CALLER SSTORE STOP
DELEGATE_C_CODE = asm(0xC1, "CALLER", "SSTORE", "STOP")
#   PUSH1 0xd1 CALLER SSTORE STOP
DELEGATE_D_CODE = asm(0xD1, "CALLER", "SSTORE", "STOP")

STRIDE = 4  # abortonce: counters, so transaction j depends on j - STRIDE
SALTS = 6  # redeploy: children (addresses), each created, destroyed and re-created
AUTHORITIES = 4  # redelegate: EOAs re-delegated


def child_address(salt: int) -> bytes:
    return keccak(b"\xff" + FACTORY + salt.to_bytes(32, "big") + keccak(CHILD_INIT))[12:]


def build_adversarial(name: str, p: dict) -> tuple[list, MemoryState]:
    """The signed transactions of adversarial workload ``name`` and their genesis state."""
    pre = MemoryState(complete=True)
    rng = random.Random(p["seed"])
    signed = {"onewrite": _onewrite, "coinbase": _coinbase, "redeploy": _redeploy,
              "redelegate": _redelegate, "abortonce": _abortonce}[name](pre, rng, p)
    return signed, pre


def _sender(pre: MemoryState, p: dict, i: int):
    key = _key(p["seed"], i)
    pre.set_account(key.public_key.to_canonical_address(), balance=FUNDS)
    return key


def _word(value: int | bytes) -> bytes:
    return value.rjust(32, b"\x00") if isinstance(value, bytes) else value.to_bytes(32, "big")


def _onewrite(pre, rng, p):
    signed = []
    for i in range(p["txs"]):
        key = _sender(pre, p, i)
        value = 0 if rng.random() < 1 / 3 else key.public_key.to_canonical_address()
        signed.append(sign(key, 0, SLOT_WRITER, _word(value), 60_000))
    pre.set_account(SLOT_WRITER, nonce=1, code=SLOT_WRITER_CODE, storage={0: 1})
    return signed


def _coinbase(pre, rng, p):
    signed = []
    for i in range(p["txs"]):
        key = _sender(pre, p, i)
        roll = rng.random()
        if roll < 0.5:
            signed.append(sign(key, 0, PROBE, b"", 60_000))
        elif roll < 0.75:
            signed.append(sign(key, 0, COINBASE, b"", 60_000, value=1))
        else:
            signed.append(sign(key, 0, keccak(b"to" + i.to_bytes(4, "big"))[:20], b"", 21_000, value=1))
    pre.set_account(PROBE, nonce=1, code=PROBE_CODE)
    pre.set_account(COINBASE, nonce=1, balance=10**18, code=BENEFICIARY_CODE)  # workload_block keeps it
    return signed


def _interleave(rng, sequences: list[list]) -> list:
    """The items of ``sequences`` merged in a random order that keeps each one's order."""
    order = [k for k, seq in enumerate(sequences) for _ in seq]
    rng.shuffle(order)
    queues = [iter(seq) for seq in sequences]
    return [next(queues[k]) for k in order]


def _redeploy(pre, rng, p):
    n = p["txs"]
    per_salt = [n // SALTS + (1 if k < n % SALTS else 0) for k in range(SALTS)]
    sequences = []
    for salt, count in enumerate(per_salt):
        cycles = (count * 3) // 5  # create and destroy, again and again
        ops = [("cycle", salt)] * cycles
        if count > cycles:
            ops.append(("deploy", salt))  # this one stays
        # then: self-destruct without deletion, and CREATE2 collisions, alternating
        ops += [("kill", salt) if k % 2 == 0 else ("cycle", salt) for k in range(count - len(ops))]
        sequences.append(ops)
    signed = []
    for i, (op, salt) in enumerate(_interleave(rng, sequences)):
        key = _sender(pre, p, i)
        if op == "kill":  # sends a wei, which the child sends back on
            signed.append(sign(key, 0, child_address(salt), b"", 60_000, value=1000))
        else:
            data = _word(salt) + _word(1 if op == "cycle" else 0)
            signed.append(sign(key, 0, FACTORY, data, 400_000))
    pre.set_account(FACTORY, nonce=1, code=FACTORY_CODE)
    return signed


def _abortonce(pre, rng, p):
    signed = []
    for i in range(p["txs"]):
        key = _sender(pre, p, i)
        signed.append(sign(key, 0, COUNTERS, _word(i % STRIDE), 60_000))
    pre.set_account(COUNTERS, nonce=1, code=COUNTERS_CODE)
    return signed


def authorization(authority_key, target: bytes, nonce: int) -> dict:
    """An EIP-7702 authorization: the authority signs keccak(0x05 || rlp([chain_id, address, nonce]))."""
    y_parity, r, s = authority_key.sign_msg(MAGIC + rlp.encode([1, target, nonce])).vrs
    return dict(chain_id=1, address=target, nonce=nonce, y_parity=y_parity, r=r, s=s)


def _set_code(key, auths: list[dict], to: bytes):
    builder = PragueVM.get_transaction_builder()
    tx = builder.new_unsigned_set_code_transaction(
        chain_id=1, nonce=0, max_priority_fee_per_gas=1, max_fee_per_gas=100, gas=120_000,
        to=to, value=0, data=b"", access_list=(), authorization_list=auths,
    ).as_signed_transaction(key)
    return builder.decode(tx.encode())


def _redelegate(pre, rng, p):
    """Per EOA, a sequence of: delegate to C, D or nothing (a set-code transaction
    whose call goes to the EOA half the time, so it runs the new code at once),
    calls of the EOA by others, and now and then a transaction the EOA sends
    itself (to itself). Sequences are interleaved at random."""
    n = p["txs"]
    authorities = [_key(p["seed"], -100 - a) for a in range(AUTHORITIES)]
    sequences = [[] for _ in authorities]
    for i in range(n):
        roll = rng.random()
        kind = "delegate" if roll < 0.2 else "own" if roll < 0.25 else "call"
        sequences[i % AUTHORITIES].append(kind)
    for seq in sequences:
        if seq:  # a block of fewer than AUTHORITIES transactions leaves some without any
            seq[0] = "delegate"
    nonces = [0] * AUTHORITIES
    signed = []
    for i, a in enumerate(_interleave(rng, [[(a, kind) for kind in seq] for a, seq in enumerate(sequences)])):
        a, kind = a
        authority = authorities[a]
        address = authority.public_key.to_canonical_address()
        if kind == "own":  # the EOA calls itself: runs its delegation, if any, and bumps its nonce
            signed.append(sign(authority, nonces[a], address, b"", 60_000))
            nonces[a] += 1
            continue
        key = _sender(pre, p, i)
        if kind == "call":
            signed.append(sign(key, 0, address, b"", 60_000))
            continue
        target = rng.choice((DELEGATE_C, DELEGATE_C, DELEGATE_D, DELEGATE_D, ZERO))
        to = address if rng.random() < 0.5 else key.public_key.to_canonical_address()
        signed.append(_set_code(key, [authorization(authority, target, nonces[a])], to))
        nonces[a] += 1
    for authority in authorities:
        pre.set_account(authority.public_key.to_canonical_address(), balance=FUNDS)
    pre.set_account(DELEGATE_C, nonce=1, code=DELEGATE_C_CODE)
    pre.set_account(DELEGATE_D, nonce=1, code=DELEGATE_D_CODE)
    return signed



# ------------------------------------------------------------------ wrong lists
# A dependency chain hidden behind a wrong list: the list a declared strategy or
# bal is given claims that the transactions touch nothing another one writes.


def hide_dependencies(footprints: list) -> list:
    """Exact footprints (parexec.access.footprint) with every location that another
    transaction writes taken out: a block of independent transactions, as declared."""
    from collections import Counter

    from parexec.access.footprint import Footprint

    writers = Counter(loc for f in footprints for loc in f.writes)
    out = []
    for f in footprints:
        shared = {loc for loc in f.reads | f.writes if writers[loc] - (loc in f.writes) > 0}
        out.append(Footprint(f.reads - shared, f.writes - shared, f.sender))
    return out


def hide_storage_changes(access_list):
    """An EIP-7928 list (access.eip7928.BlockAccessList) without the storage changes
    of the account with the most of them: its transactions' writes there, and the
    values later ones read, are missing."""
    from dataclasses import replace

    from parexec.access.eip7928 import BlockAccessList

    accounts = list(access_list.accounts)
    k = max(range(len(accounts)), key=lambda i: sum(len(c) for _, c in accounts[i].storage_changes))
    accounts[k] = replace(accounts[k], storage_changes=())
    return BlockAccessList(tuple(accounts))
