"""Execute one transaction against a StateView and report what it read and wrote."""

from __future__ import annotations

import itertools

import rlp
from eth.rlp.logs import Log as RlpLog
from eth.vm.forks.cancun.state import get_total_blob_gas
from eth_bloom import BloomFilter
from eth_keys.exceptions import BadSignature
from eth_utils import ValidationError

from parexec.block.env import BlockEnv
from parexec.block.validation import pyevm_rule, stateless_violation
from parexec.evm import pyevm_patches
from parexec.evm.recording_state import account_db
from parexec.model import EXISTS, NONCE, STORAGE_RESET, Log, TxResult


pyevm_patches.apply()

DELEGATION_PREFIX = b"\xef\x01\x00"  # EIP-7702 delegation designator


class InvalidTransaction(Exception):
    """The transaction is not valid on this state (nonce, balance, fee caps...);
    ``rule`` as in parexec.model.BlockRejected."""

    def __init__(self, reason: str, rule: str | None = None):
        super().__init__(reason)
        self.rule = rule

    def __reduce__(self):
        return type(self), (str(self), self.rule)


def max_cost(tx) -> int:
    """The most the sender can be charged; the balance must cover it up front.

    py-evm compares the balance with gas * effective price for 1559 transactions;
    the specs use the fee cap.
    """
    tx_type = getattr(tx, "type_id", None) or 0
    fee_cap = tx.max_fee_per_gas if tx_type >= 2 else tx.gas_price
    blob_fee = get_total_blob_gas(tx) * tx.max_fee_per_blob_gas if tx_type == 3 else 0
    return tx.gas * fee_cap + blob_fee + tx.value


def log_fields(entries) -> tuple[int, bytes]:
    """The bloom and receipt RLP of a transaction's logs, as (address, topics, data)."""
    if not entries:
        return 0, b"\xc0"
    bloomables = itertools.chain.from_iterable(RlpLog(*e).bloomables for e in entries)
    return int(BloomFilter.from_iterable(bloomables)), logs_rlp_of(entries)


def logs_rlp_of(entries) -> bytes:
    """The receipt RLP of logs as (address, topics, data) (their bloom ignores the data)."""
    return rlp.encode([[a, [t.to_bytes(32, "big") for t in topics], d] for a, topics, d in entries])


def execute_transaction(env: BlockEnv, view, tx, index: int, predict: bool = False,
                        log_ops: bool = False) -> TxResult:
    """Run ``tx`` on ``view`` without mutating it.

    Stateless validity (signature, intrinsic gas, field rules) is checked first;
    that recovers the sender once (py-evm caches it on the object), and py-evm's
    own ``validate()`` is not called again during execution.

    ``predict`` (speculative executions only): read the sender's nonce as the
    transaction's own nonce instead of asking the view, which may not know yet
    about the sender's earlier transactions in the block. The prediction is
    recorded as the read, so validation against the real state decides.

    ``log_ops``: also log what is computed from storage (evm.op_log), so that a
    stale result can be repaired (evm.redo); the result carries it as ``op_log``.
    """
    violation = stateless_violation(tx, env.vm_class, env.forks, env.max_blob_gas)
    if violation:
        raise InvalidTransaction(violation.message, violation.rule)
    state = env.new_state(view, log_ops=True, tx=tx) if log_ops else env.new_state(view)
    db = account_db(state)
    try:
        sender = tx.sender
    except (ValidationError, ValueError, BadSignature) as exc:  # a block from a chain, not a fixture loader
        raise InvalidTransaction(f"invalid signature: {exc}", "INVALID_SIGNATURE_VRS") from None
    if predict:
        db.reads.setdefault((NONCE, sender), tx.nonce)
    # The balance check first, recorded as a floor (parexec.model): py-evm's own
    # checks below compare with no more than this, and so does its check of the
    # top-level call's value once gas is bought.
    cost = max_cost(tx)
    if not db.balance_at_least(sender, cost):
        raise InvalidTransaction(
            "sender balance below gas limit * max fee + blob fees + value", "INSUFFICIENT_ACCOUNT_FUNDS"
        )
    db.assume_sufficient_balance(sender, cost, once=False)
    try:
        state.validate_transaction(tx)
    except ValidationError as exc:
        raise InvalidTransaction(str(exc), pyevm_rule(str(exc))) from None
    finally:
        db.clear_assumption()
    sender_code = state.get_code(sender)
    if sender_code and not sender_code.startswith(DELEGATION_PREFIX):
        raise InvalidTransaction("sender has code (EIP-3607)", "SENDER_NOT_EOA")
    executor = state.get_transaction_executor()
    try:
        message = executor.build_evm_message(tx)
    except ValidationError as exc:  # e.g. gas below intrinsic gas slipped through
        raise InvalidTransaction(str(exc), pyevm_rule(str(exc))) from None
    if tx.value:
        db.assume_sufficient_balance(sender, tx.value, once=True)
    try:
        computation = executor.build_computation(message, tx)
    finally:
        db.clear_assumption()
    executor.finalize_computation(tx, computation)

    writes, new_code = db.write_set()
    entries = computation.get_log_entries()
    logs = tuple(Log(address, tuple(topics), data) for address, topics, data in entries)
    bloom, logs_rlp = log_fields(entries)
    rare = [key for key in writes if key[0] == EXISTS or key[0] == STORAGE_RESET]  # most have none
    created = tuple(key[1] for key in rare if key[0] == EXISTS and writes[key])
    destroyed = tuple(key[1] for key in rare if key[0] == EXISTS and not writes[key])
    wiped = tuple(key[1] for key in rare if key[0] == STORAGE_RESET)
    return TxResult(
        index=index,
        reads=db.read_set(),
        writes=writes,
        new_code=new_code,
        gas_used=env.vm_class.finalize_gas_used(tx, computation),
        success=not computation.is_error,
        logs=logs,
        blob_gas_used=get_total_blob_gas(tx) if getattr(tx, "type_id", None) == 3 else 0,
        bloom=bloom,
        logs_rlp=logs_rlp,
        created=created,
        destroyed=destroyed,
        wiped=wiped,
        error=None if not computation.is_error else repr(computation.error),
        sender=sender,
        op_log=state.op_log.recorded() if log_ops else None,
    )
