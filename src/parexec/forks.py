"""Which fork's rules apply to a block: py-evm VM classes by mainnet height (and, after
the Merge, timestamp) or test network name; Osaka and the BPO forks from parexec.evm.osaka."""

from __future__ import annotations

import re
from functools import partial

from eth.chains.mainnet import MAINNET_VM_CONFIGURATION
from eth.chains.mainnet.constants import PARIS_MAINNET_BLOCK
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

from parexec.evm.precompiles import with_precompiles
from parexec.evm.osaka import BlobSchedule, BPO1VM, BPO2VM, OsakaVM, with_blob_schedule


class UnsupportedFork(Exception):
    """The fixture names fork rules parexec does not implement: every fork mainnet
    has activated (Frontier to BPO2) is implemented, so these are forks not live yet."""


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
    "Osaka": OsakaVM,
    "BPO1": BPO1VM,
    "BPO2": BPO2VM,
}

# Mainnet forks scheduled by timestamp (py-evm schedules them by height and stops at
# Prague): FORK_CRITERIA = ByTimestamp(...) in ethereum-execution 2.20.0,
# ethereum/forks/{shanghai,cancun,prague,osaka,bpo1,bpo2}/__init__.py.
MAINNET_TIMESTAMP_FORKS: tuple[tuple[int, type], ...] = (
    (1_681_338_455, ShanghaiVM),
    (1_710_338_135, CancunVM),
    (1_746_612_311, PragueVM),
    (1_764_798_551, OsakaVM),
    (1_765_290_071, BPO1VM),
    (1_767_747_671, BPO2VM),
)

# e.g. "ShanghaiToCancunAtTime15k", "BerlinToLondonAt5"
_TRANSITION = re.compile(r"^(\w+?)To(\w+?)At(Time)?(\d+)(k?)$")


def vm_for_mainnet_block(number: int, *, timestamp: int | None = None) -> type:
    """The mainnet VM for block ``number``. After the Merge forks activate by
    ``timestamp``; without one, py-evm's heights are used (they end at Prague).
    Its curve precompiles are native (parexec.evm.precompiles)."""
    if timestamp is not None and number >= PARIS_MAINNET_BLOCK:
        schedule = MAINNET_TIMESTAMP_FORKS
        chosen, at = ParisVM, timestamp
    else:
        schedule, chosen, at = MAINNET_VM_CONFIGURATION, None, number
    for start, vm in schedule:
        if start <= at:
            chosen = vm
    return with_precompiles(chosen)


def vm_for_network(network: str, number: int, timestamp: int, blob_schedule=None) -> type:
    """The VM for a block of an ethereum/tests fixture whose ``network`` is given.

    ``blob_schedule`` is the fixture's ``config.blobSchedule`` (``{fork name: {target,
    max, baseFeeUpdateFraction}}``): its entry for the chosen fork wins over the
    VM's built-in blob schedule (parexec.evm.osaka.with_blob_schedule). Its curve
    precompiles are native (parexec.evm.precompiles).
    """
    name = _fork_name(network, number, timestamp)
    vm = NETWORK_VMS[name]
    if blob_schedule and name in blob_schedule:
        vm = with_blob_schedule(vm, BlobSchedule.from_config(blob_schedule[name]))
    return with_precompiles(vm)


def fork_rules(network: str, blob_schedule: dict | None = None):
    """``(number, timestamp) -> VM`` for a test network (and a fixture's blob schedule)."""
    return partial(vm_for_network, network, blob_schedule=blob_schedule)


def _fork_name(network: str, number: int, timestamp: int) -> str:
    """The NETWORK_VMS name whose rules apply (a transition picks one side)."""
    if network in NETWORK_VMS:
        return network
    m = _TRANSITION.match(network)
    if m:
        before, after, by_time, at, k = m.groups()
        if before in NETWORK_VMS and after in NETWORK_VMS:
            at_value = int(at) * (1000 if k else 1)
            switched = (timestamp if by_time else number) >= at_value
            return after if switched else before
    raise UnsupportedFork(f"fork rules {network!r} are not live on mainnet (parexec runs Frontier to BPO2)")
