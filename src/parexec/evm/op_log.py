"""The operation log: what a speculative execution computed from storage, so that
a stale result can be repaired by recomputing only that (parexec.evm.redo).

A value read from storage (SLOAD, or the original value SSTORE consults) enters
the stack as a ``Tracked`` int that names its entry in the log; every operation
that consumes one is logged with its other inputs as constants, and its result
is tracked in turn. Memory, calldata and returndata carry the same marks byte
by byte, so a value stored to memory and hashed, logged, returned or passed to
another contract stays tracked. Whatever the log cannot recompute must not
change: a jump decision, an offset or size, a call's target or value, any
input of an operation it does not model. Those become guards, which the redo
checks. The gas of every operation then stays the same, except that of SSTORE,
whose cost and refund under every fork depend only on how the original, current
and new values compare (the log keeps that signature). A storage key computed
from storage (a counter that numbers new entries of a mapping) may change, to a
slot the transaction touches nowhere else (see keys_may_change).

Installed as a subclass of the fork's computation (its opcode table wrapped),
beside the recording account database; an opcode that takes no stack input,
and the stack's own DUP, SWAP and POP, run unwrapped. Only speculative
executions that may need a repair log (strategies choose, see ``--redo``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from eth.vm.forks.berlin.computation import BerlinComputation
from eth.vm.stack import to_int

from parexec.model import STORAGE

# node kinds (an entry's first field); a node's value is its last field
SOURCE = "s"  # (SOURCE, address, slot, value): a slot's value at the start of the transaction
KEYED = "k"  # (KEYED, address, key arg, value): SLOAD at a key computed from storage
STORE = "S"  # (STORE, address, key arg, value arg, signature): an SSTORE (a constant key as itself)
UNDO = "u"  # (UNDO, n): a frame failed: the stores from the n-th on are gone
OP = "o"  # (OP, opcode, args, value): a stack operation; args top of stack first, a node i as -(i + 1)
WORD = "w"  # (WORD, bytes, overlays, nodes, value): 32 bytes read (MLOAD, CALLDATALOAD) with tracked bytes
HASH = "h"  # (HASH, bytes, overlays, nodes, value): KECCAK256 of memory with tracked bytes in it
SAME = "="  # (SAME, arg, why): a value that must not change
TRUTH = "?"  # (TRUTH, arg, truth, why): a jump condition whose truth must not change
# effects, in execution order, those of frames that failed removed
LOG = "L"  # (LOG, address, topic args, data, overlays) or (LOG,) for a log with nothing tracked
# overlays: ((position, node, byte of the node's 32-byte value), ...), and the nodes they name


class Tracked(int):
    """A stack value computed from storage: ``node`` is its entry in the log."""


@dataclass(frozen=True, slots=True)
class RecordedOps:
    """What a worker sends with a speculative result (TxResult.op_log)."""

    nodes: tuple
    effects: tuple
    unrepairable: str | None = None  # why no repair is possible, known while executing
    constant_keys: frozenset = frozenset()  # (address, slot) accessed at constant keys, where some key is not


def keys_may_change(computation_class: type, tx) -> bool:
    """Whether a storage key computed from storage may name another slot in a
    repair: before Berlin every access costs the same; from Berlin on a slot's
    first access costs more than the next, which holds for the new slot as for
    the old (both untouched elsewhere in the transaction, see evm.redo) unless
    the transaction's access list warms one of them."""
    return not issubclass(computation_class, BerlinComputation) or not getattr(tx, "access_list", None)


def sstore_signature(original: int, current: int, new: int) -> tuple:
    """What SSTORE's gas and refund depend on under every fork (Frontier: current
    and new against zero; EIP-1283/2200/2929/3529: also how the three compare)."""
    return (original == current, current == new, original == new, original == 0, current == 0, new == 0)


