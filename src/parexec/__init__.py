"""parexec: execute blocks of Ethereum transactions in parallel, exactly as serial execution would."""

from parexec.evm.pyevm_patches import use_fast_keccak

__version__ = "0.1.0"

use_fast_keccak()

API = ("execute", "access_list", "analyze", "bench", "explain", "targets")  # parexec.api, a line each


def __getattr__(name: str):
    """``parexec.execute`` and the rest of parexec.api, imported when first used
    (``import parexec`` stays light)."""
    if name in API:
        from parexec import api

        return getattr(api, name)
    raise AttributeError(f"module 'parexec' has no attribute {name!r}")
