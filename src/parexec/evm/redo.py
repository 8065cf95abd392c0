"""Operation-level redo: repair a stale speculative result by pushing the values
that changed through its operation log (parexec.evm.op_log), instead of
executing the transaction again.

A result is stale when storage it read has changed since. If every stale read
is a storage slot the log follows, every guard holds on the new values (the
same jumps, offsets, keys, call targets) and every SSTORE keeps its gas
signature, the transaction takes the same path and pays the same gas (a failed
one fails at the same point); only the values the log computed from storage
differ. Each affected operation is
recomputed with py-evm's own opcode implementation, then the storage writes
and logs are rebuilt from the effects. Otherwise the redo declines, with the
reason, and the caller executes the transaction in full.
"""

from __future__ import annotations

from dataclasses import replace

from eth_hash.auto import keccak

from parexec.evm.op_log import HASH, LOG, OP, SAME, SOURCE, STORE, TRUTH, WORD, sstore_signature
from parexec.evm.tx_executor import log_fields
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


def redo(env, result: TxResult, value_of) -> TxResult | str:
    """``result`` repaired for the state ``value_of(location)`` reads, or why not."""
    ops = result.op_log
    if ops is None:
        return "no operation log"
    if ops.unrepairable:
        return ops.unrepairable
    if result.destroyed:
        return "destroys an account"
    if result.created and not {e[1] for e in ops.effects if e[0] == STORE}.isdisjoint(result.created):
        return "storage of an account it creates"
    stale: dict[tuple, int] = {}
    reads = result.reads
    for loc, seen in reads.items():
        now = value_of(loc)
        if now != seen:
            if loc[0] != STORAGE:
                return f"stale {loc[0]} read"
            stale[(loc[1], loc[2])] = now
    nodes = ops.nodes
    changed: dict[int, int] = {}  # node -> new value, where it differs

    def value_of_node(i: int) -> int:
        v = changed.get(i)
        return nodes[i][-1] if v is None else v

    def arg_value(arg: int) -> int:
        return arg if arg >= 0 else value_of_node(-arg - 1)

    opcodes = env.state_class.computation_class.opcodes
    followed = 0
    for i, node in enumerate(nodes):
        kind = node[0]
        if kind == SOURCE:
            v = stale.get((node[1], node[2]))
            if v is not None:
                followed += 1
                changed[i] = v
        elif kind == OP:
            args = node[2]
            if any(a < 0 and -a - 1 in changed for a in args):
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
            overlays = node[2]
            if any(n in changed for _, n, _ in overlays):
                data = _overlaid(node[1], overlays, value_of_node)
                v = int.from_bytes(data if kind == WORD else keccak(data), "big")
                if v != node[-1]:
                    changed[i] = v
    if followed != len(stale):
        return "stale storage read the log does not follow"

    final: dict[tuple, tuple] = {}  # (address, slot) -> (value arg, source arg)
    log_effects = []
    for effect in ops.effects:
        if effect[0] == STORE:
            _, address, slot, value, source, current, signature = effect
            if sstore_signature(arg_value(source), arg_value(current), arg_value(value)) != signature:
                return "SSTORE gas changed"
            final[(address, slot)] = (value, source)
        else:
            log_effects.append(effect)
    new_reads = dict(reads)
    for (address, slot), v in stale.items():
        new_reads[(STORAGE, address, slot)] = v
    if not result.success:  # it fails at the same point: nothing it stored or logged stays
        return replace(result, reads=new_reads, op_log=None)
    writes = dict(result.writes)
    for (address, slot), (value, source) in final.items():
        key = (STORAGE, address, slot)
        v, original = arg_value(value), arg_value(source)
        if v != original:
            writes[key] = v
        else:
            writes.pop(key, None)
    logs = result.logs
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
        bloom, logs_rlp = log_fields([(log.address, log.topics, log.data) for log in logs])
        return replace(result, reads=new_reads, writes=writes, logs=logs, bloom=bloom, logs_rlp=logs_rlp,
                       op_log=None)
    return replace(result, reads=new_reads, writes=writes, op_log=None)
