"""RLP decoding that refuses everything but canonical RLP, whichever backend decodes.

pyrlp (which py-evm decodes blocks and transactions with) hands its work to
rusty-rlp when that is installed, and parexec pins rusty-rlp (EIP-7928 lists
decode six times faster). rusty-rlp 0.4.0 (Parity's rlp crate underneath) does
not hold a list's items to the list's length: an item that claims more bytes
than its list has left ends the list without a word, so ``c3 c0 c2 c0`` decodes
as ``[[]]``, and a block whose transaction list ends in such an item decodes as
the block without it (pyrlp's own decoder refuses both). A canonical encoding is
the only encoding of what it decodes to, so a strict decode is encoded again and
compared: whatever differs is refused. The encoding costs about a quarter of the
decoding.
"""

from __future__ import annotations

import rlp.codec
import rusty_rlp

OVERRUN = "an item overruns its list, or bytes a list does not account for"


def decode(data: bytes):
    """``data`` decoded (bytes and lists), or rusty_rlp.DecodingError unless it is
    exactly one canonical RLP item."""
    item, _ = rusty_rlp.decode_raw(data, True, False)
    if rusty_rlp.encode_raw(item) != data:
        raise rusty_rlp.DecodingError(OVERRUN)
    return item


def install() -> None:
    """Make pyrlp's strict decoding (its default; py-evm's blocks and transactions)
    refuse what rusty-rlp lets through. Once per process; nothing to do when pyrlp
    decodes by itself."""
    original = rlp.codec.decode_raw
    if getattr(original, "checks_canonical", False) or not hasattr(rlp.codec, "rusty_rlp"):
        return

    def decode_raw(item, strict, preserve_per_item_rlp):
        decoded = original(item, strict, preserve_per_item_rlp)
        if strict and rusty_rlp.encode_raw(decoded[0]) != bytes(item):
            raise rlp.DecodingError(OVERRUN, item)
        return decoded

    decode_raw.checks_canonical = True
    rlp.codec.decode_raw = decode_raw
