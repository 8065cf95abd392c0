"""parexec: execute blocks of Ethereum transactions in parallel, exactly as serial execution would."""

from parexec.evm.pyevm_patches import use_fast_keccak

__version__ = "0.1.0"

use_fast_keccak()
