"""Native BLS12-381 / BN254 precompiles against py-evm's pure-Python ones.

Each input runs through both; output bytes, gas charged and the exception (if
any) must be identical. Inputs come from the shared fixtures and from points
built here, valid and invalid. The pure-Python pairings take ~0.5 s each, so
only a few valid pairings are compared.
"""

from __future__ import annotations

import json
import pickle
import random

import eth.precompiles as pyevm
import pytest
from eth.vm.forks import ByzantiumVM, CancunVM, FrontierVM, IstanbulVM, PragueVM
from eth.vm.forks.prague.computation import PragueComputation
from eth.vm.forks.prague.state import PragueState
from eth.vm.message import Message
from py_ecc import optimized_bls12_381 as bls
from py_ecc import optimized_bn128 as bn
from py_ecc.bls.hash_to_curve import map_to_curve_G1, map_to_curve_G2

import parexec.fixtures.blockchain_tests as blockchain_tests
from conftest import DATA, ETHEREUM_TESTS, require_data
from parexec.evm import precompiles as native
from parexec.evm.precompiles import with_precompiles
from parexec.strategies import get_strategy
from parexec.verifier import run_cases

EEST = DATA / "eest"
BLS_DIR = "blockchain_tests/prague/eip2537_bls_12_381_precompiles"
BLS_P = bls.field_modulus
BN_P = bn.field_modulus

# precompile address -> (py-evm's function, ours)
PAIRS = {
    0x06: (pyevm.ecadd, native.ecadd),
    0x07: (pyevm.ecmul, native.ecmul),
    0x08: (pyevm.ecpairing, native.ecpairing),
    0x0B: (pyevm.bls12_g1_add, native.bls12_g1_add),
    0x0C: (pyevm.bls12_g1_msm, native.bls12_g1_msm),
    0x0D: (pyevm.bls12_g2_add, native.bls12_g2_add),
    0x0E: (pyevm.bls12_g2_msm, native.bls12_g2_msm),
    0x0F: (pyevm.bls12_pairing_check, native.bls12_pairing_check),
    0x10: (pyevm.bls12_map_fp_to_g1, native.bls12_map_fp_to_g1),
    0x11: (pyevm.bls12_map_fp2_to_g2, native.bls12_map_fp2_to_g2),
}


class FakeComputation:
    """What a precompile touches: a real Message, a gas counter, the output."""

    def __init__(self, address: int, data: bytes):
        self.msg = Message(
            gas=10**12, to=address.to_bytes(20, "big"), sender=b"\x11" * 20,
            value=0, data=memoryview(data), code=b"",
        )
        self.gas = 0
        self.output = b""

    def consume_gas(self, amount: int, reason: str = "") -> None:
        self.gas += amount


def outcome(fn, address: int, data: bytes) -> tuple:
    c = FakeComputation(address, data)
    try:
        fn(c)
    except Exception as exc:  # noqa: BLE001 - the type itself is compared
        return ("raised", type(exc), c.gas)
    return ("ok", c.output, c.gas)


def assert_same(address: int, data: bytes) -> tuple:
    pure, fast = PAIRS[address]
    expected = outcome(pure, address, data)
    assert outcome(fast, address, data) == expected, f"0x{address:02x} on {data.hex()}"
    return expected


# -- encodings -- #


def fp64(v: int) -> bytes:
    return v.to_bytes(64, "big")


def bls_g1(pt) -> bytes:
    x, y = bls.normalize(pt)
    return fp64(int(x)) + fp64(int(y))


def bls_g2(pt) -> bytes:
    x, y = bls.normalize(pt)
    return b"".join(fp64(int(c)) for c in (*x.coeffs, *y.coeffs))


def bn_g1(pt) -> bytes:
    x, y = bn.normalize(pt)
    return int(x).to_bytes(32, "big") + int(y).to_bytes(32, "big")


def bn_g2(pt) -> bytes:
    """EIP-197 order: imaginary part first."""
    x, y = bn.normalize(pt)
    return b"".join(int(c).to_bytes(32, "big") for c in (x.coeffs[1], x.coeffs[0], y.coeffs[1], y.coeffs[0]))


def word(v: int) -> bytes:
    return v.to_bytes(32, "big")


