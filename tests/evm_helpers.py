"""Small helpers to build hand-made EVM test cases: an assembler, keys, headers,
signed transactions, blocks and contract addresses (computed independently of py-evm).
"""

from __future__ import annotations

import rlp
from eth.db.account import AccountDB
from eth.db.atomic import AtomicDB
from eth_hash.auto import keccak
from eth_keys import keys

from parexec.block.env import AncestorHashes, BlockEnv
from parexec.evm.pyevm_objects import header_class, header_field_names
from parexec.model import Block

# ------------------------------------------------------------------ assembler

OPCODES: dict[str, int] = {
    "STOP": 0x00, "ADD": 0x01, "MUL": 0x02, "SUB": 0x03, "DIV": 0x04, "MOD": 0x06,
    "LT": 0x10, "GT": 0x11, "EQ": 0x14, "ISZERO": 0x15, "AND": 0x16, "SHA3": 0x20,
    "ADDRESS": 0x30, "BALANCE": 0x31, "ORIGIN": 0x32, "CALLER": 0x33,
    "CALLVALUE": 0x34, "CALLDATALOAD": 0x35, "CALLDATASIZE": 0x36,
    "CALLDATACOPY": 0x37, "CODESIZE": 0x38, "CODECOPY": 0x39,
    "EXTCODESIZE": 0x3B, "EXTCODECOPY": 0x3C, "EXTCODEHASH": 0x3F, "COINBASE": 0x41, "SELFBALANCE": 0x47,
    "POP": 0x50, "MLOAD": 0x51, "MSTORE": 0x52, "MSTORE8": 0x53, "MSIZE": 0x59,
    "SLOAD": 0x54, "SSTORE": 0x55, "JUMP": 0x56, "JUMPI": 0x57,
    "GAS": 0x5A, "JUMPDEST": 0x5B, "TLOAD": 0x5C, "TSTORE": 0x5D, "PUSH0": 0x5F,
    "CREATE": 0xF0, "CALL": 0xF1, "RETURN": 0xF3, "DELEGATECALL": 0xF4,
    "CREATE2": 0xF5, "STATICCALL": 0xFA, "REVERT": 0xFD, "INVALID": 0xFE,
    "SELFDESTRUCT": 0xFF,
}
OPCODES.update({f"PUSH{n}": 0x5F + n for n in range(1, 33)})
OPCODES.update({f"DUP{n}": 0x7F + n for n in range(1, 17)})
OPCODES.update({f"SWAP{n}": 0x8F + n for n in range(1, 17)})
OPCODES.update({f"LOG{n}": 0xA0 + n for n in range(0, 5)})


