"""Per-call time of the native BLS12-381 / BN254 precompiles against py-evm's.

Both sides get the same input and the same stand-in computation (a py-evm
Message, a gas counter, an output slot), so only the precompile is timed; the
outputs and gas are checked equal before timing. Inputs are valid points that
are full 255-bit multiples of the generator with full 256-bit scalars, so the
pure-Python side pays its real price. The median of ``--repeat`` calls is
printed per side (py-evm's slowest cases get at most 3 calls).

Usage (from the repo root)::

    .venv/bin/python benchmarks/precompiles.py --repeat 20
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import eth.precompiles as pyevm
from eth.vm.message import Message
from py_ecc import optimized_bls12_381 as bls
from py_ecc import optimized_bn128 as bn

from parexec.evm import precompiles as native


class Computation:
    def __init__(self, address: int, data: bytes):
        self.msg = Message(gas=10**12, to=address.to_bytes(20, "big"), sender=b"\x11" * 20,
                           value=0, data=data, code=b"")
        self.gas = 0
        self.output = b""

    def consume_gas(self, amount: int, reason: str = "") -> None:
        self.gas += amount


def _fp(v) -> bytes:
    return int(v).to_bytes(64, "big")


def _bls_g1(pt) -> bytes:
    x, y = bls.normalize(pt)
    return _fp(x) + _fp(y)


def _bls_g2(pt) -> bytes:
    x, y = bls.normalize(pt)
    return b"".join(_fp(c) for c in (*x.coeffs, *y.coeffs))


def _bn_g1(pt) -> bytes:
    x, y = bn.normalize(pt)
    return int(x).to_bytes(32, "big") + int(y).to_bytes(32, "big")


def _bn_g2(pt) -> bytes:
    x, y = bn.normalize(pt)
    return b"".join(int(c).to_bytes(32, "big") for c in (x.coeffs[1], x.coeffs[0], y.coeffs[1], y.coeffs[0]))


def cases(rng: random.Random) -> list[tuple[str, int, object, object, bytes]]:
    """(name, address, py-evm function, native function, input)."""
    def s() -> int:
        return rng.getrandbits(255) | 1 << 254

    def w() -> bytes:
        return rng.getrandbits(256).to_bytes(32, "big")

    g1 = [_bls_g1(bls.multiply(bls.G1, s())) for _ in range(8)]
    g2 = [_bls_g2(bls.multiply(bls.G2, s())) for _ in range(2)]
    a = bls.multiply(bls.G1, s())
    q = bls.multiply(bls.G2, s())
    # e(a, q) * e(-a, q) = 1: the check succeeds, both Miller loops run.
    pairing2 = _bls_g1(a) + _bls_g2(q) + _bls_g1(bls.neg(a)) + _bls_g2(q)
    p, bq = bn.multiply(bn.G1, s()), bn.multiply(bn.G2, s())
    bn_pairing2 = _bn_g1(p) + _bn_g2(bq) + _bn_g1(bn.neg(p)) + _bn_g2(bq)
    fp = _fp(rng.randrange(bls.field_modulus))
    return [
        ("ecAdd 0x06", 6, pyevm.ecadd, native.ecadd, _bn_g1(p) + _bn_g1(bn.double(p))),
        ("ecMul 0x07", 7, pyevm.ecmul, native.ecmul, _bn_g1(p) + w()),
        ("ecPairing 0x08, 2 pairs", 8, pyevm.ecpairing, native.ecpairing, bn_pairing2),
        ("G1ADD 0x0b", 0x0B, pyevm.bls12_g1_add, native.bls12_g1_add, g1[0] + g1[1]),
        ("G1MSM 0x0c, k=1", 0x0C, pyevm.bls12_g1_msm, native.bls12_g1_msm, g1[0] + w()),
        ("G1MSM 0x0c, k=8", 0x0C, pyevm.bls12_g1_msm, native.bls12_g1_msm, b"".join(x + w() for x in g1)),
        ("G2ADD 0x0d", 0x0D, pyevm.bls12_g2_add, native.bls12_g2_add, g2[0] + g2[1]),
        ("G2MSM 0x0e, k=1", 0x0E, pyevm.bls12_g2_msm, native.bls12_g2_msm, g2[0] + w()),
        ("G2MSM 0x0e, k=2", 0x0E, pyevm.bls12_g2_msm, native.bls12_g2_msm, g2[0] + w() + g2[1] + w()),
        ("PAIRING 0x0f, 2 pairs", 0x0F, pyevm.bls12_pairing_check, native.bls12_pairing_check, pairing2),
        ("MAP_FP_TO_G1 0x10", 0x10, pyevm.bls12_map_fp_to_g1, native.bls12_map_fp_to_g1, fp),
        ("MAP_FP2_TO_G2 0x11", 0x11, pyevm.bls12_map_fp2_to_g2, native.bls12_map_fp2_to_g2, fp + fp),
    ]


def run(fn, address: int, data: bytes) -> tuple[float, Computation]:
    c = Computation(address, data)
    start = time.perf_counter()
    fn(c)
    return time.perf_counter() - start, c


def median_time(fn, address: int, data: bytes, repeat: int, budget: float) -> float:
    """Median of up to ``repeat`` calls, stopping early once ``budget`` seconds are spent."""
    times: list[float] = []
    while len(times) < repeat and (len(times) < 3 or sum(times) < budget):
        times.append(run(fn, address, data)[0])
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    native.bls12_g1_add(Computation(0x0B, bytes(256)))  # load libraries before timing
    native.ecadd(Computation(6, b""))
    print(f"{'precompile':26} {'py-evm':>11} {'native':>11} {'speed-up':>9}")
    for name, address, pure, fast, data in cases(random.Random(args.seed)):
        _, a = run(pure, address, data)
        _, b = run(fast, address, data)
        assert (a.output, a.gas) == (b.output, b.gas), name
        t_pure = median_time(pure, address, data, args.repeat, budget=3.0)
        t_fast = median_time(fast, address, data, max(args.repeat, 50), budget=1.0)
        print(f"{name:26} {t_pure * 1e3:8.2f} ms {t_fast * 1e3:8.3f} ms {t_pure / t_fast:8.0f}x")


if __name__ == "__main__":
    main()
