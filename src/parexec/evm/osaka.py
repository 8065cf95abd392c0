"""Osaka (Fusaka) and the blob-parameter-only forks BPO1, BPO2 on py-evm 0.12.1b1.

py-evm stops at Prague and stays pinned and unpatched, so these forks are
subclasses of its Prague classes, the way py-evm builds one fork on another:

* EIP-7939 CLZ opcode (0x1e); EIP-7951 P256VERIFY precompile (0x100);
  EIP-7823 MODEXP input bounds and EIP-7883 MODEXP pricing (0x05);
* EIP-7825 transaction gas cap and EIP-7594 blobs per transaction, refused by
  the State's ``validate_transaction`` (and offered as ``OsakaVM.tx_violation``);
* EIP-7918 excess blob gas (blob base fee bounded by the execution cost);
* a blob schedule per VM class (``blob_schedule``) that every blob computation
  reads, so a fixture's ``config.blobSchedule`` can win over the built-in one
  (``with_blob_schedule``); that works for CancunVM and PragueVM too.

EIP-7934 (block RLP size) is a block-level check: only ``MAX_RLP_BLOCK_SIZE``
is exported here. Rules follow the execution specification (``ethereum-execution``,
``ethereum/forks/osaka``, ``bpo1``, ``bpo2``).
"""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature
from eth import constants
from eth._utils.address import force_bytes_to_address
from eth._utils.calculations import fake_exponential
from eth.exceptions import VMError
from eth.vm.forks.cancun import CancunVM
from eth.vm.forks.cancun.constants import GAS_PER_BLOB, MIN_BLOB_BASE_FEE
from eth.vm.forks.cancun.state import get_total_blob_gas
from eth.vm.forks.prague import PragueVM
from eth.vm.forks.prague.computation import PRAGUE_PRECOMPILES, PragueComputation
from eth.vm.forks.prague.opcodes import PRAGUE_OPCODES
from eth.vm.forks.prague.state import PragueState
from eth.vm.opcode import as_opcode
from eth_utils import ValidationError

# ------------------------------------------------------------------ constants

TX_GAS_LIMIT_CAP = 2**24  # EIP-7825: a transaction may ask for at most this gas
MAX_BLOBS_PER_TX = 6  # EIP-7594
MAX_RLP_BLOCK_SIZE = 10_485_760 - 2_097_152  # EIP-7934: 10 MiB less a 2 MiB margin
BLOB_BASE_COST = 2**13  # EIP-7918: execution gas a blob is priced at, at least

CLZ_OPCODE = 0x1E  # EIP-7939
P256VERIFY_ADDRESS = force_bytes_to_address(b"\x01\x00")  # EIP-7951
P256VERIFY_GAS = 6900
MODEXP_ADDRESS = force_bytes_to_address(b"\x05")
MODEXP_MAX_LENGTH = 1024  # EIP-7823: bytes, for each of base, exponent, modulus

# NIST P-256 (secp256r1): field prime, group order, curve coefficients (a = -3)
P256_P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
P256_A = P256_P - 3
P256_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B


# -------------------------------------------------------------- blob schedule


@dataclass(frozen=True)
class BlobSchedule:
    """A fork's blob parameters (EIP-7840), in blobs per block."""

    target: int
    max: int
    update_fraction: int

    @property
    def target_blob_gas(self) -> int:
        return self.target * GAS_PER_BLOB

    @property
    def max_blob_gas(self) -> int:
        return self.max * GAS_PER_BLOB

    def base_fee(self, excess_blob_gas: int) -> int:
        """The blob base fee (price of one blob gas) at ``excess_blob_gas``."""
        return fake_exponential(MIN_BLOB_BASE_FEE, excess_blob_gas, self.update_fraction)

    @classmethod
    def from_config(cls, entry: Mapping) -> "BlobSchedule":
        """From a fixture's ``config.blobSchedule[fork]``: ``{target, max,
        baseFeeUpdateFraction}``, hex strings or ints."""
        def num(v) -> int:
            return int(v, 0) if isinstance(v, str) else int(v)

        return cls(num(entry["target"]), num(entry["max"]), num(entry["baseFeeUpdateFraction"]))


