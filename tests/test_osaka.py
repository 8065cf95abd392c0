"""Osaka and the BPO forks (parexec.evm.osaka): opcode, precompiles and gas on py-evm
computations, blob schedules, fork selection, pickling, and a differential test of
generated blocks against the execution specification (tests/spec_oracle.py)."""

from __future__ import annotations

import hashlib
import pickle
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature
from eth.constants import BLANK_ROOT_HASH
from eth.db.atomic import AtomicDB
from eth.vm.forks import CancunVM, ParisVM, PragueVM, ShanghaiVM
from eth.vm.message import Message
from eth_utils import ValidationError

from evm_helpers import BASE_FEE, addr, address_of, asm, key, raw, sign_tx
from parexec.evm.precompiles import with_precompiles as native
from parexec.block.env import AncestorHashes, BlockEnv
from parexec.evm.osaka import (
    BPO1_BLOBS,
    BPO1VM,
    BPO2_BLOBS,
    BPO2VM,
    CANCUN_BLOBS,
    MAX_RLP_BLOCK_SIZE,
    OSAKA_BLOBS,
    P256_N,
    P256_P,
    P256VERIFY_ADDRESS,
    PRAGUE_BLOBS,
    TX_GAS_LIMIT_CAP,
    BlobSchedule,
    OsakaVM,
    blob_schedule_of,
    excess_blob_gas,
    expected_excess_blob_gas,
    max_blob_gas_per_block,
    modexp_gas,
    with_blob_schedule,
)
from parexec.evm.pyevm_objects import header_class
from parexec.forks import UnsupportedFork, vm_for_mainnet_block, vm_for_network
from parexec.model import Block, BlockRejected
from parexec.state.memory import MemoryState
from parexec.state.overlay import OverlayState
from parexec.strategies.serial import SerialStrategy

CLZ, BLOBBASEFEE, KECCAK256, RETURNDATASIZE, RETURNDATACOPY = (
    raw(bytes([op])) for op in (0x1E, 0x4A, 0x20, 0x3D, 0x3E)
)
MODEXP = addr(5)
COINBASE = addr(0xC0FFEE)
TARGET = addr(0x1234)
SENDER_KEY = key(0xA11CE)
SENDER = address_of(SENDER_KEY)
GAS_LIMIT = 30_000_000
TIMESTAMP = 1_800_000_000


# ------------------------------------------------------------------ helpers


def make_osaka_header(vm_class, excess: int = 0, number: int = 1, base_fee: int = BASE_FEE):
    return header_class(vm_class)(
        coinbase=COINBASE, block_number=number, gas_limit=GAS_LIMIT, timestamp=TIMESTAMP,
        difficulty=0, base_fee_per_gas=base_fee, parent_beacon_block_root=b"\0" * 32,
        excess_blob_gas=excess,
    )


def env_for(vm_class, excess: int = 0) -> BlockEnv:
    block = Block(make_osaka_header(vm_class, excess), [], vm_class, AncestorHashes(1, {}))
    return BlockEnv.for_block(block)


def run_call(vm_class, to: bytes, data: bytes = b"", code: bytes = b"", gas: int = 1_000_000, excess: int = 0):
    """One message to ``to`` (a precompile, or ``code`` put there) on a py-evm State."""
    state = vm_class.get_state_class()(AtomicDB(), env_for(vm_class, excess).context, BLANK_ROOT_HASH)
    if code:
        state.set_code(to, code)
    message = Message(gas=gas, to=to, sender=SENDER, value=0, data=data, code=code, code_address=to)
    tx_context = state.get_transaction_context_class()(gas_price=1, origin=SENDER)
    return state.computation_class.apply_computation(state, message, tx_context)


def returns_top() -> bytes:
    """Code tail: return the top of the stack as one word."""
    return asm("PUSH0", "MSTORE", 32, "PUSH0", "RETURN")