RNG = random.Random(2537)
BLS_ZERO_G1, BLS_ZERO_G2 = bytes(128), bytes(256)
P1 = bls.multiply(bls.G1, RNG.randrange(1, 2**64))
Q1 = bls.multiply(bls.G1, RNG.randrange(1, 2**64))
P2 = bls.multiply(bls.G2, RNG.randrange(1, 2**64))
Q2 = bls.multiply(bls.G2, RNG.randrange(1, 2**64))
# On the curve, outside the r-torsion subgroup (the SWU map before cofactor clearing).
G1_OUTSIDE = bls_g1(map_to_curve_G1(bls.FQ(5)))
G2_OUTSIDE = bls_g2(map_to_curve_G2(bls.FQ2([5, 7])))
G1_ZERO_X = fp64(0) + fp64(2)  # (0, 2) is on y^2 = x^3 + 4, outside the subgroup
G1_OFF_CURVE = fp64(1) + fp64(1)
G2_OFF_CURVE = fp64(1) * 4
G1_X_IS_P = fp64(BLS_P) + bls_g1(P1)[64:]
G1_HIGH_BYTE = b"\x01" + bls_g1(P1)[1:]  # a bit above the 48 bytes set


def bls_cases() -> list[tuple[int, bytes]]:
    g1, q1, g2, q2 = bls_g1(P1), bls_g1(Q1), bls_g2(P2), bls_g2(Q2)
    neg_g1, neg_g2 = bls_g1(bls.neg(P1)), bls_g2(bls.neg(P2))
    cases = [
        # G1ADD
        (0x0B, g1 + q1), (0x0B, g1 + g1), (0x0B, g1 + neg_g1), (0x0B, g1 + BLS_ZERO_G1),
        (0x0B, BLS_ZERO_G1 * 2), (0x0B, G1_OUTSIDE + g1), (0x0B, G1_ZERO_X + G1_ZERO_X),
        (0x0B, G1_OFF_CURVE + g1), (0x0B, g1 + G1_X_IS_P), (0x0B, G1_HIGH_BYTE + g1),
        (0x0B, b""), (0x0B, g1 + q1[:-1]), (0x0B, g1 + q1 + b"\x00"),
        # G2ADD
        (0x0D, g2 + q2), (0x0D, g2 + g2), (0x0D, g2 + neg_g2), (0x0D, BLS_ZERO_G2 + g2),
        (0x0D, BLS_ZERO_G2 * 2), (0x0D, G2_OUTSIDE + g2), (0x0D, G2_OFF_CURVE + g2),
        (0x0D, g2 + fp64(BLS_P) + g2[64:]), (0x0D, b""), (0x0D, g2 + q2[:-1]),
        # G1MSM
        (0x0C, g1 + word(RNG.getrandbits(256))), (0x0C, g1 + word(0)), (0x0C, g1 + word(bls.curve_order)),
        (0x0C, g1 + word(2**256 - 1) + q1 + word(3)), (0x0C, BLS_ZERO_G1 + word(5)),
        (0x0C, g1 + word(7) + neg_g1 + word(7)), (0x0C, (q1 + word(RNG.getrandbits(256))) * 3),
        (0x0C, G1_OUTSIDE + word(1)), (0x0C, G1_ZERO_X + word(1)), (0x0C, G1_OFF_CURVE + word(1)),
        (0x0C, g1 + word(1) + G1_X_IS_P + word(1)),
        (0x0C, b""), (0x0C, g1 + word(1)[:-1]), (0x0C, g1 + word(1) + b"\x00"),
        # G2MSM
        (0x0E, g2 + word(RNG.getrandbits(256))), (0x0E, g2 + word(0)), (0x0E, BLS_ZERO_G2 + word(9)),
        (0x0E, g2 + word(3) + q2 + word(bls.curve_order + 1)), (0x0E, G2_OUTSIDE + word(1)),
        (0x0E, G2_OFF_CURVE + word(1)), (0x0E, b""), (0x0E, g2 + word(1) + b"\x00"),
        # PAIRING_CHECK: two valid pairings, the rest fail or are cheap
        (0x0F, g1 + g2), (0x0F, BLS_ZERO_G1 + g2), (0x0F, g1 + BLS_ZERO_G2),
        (0x0F, G1_OUTSIDE + g2), (0x0F, g1 + G2_OUTSIDE), (0x0F, G1_OFF_CURVE + g2),
        (0x0F, g1 + G2_OFF_CURVE), (0x0F, G1_X_IS_P + g2), (0x0F, b""), (0x0F, (g1 + g2)[:-1]),
        (0x0F, g1 + g2 + b"\x00"),
        # MAP_FP_TO_G1
        (0x10, fp64(0)), (0x10, fp64(1)), (0x10, fp64(BLS_P - 1)), (0x10, fp64(RNG.randrange(BLS_P))),
        (0x10, fp64(BLS_P)), (0x10, b"\xff" * 64), (0x10, b""), (0x10, fp64(1)[1:]), (0x10, fp64(1) + b"\x00"),
        # MAP_FP2_TO_G2
        (0x11, fp64(0) * 2), (0x11, fp64(1) + fp64(0)), (0x11, fp64(RNG.randrange(BLS_P)) + fp64(RNG.randrange(BLS_P))),
        (0x11, fp64(BLS_P - 1) * 2), (0x11, fp64(1) + fp64(BLS_P)), (0x11, fp64(BLS_P) + fp64(1)),
        (0x11, b""), (0x11, fp64(1) * 2 + b"\x00"),
    ]
    return cases


