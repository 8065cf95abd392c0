"""The precompiles parexec puts in place of py-evm's: BLS12-381 (EIP-2537) and
BN254 (EIP-196/197) on native libraries, and a corrected MODEXP.

py-evm computes these curves in pure Python (py_ecc): about 0.4 s per pair of a
BLS pairing check, 0.2 s per pair of a BN254 pairing, 70 ms per G2 MSM term,
50-500x what the native libraries take. The functions here have py-evm's precompile
signature and reproduce its observable behaviour exactly: the same length checks
before gas, the same gas (py-evm's own constants and MSM discount tables), the
same output bytes, and a ``VMError`` wherever py-evm raises one (an erroring
precompile burns all the gas it was given, so only "error or not" is visible).

Libraries:
* BLS12-381: ``py_arkworks_bls12381`` (arkworks, maintained under the ethereum
  organisation). It has every piece EIP-2537 needs: xy decoding with on-curve
  and optional subgroup checks, addition, MSM, pairing check, and the EIP's SWU
  maps Fp->G1 and Fp2->G2 with cofactor clearing.
* BN254: ``pyrevm`` (revm, the EVM of reth). No maintained Python binding
  exposes BN254 curve operations, so the call goes to revm's own 0x06/0x07/0x08
  precompiles through a message call; parexec still charges py-evm's gas.

MODEXP (0x05, Byzantium to Prague; Osaka has its own in parexec.evm.osaka) is
py-evm's with one result corrected: py-evm answers 0 for an empty base, but the
specs (and every client) take it as 0, and 0**0 mod m is 1 for m > 1.

``with_precompiles(vm_class)`` derives a VM class whose computation has
these at the addresses where the fork has py-evm's own versions.
"""

from __future__ import annotations

import importlib
import threading
from functools import partial

import eth.precompiles as pyevm
from eth.precompiles.modexp import _compute_modexp_gas_fee_eip_198, extract_lengths
from eth import constants
from eth.exceptions import VMError
from eth.precompiles.bls12_381 import constants as bls_gas
from eth.precompiles.bls12_381.bls12_381_g1 import MSM_LEN_PER_PAIR as G1_MSM_PAIR_LEN
from eth.precompiles.bls12_381.bls12_381_g2 import MSM_LEN_PER_PAIR as G2_MSM_PAIR_LEN
from py_arkworks_bls12381 import GT, G1Point, G2Point, Scalar
from py_ecc.fields import field_properties
from pyrevm import EVM

BLS_MODULUS = field_properties["bls12_381"]["field_modulus"]
FP_LEN = 64  # EIP-2537 pads each 48-byte field element to 64 bytes
G1_LEN = 2 * FP_LEN
G2_LEN = 4 * FP_LEN
PAIR_LEN = G1_LEN + G2_LEN
# py-evm writes these two inline in bls12_pairing_check (EIP-2537 values).
PAIRING_GAS_PER_PAIR = 32600
PAIRING_GAS_BASE = 37700
TRUE_WORD = (1).to_bytes(32, "big")
FALSE_WORD = bytes(32)


# -- BLS12-381 encoding -- #


def _fp(data: bytes) -> bytes:
    """A 64-byte big-endian field element as the 48 bytes arkworks reads.

    Range is checked here, not left to arkworks: its top bits are flag bits.
    """
    if int.from_bytes(data, "big") >= BLS_MODULUS:
        raise VMError("field element >= field modulus")
    return data[FP_LEN - 48 :]


def _coords(data: bytes) -> bytes:
    """Consecutive 64-byte field elements as consecutive 48-byte ones."""
    return b"".join(_fp(data[i : i + FP_LEN]) for i in range(0, len(data), FP_LEN))


def _decode(decoder, data: bytes):
    """An arkworks point from EIP-2537 bytes; (0, 0) is the point at infinity."""
    try:
        return decoder(_coords(data))
    except ValueError as exc:  # not on the curve / not in the subgroup
        raise VMError(f"invalid point: {exc}") from None


def _encode(point) -> bytes:
    """EIP-2537 bytes of a point: every 48-byte coordinate left-padded to 64."""
    xy = point.to_xy_bytes_be()
    pad = bytes(FP_LEN - 48)
    return b"".join(pad + xy[i : i + 48] for i in range(0, len(xy), 48))


def _g1(data: bytes) -> G1Point:
    """On-curve G1 point, no subgroup check (G1ADD, as py-evm)."""
    return _decode(G1Point.from_xy_bytes_unchecked_be, data)


