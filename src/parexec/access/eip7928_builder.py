"""An EIP-7928 block access list from a serial execution, and how a given list
differs from it.

The block runs as block.pipeline runs it (pre-block system calls, transactions,
withdrawals, rewards and post-block system calls), and its write sets are then
replayed in order, index by index (0, 1..n, n+1), on the pre-state: each account
field and slot a write set names is compared with its value just before that
index, and a change is recorded at that index with the value after it; a write
that leaves a slot as it was is a read. Every address a transaction read or
wrote is listed, with empty lists if nothing changed, and so is every address
the steps around the transactions access (the system contracts, a withdrawal's
recipient whatever the amount), with the slots they only read (the EIP-7002 and
EIP-7251 dequeues read their queues). The system calls' caller (SYSTEM_ADDRESS)
is listed only where something accesses it as an account (a transaction reads
its balance, a withdrawal pays it): py-evm's system calls do not read it.

Inclusion follows what py-evm reads. The EIP lists no access that runs out of
gas on the charges that come before it; py-evm charges first for every access
opcode, EXTCODECOPY as parexec.evm.pyevm_patches makes it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from parexec.access.eip7928 import AccountChanges, BlockAccessList, EncodedList
from parexec.model import BALANCE, CODE, NONCE, STORAGE, STORAGE_RESET
from parexec.state.overlay import OverlayState
from parexec.strategies.serial import SerialStrategy


def build_access_list(block, pre_state) -> BlockAccessList:
    """The list of ``block`` executed serially on ``pre_state``. Raises BlockRejected."""
    from parexec.block.pipeline import execute_block

    recorder = EIP7928Recorder()
    execute_block(block, pre_state, recorder, 1, with_state_root=False)
    return recorder.lists[-1][1]


class EIP7928Recorder(SerialStrategy):
    """Serial execution that keeps the EIP-7928 list of every block it executes,
    as (block, list): the transactions' write sets, and those of the system
    calls around them (the state it is given holds the pre-block ones; the
    post-block ones are computed as block.pipeline computes them next)."""

    def __init__(self, **options):
        super().__init__(**options)
        self.lists: list[tuple] = []

    def run_transactions(self, env, block, state, workers=1):
        from parexec.block.system import post_block_writes

        post_reads: set = set()
        before = (0, env.pre_block_reads, state.diff(), state.new_code())
        results, stats = super().run_transactions(env, block, state, workers)
        post_writes, post_code, _ = post_block_writes(env, block, state, getattr(state.base, "complete", False),
                                                      post_reads)
        phases = [before, *((r.index + 1, r.reads, r.writes, r.new_code) for r in results),
                  (len(results) + 1, post_reads, post_writes, post_code)]
        self.lists.append((block, list_from_phases(state.base, phases)))
        return results, stats


def list_from_phases(pre_state, phases) -> BlockAccessList:
    """The list from (index, reads, writes, new code) of each phase, in order, on ``pre_state``."""
    state = OverlayState(pre_state)
    touched: set[bytes] = set()
    balances, nonces, codes = defaultdict(list), defaultdict(list), defaultdict(list)
    slot_changes: dict[bytes, dict[int, list]] = defaultdict(lambda: defaultdict(list))
    slot_reads: dict[bytes, set[int]] = defaultdict(set)
    fields = {BALANCE: balances, NONCE: nonces, CODE: codes}
    for index, reads, writes, new_code in phases:
        for loc in reads:
            touched.add(loc[1])
            if loc[0] == STORAGE:
                slot_reads[loc[1]].add(loc[2])
        touched |= {loc[1] for loc in writes}
        changes, unchanged = phase_changes(state, writes, new_code,
                                           lambda address: slot_reads[address] | set(slot_changes[address]))
        for loc, value in changes.items():
            if loc[0] == STORAGE:
                slot_changes[loc[1]][loc[2]].append((index, value))
            else:
                fields[loc[0]][loc[1]].append((index, value))
        for address, slot in unchanged:  # written as it was: a read
            slot_reads[address].add(slot)
    accounts = []
    for address in sorted(touched):
        changed = slot_changes.get(address, {})
        entry = AccountChanges(
            address,
            tuple((slot, tuple(changes)) for slot, changes in sorted(changed.items()) if changes),
            tuple(sorted(slot_reads.get(address, set()) - {s for s, c in changed.items() if c})),
            tuple(balances.get(address, ())), tuple(nonces.get(address, ())), tuple(codes.get(address, ())))
        accounts.append(entry)
    return BlockAccessList(tuple(accounts))


def phase_changes(state, writes, new_code, named_slots=lambda address: ()) -> tuple[dict, set]:
    """Apply one phase's ``writes`` to ``state`` (an overlay); what they change, as
    a list records it: {(BALANCE|NONCE|CODE, address) or (STORAGE, address, slot):
    the value after (code as bytes)}, and the slots they write as they were
    (reads). A wipe of storage changes the slots ``named_slots(address)`` gives
    (those the block names so far)."""
    addresses = {loc[1] for loc in writes}
    slots = {(loc[1], loc[2]) for loc in writes if loc[0] == STORAGE}
    for loc in writes:
        if loc[0] == STORAGE_RESET:  # the slots it wipes that the block names
            slots |= {(loc[1], s) for s in named_slots(loc[1])}
    before = {a: _fields(state, a) for a in addresses}
    slots_before = {(a, s): state.storage(a, s) for a, s in slots}
    state.apply(writes, new_code)
    changes, unchanged = {}, set()
    for address in addresses:
        for kind, value, old in zip((BALANCE, NONCE, CODE), _fields(state, address), before[address]):
            if value != old:
                changes[(kind, address)] = value
    for (address, slot), old in slots_before.items():
        value = state.storage(address, slot)
        if value != old:
            changes[(STORAGE, address, slot)] = value
        else:
            unchanged.add((address, slot))
    return changes, unchanged


def _fields(state, address: bytes) -> tuple[int, int, bytes]:
    account = state.account(address)
    if account is None:
        return 0, 0, b""
    return account.balance, account.nonce, state.code(account.code_hash)


def first_difference(given: BlockAccessList, exact: BlockAccessList) -> str | None:
    """Where ``given`` differs from the ``exact`` list of its block, in a line
    naming the account, the field, the slot and the index; None if they are equal."""
    if given == exact:
        return None
    mine = {a.address: a for a in given.accounts}
    right = {a.address: a for a in exact.accounts}
    for address in sorted(set(mine) | set(right)):
        who = "0x" + address.hex()
        if address not in mine:
            return f"{who} is missing from the list"
        if address not in right:
            return f"{who} is in the list, but the block does not touch it"
        a, b = mine[address], right[address]
        if a == b:
            continue
        slots_a, slots_b = dict(a.storage_changes), dict(b.storage_changes)
        for slot in sorted(set(slots_a) | set(slots_b)):
            if slots_a.get(slot) != slots_b.get(slot):
                return (f"{who}: storage slot {hex(slot)}: changes {_show(slots_a.get(slot))} in the list, "
                        f"{_show(slots_b.get(slot))} by execution")
        if a.storage_reads != b.storage_reads:
            extra, missing = set(a.storage_reads) - set(b.storage_reads), set(b.storage_reads) - set(a.storage_reads)
            what = f"slot {hex(min(missing))} is not among its reads" if missing else \
                f"slot {hex(min(extra))} is read in the list, not by execution"
            return f"{who}: {what}"
        for name in ("balance_changes", "nonce_changes", "code_changes"):
            if getattr(a, name) != getattr(b, name):
                return f"{who}: {name} {_show(getattr(a, name))} in the list, {_show(getattr(b, name))} by execution"
    return "the lists differ in their order"


def _show(changes) -> str:
    if changes is None:
        return "none"
    return "[" + ", ".join(f"{i}: {v.hex()[:16] if isinstance(v, bytes) else hex(v)}" for i, v in changes) + "]"


def eip7928_file_stem(block) -> str:
    """A block's list files are STEM.rlp and STEM.json: unique per block."""
    return f"{block.header.block_number}-{block.header.hash.hex()[:16]}"