def push(value: int | bytes, width: int | None = None) -> bytes:
    """PUSHn of an int (minimal width, at least 1 byte: works before PUSH0) or of raw bytes."""
    if isinstance(value, (bytes, bytearray)):
        data = bytes(value)
    else:
        if value < 0:
            raise ValueError("negative push")
        n = width or max(1, (value.bit_length() + 7) // 8)
        data = value.to_bytes(n, "big")
    if not 1 <= len(data) <= 32:
        raise ValueError(f"cannot push {len(data)} bytes")
    return bytes([0x5F + len(data)]) + data


def asm(*items) -> bytes:
    """Assemble: opcode names (str) become their byte, ints and bytes become PUSHes.

    ``raw(b"...")`` inserts bytes verbatim.
    """
    out = bytearray()
    for item in items:
        if isinstance(item, Raw):
            out += item.data
        elif isinstance(item, str):
            out.append(OPCODES[item.upper()])
        else:
            out += push(item)
    return bytes(out)


class Raw:
    def __init__(self, data: bytes):
        self.data = bytes(data)


def raw(data: bytes) -> Raw:
    return Raw(data)


def initcode(runtime: bytes, prologue: bytes = b"") -> bytes:
    """Init code that runs ``prologue`` and then returns ``runtime`` as the contract's code."""
    # copy: PUSH2 len PUSH2 offset PUSH1 0 CODECOPY ; return: PUSH2 len PUSH1 0 RETURN
    tail_len = 3 + 3 + 2 + 1 + 3 + 2 + 1
    offset = len(prologue) + tail_len
    copier = (
        push(len(runtime), 2) + push(offset, 2) + push(0) + asm("CODECOPY")
        + push(len(runtime), 2) + push(0) + asm("RETURN")
    )
    assert len(copier) == tail_len
    return prologue + copier + runtime


# ----------------------------------------------------------------- addresses


def key(n: int) -> keys.PrivateKey:
    return keys.PrivateKey(n.to_bytes(32, "big"))


def address_of(private_key: keys.PrivateKey) -> bytes:
    return private_key.public_key.to_canonical_address()


def addr(n: int) -> bytes:
    """A made-up 20-byte address."""
    return n.to_bytes(20, "big")


def create_address(sender: bytes, nonce: int) -> bytes:
    return keccak(rlp.encode([sender, nonce]))[12:]


def create2_address(sender: bytes, salt: int, init: bytes) -> bytes:
    return keccak(b"\xff" + sender + salt.to_bytes(32, "big") + keccak(init))[12:]


def as_int(address: bytes) -> int:
    return int.from_bytes(address, "big")


# --------------------------------------------------------- blocks and txs

BASE_FEE = 7
TIP = 2
MAX_FEE = 100
GAS_PRICE = BASE_FEE + TIP  # effective gas price of dynamic-fee txs built by sign_tx
LEGACY_GAS_PRICE = 10


def make_header(vm_class, coinbase: bytes, number: int = 1, timestamp: int = 1_700_000_000):
    fields = header_field_names(vm_class)
    kwargs = dict(
        coinbase=coinbase,
        block_number=number,
        gas_limit=30_000_000,
        timestamp=timestamp,
        difficulty=0,
    )
    if "base_fee_per_gas" in fields:
        kwargs["base_fee_per_gas"] = BASE_FEE
    else:
        kwargs["difficulty"] = 131072
    if "parent_beacon_block_root" in fields:
        kwargs["parent_beacon_block_root"] = b"\0" * 32
    return header_class(vm_class)(**kwargs)


def uses_base_fee(vm_class) -> bool:
    return "base_fee_per_gas" in header_field_names(vm_class)


def sign_tx(vm_class, private_key, nonce: int, to: bytes, value: int = 0,
            data: bytes = b"", gas: int = 200_000, max_fee: int = MAX_FEE,
            tip: int = TIP, gas_price: int = LEGACY_GAS_PRICE):
    """A signed transaction: dynamic-fee (type 2) from London on, legacy before."""
    builder = vm_class.get_transaction_builder()
    if uses_base_fee(vm_class):
        unsigned = builder.new_unsigned_dynamic_fee_transaction(
            chain_id=1, nonce=nonce, max_priority_fee_per_gas=tip,
            max_fee_per_gas=max_fee, gas=gas, to=to, value=value, data=data,
            access_list=(),
        )
        return unsigned.as_signed_transaction(private_key, chain_id=1)
    unsigned = builder.create_unsigned_transaction(
        nonce=nonce, gas_price=gas_price, gas=gas, to=to, value=value, data=data,
    )
    return unsigned.as_signed_transaction(private_key)


def make_block(vm_class, txs, coinbase: bytes, number: int = 1) -> Block:
    return Block(
        header=make_header(vm_class, coinbase, number),
        transactions=list(txs),
        vm_class=vm_class,
        ancestor_hashes=AncestorHashes(number, {}),
    )


def make_env(vm_class, coinbase: bytes, txs=()) -> BlockEnv:
    return BlockEnv.for_block(make_block(vm_class, txs, coinbase))


# ------------------------------------------------------------ stock py-evm


def pyevm_db(state, raw_db: AtomicDB | None = None) -> AccountDB:
    """A MemoryState copied into py-evm's own trie-backed AccountDB, persisted."""
    db = AccountDB(raw_db if raw_db is not None else AtomicDB())
    for address, acc in state.accounts.items():
        db.set_balance(address, acc.balance)
        db.set_nonce(address, acc.nonce)
        db.set_code(address, state.codes[acc.code_hash])
        for slot, value in state.slots.get(address, {}).items():
            db.set_storage(address, slot, value)
    db.persist()
    return db


def stock_pyevm_state(vm_class, pre, coinbase: bytes, txs):
    """Run ``txs`` one after another through py-evm's own State on its trie-backed
    AccountDB (no parexec code involved but the header helpers) and return it.

    ``pre`` is a MemoryState; it is copied into the trie and never mutated.
    """
    raw_db = AtomicDB()
    db = pyevm_db(pre, raw_db)
    context = make_env(vm_class, coinbase).context
    state = vm_class.get_state_class()(raw_db, context, db.state_root)
    for tx in txs:
        state.lock_changes()
        state.apply_transaction(tx)
    return state
