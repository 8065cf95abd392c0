"""Which fork's rules apply to a block: py-evm VM classes by mainnet height or test network name."""

from __future__ import annotations

import re

from eth.chains.mainnet import MAINNET_VM_CONFIGURATION
from eth.vm.forks import (
    ArrowGlacierVM,
    BerlinVM,
    ByzantiumVM,
    CancunVM,
    ConstantinopleVM,
    FrontierVM,
    GrayGlacierVM,
    HomesteadVM,
    IstanbulVM,
    LondonVM,
    MuirGlacierVM,
    ParisVM,
    PetersburgVM,
    PragueVM,
    ShanghaiVM,
    SpuriousDragonVM,
    TangerineWhistleVM,
)


class UnsupportedFork(Exception):
    """The fixture names fork rules that py-evm (and so parexec) does not implement."""


NETWORK_VMS: dict[str, type] = {
    "Frontier": FrontierVM,
    "Homestead": HomesteadVM,
    "EIP150": TangerineWhistleVM,
    "TangerineWhistle": TangerineWhistleVM,
    "EIP158": SpuriousDragonVM,
    "SpuriousDragon": SpuriousDragonVM,
    "Byzantium": ByzantiumVM,
    "Constantinople": ConstantinopleVM,
    "ConstantinopleFix": PetersburgVM,
    "Petersburg": PetersburgVM,
    "Istanbul": IstanbulVM,
    "MuirGlacier": MuirGlacierVM,
    "Berlin": BerlinVM,
    "London": LondonVM,
    "ArrowGlacier": ArrowGlacierVM,
    "GrayGlacier": GrayGlacierVM,
    "Merge": ParisVM,
    "Paris": ParisVM,
    "Shanghai": ShanghaiVM,
    "Cancun": CancunVM,
    "Prague": PragueVM,
}

# e.g. "ShanghaiToCancunAtTime15k", "BerlinToLondonAt5"
_TRANSITION = re.compile(r"^(\w+?)To(\w+?)At(Time)?(\d+)(k?)$")


def vm_for_mainnet_block(number: int) -> type:
    """The mainnet VM for block ``number`` (py-evm schedules every fork by height)."""
    chosen = None
    for start, vm in MAINNET_VM_CONFIGURATION:
        if start <= number:
            chosen = vm
    return chosen


def vm_for_network(network: str, number: int, timestamp: int) -> type:
    """The VM for a block of an ethereum/tests fixture whose ``network`` is given."""
    vm = NETWORK_VMS.get(network)
    if vm is not None:
        return vm
    m = _TRANSITION.match(network)
    if m:
        before, after, by_time, at, k = m.groups()
        if before in NETWORK_VMS and after in NETWORK_VMS:
            at_value = int(at) * (1000 if k else 1)
            switched = (timestamp if by_time else number) >= at_value
            return NETWORK_VMS[after if switched else before]
    raise UnsupportedFork(f"unsupported fork rules {network!r}")
