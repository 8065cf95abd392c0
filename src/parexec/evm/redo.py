"""Operation-level redo: repair a stale speculative result by pushing the values
that changed through its operation log (parexec.evm.op_log), instead of
executing the transaction again.

A result is stale when storage it read has changed since. If every stale read
is a storage slot the log follows, every guard holds on the new values (the
same jumps, offsets, call targets), every SSTORE keeps its gas signature and
every storage key that changes names a slot the transaction touches nowhere
else, the transaction takes the same path and pays the same gas (a failed one
fails at the same point); only the values the log computed from storage differ.
Each affected operation is recomputed with py-evm's own opcode implementation,
the stores are replayed in order (a failed frame's undone), and the storage
writes, reads and logs are rebuilt. Otherwise the redo declines, with the
reason, and the caller executes the transaction in full.
"""

from __future__ import annotations

from dataclasses import replace

from eth_hash.auto import keccak

from parexec.evm.op_log import HASH, KEYED, OP, SAME, SOURCE, STORE, TRUTH, UNDO, WORD, sstore_signature
from parexec.evm.tx_executor import log_fields, logs_rlp_of
from parexec.model import STORAGE, Log, TxResult


class _Operands:
    """The stack an opcode's logic pops its inputs from and pushes its result to."""

    __slots__ = ("values",)

    def __init__(self, values: list):
        self.values = values

    def stack_pop_ints(self, n: int) -> tuple:
        values = self.values
        popped = tuple(reversed(values[-n:]))
        del values[-n:]
        return popped

    def stack_pop1_int(self) -> int:
        return self.values.pop()

    def stack_push_int(self, value: int) -> None:
        self.values.append(value)

    def stack_push_bytes(self, value: bytes) -> None:
        self.values.append(int.from_bytes(value, "big"))

    def consume_gas(self, amount: int, reason: str = "") -> None:
        """The log guards whatever an operation's gas depends on."""


def _overlaid(data: bytes, overlays, value_of) -> bytes:
    out = bytearray(data)
    for position, node, byte in overlays:
        out[position] = (value_of(node) >> (8 * (31 - byte))) & 0xFF
    return bytes(out)


def _changed_arg(args: tuple, changed: dict) -> bool:
    for a in args:
        if a < 0 and -a - 1 in changed:
            return True
    return False