class OpLog:
    """The log of one transaction, grown by the frames of a LoggingComputation."""

    __slots__ = ("nodes", "effects", "unrepairable", "sources", "current", "journal", "calldata", "stores",
                 "constant_keys", "keyed", "renamable")

    def __init__(self, renamable: bool = False):
        self.nodes: list[tuple] = []
        self.effects: list[tuple] = []
        self.unrepairable: str | None = None
        self.sources: dict[tuple, int] = {}  # (address, slot) -> its SOURCE node's arg
        self.current: dict[tuple, int] = {}  # (address, slot) -> arg of its value, once stored to
        self.journal: list[tuple] = []  # (key, previous arg or None), to undo a failed frame's stores
        self.calldata: dict | None = None  # the tracked bytes of a call's input, for the frame it starts
        self.stores = 0  # STORE nodes so far
        self.constant_keys: set[tuple] = set()  # (address, slot) accessed at a constant key
        self.keyed = False  # whether a key was computed from storage
        self.renamable = renamable  # whether such a key may change (see keys_may_change)

    def recorded(self) -> RecordedOps:
        keys = frozenset(self.constant_keys) if self.keyed else frozenset()
        return RecordedOps(tuple(self.nodes), tuple(self.effects), self.unrepairable, keys)

    def tracked(self, entry: tuple) -> Tracked:
        """Append a node (its value last); the value, marked with it."""
        node = len(self.nodes)
        self.nodes.append(entry)
        marked = Tracked(entry[-1])
        marked.node = node
        return marked

    def value(self, arg: int) -> int:
        return arg if arg >= 0 else self.nodes[-arg - 1][-1]

    def marked(self, arg: int, value: int):
        """``value`` as the stack holds it: tracked if ``arg`` is a node."""
        if arg >= 0:
            return value
        marked = Tracked(value)
        marked.node = -arg - 1
        return marked

    def same(self, arg: int, why: str) -> None:
        if arg < 0:
            self.nodes.append((SAME, arg, why))

    def memory_range(self, offset: int, size: int, what: str) -> tuple[int, int]:
        """A range of memory an opcode reads: offset and size must not change."""
        self.same(offset, f"{what} offset")
        self.same(size, f"{what} size")
        return self.value(offset), self.value(size)

    def source(self, address: bytes, slot: int, value: int) -> int:
        key = (address, slot)
        arg = self.sources.get(key)
        if arg is None:
            self.nodes.append((SOURCE, address, slot, value))
            arg = self.sources[key] = -len(self.nodes)
        return arg

    def mark(self) -> tuple[int, int, int]:
        return len(self.effects), len(self.journal), self.stores

    def undo(self, mark: tuple[int, int, int]) -> None:
        """A frame failed: its stores and logs are gone."""
        del self.effects[mark[0]:]
        if self.stores > mark[2]:
            self.nodes.append((UNDO, mark[2]))
        journal, current = self.journal, self.current
        while len(journal) > mark[1]:
            key, previous = journal.pop()
            if previous is None:
                del current[key]
            else:
                current[key] = previous


# ----------------------------------------------------------------- tracked bytes
def _clear(taint: dict, start: int, size: int) -> None:
    if not taint or size <= 0:
        return
    if size <= 64:
        for i in range(start, start + size):
            taint.pop(i, None)
    else:
        for i in [i for i in taint if start <= i < start + size]:
            del taint[i]


def _slice(taint: dict, start: int, size: int) -> dict:
    """The tracked bytes of [start, start + size), positioned from 0."""
    if not taint or size <= 0:
        return {}
    if size <= 64:
        return {i - start: taint[i] for i in range(start, start + size) if i in taint}
    return {i - start: v for i, v in taint.items() if start <= i < start + size}


def _paste(taint: dict, start: int, size: int, piece: dict) -> None:
    """Bytes [start, start + size) were overwritten by ``piece``'s (positioned from 0)."""
    _clear(taint, start, size)
    for i, v in piece.items():
        if i < size:
            taint[start + i] = v


def _overlays(piece: dict) -> tuple:
    return tuple((i, node, byte) for i, (node, byte) in sorted(piece.items()))


def _named(piece: dict) -> tuple:
    return tuple({node for node, _ in piece.values()})


# ----------------------------------------------------------------- opcode handlers
# stack inputs of every opcode before Osaka (EOF aside); DUP, SWAP, POP and PUSH run unwrapped
INPUTS = {
    **{op: 2 for op in (0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x0A, 0x0B)}, 0x08: 3, 0x09: 3,
    **{op: 2 for op in (0x10, 0x11, 0x12, 0x13, 0x14, 0x16, 0x17, 0x18, 0x1A, 0x1B, 0x1C, 0x1D)},
    0x15: 1, 0x19: 1, 0x1E: 1,
    0x20: 2,
    0x31: 1, 0x35: 1, 0x37: 3, 0x39: 3, 0x3B: 1, 0x3C: 4, 0x3E: 3, 0x3F: 1,
    0x40: 1, 0x49: 1,
    0x51: 1, 0x52: 2, 0x53: 2, 0x54: 1, 0x55: 2, 0x56: 1, 0x57: 2, 0x5C: 1, 0x5D: 2, 0x5E: 3,
    0xA0: 2, 0xA1: 3, 0xA2: 4, 0xA3: 5, 0xA4: 6,
    0xF0: 3, 0xF1: 7, 0xF2: 7, 0xF3: 2, 0xF4: 6, 0xF5: 4, 0xFA: 6, 0xFD: 2, 0xFF: 1,
}
PURE = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B,
        0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x1B, 0x1C, 0x1D, 0x1E}
