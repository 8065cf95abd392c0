from eth.vm.forks import CancunVM, LondonVM, BerlinVM, ShanghaiVM, FrontierVM, PragueVM
import pytest

from parexec.forks import UnsupportedFork, vm_for_mainnet_block, vm_for_network


def test_mainnet_schedule():
    assert vm_for_mainnet_block(0) is FrontierVM
    assert vm_for_mainnet_block(19426586) is ShanghaiVM
    assert vm_for_mainnet_block(19426587) is CancunVM
    assert vm_for_mainnet_block(22546209) is PragueVM


def test_transition_networks():
    assert vm_for_network("ShanghaiToCancunAtTime15k", 5, 14_999) is ShanghaiVM
    assert vm_for_network("ShanghaiToCancunAtTime15k", 5, 15_000) is CancunVM
    assert vm_for_network("BerlinToLondonAt5", 4, 0) is BerlinVM
    assert vm_for_network("BerlinToLondonAt5", 5, 0) is LondonVM


def test_unknown_network_is_unsupported():
    with pytest.raises(UnsupportedFork):
        vm_for_network("Amsterdam", 1, 1)
