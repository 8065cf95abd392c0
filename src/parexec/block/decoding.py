"""A block's RLP decoded with the rules of its fork, as a client decodes it: a
transaction type the fork does not know, or a header with another fork's
fields, rejects the block and says which rule it broke."""

from __future__ import annotations

import rlp
from eth.exceptions import UnrecognizedTransactionType
from eth_utils import ValidationError

from parexec.block.env import AncestorHashes
from parexec.evm.pyevm_objects import header_class, header_field_names
from parexec.model import Block, BlockRejected


def _fork_of(fork_at, header_fields) -> type:
    """The VM of the fork at a raw header's number and timestamp."""
    return fork_at(int.from_bytes(header_fields[8], "big"), int.from_bytes(header_fields[11], "big"))


def block_class(fork_at, block_rlp: bytes):
    """The py-evm block class of the fork at the block's own number and timestamp."""
    try:
        return _fork_of(fork_at, rlp.decode(block_rlp)[0]).get_block_class()
    except (rlp.DecodingError, IndexError, TypeError):
        raise BlockRejected("block RLP is malformed", rule="RLP_STRUCTURES_ENCODING") from None


def decode_block(fork_at, block_rlp: bytes):
    """The block decoded with the rules of its fork (by its own number and timestamp),
    transactions included: a transaction type the fork does not know rejects it."""
    sedes = block_class(fork_at, block_rlp)
    try:
        return rlp.decode(block_rlp, sedes=sedes)
    except UnrecognizedTransactionType as exc:
        tx_type = exc.args[0]
        raise BlockRejected(
            f"transaction type {tx_type} is not valid in this fork",
            _first_of_type(block_rlp, tx_type),
            f"TYPE_{tx_type}_TX_PRE_FORK",
        ) from None
    except (rlp.DecodingError, rlp.DeserializationError, ValidationError, ValueError, TypeError) as exc:
        # (TypeError: a typed transaction's payload holding a list where an integer goes)
        # a header with the fields of another fork is a format error, not an encoding one
        rule = "INCORRECT_BLOCK_FORMAT" if _header_length_wrong(fork_at, block_rlp) else "RLP_STRUCTURES_ENCODING"
        raise BlockRejected(f"block RLP does not decode: {exc}", rule=rule) from None


def _header_length_wrong(fork_at, block_rlp: bytes) -> bool:
    raw_header = rlp.decode(block_rlp)[0]
    return len(raw_header) != len(header_field_names(_fork_of(fork_at, raw_header)))


def _first_of_type(block_rlp: bytes, tx_type: int) -> int | None:
    """The index of the block's first typed transaction of ``tx_type``."""
    for i, item in enumerate(rlp.decode(block_rlp)[1]):
        if isinstance(item, bytes) and item[:1] == bytes([tx_type]):
            return i
    return None


def decode_header(fork_at, header_rlp: bytes):
    """A header stored alone, with the header class of its own fork."""
    return rlp.decode(header_rlp, sedes=header_class(_fork_of(fork_at, rlp.decode(header_rlp))))


def block_of(decoded, vm_class: type, ancestors: dict[int, bytes], name: str = "") -> Block:
    """The Block to execute from a decoded py-evm block; ``ancestors`` maps block
    numbers to hashes (BLOCKHASH)."""
    header = decoded.header
    return Block(
        header=header,
        transactions=list(decoded.transactions),
        vm_class=vm_class,
        ancestor_hashes=AncestorHashes(header.block_number, ancestors),
        uncles=list(decoded.uncles),
        withdrawals=list(getattr(decoded, "withdrawals", None) or []) or None,
        name=name,
    )