def _g2(data: bytes) -> G2Point:
    return _decode(G2Point.from_xy_bytes_unchecked_be, data)


def _g1_in_subgroup(data: bytes) -> G1Point:
    """On-curve and in the r-torsion subgroup (MSM and pairing inputs)."""
    return _decode(G1Point.from_xy_bytes_be, data)


def _g2_in_subgroup(data: bytes) -> G2Point:
    return _decode(G2Point.from_xy_bytes_be, data)


def _chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def _msm_gas(k: int, per_pair: int, discounts: list[int], max_discount: int) -> int:
    """EIP-2537 MSM price, with py-evm's discount table."""
    discount = discounts[k - 1] if k <= len(discounts) else max_discount
    return k * per_pair * discount // bls_gas.MSM_MULTIPLIER


def _msm(data: bytes, pair_len: int, point_of, point_class):
    """Sum of scalar * point over (point, 32-byte scalar) pairs.

    Points are in the subgroup, so the scalar is taken mod r.
    """
    pairs = _chunks(data, pair_len)
    points = [point_of(p[: pair_len - 32]) for p in pairs]
    scalars = [Scalar.from_be_bytes_mod_order(p[pair_len - 32 :]) for p in pairs]
    return point_class.multiexp_unchecked(points, scalars)


# -- BLS12-381 precompiles -- #


def bls12_g1_add(computation):
    """0x0b G1ADD."""
    data = computation.msg.data_as_bytes
    if len(data) != 2 * G1_LEN:
        raise VMError("Length of data must be 256 bytes for BLS12_G1ADD")
    computation.consume_gas(bls_gas.BLS12_G1_ADD_GAS, reason="BLS12_G1ADD gas")
    computation.output = _encode(_g1(data[:G1_LEN]) + _g1(data[G1_LEN:]))
    return computation


def bls12_g2_add(computation):
    """0x0d G2ADD."""
    data = computation.msg.data_as_bytes
    if len(data) != 2 * G2_LEN:
        raise VMError("Length of data must be 512 for g2 add")
    computation.consume_gas(bls_gas.BLS12_G2_ADD_GAS, reason="BLS12_G2ADD gas")
    computation.output = _encode(_g2(data[:G2_LEN]) + _g2(data[G2_LEN:]))
    return computation