# P-256: a deterministic signature (fixed key and nonce), made without cryptography's signer.
P256_KEY = 0xC0FFEE_0DDBA11_5EED
P256_NONCE = 0x1234_5678_9ABC_DEF0_0FED_CBA9
DIGEST = hashlib.sha256(b"parexec osaka").digest()


def _point(scalar: int) -> tuple[int, int]:
    numbers = ec.derive_private_key(scalar, ec.SECP256R1()).public_key().public_numbers()
    return numbers.x, numbers.y


def p256_signature(digest: bytes = DIGEST) -> tuple[int, int, int, int]:
    r = _point(P256_NONCE)[0] % P256_N
    s = pow(P256_NONCE, -1, P256_N) * (int.from_bytes(digest, "big") + r * P256_KEY) % P256_N
    return (r, s, *_point(P256_KEY))


def p256_input(digest=DIGEST, r=None, s=None, x=None, y=None) -> bytes:
    r0, s0, x0, y0 = p256_signature()
    words = [r0 if r is None else r, s0 if s is None else s, x0 if x is None else x, y0 if y is None else y]
    return digest + b"".join(w.to_bytes(32, "big") for w in words)


def modexp_input(b_len: int, e_len: int, m_len: int, body: bytes = b"") -> bytes:
    return b"".join(n.to_bytes(32, "big") for n in (b_len, e_len, m_len)) + body


def word(n: int) -> bytes:
    return n.to_bytes(32, "big")


# ---------------------------------------------------------------- EIP-7939 CLZ

CLZ_VALUES = [0, 1, 2, 3, 0x7F, 0xFF, 2**64 - 1, 2**128, 2**255 - 1, 2**255, 2**256 - 1]


@pytest.mark.parametrize("value", CLZ_VALUES)
def test_clz_counts_leading_zero_bits(value):
    c = run_call(OsakaVM, TARGET, code=asm(raw(push32(value)), CLZ) + returns_top())
    assert not c.is_error
    assert int.from_bytes(c.output, "big") == 256 - value.bit_length()


def push32(value: int) -> bytes:
    return b"\x7f" + word(value)


def test_clz_costs_five_gas():
    c = run_call(OsakaVM, TARGET, code=asm(raw(push32(7)), CLZ), gas=8)
    assert not c.is_error and c.get_gas_used() == 3 + 5
    assert run_call(OsakaVM, TARGET, code=asm(raw(push32(7)), CLZ), gas=7).is_error


def test_clz_stack_underflow_and_prague_has_none():
    under = run_call(OsakaVM, TARGET, code=asm(CLZ), gas=10_000)
    assert under.is_error and under.get_gas_used() == 10_000
    prague = run_call(PragueVM, TARGET, code=asm(1, CLZ), gas=10_000)
    assert prague.is_error and "0x1e" in repr(prague.error).lower()


# ---------------------------------------------------------- EIP-7951 P256VERIFY


def test_p256_signature_is_valid_for_cryptography():
    r, s, x, y = p256_signature()
    key_ = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    key_.verify(encode_dss_signature(r, s), DIGEST, ec.ECDSA(Prehashed(hashes.SHA256())))


def test_p256verify_valid_signature_returns_one():
    c = run_call(OsakaVM, P256VERIFY_ADDRESS, p256_input())
    assert not c.is_error and c.output == word(1) and c.get_gas_used() == 6900
    r, s, _, _ = p256_signature()
    high_s = run_call(OsakaVM, P256VERIFY_ADDRESS, p256_input(s=P256_N - s))
    assert high_s.output == word(1)  # no low-s rule


def _bad_inputs() -> dict[str, bytes]:
    r, s, x, y = p256_signature()
    good = p256_input()
    return {
        "wrong digest": p256_input(digest=hashlib.sha256(b"other").digest()),
        "r = 0": p256_input(r=0), "s = 0": p256_input(s=0),
        "r = n": p256_input(r=P256_N), "s = n": p256_input(s=P256_N),
        "r = r + n (mod 2**256 too big)": p256_input(r=r + P256_N) if r + P256_N < 2**256 else p256_input(r=2**256 - 1),
        "qx = p": p256_input(x=P256_P), "qy = p": p256_input(y=P256_P),
        "qx = x + p": p256_input(x=x + P256_P) if x + P256_P < 2**256 else p256_input(x=2**256 - 1),
        "off the curve": p256_input(y=(y + 1) % P256_P),
        "infinity (0, 0)": p256_input(x=0, y=0),
        "159 bytes": good[:159], "161 bytes": good + b"\0", "empty": b"",
    }