def fq2_sqrt(a: bn.FQ2) -> bn.FQ2 | None:
    """A square root in Fp2 for p = 3 mod 4 (to build points of the twist)."""
    p = BN_P
    a1 = a ** ((p - 3) // 4)
    alpha = a1 * a1 * a
    x0 = a1 * a
    if alpha == bn.FQ2([p - 1, 0]):
        root = bn.FQ2([0, 1]) * x0
    else:
        root = (bn.FQ2.one() + alpha) ** ((p - 1) // 2) * x0
    return root if root * root == a else None


def bn_g2_outside() -> bytes:
    """A point of the twist E'(Fp2) outside the order-r subgroup."""
    for i in range(1, 100):
        x = bn.FQ2([i, 1])
        y = fq2_sqrt(x**3 + bn.b2)
        if y is not None:
            pt = (x, y, bn.FQ2.one())
            assert bn.is_on_curve(pt, bn.b2) and not bn.is_inf(bn.multiply(pt, bn.curve_order))
            return bn_g2(pt)
    raise AssertionError("no twist point found")


def bn_cases() -> list[tuple[int, bytes]]:
    a, b = bn.multiply(bn.G1, RNG.randrange(1, 2**64)), bn.multiply(bn.G1, RNG.randrange(1, 2**64))
    pa, pb, neg_a = bn_g1(a), bn_g1(b), bn_g1(bn.neg(a))
    g2 = bn_g2(bn.multiply(bn.G2, RNG.randrange(1, 2**64)))
    off_curve, x_is_p = word(1) + word(1), word(BN_P) + pa[32:]
    return [
        # ecAdd: inputs shorter than 128 bytes are zero-padded, longer ones cut
        (0x06, pa + pb), (0x06, pa + pa), (0x06, pa + neg_a), (0x06, pa + bytes(64)), (0x06, b""),
        (0x06, pa), (0x06, pa + pb[:40]), (0x06, pa + pb + b"\xff" * 50), (0x06, off_curve + pa),
        (0x06, pa + x_is_p), (0x06, bytes(31) + b"\x01"),
        # ecMul
        (0x07, pa + word(RNG.getrandbits(256))), (0x07, pa + word(0)), (0x07, pa + word(bn.curve_order)),
        (0x07, pa + word(2**256 - 1)), (0x07, bytes(64) + word(5)), (0x07, pa + b"\x02"), (0x07, pa),
        (0x07, b""), (0x07, off_curve + word(2)), (0x07, x_is_p + word(2)), (0x07, pa + word(3) + b"\x01" * 9),
        # ecPairing: one pair (0), two cancelling pairs (1), the rest fail or are cheap
        (0x08, pa + g2), (0x08, pa + g2 + neg_a + g2), (0x08, b""), (0x08, bytes(192)),
        (0x08, bytes(64) + g2), (0x08, pa + bytes(128)), (0x08, pa + bn_g2_outside()),
        (0x08, pa + word(1) * 4), (0x08, off_curve + g2), (0x08, pa + word(BN_P) + g2[32:]),
        (0x08, pa + g2[:-1]), (0x08, pa + g2 + b"\x00"),
    ]


BLS_CASES = bls_cases()
BN_CASES = bn_cases()


@pytest.mark.parametrize("address,data", BLS_CASES, ids=lambda v: f"{v:#04x}" if isinstance(v, int) else None)
def test_bls_built_inputs(address, data):
    assert_same(address, data)


@pytest.mark.parametrize("address,data", BN_CASES, ids=lambda v: f"{v:#04x}" if isinstance(v, int) else None)
def test_bn254_built_inputs(address, data):
    assert_same(address, data)


def test_built_inputs_reach_both_outcomes():
    """The built cases are not all errors (or all successes) for any precompile."""
    seen = {}
    for address, data in BLS_CASES + BN_CASES:
        if address in (0x08, 0x0F):  # pairings: covered above, too slow to run twice
            continue
        seen.setdefault(address, set()).add(outcome(PAIRS[address][1], address, data)[0])
    assert all(kinds == {"ok", "raised"} for kinds in seen.values()), seen


# -- fixture inputs -- #


def _push_values(code: bytes) -> list[int]:
    values, i = [], 0
    while i < len(code):
        op = code[i]
        if 0x60 <= op <= 0x7F:
            n = op - 0x5F
            values.append(int.from_bytes(code[i + 1 : i + 1 + n], "big"))
            i += n
        i += 1
    return values


def _forwarded_calls(test: dict):
    """(precompile, calldata) for txs to a contract that forwards its calldata
    (CALLDATASIZE present) to exactly one BLS precompile."""
    codes = {a.lower(): bytes.fromhex(acc.get("code", "0x")[2:]) for a, acc in test["pre"].items()}
    for block in test["blocks"]:
        for tx in block.get("transactions", []):
            code = codes.get((tx.get("to") or "").lower(), b"")
            targets = {v for v in _push_values(code) if 0x0B <= v <= 0x11}
            if len(targets) == 1 and 0x36 in code:
                yield targets.pop(), bytes.fromhex(tx["data"][2:])


def eest_bls_vectors() -> dict[int, list[bytes]]:
    files = sorted(require_data(EEST).glob(f"v*/{BLS_DIR}/**/*.json"))
    assert files, f"no EIP-2537 fixtures under {EEST}"
    found: dict[int, set[bytes]] = {}
    for path in files:
        for test in json.loads(path.read_text()).values():
            for address, data in _forwarded_calls(test):
                found.setdefault(address, set()).add(data)
    return {a: sorted(v, key=lambda d: (len(d), d)) for a, v in found.items()}


def test_eest_bls_vectors():
    vectors = eest_bls_vectors()
    assert sorted(vectors) == list(range(0x0B, 0x12)), "every BLS precompile has fixture inputs"
    for address, inputs in vectors.items():
        if address == 0x0F:
            inputs = few_pairings(inputs)
        for data in inputs:
            assert_same(address, data)


def _trivial(pairing_input: bytes) -> bool:
    """Every pair has an infinity: Python skips the Miller loop, so it is cheap."""
    pairs = [pairing_input[i : i + 384] for i in range(0, len(pairing_input), 384)]
    return all(not any(p[:128]) or not any(p[128:]) for p in pairs)


def few_pairings(inputs: list[bytes]) -> list[bytes]:
    """The cheap ones, and the first one- and two-pair inputs that are not
    (~0.5 s a pair in Python)."""
    short = [d for d in inputs if len(d) <= 768]
    full = {len(d): d for d in reversed(short) if not _trivial(d)}
    return [d for d in short if _trivial(d)] + [full[384], full[768]]


BN254_FIXTURES = ("stCreate2/create2callPrecompiles.json", "stRevertTest/RevertPrecompiledTouch_Paris.json")


def _recording(table: dict, sink: set) -> dict:
    def recorder(address: bytes, fn):
        def record(computation):
            sink.add((address[-1], computation.msg.data_as_bytes))
            return fn(computation)
        return record

    bn_addresses = {a.to_bytes(20, "big") for a in (6, 7, 8)}
    return {a: recorder(a, fn) if a in bn_addresses else fn for a, fn in table.items()}


def recorded_bn254_inputs(monkeypatch) -> set:
    """The inputs that ethereum/tests fixtures give 0x06-0x08 while they run."""
    sink: set = set()
    made: dict = {}
    rules = blockchain_tests.fork_rules

    def recording_rules(*args, **kwargs):
        return lambda number, timestamp: recording_vm(rules(*args, **kwargs)(number, timestamp))

    def recording_vm(vm):
        if vm not in made:
            state = vm.get_state_class()
            comp = state.computation_class
            comp = type("Rec", (comp,), {"_precompiles": _recording(comp.get_precompiles(), sink)})
            state = type("RecState", (state,), {"computation_class": comp})
            made[vm] = type(vm.__name__, (vm,), {"_state_class": state})
        return made[vm]

    monkeypatch.setattr(blockchain_tests, "fork_rules", recording_rules)
    for name in BN254_FIXTURES:
        path = require_data(ETHEREUM_TESTS / "GeneralStateTests" / name)
        tally = run_cases(blockchain_tests.cases_in_file(path), get_strategy("serial"))
        assert all(r.status == "passed" for r in tally.results)
    return sink


def test_ethereum_tests_bn254_vectors(monkeypatch):
    inputs = recorded_bn254_inputs(monkeypatch)
    assert {a for a, _ in inputs} == {6, 7, 8}
    assert any(len(d) for a, d in inputs if a == 6) and any(len(d) for a, d in inputs if a == 7)
    for address, data in sorted(inputs):
        assert_same(address, data)


# -- with_precompiles -- #


def _address(n: int) -> bytes:
    return n.to_bytes(20, "big")


def _table(vm_class) -> dict:
    return vm_class.get_state_class().computation_class.get_precompiles()


def _native_addresses(vm_class) -> set[int]:
    return {int.from_bytes(a, "big") for a, fn in _table(vm_class).items()
            if getattr(getattr(fn, "func", fn), "__module__", "") == native.__name__}


@pytest.mark.parametrize("vm_class,addresses", [  # MODEXP (5) for its result, the curves for speed
    (FrontierVM, set()), (ByzantiumVM, {5, 6, 7, 8}), (IstanbulVM, {5, 6, 7, 8}),
    (CancunVM, {5, 6, 7, 8}), (PragueVM, set(range(5, 9)) | set(range(0x0B, 0x12))),
])
def test_replaces_only_the_slow_addresses(vm_class, addresses):
    derived = with_precompiles(vm_class)
    before, after = _table(vm_class), _table(derived)
    assert set(before) == set(after)
    assert _native_addresses(derived) == addresses
    assert all(after[a] is before[a] for a in before if int.from_bytes(a, "big") not in addresses)


def test_bn254_gas_follows_the_fork():
    assert _table(with_precompiles(ByzantiumVM))[_address(6)].keywords == {}
    for n in (6, 7, 8):
        istanbul = _table(with_precompiles(IstanbulVM))[_address(n)]
        assert istanbul.keywords == _table(IstanbulVM)[_address(n)].keywords != {}
    data = bn_g1(bn.G1) * 2
    c = FakeComputation(6, data)
    _table(with_precompiles(ByzantiumVM))[_address(6)](c)
    assert c.gas == 500


def test_class_identity_fork_and_pickle():
    derived = with_precompiles(PragueVM)
    assert with_precompiles(PragueVM) is derived
    assert with_precompiles(derived) is derived
    assert issubclass(derived, PragueVM) and derived.fork == "prague"
    assert "prague" in {getattr(c, "fork", None) for c in derived.__mro__}
    state = derived.get_state_class()
    assert issubclass(state, PragueState) and issubclass(state.computation_class, PragueComputation)
    for cls in (derived, state, state.computation_class):
        assert getattr(native, cls.__qualname__) is cls and cls.__module__ == native.__name__
        for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
            assert pickle.loads(pickle.dumps(cls, protocol=protocol)) is cls


def _custom_g1_add(computation):
    return computation


class OtherComputation(PragueComputation):
    """A later fork made elsewhere: one more precompile, one py-evm one overridden."""

    _precompiles = {**PragueComputation.get_precompiles(), _address(0x100): pyevm.sha256,
                    _address(0x0B): _custom_g1_add}


class OtherState(PragueState):
    computation_class = OtherComputation


class OtherVM(PragueVM):
    fork = "other"
    _state_class = OtherState


class LazyVM(PragueVM):
    """Wrapped only by name lookup, as unpickling in a fresh process does."""


def test_subclass_made_elsewhere():
    derived = with_precompiles(OtherVM)
    assert {"other", "prague"} <= {getattr(c, "fork", None) for c in derived.__mro__}
    comp = derived.get_state_class().computation_class
    assert issubclass(derived.get_state_class(), OtherState) and issubclass(comp, OtherComputation)
    table = comp.get_precompiles()
    assert table[_address(0x100)] is pyevm.sha256 and table[_address(0x0B)] is _custom_g1_add
    assert table[_address(0x0C)] is native.bls12_g1_msm
    assert _native_addresses(derived) == set(range(5, 9)) | set(range(0x0C, 0x12))
    assert pickle.loads(pickle.dumps(derived)) is derived


def test_lookup_by_name_builds_the_class():
    name = native._registered_name(LazyVM)
    assert LazyVM not in native._NATIVE
    state = getattr(native, name + "__state")
    assert state is with_precompiles(LazyVM).get_state_class()
    assert getattr(native, name) is with_precompiles(LazyVM)
    with pytest.raises(AttributeError):
        getattr(native, "NoSuchVM__native_of__nowhere")


def test_eest_bls_file_verifies_with_native_vm(monkeypatch):
    """Whole EIP-2537 tests (state roots, gas, outputs) with the native VM."""
    rules, used = blockchain_tests.fork_rules, set()

    def native_rules(*args, **kwargs):
        def native_vm(number, timestamp):
            vm = with_precompiles(rules(*args, **kwargs)(number, timestamp))
            used.add(vm)
            return vm
        return native_vm

    monkeypatch.setattr(blockchain_tests, "fork_rules", native_rules)
    path = require_data(EEST / "v5.4.0" / BLS_DIR / "test_eip_2537.json")
    tally = run_cases(blockchain_tests.cases_in_file(path), get_strategy("serial"))
    assert [r.status for r in tally.results] == ["passed"] * 7
    assert used == {with_precompiles(PragueVM)}


def test_osaka_classes_and_blob_schedules():
    """parexec's own forks on Prague: Osaka's P256VERIFY and MODEXP are kept, and a
    class made by with_blob_schedule (a module attribute elsewhere) wraps too."""
    from parexec.evm.osaka import BlobSchedule, BPO2VM, OsakaVM, with_blob_schedule

    scheduled = with_blob_schedule(OsakaVM, BlobSchedule(3, 5, 1_000_000))
    for vm_class in (OsakaVM, BPO2VM, scheduled):
        derived = with_precompiles(vm_class)
        before, after = _table(vm_class), _table(derived)
        assert _native_addresses(derived) == set(range(6, 9)) | set(range(0x0B, 0x12))
        assert after[_address(0x100)] is before[_address(0x100)]
        assert after[_address(5)] is before[_address(5)]
        assert derived.blob_schedule == vm_class.blob_schedule
        assert pickle.loads(pickle.dumps(derived)) is derived


# -- MODEXP: py-evm's everywhere but for an empty base -- #


def _modexp_input(base: bytes, exponent: bytes, modulus: bytes) -> bytes:
    lengths = b"".join(len(x).to_bytes(32, "big") for x in (base, exponent, modulus))
    return lengths + base + exponent + modulus


def _run_modexp(fn, data: bytes):
    return outcome(fn, 0x05, data)[1:]


@pytest.mark.parametrize("gas_rule", ["byzantium", "berlin"])
def test_modexp_equals_pyevm_but_for_an_empty_base(gas_rule):
    from eth.vm.forks import BerlinVM, ByzantiumVM

    vm = {"byzantium": ByzantiumVM, "berlin": BerlinVM}[gas_rule]
    theirs = vm.get_state_class().computation_class.get_precompiles()[b"\x00" * 19 + b"\x05"]
    ours = native.native_for(theirs)
    assert ours is not theirs
    rng = random.Random(7)
    for _ in range(200):
        base, exponent, modulus = (rng.randbytes(rng.choice([1, 2, 8, 32, 33])) for _ in range(3))
        data = _modexp_input(base, exponent, modulus)
        if rng.random() < 0.3:
            data = data[: rng.randrange(len(data))]  # short input: zero-padded
        assert _run_modexp(ours, data) == _run_modexp(theirs, data)
    # empty base, exponent 0, modulus 5: 0**0 mod 5 = 1 (py-evm says 0)
    data = _modexp_input(b"", b"", b"\x05")
    assert _run_modexp(ours, data)[0] == b"\x01"
    assert _run_modexp(theirs, data)[0] == b"\x00"  # the py-evm bug corrected
    assert _run_modexp(ours, _modexp_input(b"", b"\x01", b"\x05"))[0] == b"\x00"  # 0**1
    assert _run_modexp(ours, _modexp_input(b"", b"", b"\x01"))[0] == b"\x00"  # mod 1
    assert _run_modexp(ours, _modexp_input(b"\x02", b"\x03", b""))[0] == b""  # empty modulus
