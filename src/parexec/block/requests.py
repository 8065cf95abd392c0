"""EIP-7685 execution-layer requests (Prague): what a block hands to the consensus layer.

Three kinds, in this order: deposits (EIP-6110), parsed from the deposit
contract's logs in the block's receipts; withdrawal requests (EIP-7002) and
consolidations (EIP-7251), the outputs of the post-block system calls. The
header commits to them by ``requests_hash``. A deposit log whose ABI layout is
not the deposit contract's makes the block invalid.
"""

from __future__ import annotations

from hashlib import sha256

from eth.vm.forks.prague.constants import (
    CONSOLIDATION_REQUEST_TYPE,
    DEPOSIT_CONTRACT_ADDRESS,
    DEPOSIT_EVENT_SIGNATURE_HASH,
    DEPOSIT_REQUEST_TYPE,
    WITHDRAWAL_REQUEST_TYPE,
)

from parexec.model import BlockRejected

DEPOSIT_TOPIC = int.from_bytes(DEPOSIT_EVENT_SIGNATURE_HASH, "big")
DEPOSIT_EVENT_SIZE = 576
# The DepositEvent's five dynamic fields: (head offset, byte length), in order.
DEPOSIT_FIELDS = ((160, 48), (256, 32), (320, 8), (384, 96), (512, 8))


def deposit_request(data: bytes) -> bytes:
    """A deposit request from a DepositEvent's data: pubkey, withdrawal credentials,
    amount, signature and index, after checking each offset and length word."""
    if len(data) != DEPOSIT_EVENT_SIZE:
        raise ValueError(f"deposit event data is {len(data)} bytes, not {DEPOSIT_EVENT_SIZE}")
    request = b""
    for field, (offset, size) in enumerate(DEPOSIT_FIELDS):
        if int.from_bytes(data[32 * field : 32 * field + 32], "big") != offset:
            raise ValueError(f"deposit event field {field} is not at offset {offset}")
        if int.from_bytes(data[offset : offset + 32], "big") != size:
            raise ValueError(f"deposit event field {field} is not {size} bytes long")
        request += data[offset + 32 : offset + 32 + size]
    return request


def deposit_requests(tx_results) -> bytes:
    """Every deposit of the block, concatenated in log order."""
    deposits = b""
    for result in tx_results:
        for log in result.logs:
            if log.address == DEPOSIT_CONTRACT_ADDRESS and log.topics[:1] == (DEPOSIT_TOPIC,):
                try:
                    deposits += deposit_request(log.data)
                except ValueError as exc:
                    raise BlockRejected(
                        f"invalid deposit event layout: {exc} (EIP-6110)", result.index, "INVALID_DEPOSIT_EVENT_LAYOUT"
                    ) from None
    return deposits


def block_requests(tx_results, withdrawals: bytes, consolidations: bytes) -> list[bytes]:
    """The block's requests, each its type byte and data; empty kinds are left out."""
    kinds = (
        (DEPOSIT_REQUEST_TYPE, deposit_requests(tx_results)),
        (WITHDRAWAL_REQUEST_TYPE, withdrawals),
        (CONSOLIDATION_REQUEST_TYPE, consolidations),
    )
    return [kind + data for kind, data in kinds if data]


def requests_hash(requests: list[bytes]) -> bytes:
    """The header's commitment: sha256 over the sha256 of each request."""
    outer = sha256()
    for request in requests:
        outer.update(sha256(request).digest())
    return outer.digest()