@pytest.mark.parametrize("name", list(_bad_inputs()))
def test_p256verify_invalid_input_returns_nothing_and_costs_the_same(name):
    c = run_call(OsakaVM, P256VERIFY_ADDRESS, _bad_inputs()[name])
    assert not c.is_error and c.output == b"" and c.get_gas_used() == 6900


def test_p256verify_out_of_gas_and_warm_only_from_osaka():
    assert run_call(OsakaVM, P256VERIFY_ADDRESS, p256_input(), gas=6899).is_error
    osaka = OsakaVM.get_state_class()(AtomicDB(), env_for(OsakaVM).context, BLANK_ROOT_HASH)
    prague = PragueVM.get_state_class()(AtomicDB(), env_for(PragueVM).context, BLANK_ROOT_HASH)
    assert osaka.is_address_warm(P256VERIFY_ADDRESS) and not prague.is_address_warm(P256VERIFY_ADDRESS)


# ------------------------------------------------------ EIP-7823/7883 MODEXP


@pytest.mark.parametrize("lengths, head, gas", [
    ((0, 0, 0), 0, 500),  # the floor
    ((1, 1, 1), 3, 500),
    ((32, 32, 32), 2**256 - 1, 16 * 255),  # 32 bytes or less: 16 per iteration
    ((33, 1, 1), 3, 500),  # 5 words: 2 * 25 = 50
    ((64, 32, 64), 2**256 - 1, 2 * 8 * 8 * 255),
    ((1, 33, 1), 0, 16 * 16),  # below the floor: 500
    ((1, 40, 1), 1 << 255, 16 * (16 * 8 + 255)),
    ((1024, 1, 1024), 3, 2 * 128 * 128),
])
def test_modexp_gas(lengths, head, gas):
    assert modexp_gas(*lengths, head) == max(500, gas)


def test_modexp_results():
    cases = {
        modexp_input(1, 1, 1, bytes([2, 3, 7])): b"\x01",  # 8 % 7
        modexp_input(0, 0, 1, b"\x05"): b"\x01",  # 0 ** 0 % 5
        modexp_input(1, 1, 2, b"\x02\x03\x00\x00"): b"\x00\x00",  # modulus 0
        modexp_input(0, 0, 0): b"",
        b"": b"",
        modexp_input(1, 0, 2, b"\x09\x00"): b"\x00\x00",  # input ends early: zeros
    }
    for data, out in cases.items():
        c = run_call(OsakaVM, MODEXP, data)
        assert not c.is_error and c.output == out, data.hex()


@pytest.mark.parametrize("lengths", [(1025, 1, 1), (1, 1025, 1), (1, 1, 1025), (2**256 - 1, 0, 0)])
def test_modexp_length_above_1024_halts_and_burns_the_gas(lengths):
    c = run_call(OsakaVM, MODEXP, modexp_input(*lengths, b"\x01" * 8), gas=100_000)
    assert c.is_error and c.get_gas_used() == 100_000
    ok = run_call(OsakaVM, MODEXP, modexp_input(*(min(n, 1024) for n in lengths), b"\x01" * 8), gas=10**7)
    assert not ok.is_error


def test_modexp_prague_pricing_unchanged():
    c = run_call(PragueVM, MODEXP, modexp_input(1, 1, 1, bytes([2, 3, 7])))
    assert c.get_gas_used() == 200 and c.output == b"\x01"


# -------------------------------------------------- transaction limits, constants