NO_INPUTS = frozenset(range(0x5F, 0xA0)) | {0x50}  # PUSH0-32, DUP, SWAP; POP just drops
# opcodes that read nothing from the stack: STOP, the context's constants, PC, MSIZE, GAS, JUMPDEST, INVALID
ZERO_INPUTS = frozenset({0x00, 0x30, 0x32, 0x33, 0x34, 0x36, 0x38, 0x3A, 0x3D, *range(0x41, 0x49), 0x4A,
                         0x58, 0x59, 0x5A, 0x5B, 0xFE})
EXP, JUMP, JUMPI, SLOAD, SSTORE = 0x0A, 0x56, 0x57, 0x54, 0x55
MLOAD, MSTORE, MSTORE8, MCOPY, SHA3 = 0x51, 0x52, 0x53, 0x5E, 0x20
CALLDATALOAD, CALLDATACOPY, CODECOPY, EXTCODECOPY, RETURNDATACOPY = 0x35, 0x37, 0x39, 0x3C, 0x3E
CALLS = {0xF1: 3, 0xF2: 3, 0xF4: 2, 0xFA: 2}  # -> position of the input's offset (size follows)
CREATES = {0xF0, 0xF5}
RETURNS = {0xF3, 0xFD}


def _args(vals: list, k: int) -> tuple:
    """The top ``k`` stack values as log args (top first), each tracked one as its
    node; they are left on the stack as plain ints for py-evm."""
    args = []
    for i in range(1, k + 1):
        v = vals[-i]
        if v.__class__ is Tracked:
            args.append(-v.node - 1)
            vals[-i] = int(v)
        else:
            args.append(to_int(v))
    return tuple(args)


def _has_tracked(vals: list, k: int) -> bool:
    """Whether one of the top ``k`` stack values is tracked (the common case, none,
    costs two comparisons: most operations take one or two)."""
    try:
        if k == 1:
            return vals[-1].__class__ is Tracked
        if k == 2:
            return vals[-1].__class__ is Tracked or vals[-2].__class__ is Tracked
    except IndexError:
        return False  # py-evm's own code raises the stack error
    for v in vals[-k:]:
        if v.__class__ is Tracked:
            return True
    return False


def _quiet(computation, vals: list, k: int) -> bool:
    """Nothing tracked in the frame's memory nor among the top ``k`` stack values:
    the opcode is py-evm's alone."""
    return not computation._mem_taint and not _has_tracked(vals, k)


def _pure(op, fn, k):
    def run(computation):
        vals = computation._stack.values
        if not _has_tracked(vals, k):
            return fn(computation)
        log = computation._op_log
        args = _args(vals, k)
        if op == EXP:
            log.same(args[1], "EXP exponent")  # its gas depends on the exponent's size
        fn(computation)
        vals[-1] = log.tracked((OP, op, args, to_int(vals[-1])))
    return run


def _guarded(op, fn, k, why):
    """An opcode the log does not model: its tracked inputs must not change."""
    def run(computation):
        vals = computation._stack.values
        if not _has_tracked(vals, k):
            return fn(computation)
        log = computation._op_log
        for arg in _args(vals, k):
            log.same(arg, why)
        return fn(computation)
    return run


def _jumpi(fn):
    def run(computation):
        vals = computation._stack.values
        if not _has_tracked(vals, 2):
            return fn(computation)
        log = computation._op_log
        dest, cond = _args(vals, 2)
        log.same(dest, "JUMPI destination")
        if cond < 0:
            log.nodes.append((TRUTH, cond, bool(log.value(cond)), "JUMPI condition"))
        return fn(computation)
    return run


def _sload(fn):
    def run(computation):
        log = computation._op_log
        vals = computation._stack.values
        (key_arg,) = _args(vals, 1)
        if not log.renamable:
            log.same(key_arg, "SLOAD key")
        slot = log.value(key_arg)
        fn(computation)
        address = computation.msg.storage_address
        key = (address, slot)
        if key_arg < 0 and log.renamable:
            if (STORAGE, address, slot) not in computation.state._account_db.reads:
                log.unrepairable = "storage of an account created or wiped in the transaction"
                return
            log.keyed = True
            vals[-1] = log.tracked((KEYED, address, key_arg, to_int(vals[-1])))
            return
        log.constant_keys.add(key)
        arg = log.current.get(key)
        if arg is None:
            value = to_int(vals[-1])
            if computation.state._account_db.reads.get((STORAGE, address, slot)) != value:
                log.unrepairable = "storage of an account created or wiped in the transaction"
                return
            arg = log.source(address, slot, value)
        vals[-1] = log.marked(arg, to_int(vals[-1]))
    return run