def is_eip7928_file_stem(stem: str) -> bool:
    """Whether ``stem`` is named as eip7928_file_stem names a block's list."""
    return _FILE_STEM.fullmatch(stem) is not None


_FILE_STEM = re.compile(r"[0-9]+-[0-9a-f]{16}")


def write_eip7928_lists(lists: list[tuple], folder: Path) -> None:
    """Each (block, list) as STEM.rlp (the list) and STEM.json (a readable view)."""
    from parexec.access.eip7928 import InvalidAccessList, decode

    folder.mkdir(parents=True, exist_ok=True)
    for block, access_list in lists:
        stem = eip7928_file_stem(block)
        encoded = access_list.encode()
        if decode(encoded) != access_list:  # what is written must read back as it was
            raise InvalidAccessList(f"block {block.header.block_number}: the list does not survive its encoding")
        (folder / f"{stem}.rlp").write_bytes(encoded)
        (folder / f"{stem}.json").write_text(access_list.json_text())


def read_encoded_list(path: Path) -> EncodedList:
    """The bytes of the list file at ``path``; FixtureError if it cannot be read."""
    from parexec.model import FixtureError

    try:
        return EncodedList(Path(path).read_bytes(), str(path))
    except OSError as exc:
        raise FixtureError(f"{path}: cannot read: {exc}") from None


def read_eip7928_list(path: Path, block) -> BlockAccessList:
    """The list at ``path`` for ``block``: decoded and its rules checked against the
    block (its transactions, its gas: see access.eip7928.item_cap). Raises
    FixtureError naming the file and the fault."""
    return read_encoded_list(path).decode_for(block)