def test_tx_gas_cap_and_blobs_per_tx():
    assert TX_GAS_LIMIT_CAP == 16_777_216 and OsakaVM.max_tx_gas == TX_GAS_LIMIT_CAP
    assert OsakaVM.max_blobs_per_tx == 6 and MAX_RLP_BLOCK_SIZE == 8_388_608
    at_cap = sign_tx(OsakaVM, SENDER_KEY, 0, TARGET, gas=TX_GAS_LIMIT_CAP)
    above = sign_tx(OsakaVM, SENDER_KEY, 0, TARGET, gas=TX_GAS_LIMIT_CAP + 1)
    assert OsakaVM.tx_violation(at_cap) is None
    assert OsakaVM.tx_violation(above)[0] == "GAS_LIMIT_EXCEEDS_MAXIMUM"
    assert OsakaVM.tx_violation(blob_tx(OsakaVM, 0, 7))[0] == "TYPE_3_TX_BLOB_COUNT_EXCEEDED"
    assert OsakaVM.tx_violation(blob_tx(OsakaVM, 0, 6)) is None
    state = OsakaVM.get_state_class()(AtomicDB(), env_for(OsakaVM).context, BLANK_ROOT_HASH)
    with pytest.raises(ValidationError, match="EIP-7825"):
        state.validate_transaction(above)


def blob_tx(vm_class, nonce: int, blobs: int, max_fee_per_blob_gas: int = 10**6):
    unsigned = vm_class.get_transaction_builder().new_unsigned_blob_transaction(
        chain_id=1, nonce=nonce, max_priority_fee_per_gas=2, max_fee_per_gas=100, gas=21_000,
        to=TARGET, value=0, data=b"", access_list=(), max_fee_per_blob_gas=max_fee_per_blob_gas,
        blob_versioned_hashes=[b"\x01" + bytes([i]) * 31 for i in range(blobs)],
    )
    return unsigned.as_signed_transaction(SENDER_KEY, chain_id=1)


# ------------------------------------------------------------- blob schedules


def test_blob_schedules():
    assert OsakaVM.blob_schedule == OSAKA_BLOBS == PRAGUE_BLOBS == BlobSchedule(6, 9, 5_007_716)
    assert BPO1VM.blob_schedule == BPO1_BLOBS == BlobSchedule(10, 15, 8_346_193)
    assert BPO2VM.blob_schedule == BPO2_BLOBS == BlobSchedule(14, 21, 11_684_671)
    assert blob_schedule_of(CancunVM) == CANCUN_BLOBS and blob_schedule_of(PragueVM) == PRAGUE_BLOBS
    assert blob_schedule_of(ShanghaiVM) is None and max_blob_gas_per_block(ShanghaiVM) == 0
    assert max_blob_gas_per_block(BPO2VM) == 21 * 131072
    cfg = {"target": "0x0a", "max": "0x0f", "baseFeeUpdateFraction": "0x7f5a51"}
    assert BlobSchedule.from_config(cfg) == BPO1_BLOBS


class _Parent:
    def __init__(self, excess, used, base_fee):
        self.excess_blob_gas, self.blob_gas_used, self.base_fee_per_gas = excess, used, base_fee


def test_excess_blob_gas_reserve_price():
    target = OSAKA_BLOBS.target_blob_gas
    below = _Parent(0, target - 1, 10**9)
    assert OsakaVM.calc_excess_blob_gas(below) == 0
    # blobs cheaper than 2**13 execution gas: the excess grows by used * (max - target) / max
    cheap = _Parent(0, 9 * 131072, 10**9)
    assert OsakaVM.calc_excess_blob_gas(cheap) == 9 * 131072 * 3 // 9
    assert expected_excess_blob_gas(PragueVM, cheap) == 9 * 131072 - target  # no reserve price
    # blobs dearer than that: EIP-4844's rule
    dear = _Parent(100_000_000, 9 * 131072, 1)
    assert OsakaVM.calc_excess_blob_gas(dear) == 100_000_000 + 9 * 131072 - target
    assert BPO1VM.calc_excess_blob_gas(_Parent(0, 15 * 131072, 1)) == 5 * 131072
    assert excess_blob_gas(BPO1_BLOBS, object(), True) == 0  # a parent before Cancun
    header = OsakaVM.create_header_from_parent(
        make_osaka_header(OsakaVM).copy(blob_gas_used=9 * 131072, base_fee_per_gas=10**9),
        timestamp=TIMESTAMP + 12, gas_limit=GAS_LIMIT,
    )
    assert header.excess_blob_gas == 9 * 131072 * 3 // 9


