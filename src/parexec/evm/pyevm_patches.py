"""Fixes to py-evm and its libraries that change no result of execution.

* py-evm 0.12.1b1 reloads the KZG trusted setup (a few MB of text) on every call
  of the point-evaluation precompile (0x0A): about 4 s a call. The setup is
  constant, so it is loaded once per process and reused.
* eth-hash picks pycryptodome for keccak256 when it is installed (py-evm pulls
  it in): about 5 us a hash, mostly Python object set-up. safe-pysha3 (pinned)
  is a C keccak at about 1.5 us; blooms, addresses and trie roots hash a lot.
* py-evm's EXTCODECOPY reads the code before it charges the copy and (from
  Berlin on) the account access. Every other opcode charges what it can without
  the state before reading it, and EIP-7928 asks that of all: an access that
  runs out of gas on those charges never happens, and its address is not listed.
  EXTCODECOPY is made to charge first too: the same gas and the same
  out-of-gas halt (which drops the memory it wrote), one read fewer when it halts.
* py-evm checks a legacy transaction's signature (``validate()``) by recovering
  the public key and then verifying the signature with it, and recovers the
  sender again when asked for it: two recoveries and a verification, about 110
  us a transaction on mainnet blocks. A key recovered from a signature always
  verifies it (for s and for n - s alike: eth-keys verifies the low-s form),
  so the recovery alone is the check: it is done once, and the sender it gives
  is cached on the transaction, where py-evm keeps it. Typed transactions were
  checked by the sender's recovery alone already.
"""

from __future__ import annotations

from functools import lru_cache

_applied = False


def use_fast_keccak() -> None:
    """Called when the parexec package is imported, before anything hashes."""
    from eth_hash.auto import keccak
    from eth_hash.backends.pysha3 import backend

    keccak.hasher = backend.keccak256
    keccak.preimage = backend.preimage


def apply() -> None:
    global _applied
    if _applied:
        return
    import eth.precompiles.point_evaluation as point_evaluation

    point_evaluation.load_trusted_setup = lru_cache(maxsize=2)(point_evaluation.load_trusted_setup)
    _charge_extcodecopy_first()
    _check_signatures_by_recovery()
    _applied = True


def _check_signatures_by_recovery() -> None:
    """py-evm's signature check (eth._utils.transactions.validate_transaction_signature,
    imported by name into each fork's transactions module), done by the sender's
    recovery alone, which it caches unless a sender is cached already (see
    above): the same ValidationError for a signature from which no key can be
    recovered."""
    import importlib
    import pkgutil

    import eth.vm.forks
    from eth._utils import transactions
    from eth_keys.exceptions import BadSignature
    from eth_utils import ValidationError

    original = transactions.validate_transaction_signature

    def validate_transaction_signature(transaction) -> None:
        try:
            sender = transactions.extract_transaction_sender(transaction)  # as py-evm's ``sender``
        except BadSignature as exc:
            raise ValidationError(f"Bad Signature: {exc}") from None
        # where py-evm caches it; one given without a real signature (pyevm_objects.set_known_sender) stays
        transaction.__dict__.setdefault("sender", sender)

    for module in pkgutil.walk_packages(eth.vm.forks.__path__, "eth.vm.forks."):
        if module.name.endswith(".transactions"):
            forks_module = importlib.import_module(module.name)
            if getattr(forks_module, "validate_transaction_signature", None) is original:
                forks_module.validate_transaction_signature = validate_transaction_signature


def _charge_extcodecopy_first() -> None:
    """Every fork's EXTCODECOPY, charged before the code is read (see above)."""
    from eth._utils.address import force_bytes_to_address
    from eth.vm import mnemonics
    from eth.vm.forks.berlin.logic import _consume_gas_for_account_load
    from eth.vm.logic.context import consume_extcodecopy_word_cost
    from eth.vm.opcode import as_opcode
    from eth.vm.opcode_values import EXTCODECOPY

    from parexec.block.validation import fork_lineage
    from parexec.forks import NETWORK_VMS

    def extcodecopy(computation, account_access: bool) -> None:
        address = force_bytes_to_address(computation.stack_pop1_bytes())
        memory_start, code_start, size = computation.stack_pop_ints(3)
        computation.extend_memory(memory_start, size)
        consume_extcodecopy_word_cost(computation, size)
        if account_access:
            _consume_gas_for_account_load(computation, address, mnemonics.EXTCODECOPY)
        code = computation.state.get_code(address)
        computation.memory_write(memory_start, size, code[code_start:code_start + size].ljust(size, b"\x00"))

    for vm in set(NETWORK_VMS.values()):
        opcodes = vm.get_state_class().computation_class.opcodes
        original = opcodes[EXTCODECOPY]
        berlin = "berlin" in fork_lineage(vm)
        opcodes[EXTCODECOPY] = as_opcode(
            logic_fn=lambda computation, berlin=berlin: extcodecopy(computation, berlin),
            mnemonic=mnemonics.EXTCODECOPY, gas_cost=original.gas_cost)
