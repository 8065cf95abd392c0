"""A block's RLP decoded with the rules of its fork, as a client decodes it: a
transaction type the fork does not know, or a header with another fork's
fields, rejects the block and says which rule it broke."""

from __future__ import annotations

import rlp
from eth.exceptions import UnrecognizedTransactionType
from eth_utils import ValidationError

from parexec.model import BlockRejected


def block_class(fork_at, block_rlp: bytes):
    """The py-evm block class of the fork at the block's own number and timestamp."""
    try:
        raw_header = rlp.decode(block_rlp)[0]
        number = int.from_bytes(raw_header[8], "big")
        timestamp = int.from_bytes(raw_header[11], "big")
    except (rlp.DecodingError, IndexError, TypeError):
        raise BlockRejected("block RLP is malformed", rule="RLP_STRUCTURES_ENCODING") from None
    return fork_at(number, timestamp).get_block_class()


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
    except (rlp.DecodingError, rlp.DeserializationError, ValidationError, ValueError) as exc:
        # a header with the fields of another fork is a format error, not an encoding one
        rule = "INCORRECT_BLOCK_FORMAT" if _header_length_wrong(block_rlp, sedes) else "RLP_STRUCTURES_ENCODING"
        raise BlockRejected(f"block RLP does not decode: {exc}", rule=rule) from None


def _header_length_wrong(block_rlp: bytes, sedes) -> bool:
    header_fields = sedes._meta.fields[0][1]._meta.fields
    return len(rlp.decode(block_rlp)[0]) != len(header_fields)


def _first_of_type(block_rlp: bytes, tx_type: int) -> int | None:
    """The index of the block's first typed transaction of ``tx_type``."""
    for i, item in enumerate(rlp.decode(block_rlp)[1]):
        if isinstance(item, bytes) and item[:1] == bytes([tx_type]):
            return i
    return None




def decode_header(fork_at, header_rlp: bytes):
    """A header stored alone, with the header class of its own fork."""
    raw = rlp.decode(header_rlp)
    vm = fork_at(int.from_bytes(raw[8], "big"), int.from_bytes(raw[11], "big"))
    return rlp.decode(header_rlp, sedes=vm.get_block_class()._meta.fields[0][1])
