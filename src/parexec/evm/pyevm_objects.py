"""py-evm's block and transaction objects, where building them needs more than
py-evm's public API (its RLP classes' metadata, its sender cache)."""

from __future__ import annotations

import rlp


def header_class(vm_class: type) -> type:
    """The block header class of the fork ``vm_class``."""
    return dict(vm_class.get_block_class()._meta.fields)["header"]


def header_field_names(vm_class: type) -> tuple[str, ...]:
    return tuple(header_class(vm_class)._meta.field_names)


def set_known_sender(tx, sender: bytes) -> None:
    """Give a transaction without a real signature its sender (py-evm caches
    ``sender`` on the object and never recovers it again)."""
    tx.__dict__["sender"] = sender


def decode_again(vm_class: type, tx, sender_given: bool = False):
    """A newly decoded copy of ``tx``, so that its sender is recovered anew
    (``sender_given``: it has no real signature; the sender is copied)."""
    builder = vm_class.get_transaction_builder()
    if hasattr(builder, "decode"):
        new = builder.decode(tx.encode())
    else:
        new = rlp.decode(rlp.encode(tx), sedes=builder)
    if sender_given:
        set_known_sender(new, tx.sender)
    return new