def _bls12_msm(computation, pair_len: int, base_gas: int, discounts, max_discount: int, point_of, point_class,
               name: str):
    data = computation.msg.data_as_bytes
    if not data or len(data) % pair_len:
        raise VMError(f"Length of data must be a multiple of {pair_len} bytes for {name}")
    gas = _msm_gas(len(data) // pair_len, base_gas, discounts, max_discount)
    computation.consume_gas(gas, reason=f"{name} gas")
    computation.output = _encode(_msm(data, pair_len, point_of, point_class))
    return computation


def bls12_g1_msm(computation):
    """0x0c G1MSM."""
    return _bls12_msm(computation, G1_MSM_PAIR_LEN, bls_gas.BLS12_G1_MSM_GAS, bls_gas.G1_MSM_DISCOUNTS,
                      bls_gas.G1_MSM_MAX_DISCOUNT, _g1_in_subgroup, G1Point, "BLS12_G1MSM")


def bls12_g2_msm(computation):
    """0x0e G2MSM."""
    return _bls12_msm(computation, G2_MSM_PAIR_LEN, bls_gas.BLS12_G2_MSM_GAS, bls_gas.G2_MSM_DISCOUNTS,
                      bls_gas.G2_MSM_MAX_DISCOUNT, _g2_in_subgroup, G2Point, "BLS12_G2MSM")


def bls12_pairing_check(computation):
    """0x0f PAIRING_CHECK: 1 when the product of the pairings is the identity."""
    data = computation.msg.data_as_bytes
    if not data or len(data) % PAIR_LEN:
        raise VMError("Length of data must be a multiple of 384 bytes for BLS12_PAIRING_CHECK")
    k = len(data) // PAIR_LEN
    computation.consume_gas(PAIRING_GAS_PER_PAIR * k + PAIRING_GAS_BASE, "BLS12_PAIRING_CHECK gas")
    pairs = _chunks(data, PAIR_LEN)
    g1s = [_g1_in_subgroup(p[:G1_LEN]) for p in pairs]
    g2s = [_g2_in_subgroup(p[G1_LEN:]) for p in pairs]
    computation.output = TRUE_WORD if GT.pairing_check(g1s, g2s) else FALSE_WORD
    return computation


def bls12_map_fp_to_g1(computation):
    """0x10 MAP_FP_TO_G1 (SWU map, isogeny, cofactor clearing)."""
    data = computation.msg.data_as_bytes
    if len(data) != FP_LEN:
        raise VMError("Length of data must be 64 bytes for BLS12_MAP_FP_TO_G1")
    computation.consume_gas(bls_gas.BLS12_MAP_FP_G1_GAS, reason="BLS12_MAP_FP_TO_G1 gas")
    computation.output = _encode(G1Point.map_from_fp_be(_fp(data)))
    return computation


def bls12_map_fp2_to_g2(computation):
    """0x11 MAP_FP2_TO_G2."""
    data = computation.msg.data_as_bytes
    if len(data) != 2 * FP_LEN:
        raise VMError("Length of data must be 128 bytes for BLS12_MAP_FP2_TO_G2")
    computation.consume_gas(bls_gas.BLS12_MAP_FP2_G2_GAS, "BLS12_MAP_FP2_TO_G2 gas")
    computation.output = _encode(G2Point.map_from_fp2_be(_coords(data)))
    return computation


# -- BN254 through revm -- #

REVM_SPEC = "PRAGUE"  # any fork from Istanbul on: input rules are the same
REVM_GAS = 2**40  # revm's own gas price is not used; parexec charges py-evm's
REVM_CALLER = "0x" + "00" * 19 + "01"


_local = threading.local()
PRECOMPILE_HALT = "reason: PrecompileError"  # how pyrevm reports a precompile's failure


def _revm() -> EVM:
    """One revm per thread (a PyO3 object is borrowed mutably by each call);
    message calls commit nothing to it."""
    evm = getattr(_local, "evm", None)
    if evm is None:
        evm = _local.evm = EVM(spec_id=REVM_SPEC)
    return evm


def _revm_precompile(address: int, data: bytes, error: str) -> bytes:
    """Output of revm's precompile at ``address``; its failure is a VMError.

    Any other revm error (it refused the call itself) is a bug here and propagates.
    """
    try:
        return bytes(
            _revm().message_call(REVM_CALLER, f"0x{address:040x}", data, gas=REVM_GAS)
        )
    except RuntimeError as exc:
        if PRECOMPILE_HALT not in str(exc):
            raise
        raise VMError(error) from None


def ecadd(computation, gas_cost: int = constants.GAS_ECADD):
    """0x06 ecAdd (gas by fork: 500, then 150 from Istanbul)."""
    computation.consume_gas(gas_cost, reason="ECADD Precompile")
    computation.output = _revm_precompile(6, computation.msg.data_as_bytes, "Invalid ECADD parameters")
    return computation


def ecmul(computation, gas_cost: int = constants.GAS_ECMUL):
    """0x07 ecMul."""
    computation.consume_gas(gas_cost, reason="ECMUL Precompile")
    computation.output = _revm_precompile(7, computation.msg.data_as_bytes, "Invalid ECMUL parameters")
    return computation


def ecpairing(
    computation,
    gas_cost_base: int = constants.GAS_ECPAIRING_BASE,
    gas_cost_per_point: int = constants.GAS_ECPAIRING_PER_POINT,
):
    """0x08 ecPairing: the length is checked before gas, as py-evm does."""
    data = computation.msg.data_as_bytes
    if len(data) % 192:
        raise VMError("Invalid ECPAIRING parameters")
    computation.consume_gas(gas_cost_base + len(data) // 192 * gas_cost_per_point, "ECPAIRING Precompile")
    computation.output = _revm_precompile(8, data, "Invalid ECPAIRING parameters")
    return computation


# -- MODEXP (EIP-198), corrected -- #


def modexp(computation, gas_calculator=None):
    """0x05 MODEXP with py-evm's gas rule of the fork (``gas_calculator``) and the
    result the specs give: py-evm returns 0 whenever the base is empty, but an
    empty base is 0 and 0**0 mod m is 1 for m > 1."""
    data = computation.msg.data_as_bytes
    gas = (gas_calculator or _compute_modexp_gas_fee_eip_198)(data)
    computation.consume_gas(gas, reason="MODEXP Precompile")
    base_len, exp_len, mod_len = extract_lengths(data)
    if mod_len == 0:
        computation.output = b""
        return computation
    padded = data[96:] + bytes(max(0, base_len + exp_len + mod_len - len(data) + 96))
    base = int.from_bytes(padded[:base_len], "big")
    exponent = int.from_bytes(padded[base_len : base_len + exp_len], "big")
    modulus = int.from_bytes(padded[base_len + exp_len : base_len + exp_len + mod_len], "big")
    result = pow(base, exponent, modulus) if modulus else 0
    computation.output = result.to_bytes(mod_len, "big")
    return computation


# -- replacing py-evm's -- #

BLS_NATIVE = {  # py-evm's function -> ours
    pyevm.bls12_g1_add: bls12_g1_add,
    pyevm.bls12_g1_msm: bls12_g1_msm,
    pyevm.bls12_g2_add: bls12_g2_add,
    pyevm.bls12_g2_msm: bls12_g2_msm,
    pyevm.bls12_pairing_check: bls12_pairing_check,
    pyevm.bls12_map_fp_to_g1: bls12_map_fp_to_g1,
    pyevm.bls12_map_fp2_to_g2: bls12_map_fp2_to_g2,
}
# py-evm's BN254 precompiles are toolz curries; a fork binds its gas as keywords.
BN254_NATIVE = {pyevm.ecadd.func: ecadd, pyevm.ecmul.func: ecmul, pyevm.ecpairing.func: ecpairing}
# ...and so is MODEXP (its gas rule by fork), replaced for its result, not its speed.
CURRIED = {**BN254_NATIVE, pyevm.modexp.func: modexp}


def native_for(precompile):
    """The native equivalent of one of py-evm's precompiles, else ``precompile`` itself.

    Anything that is not py-evm's pure-Python function (a fork's own override) is kept.
    """
    for pure, native in BLS_NATIVE.items():
        if precompile is pure:
            return native
    native = next((n for pure, n in CURRIED.items() if getattr(precompile, "func", None) is pure), None)
    if native is None:
        return precompile
    return partial(native, *precompile.args, **precompile.keywords)


def native_precompile_table(precompiles: dict) -> dict:
    """A copy of a computation's ``_precompiles`` with py-evm's slow ones replaced."""
    return {address: native_for(fn) for address, fn in precompiles.items()}


# -- deriving VM classes -- #

_NATIVE: dict[type, type] = {}  # input VM class -> derived VM class
_LOCK = threading.RLock()
_OF = "__native_of__"
_DOT = "_dot_"
_PARTS = ("__state", "__computation")


def _registered_name(vm_class: type) -> str:
    """A module attribute name that says which class was wrapped (see __getattr__)."""
    return vm_class.__qualname__.replace(".", _DOT) + _OF + vm_class.__module__.replace(".", _DOT)


def _register(name: str, base: type, namespace: dict) -> type:
    """A subclass of ``base`` reachable as this module's attribute ``name`` (pickling)."""
    cls = type(name, (base,), {**namespace, "__module__": __name__, "__qualname__": name})
    globals()[name] = cls
    return cls


def _free(name: str) -> str:
    """``name``, or with a counter when another class already took it (two classes
    of one module and qualname: such a one pickles in this process only)."""
    taken, n = name, 1
    while taken in globals():
        n += 1
        taken = f"{name}__{n}"
    return taken


def _derive(vm_class: type) -> type:
    name = _free(_registered_name(vm_class))
    state_class = vm_class.get_state_class()
    computation_class = state_class.computation_class
    computation = _register(
        name + _PARTS[1], computation_class,
        {"_precompiles": native_precompile_table(computation_class.get_precompiles())},
    )
    state = _register(name + _PARTS[0], state_class, {"computation_class": computation})
    return _register(name, vm_class, {"_state_class": state})


def with_precompiles(vm_class: type) -> type:
    """``vm_class`` with its BLS12-381 and BN254 precompiles computed natively.

    The result subclasses ``vm_class`` (same ``fork``, same MRO above it), is made
    once per input class, and pickles by reference as an attribute of this module.
    """
    with _LOCK:
        if vm_class in _NATIVE.values():
            return vm_class
        derived = _NATIVE.get(vm_class)
        if derived is None:
            derived = _NATIVE[vm_class] = _derive(vm_class)
        return derived


def _import_class(module: str, qualname: str) -> type:
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def __getattr__(name: str):
    """Rebuild a derived class by name in a process that has not made it yet
    (a pickled VM class read by a freshly started interpreter)."""
    if _OF not in name:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    qualname, module = name.split(_OF, 1)
    part = next((p for p in _PARTS if module.endswith(p)), "")
    module = module[: len(module) - len(part)]
    try:
        vm_class = _import_class(module.replace(_DOT, "."), qualname.replace(_DOT, "."))
    except (ImportError, AttributeError):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    with_precompiles(vm_class)
    try:
        return globals()[name]
    except KeyError:  # the class lives under another module name than its __module__
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
