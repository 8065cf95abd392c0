from eth.vm.forks import CancunVM, LondonVM, BerlinVM, ShanghaiVM, FrontierVM, PragueVM
import pytest

from parexec.evm.precompiles import with_precompiles as native
from parexec.forks import UnsupportedFork, vm_for_mainnet_block, vm_for_network


def test_mainnet_schedule():
    assert vm_for_mainnet_block(0) is native(FrontierVM)
    assert vm_for_mainnet_block(19426586) is native(ShanghaiVM)
    assert vm_for_mainnet_block(19426587) is native(CancunVM)
    assert vm_for_mainnet_block(22546209) is native(PragueVM)


def test_transition_networks():
    assert vm_for_network("ShanghaiToCancunAtTime15k", 5, 14_999) is native(ShanghaiVM)
    assert vm_for_network("ShanghaiToCancunAtTime15k", 5, 15_000) is native(CancunVM)
    assert vm_for_network("BerlinToLondonAt5", 4, 0) is native(BerlinVM)
    assert vm_for_network("BerlinToLondonAt5", 5, 0) is native(LondonVM)


def test_unknown_network_is_unsupported():
    with pytest.raises(UnsupportedFork):
        vm_for_network("Amsterdam", 1, 1)