def redo(env, result: TxResult, value_of) -> TxResult | str:
    """``result`` repaired for the state ``value_of(location)`` reads, or why not."""
    ops = result.op_log
    if ops is None:
        return "no operation log"
    if ops.unrepairable:
        return ops.unrepairable
    if result.destroyed:
        return "destroys an account"
    nodes = ops.nodes
    if result.created and any(n[0] == STORE and n[1] in result.created for n in nodes):
        return "storage of an account it creates"
    stale: dict[tuple, int] = {}
    reads = result.reads
    for loc, seen in reads.items():
        now = value_of(loc)
        if now != seen:
            if loc[0] != STORAGE:
                return f"stale {loc[0]} read"
            stale[(loc[1], loc[2])] = now
    changed: dict[int, int] = {}  # node -> new value, where it differs

    def value_of_node(i: int) -> int:
        v = changed.get(i)
        return nodes[i][-1] if v is None else v

    def arg_value(arg: int) -> int:
        return arg if arg >= 0 else value_of_node(-arg - 1)

    def stored(address, slot) -> int:
        """A slot's value at this point of the transaction."""
        v = local.get((address, slot))
        return value_of((STORAGE, address, slot)) if v is None else v

    opcodes = env.state_class.computation_class.opcodes
    followed: set[tuple] = set()  # slots whose value at the start the log follows
    local: dict[tuple, int] = {}  # (address, slot) -> stored in this transaction, as repaired
    written: list[tuple] = []  # (ordinal of the store, key, previous value or None), to undo a failed frame's
    stores = 0
    renamed: dict[tuple, int] = {}  # (address, slot) -> the slot a computed key now names
    for i, node in enumerate(nodes):
        kind = node[0]
        if kind == SOURCE:
            key = (node[1], node[2])
            followed.add(key)
            v = stale.get(key)
            if v is not None:
                changed[i] = v
        elif kind == OP:
            args = node[2]
            if _changed_arg(args, changed):
                operands = _Operands([arg_value(a) for a in reversed(args)])
                opcodes[node[1]](computation=operands)
                v = operands.values[-1]
                if v != node[-1]:
                    changed[i] = v
        elif kind == SAME:
            if -node[1] - 1 in changed:
                return node[2]
        elif kind == TRUTH:
            if -node[1] - 1 in changed and bool(value_of_node(-node[1] - 1)) != node[2]:
                return node[3]
        elif kind == WORD or kind == HASH:
            if not changed.keys().isdisjoint(node[3]):
                data = _overlaid(node[1], node[2], value_of_node)
                v = int.from_bytes(data if kind == WORD else keccak(data), "big")
                if v != node[-1]:
                    changed[i] = v
        elif kind == KEYED or kind == STORE:
            address, key_arg = node[1], node[2]
            slot = arg_value(key_arg)
            if key_arg < 0:
                was = nodes[-key_arg - 1][-1]
                followed.add((address, was))
                if slot != was:
                    if renamed.setdefault((address, was), slot) != slot:
                        return "storage key"
            if kind == KEYED:
                v = stored(address, slot)
                if v != node[-1]:
                    changed[i] = v
            else:
                original = value_of((STORAGE, address, slot))
                current = local.get((address, slot), original)
                new = arg_value(node[3])
                if sstore_signature(original, current, new) != node[4]:
                    return "SSTORE gas changed"
                written.append((stores, (address, slot), local.get((address, slot))))
                local[(address, slot)] = new
                stores += 1
                if key_arg >= 0:
                    followed.add((address, slot))
        elif kind == UNDO:
            while written and written[-1][0] >= node[1]:
                _, key, previous = written.pop()
                if previous is None:
                    del local[key]
                else:
                    local[key] = previous
    if not followed.issuperset(stale):
        return "stale storage read the log does not follow"
    if renamed:  # the computed keys must name slots the transaction touched nowhere else, one to one
        targets = {(address, slot) for (address, _), slot in renamed.items()}
        if len(targets) != len(renamed) or not targets.isdisjoint(followed) \
                or not ops.constant_keys.isdisjoint(renamed) or not ops.constant_keys.isdisjoint(targets):
            return "storage key"
    new_reads = dict(reads)
    for (address, slot), v in stale.items():
        new_reads[(STORAGE, address, slot)] = v
    for (address, was), slot in renamed.items():
        del new_reads[(STORAGE, address, was)]
        new_reads[(STORAGE, address, slot)] = value_of((STORAGE, address, slot))
    if not result.success:  # it fails at the same point: nothing it stored or logged stays
        return replace(result, reads=new_reads, op_log=None)
    writes = dict(result.writes)
    for node in nodes:
        if node[0] == STORE:
            was = node[2] if node[2] >= 0 else nodes[-node[2] - 1][-1]
            writes.pop((STORAGE, node[1], was), None)
    for (address, slot), v in local.items():
        if v != value_of((STORAGE, address, slot)):
            writes[(STORAGE, address, slot)] = v
    logs = result.logs
    log_effects = ops.effects
    if any(len(e) > 1 for e in log_effects):
        if len(log_effects) != len(logs):
            return "logs out of step with the log"
        logs = list(logs)
        for n, effect in enumerate(log_effects):
            if len(effect) > 1:
                _, address, topics, data, overlays = effect
                logs[n] = Log(address, tuple(arg_value(t) for t in topics),
                              logs[n].data if data is None else _overlaid(data, overlays, value_of_node))
        logs = tuple(logs)
        entries = [(log.address, log.topics, log.data) for log in logs]
        if all(new.topics == old.topics for new, old in zip(logs, result.logs)):
            bloom, logs_rlp = result.bloom, logs_rlp_of(entries)  # a bloom holds addresses and topics only
        else:
            bloom, logs_rlp = log_fields(entries)
        return replace(result, reads=new_reads, writes=writes, logs=logs, bloom=bloom, logs_rlp=logs_rlp,
                       op_log=None)
    return replace(result, reads=new_reads, writes=writes, op_log=None)