CANCUN_BLOBS = BlobSchedule(target=3, max=6, update_fraction=3_338_477)
PRAGUE_BLOBS = BlobSchedule(target=6, max=9, update_fraction=5_007_716)
OSAKA_BLOBS = PRAGUE_BLOBS
BPO1_BLOBS = BlobSchedule(target=10, max=15, update_fraction=8_346_193)
BPO2_BLOBS = BlobSchedule(target=14, max=21, update_fraction=11_684_671)

# py-evm's own CancunVM and PragueVM carry no ``blob_schedule``: theirs by fork name.
_STOCK_BLOBS = {"prague": PRAGUE_BLOBS, "cancun": CANCUN_BLOBS}


def excess_blob_gas(schedule: BlobSchedule, parent_header, reserve_price: bool) -> int:
    """The block's excess blob gas from its parent's (EIP-4844), with EIP-7918's
    reserve price when ``reserve_price``: while blobs cost less than
    ``BLOB_BASE_COST`` execution gas, the excess only grows (by the blob gas above
    target, scaled down), so the blob fee climbs back up to that floor."""
    parent_excess = getattr(parent_header, "excess_blob_gas", None)
    if parent_excess is None:  # a parent before Cancun
        return 0
    used = parent_header.blob_gas_used
    if parent_excess + used < schedule.target_blob_gas:
        return 0
    if reserve_price:
        execution_price = BLOB_BASE_COST * parent_header.base_fee_per_gas
        if execution_price > GAS_PER_BLOB * schedule.base_fee(parent_excess):
            return parent_excess + used * (schedule.max - schedule.target) // schedule.max
    return parent_excess + used - schedule.target_blob_gas


def blob_schedule_of(vm_class: type) -> BlobSchedule | None:
    """The blob schedule a VM class runs with (None before Cancun)."""
    schedule = getattr(vm_class, "blob_schedule", None)
    if schedule is not None:
        return schedule
    for klass in vm_class.__mro__:
        found = _STOCK_BLOBS.get(getattr(klass, "fork", None))
        if found is not None:
            return found
    return None


def uses_blob_reserve_price(vm_class: type) -> bool:
    return bool(getattr(vm_class, "blob_reserve_price", False))


def expected_excess_blob_gas(vm_class: type, parent_header) -> int:
    """What the header's ``excess_blob_gas`` must be, for any VM class from Cancun on."""
    schedule = blob_schedule_of(vm_class)
    if schedule is None:
        raise ValueError(f"{vm_class.__name__} has no blobs")
    return excess_blob_gas(schedule, parent_header, uses_blob_reserve_price(vm_class))


def max_blob_gas_per_block(vm_class: type) -> int:
    """The block's blob gas limit (0 before Cancun)."""
    schedule = blob_schedule_of(vm_class)
    return schedule.max_blob_gas if schedule else 0


# ---------------------------------------------------------------- EIP-7939 CLZ


def count_leading_zeros(computation) -> None:
    """CLZ: leading zero bits of the top word (256 for zero)."""
    value = computation.stack_pop1_int()
    computation.stack_push_int(256 - value.bit_length())


# ---------------------------------------------------------- EIP-7951 P256VERIFY


def _word(data: bytes, offset: int) -> int:
    return int.from_bytes(data[offset:offset + 32], "big")


def _on_p256(x: int, y: int) -> bool:
    return (y * y - (x * x * x + P256_A * x + P256_B)) % P256_P == 0