def _sstore(fn):
    def run(computation):
        log = computation._op_log
        vals = computation._stack.values
        key_arg, value = _args(vals, 2)
        if not log.renamable:
            log.same(key_arg, "SSTORE key")
        slot = log.value(key_arg)
        address = computation.msg.storage_address
        key = (address, slot)
        current = log.current.get(key)
        try:
            fn(computation)
        except BaseException:  # out of gas (or the stipend's sentry) at a cost that may change
            log.unrepairable = "SSTORE failed"
            raise
        original = computation.state._account_db.reads.get((STORAGE, address, slot))
        if original is None:
            log.unrepairable = "storage of an account created or wiped in the transaction"
            return
        if key_arg < 0 and log.renamable:
            log.keyed = True
        else:
            key_arg = slot
            log.constant_keys.add(key)
        signature = sstore_signature(original, original if current is None else log.value(current), log.value(value))
        log.nodes.append((STORE, address, key_arg, value, signature))
        log.stores += 1
        log.journal.append((key, current))
        log.current[key] = value
    return run


def _mload(fn, op):
    """MLOAD, or CALLDATALOAD (from the frame's calldata)."""
    def run(computation):
        log = computation._op_log
        vals = computation._stack.values
        (offset,) = _args(vals, 1)
        log.same(offset, "MLOAD offset" if op == MLOAD else "CALLDATALOAD offset")
        fn(computation)
        taint = computation._mem_taint if op == MLOAD else computation._cd_taint
        piece = _slice(taint, log.value(offset), 32)
        if piece:
            word = vals[-1]
            word = word if isinstance(word, bytes) else word.to_bytes(32, "big")
            word = word.rjust(32, b"\x00")
            vals[-1] = log.tracked((WORD, word, _overlays(piece), _named(piece), int.from_bytes(word, "big")))
    return run


def _mstore(fn, op):
    def run(computation):
        vals = computation._stack.values
        if _quiet(computation, vals, 2):
            return fn(computation)
        log = computation._op_log
        offset, value = _args(vals, 2)
        log.same(offset, "MSTORE offset")
        fn(computation)
        offset = log.value(offset)
        taint = computation._mem_taint
        if op == MSTORE:
            _clear(taint, offset, 32)
            if value < 0:
                node = -value - 1
                for i in range(32):
                    taint[offset + i] = (node, i)
        elif value < 0:
            taint[offset] = (-value - 1, 31)
        else:
            taint.pop(offset, None)
    return run


def _copy(fn, op):
    """Opcodes writing memory from somewhere: calldata, code, returndata or memory."""
    k = INPUTS[op]

    def run(computation):
        vals = computation._stack.values
        if not computation._mem_taint and not _has_tracked(vals, k) and not (
            op == CALLDATACOPY and computation._cd_taint or op == RETURNDATACOPY and computation._rd_taint
        ):
            return fn(computation)
        log = computation._op_log
        args = _args(vals, k)
        for arg in args:
            log.same(arg, "copy offset or size")
        args = [log.value(a) for a in args]
        if op == EXTCODECOPY:
            args = args[1:]
        dest, start, size = args
        fn(computation)
        if op == CALLDATACOPY:
            piece = _slice(computation._cd_taint, start, size)
        elif op == RETURNDATACOPY:
            piece = _slice(computation._rd_taint, start, size)
        elif op == MCOPY:
            piece = _slice(computation._mem_taint, start, size)
        else:
            piece = {}
        _paste(computation._mem_taint, dest, size, piece)
    return run


def _sha3(fn):
    def run(computation):
        vals = computation._stack.values
        if _quiet(computation, vals, 2):
            return fn(computation)
        log = computation._op_log
        offset, size = log.memory_range(*_args(vals, 2), "KECCAK256")
        fn(computation)
        piece = _slice(computation._mem_taint, offset, size)
        if piece:
            data = bytes(computation._memory._bytes[offset:offset + size])
            vals[-1] = log.tracked((HASH, data, _overlays(piece), _named(piece), to_int(vals[-1])))
    return run