def test_blob_base_fee_follows_the_vm_class_schedule():
    excess = 30_000_000
    code = asm(BLOBBASEFEE) + returns_top()
    fees = {}
    for vm in (OsakaVM, BPO1VM, BPO2VM, with_blob_schedule(OsakaVM, BlobSchedule(6, 9, 1_000_000)),
               with_blob_schedule(CancunVM, BlobSchedule(3, 6, 2_000_000))):
        fee = int.from_bytes(run_call(vm, TARGET, code=code, excess=excess).output, "big")
        assert fee == blob_schedule_of(vm).base_fee(excess) == vm.blob_base_fee(excess)
        fees[vm] = fee
    assert len(set(fees.values())) == len(fees)


def test_with_blob_schedule_caches_and_pickles_by_reference():
    assert with_blob_schedule(PragueVM, PRAGUE_BLOBS) is PragueVM
    assert with_blob_schedule(BPO1VM, BPO1_BLOBS) is BPO1VM
    custom = BlobSchedule(4, 8, 4_000_000)
    for vm in (CancunVM, PragueVM, OsakaVM, BPO1VM, BPO2VM):
        derived = with_blob_schedule(vm, custom)
        assert derived is with_blob_schedule(vm, custom) and issubclass(derived, vm)
        assert derived.fork == vm.fork and blob_schedule_of(derived) == custom
        assert derived.get_state_class().blob_schedule == custom
        assert pickle.loads(pickle.dumps(derived)) is derived
        assert with_blob_schedule(derived, blob_schedule_of(vm)) is vm
    with pytest.raises(ValueError):
        with_blob_schedule(ShanghaiVM, custom)


def test_derived_class_unpickles_in_a_fresh_process():
    """A worker started before the class was made rebuilds it by name."""
    blob = pickle.dumps(with_blob_schedule(BPO1VM, BlobSchedule(11, 16, 9_000_001)))
    code = ("import pickle, sys; vm = pickle.loads(sys.stdin.buffer.read()); "
            "print(vm.__name__, vm.blob_schedule.update_fraction, vm.get_state_class().blob_schedule.max)")
    out = subprocess.run([sys.executable, "-c", code], input=blob, capture_output=True, check=True)
    assert out.stdout.split() == [b"BPO1VM_blobs_11_16_9000001", b"9000001", b"16"]


# -------------------------------------------------------------- fork selection


def test_network_names():
    assert vm_for_network("Osaka", 1, 0) is native(OsakaVM)
    assert vm_for_network("PragueToOsakaAtTime15k", 1, 14_999) is native(PragueVM)
    assert vm_for_network("PragueToOsakaAtTime15k", 1, 15_000) is native(OsakaVM)
    assert vm_for_network("OsakaToBPO1AtTime15k", 1, 14_999) is native(OsakaVM)
    assert vm_for_network("OsakaToBPO1AtTime15k", 1, 15_000) is native(BPO1VM)
    assert vm_for_network("BPO1ToBPO2AtTime15k", 1, 15_000) is native(BPO2VM)
    with pytest.raises(UnsupportedFork):
        vm_for_network("BPO2ToAmsterdamAtTime15k", 1, 0)