def p256_signature_valid(data: bytes) -> bool:
    """EIP-7951's input: hash(32) r(32) s(32) qx(32) qy(32). Every malformed
    input (length, r or s out of [1, n), key off the curve or at infinity) is
    simply not valid: the precompile never fails, it returns nothing."""
    if len(data) != 160:
        return False
    digest = data[:32]
    r, s, x, y = (_word(data, offset) for offset in (32, 64, 96, 128))
    if not (0 < r < P256_N and 0 < s < P256_N):
        return False
    if x >= P256_P or y >= P256_P or (x == 0 and y == 0) or not _on_p256(x, y):
        return False
    key = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    try:
        key.verify(encode_dss_signature(r, s), digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    except InvalidSignature:
        return False
    return True


def p256verify(computation):
    """Precompile 0x100: 32-byte 1 for a valid signature, empty output otherwise."""
    computation.consume_gas(P256VERIFY_GAS, reason="P256VERIFY precompile")
    if p256_signature_valid(computation.msg.data_as_bytes):
        computation.output = (1).to_bytes(32, "big")
    return computation


# ------------------------------------------------------ EIP-7823/7883 MODEXP


class ModexpInputTooLarge(VMError):
    """EIP-7823: a MODEXP length above 1024 bytes halts the call (all gas is burnt)."""


def _read(data: bytes, start: int, length: int) -> bytes:
    """``length`` bytes of call data from ``start``, zero-padded past its end."""
    return data[start:start + length].ljust(length, b"\x00")


def modexp_lengths(data: bytes) -> tuple[int, int, int]:
    """Base, exponent and modulus lengths: the first three words of the input."""
    head = _read(data, 0, 96)
    return _word(head, 0), _word(head, 32), _word(head, 64)


def modexp_gas(base_len: int, exp_len: int, mod_len: int, exp_head: int) -> int:
    """EIP-7883: a floor of 500, at least 16 per iteration, doubled words above 32 bytes,
    and 16 (not 8) iterations per exponent byte past the first 32."""
    longest = max(base_len, mod_len)
    words = (longest + 7) // 8
    complexity = 2 * words * words if longest > 32 else 16
    head_bits = max(exp_head.bit_length() - 1, 0)
    iterations = head_bits if exp_len <= 32 else 16 * (exp_len - 32) + head_bits
    return max(500, complexity * max(iterations, 1))


def modexp_output(data: bytes, base_len: int, exp_len: int, mod_len: int) -> bytes:
    """base ** exp % modulus, as ``mod_len`` bytes (zeros for a zero modulus)."""
    if base_len == 0 and mod_len == 0:
        return b""
    base = int.from_bytes(_read(data, 96, base_len), "big")
    exponent = int.from_bytes(_read(data, 96 + base_len, exp_len), "big")
    modulus = int.from_bytes(_read(data, 96 + base_len + exp_len, mod_len), "big")
    if modulus == 0:
        return b"\x00" * mod_len
    return pow(base, exponent, modulus).to_bytes(mod_len, "big")


def modexp(computation):
    """Precompile 0x05 from Osaka: bounded lengths, EIP-7883 gas."""
    data = computation.msg.data_as_bytes
    base_len, exp_len, mod_len = modexp_lengths(data)
    if max(base_len, exp_len, mod_len) > MODEXP_MAX_LENGTH:
        raise ModexpInputTooLarge(f"MODEXP lengths {base_len}, {exp_len}, {mod_len} exceed 1024")
    exp_head = int.from_bytes(_read(data, 96 + base_len, min(exp_len, 32)), "big")
    computation.consume_gas(modexp_gas(base_len, exp_len, mod_len, exp_head), reason="MODEXP precompile")
    computation.output = modexp_output(data, base_len, exp_len, mod_len)
    return computation


# ------------------------------------------------------- computation and state

OSAKA_OPCODES = {
    **PRAGUE_OPCODES,
    CLZ_OPCODE: as_opcode(logic_fn=count_leading_zeros, mnemonic="CLZ", gas_cost=constants.GAS_LOW),
}

OSAKA_PRECOMPILES = {**PRAGUE_PRECOMPILES, MODEXP_ADDRESS: modexp, P256VERIFY_ADDRESS: p256verify}


class OsakaComputation(PragueComputation):
    """Prague's, with CLZ, P256VERIFY and the new MODEXP."""

    opcodes = OSAKA_OPCODES
    _precompiles = OSAKA_PRECOMPILES


def osaka_tx_violation(tx) -> tuple[str, str] | None:
    """EIP-7825 and EIP-7594, the rules Osaka adds to a transaction by itself: (the
    execution-spec-tests' name of the rule, what is wrong), or None."""
    if tx.gas > TX_GAS_LIMIT_CAP:
        return ("GAS_LIMIT_EXCEEDS_MAXIMUM",
                f"transaction gas limit {tx.gas} exceeds the cap {TX_GAS_LIMIT_CAP} (EIP-7825)")
    if getattr(tx, "type_id", None) == 3 and len(tx.blob_versioned_hashes) > MAX_BLOBS_PER_TX:
        return ("TYPE_3_TX_BLOB_COUNT_EXCEEDED",
                f"{len(tx.blob_versioned_hashes)} blobs exceed the per-transaction "
                f"maximum {MAX_BLOBS_PER_TX} (EIP-7594)")
    return None


class BlobFeeState:
    """State mixin: the blob base fee from the class's ``blob_schedule`` (BLOBBASEFEE,
    the blob fee charged, the fee-cap check) instead of a fork constant."""

    blob_schedule: ClassVar[BlobSchedule]

    @property
    def blob_base_fee(self) -> int:
        return self.blob_schedule.base_fee(self.execution_context.excess_blob_gas)


class OsakaState(BlobFeeState, PragueState):
    computation_class = OsakaComputation
    blob_schedule = OSAKA_BLOBS

    def validate_transaction(self, transaction) -> None:
        violation = osaka_tx_violation(transaction)
        if violation:
            raise ValidationError(violation[1])
        super().validate_transaction(transaction)


class BPO1State(OsakaState):
    blob_schedule = BPO1_BLOBS


class BPO2State(OsakaState):
    blob_schedule = BPO2_BLOBS


# ------------------------------------------------------------------------ VMs


class BlobScheduledVM:
    """VM mixin: excess blob gas, blob base fee and the block's blob limit from the
    class's ``blob_schedule`` (parexec.block checks headers and blocks with them)."""

    blob_schedule: ClassVar[BlobSchedule]
    blob_reserve_price: ClassVar[bool] = False  # EIP-7918, from Osaka on

    @classmethod
    def calc_excess_blob_gas(cls, parent_header) -> int:
        return excess_blob_gas(cls.blob_schedule, parent_header, cls.blob_reserve_price)

    @classmethod
    def blob_base_fee(cls, excess: int) -> int:
        return cls.blob_schedule.base_fee(excess)

    @classmethod
    def max_blob_gas_per_block(cls) -> int:
        return cls.blob_schedule.max_blob_gas

    @classmethod
    def create_header_from_parent(cls, parent_header, **header_params):
        header = super().create_header_from_parent(parent_header, **header_params)
        if parent_header is None:
            return header
        return header.copy(excess_blob_gas=cls.calc_excess_blob_gas(parent_header))

    def validate_block_blobs(self, block) -> None:
        """py-evm's own block import (parexec checks blobs in parexec.block)."""
        from eth._utils.db import get_block_header_by_hash

        parent = get_block_header_by_hash(block.header.parent_hash, self.chaindb)
        if block.header.excess_blob_gas != self.calc_excess_blob_gas(parent):
            raise ValidationError("Block excess blob gas was not updated correctly.")
        used = sum(get_total_blob_gas(tx) for tx in block.transactions)
        if used > self.max_blob_gas_per_block():
            raise ValidationError("Block exceeded maximum blob gas limit.")
        if block.header.blob_gas_used != used:
            raise ValidationError(f"Block blob gas used {block.header.blob_gas_used} != {used}")


class OsakaVM(BlobScheduledVM, PragueVM):
    """Osaka: Prague's blocks and transactions; the rules in this module's docstring."""

    fork = "osaka"
    _state_class = OsakaState
    blob_schedule = OSAKA_BLOBS
    blob_reserve_price = True
    # stateless transaction limits, for block validation (the State refuses them too)
    max_tx_gas = TX_GAS_LIMIT_CAP
    max_blobs_per_tx = MAX_BLOBS_PER_TX
    max_rlp_block_size = MAX_RLP_BLOCK_SIZE
    tx_violation = staticmethod(osaka_tx_violation)


class BPO1VM(OsakaVM):
    """BPO1: Osaka with more blobs (EIP-7892 blob-parameter-only fork)."""

    fork = "bpo1"
    _state_class = BPO1State
    blob_schedule = BPO1_BLOBS


class BPO2VM(OsakaVM):
    """BPO2: Osaka with more blobs again."""

    fork = "bpo2"
    _state_class = BPO2State
    blob_schedule = BPO2_BLOBS


# ------------------------------------------------- VMs with another schedule

# VM classes with_blob_schedule derives from, by name (also used to rebuild a
# derived class by name in a process that has not made it yet: see __getattr__).
_SCHEDULABLE = {vm.__name__: vm for vm in (CancunVM, PragueVM, OsakaVM, BPO1VM, BPO2VM)}
_DERIVED_NAME = re.compile(r"^(\w+?VM)_blobs_(\d+)_(\d+)_(\d+)(_State)?$")
_lock = threading.Lock()


def _derived_name(base: type, schedule: BlobSchedule) -> str:
    return f"{base.__name__}_blobs_{schedule.target}_{schedule.max}_{schedule.update_fraction}"


def _register(name: str, cls: type) -> type:
    """Make ``cls`` a module attribute so that pickle finds it by reference."""
    cls.__module__ = __name__
    cls.__qualname__ = name
    setattr(sys.modules[__name__], name, cls)
    return cls


def _derive(base: type, schedule: BlobSchedule, name: str) -> type:
    state_base = base.get_state_class()
    state_mixins = () if issubclass(state_base, BlobFeeState) else (BlobFeeState,)
    state = type(f"{name}_State", (*state_mixins, state_base), {"blob_schedule": schedule})
    vm_mixins = () if issubclass(base, BlobScheduledVM) else (BlobScheduledVM,)
    vm = type(name, (*vm_mixins, base), {
        "blob_schedule": schedule, "_state_class": state, "_blob_base": base,
        "__doc__": f"{base.__name__} with blob schedule {schedule} (a fixture's config).",
    })
    _register(f"{name}_State", state)
    return _register(name, vm)


def with_blob_schedule(vm_class: type, schedule: BlobSchedule) -> type:
    """``vm_class`` running with ``schedule`` instead of its own blob schedule.

    The class itself when the schedule is its own; otherwise one cached subclass
    per (fork, schedule), a module attribute, so pickling it (to parexec's worker
    processes) goes by reference and gives back the same class. Other wrappers
    (with_precompiles) go on top of the result, not under it.
    """
    base = getattr(vm_class, "_blob_base", vm_class)
    if base.__name__ not in _SCHEDULABLE or _SCHEDULABLE[base.__name__] is not base:
        raise ValueError(
            f"{vm_class.__name__}: only {', '.join(_SCHEDULABLE)} (or a class made by "
            "with_blob_schedule) take a blob schedule; apply it before other wrappers "
            "such as with_precompiles"
        )
    if blob_schedule_of(base) == schedule:
        return base
    name = _derived_name(base, schedule)
    with _lock:
        existing = globals().get(name)
        return existing if existing is not None else _derive(base, schedule, name)


def __getattr__(name: str):
    """A derived class that another process made (and pickled) is rebuilt here."""
    m = _DERIVED_NAME.match(name)
    if m is None or m.group(1) not in _SCHEDULABLE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    schedule = BlobSchedule(int(m.group(2)), int(m.group(3)), int(m.group(4)))
    vm = with_blob_schedule(_SCHEDULABLE[m.group(1)], schedule)
    return vm.get_state_class() if m.group(5) else vm