def _log(fn, op):
    k = INPUTS[op]

    def run(computation):
        log = computation._op_log
        vals = computation._stack.values
        if _quiet(computation, vals, k):
            fn(computation)
            log.effects.append((LOG,))
            return
        args = _args(vals, k)
        offset, size = log.memory_range(args[0], args[1], "LOG")
        fn(computation)
        piece = _slice(computation._mem_taint, offset, size)
        topics = args[2:]
        if not piece and all(t >= 0 for t in topics):
            log.effects.append((LOG,))
            return
        data = bytes(computation._memory._bytes[offset:offset + size]) if piece else None
        log.effects.append((LOG, computation.msg.storage_address, topics, data, _overlays(piece)))
    return run


def _call(fn, op):
    k = INPUTS[op]
    at = CALLS.get(op)  # where the input's offset is, for calls

    def run(computation):
        log = computation._op_log
        vals = computation._stack.values
        args = _args(vals, k)
        for arg in args:
            log.same(arg, "call or create argument")
        args = [log.value(a) for a in args]
        if at is not None:
            start, size = args[at], args[at + 1]
        else:
            start, size = args[1], args[2]
        piece = _slice(computation._mem_taint, start, size)
        if piece and (at is None or args[1].to_bytes(32, "big")[-20:] in computation.precompiles):
            for node in {node for node, _ in piece.values()}:  # code or a precompile's input
                log.same(-node - 1, "input to code the log does not follow")
            piece = {}
        mark, children = log.mark(), len(computation.children)
        log.calldata = piece
        try:
            fn(computation)
        finally:
            log.calldata = None
        if len(computation.children) == children:  # no frame started (depth, funds)
            computation._rd_taint = {}
            return
        child = computation.children[-1]
        if child.is_error:
            log.undo(mark)
        if at is None and child._ret_taint:  # deployed code made of tracked bytes
            for node in {node for node, _ in child._ret_taint.values()}:
                log.same(-node - 1, "deployed code")
        returned = child._ret_taint if computation.return_data else {}
        computation._rd_taint = returned
        if at is not None and not child.should_erase_return_data:
            out, out_size = args[at + 2], args[at + 3]
            _paste(computation._mem_taint, out, min(out_size, len(child.output)), returned)
    return run


def _return(fn, op):
    def run(computation):
        vals = computation._stack.values
        if _quiet(computation, vals, 2):
            return fn(computation)
        log = computation._op_log
        offset, size = log.memory_range(*_args(vals, 2), "RETURN")
        computation._ret_taint = _slice(computation._mem_taint, offset, size)
        return fn(computation)
    return run


def _unmodelled(op, fn):
    def run(computation):
        computation._op_log.unrepairable = f"opcode 0x{op:02x} is not modelled"
        return fn(computation)
    return run


def _wrap(op: int, fn):
    if op in NO_INPUTS or op in ZERO_INPUTS:
        return fn
    k = INPUTS.get(op)
    if k is None:
        return _unmodelled(op, fn)
    if op in PURE:
        return _pure(op, fn, k)
    if op == JUMPI:
        return _jumpi(fn)
    if op == SLOAD:
        return _sload(fn)
    if op == SSTORE:
        return _sstore(fn)
    if op in (MLOAD, CALLDATALOAD):
        return _mload(fn, op)
    if op in (MSTORE, MSTORE8):
        return _mstore(fn, op)
    if op in (CALLDATACOPY, CODECOPY, EXTCODECOPY, RETURNDATACOPY, MCOPY):
        return _copy(fn, op)
    if op == SHA3:
        return _sha3(fn)
    if 0xA0 <= op <= 0xA4:
        return _log(fn, op)
    if op in CALLS or op in CREATES:
        return _call(fn, op)
    if op in RETURNS:
        return _return(fn, op)
    return _guarded(op, fn, k, f"input of opcode 0x{op:02x}")


@lru_cache(maxsize=None)
def logging_computation_class(computation_class: type) -> type:
    """The fork's computation, logging what it computes from storage."""
    opcodes = {op: _wrap(op, fn) for op, fn in computation_class.opcodes.items()}

    def __init__(self, state, message, transaction_context):
        computation_class.__init__(self, state, message, transaction_context)
        self._op_log = log = state.op_log
        self._cd_taint, log.calldata = log.calldata or {}, None
        self._mem_taint, self._rd_taint, self._ret_taint = {}, {}, {}

    return type(f"Logging{computation_class.__name__}", (computation_class,),
                {"opcodes": opcodes, "__init__": __init__})


@lru_cache(maxsize=None)
def logging_state_class(state_class: type) -> type:
    """A recording State whose computations log (each instance gets ``op_log``)."""
    return type(f"Logging{state_class.__name__}", (state_class,),
                {"computation_class": logging_computation_class(state_class.computation_class)})