def test_network_with_fixture_blob_schedule():
    config = {"Prague": {"target": "0x06", "max": "0x09", "baseFeeUpdateFraction": "0x4c6964"},
              "BPO1": {"target": "0x0b", "max": "0x10", "baseFeeUpdateFraction": "0x7f5a51"}}
    assert vm_for_network("PragueToOsakaAtTime15k", 1, 1, config) is native(PragueVM)  # the built-in values
    assert vm_for_network("Osaka", 1, 1, config) is native(OsakaVM)  # no entry: its own
    bpo1 = vm_for_network("OsakaToBPO1AtTime15k", 1, 15_000, config)
    assert issubclass(bpo1, BPO1VM) and bpo1.blob_schedule == BlobSchedule(11, 16, 8_346_193)


@pytest.mark.parametrize("timestamp, vm", [
    (1_746_612_310, CancunVM), (1_746_612_311, PragueVM),
    (1_764_798_550, PragueVM), (1_764_798_551, OsakaVM),
    (1_765_290_070, OsakaVM), (1_765_290_071, BPO1VM),
    (1_767_747_670, BPO1VM), (1_767_747_671, BPO2VM), (2_000_000_000, BPO2VM),
])
def test_mainnet_by_timestamp(timestamp, vm):
    assert vm_for_mainnet_block(24_000_000, timestamp=timestamp) is native(vm)


def test_mainnet_timestamp_only_after_the_merge():
    assert vm_for_mainnet_block(15_537_394, timestamp=1_663_224_179) is native(ParisVM)
    assert vm_for_mainnet_block(17_034_870, timestamp=1_681_338_455) is native(ShanghaiVM)
    assert vm_for_mainnet_block(1, timestamp=2_000_000_000).fork == "frontier"
    assert vm_for_mainnet_block(22_546_209) is native(PragueVM)  # no timestamp: py-evm's heights


# ----------------------------------------------- differential: the spec's Osaka


def probe_code() -> bytes:
    """Calls calldata[32:64] with gas calldata[64:96] and input calldata[96:], and stores
    at 8 * calldata[0:32] + (0 success, 1 gas the call took, 2 return size, 3 its hash)."""
    return asm(
        96, "CALLDATASIZE", "SUB", "DUP1", 96, "PUSH0", "CALLDATACOPY",
        "GAS", "PUSH0", "PUSH0", "DUP4", "PUSH0", "PUSH0",
        32, "CALLDATALOAD", 64, "CALLDATALOAD", "CALL",
        "GAS", "SWAP1", "SWAP2", "SUB",  # len, success, gas taken
        8, "PUSH0", "CALLDATALOAD", "MUL",
        "DUP2", "DUP2", 1, "ADD", "SSTORE",
        "DUP3", "DUP2", "SSTORE",
        RETURNDATASIZE, "DUP2", 2, "ADD", "SSTORE",
        RETURNDATASIZE, "PUSH0", "PUSH0", RETURNDATACOPY,
        RETURNDATASIZE, "PUSH0", KECCAK256, "DUP2", 3, "ADD", "SSTORE",
        "STOP",
    )


PROBE, CLZ_PROBE, CLZ_EMPTY, BLOBFEE_PROBE = addr(0x1000), addr(0x2000), addr(0x3000), addr(0x4000)
CONTRACTS = {
    PROBE: probe_code(),
    CLZ_PROBE: asm(32, "CALLDATALOAD", CLZ, "PUSH0", "CALLDATALOAD", "SSTORE", "STOP"),
    CLZ_EMPTY: asm(CLZ),
    BLOBFEE_PROBE: asm(BLOBBASEFEE, "PUSH0", "SSTORE", "STOP"),
}


def precompile_calls() -> list[tuple[bytes, int, bytes]]:
    """(precompile, call gas, input): P256VERIFY and MODEXP edge cases."""
    calls = [(P256VERIFY_ADDRESS, 100_000, p256_input())]
    r, s, _, _ = p256_signature()
    calls.append((P256VERIFY_ADDRESS, 100_000, p256_input(s=P256_N - s)))
    calls += [(P256VERIFY_ADDRESS, 100_000, data) for data in _bad_inputs().values()]
    calls += [(P256VERIFY_ADDRESS, 6900, p256_input()), (P256VERIFY_ADDRESS, 6899, p256_input())]
    big = bytes(range(256)) * 4
    ones = b"\xff" * 1024
    modexp = [
        b"", modexp_input(0, 0, 0), modexp_input(0, 0, 1, b"\x05"), modexp_input(1, 1, 1, bytes([2, 3, 7])),
        modexp_input(1, 1, 2, b"\x02\x03\x00\x00"), modexp_input(1, 1, 1, b"\x02\x03\x01"),
        modexp_input(32, 32, 32, big[:32] + ones[:32] + big[32:64]),
        modexp_input(64, 32, 64, big[:64] + ones[:32] + big[64:128]),
        modexp_input(1024, 1, 1024, big + b"\x03" + ones),
        modexp_input(1, 1024, 1, b"\x07" + ones + b"\x0d"),
        modexp_input(1, 33, 1, b"\x07" + b"\0" * 33 + b"\x0d"),
        modexp_input(1, 40, 1, b"\x07" + b"\x80" + b"\0" * 39 + b"\x0d"),
        modexp_input(32, 32, 32, big[:40]),  # ends early
        modexp_input(1025, 1, 1, b"\x01" * 8), modexp_input(1, 1025, 1, b"\x01" * 8),
        modexp_input(1, 1, 1025, b"\x01" * 8), modexp_input(2**256 - 1, 0, 0),
        modexp_input(1024, 1024, 1024),  # in bounds, too expensive: out of gas
    ]
    calls += [(MODEXP, 2_000_000, data) for data in modexp]
    # gas at the boundary: 500 (the floor) and 2 * 8 * 8 * 255 = 32640
    exact = modexp_input(64, 32, 64, big[:64] + ones[:32] + big[64:128])
    calls += [(MODEXP, 500, b""), (MODEXP, 499, b""), (MODEXP, 32640, exact), (MODEXP, 32639, exact)]
    return calls


def differential_blocks() -> list[tuple[type, list, int]]:
    """(VM, transactions, excess blob gas) for each block; a block with an invalid
    transaction holds only that one."""
    nonce = iter(range(10**6))

    def tx(to, data=b"", gas=3_000_000):
        return sign_tx(OsakaVM, SENDER_KEY, next(nonce), to, data=data, gas=gas)

    txs = [tx(CLZ_PROBE, word(i) + word(v), 100_000) for i, v in enumerate(CLZ_VALUES)]
    txs.append(tx(CLZ_EMPTY, gas=50_000))
    txs += [tx(PROBE, word(i) + word(int.from_bytes(to, "big")) + word(g) + data)
            for i, (to, g, data) in enumerate(precompile_calls())]
    txs += [tx(P256VERIFY_ADDRESS, p256_input(), 50_000), tx(P256VERIFY_ADDRESS, b"\x01", 50_000),
            tx(P256VERIFY_ADDRESS, p256_input(), intrinsic_gas(p256_input()) + 6899),
            tx(MODEXP, modexp_input(1025, 1, 1, b"\x01" * 3), 100_000),
            tx(MODEXP, modexp_input(1, 1, 1, bytes([3, 5, 11])), 100_000)]
    blocks = [(OsakaVM, txs, 0)]
    blocks += [(OsakaVM, [sign_tx(OsakaVM, SENDER_KEY, 0, TARGET, gas=g)], 0)
               for g in (TX_GAS_LIMIT_CAP, TX_GAS_LIMIT_CAP + 1)]
    blocks += [(OsakaVM, [blob_tx(OsakaVM, 0, n)], 0) for n in (6, 7)]
    blocks += [(vm, [sign_tx(vm, SENDER_KEY, 0, BLOBFEE_PROBE, gas=100_000),
                     blob_tx(vm, 1, 2, max_fee_per_blob_gas=10**4)], 30_000_000)
               for vm in (OsakaVM, BPO1VM, BPO2VM)]
    return blocks


def intrinsic_gas(data: bytes) -> int:
    """Of a call transaction without access list; above the EIP-7623 floor for these inputs."""
    zeros = data.count(0)
    gas = 21_000 + 4 * zeros + 16 * (len(data) - zeros)
    assert gas + 6899 >= 21_000 + 10 * (zeros + 4 * (len(data) - zeros))
    return gas


def pre_state() -> MemoryState:
    pre = MemoryState(complete=True)
    pre.set_account(SENDER, balance=10**24)
    for address, code in CONTRACTS.items():
        pre.set_account(address, code=code, nonce=1)
    return pre


def run_ours(vm_class, txs, excess: int) -> dict:
    pre = pre_state()
    block = Block(make_osaka_header(vm_class, excess), list(txs), vm_class, AncestorHashes(1, {}))
    overlay = OverlayState(pre)
    try:
        results, _ = SerialStrategy().run_transactions(BlockEnv.for_block(block), block, overlay)
    except BlockRejected as exc:
        return {"invalid": {"tx": exc.tx_index, "reason": str(exc)}}
    post = pre.copy()
    post.apply(overlay.diff(), overlay.new_code())
    return {
        "invalid": None,
        "receipts": [{"gas_used": r.gas_used, "success": r.success} for r in results],
        "post": dump_state(post),
    }


def dump_state(state: MemoryState) -> dict:
    return {
        "0x" + a.hex(): {
            "nonce": hex(acc.nonce), "balance": hex(acc.balance),
            "code": "0x" + state.codes[acc.code_hash].hex(),
            "storage": {hex(k): hex(v) for k, v in state.slots.get(a, {}).items() if v},
        }
        for a, acc in state.accounts.items()
    }


def spec_block(vm_class, txs, excess: int) -> dict:
    dump = dump_state(pre_state())
    return {
        "fork": vm_class.fork, "pre": dump, "txs": ["0x" + t.encode().hex() for t in txs],
        "env": {"coinbase": "0x" + COINBASE.hex(), "number": hex(1), "timestamp": hex(TIMESTAMP),
                "gas_limit": hex(GAS_LIMIT), "base_fee": hex(BASE_FEE), "excess_blob_gas": hex(excess)},
    }


def test_differential_against_the_execution_specification():
    blocks = differential_blocks()
    theirs = compare_with_spec(blocks)
    # the cases mean something: valid, invalid, failed and successful transactions
    assert [b["invalid"] is None for b in theirs] == [True, True, False, True, False, True, True, True]
    assert {r["success"] for r in theirs[0]["receipts"]} == {True, False}


def test_bpo1_block_takes_more_blobs_than_osaka():
    compare_with_spec([(BPO1VM, [blob_tx(BPO1VM, 0, 6), blob_tx(BPO1VM, 1, 6)], 0)])


def compare_with_spec(blocks) -> list[dict]:
    """Run ``blocks`` here and in the spec; every verdict, receipt and post-state agrees."""
    from spec_oracle import run_blocks

    theirs = run_blocks([spec_block(*b) for b in blocks])
    for n, ((vm, txs, excess), spec) in enumerate(zip(blocks, theirs)):
        ours = run_ours(vm, txs, excess)
        where = f"block {n} ({vm.__name__}, {len(txs)} txs)"
        if spec["invalid"] or ours["invalid"]:
            assert ours["invalid"] and spec["invalid"], f"{where}: ours {ours['invalid']}, spec {spec['invalid']}"
            assert ours["invalid"]["tx"] == spec["invalid"]["tx"], where
            continue
        for i, (a, b) in enumerate(zip(ours["receipts"], spec["receipts"])):
            assert a == b, f"{where}, tx {i}: ours {a}, spec {b}"
        assert len(ours["receipts"]) == len(spec["receipts"]), where
        assert ours["post"] == spec["post"], f"{where}: post-states differ: {_state_diff(ours['post'], spec['post'])}"
    return theirs


def _state_diff(ours: dict, spec: dict) -> list:
    out = []
    for address in sorted(set(ours) | set(spec)):
        if ours.get(address) != spec.get(address):
            out.append((address, ours.get(address), spec.get(address)))
    return out[:5]
