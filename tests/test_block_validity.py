"""Block validity as a client checks it: header against parent, requests, rule names."""

from __future__ import annotations

import json
from functools import partial
from hashlib import sha256

import pytest
import rlp

from conftest import EEST, require_data
from parexec.block.header_checks import check_header
from parexec.evm.osaka import expected_excess_blob_gas
from parexec.block.requests import block_requests, deposit_request, deposit_requests, requests_hash
from parexec.block.validation import TOO_MANY_BLOBS, pyevm_rule
from parexec.block.decoding import block_class
from parexec.fixtures.blockchain_tests import rejection_mismatch
from parexec.forks import vm_for_network
from parexec.model import BlockRejected, Log, TxResult

DEPOSIT_CONTRACT = bytes.fromhex("00000000219ab540356cbb839cbe05303d7705fa")
DEPOSIT_TOPIC = int("649bbc62d0e31342afea4e5cd82d4049e7e1ee912fc0889aa790803be39038c5", 16)


def _word(n: int) -> bytes:
    return n.to_bytes(32, "big")


def deposit_event(pubkey=b"\x11" * 48, credentials=b"\x22" * 32, amount=b"\x33" * 8,
                  signature=b"\x44" * 96, index=b"\x55" * 8) -> bytes:
    """The ABI encoding the deposit contract logs: five offsets, then each field."""
    fields = (pubkey, credentials, amount, signature, index)
    head, tail = b"", b""
    offset = 32 * len(fields)
    for f in fields:
        head += _word(offset)
        padded = f + b"\x00" * (-len(f) % 32)
        tail += _word(len(f)) + padded
        offset += 32 + len(padded)
    return head + tail


def _result(index: int, logs) -> TxResult:
    return TxResult(index=index, reads={}, writes={}, new_code={}, gas_used=0, success=True, logs=tuple(logs))


def test_deposit_request_is_the_five_fields_in_order():
    data = deposit_event()
    assert len(data) == 576
    assert deposit_request(data) == b"\x11" * 48 + b"\x22" * 32 + b"\x33" * 8 + b"\x44" * 96 + b"\x55" * 8


@pytest.mark.parametrize("corrupt", [
    lambda d: d[:-32],  # too short
    lambda d: _word(161) + d[32:],  # pubkey offset moved
    lambda d: d[:160] + _word(47) + d[192:],  # pubkey length word wrong
    lambda d: d[:512] + _word(9) + d[544:],  # index length word wrong
])
def test_a_malformed_deposit_log_rejects_the_block_naming_the_transaction(corrupt):
    good = Log(DEPOSIT_CONTRACT, (DEPOSIT_TOPIC,), deposit_event())
    bad = Log(DEPOSIT_CONTRACT, (DEPOSIT_TOPIC,), corrupt(deposit_event()))
    with pytest.raises(BlockRejected) as err:
        deposit_requests([_result(0, [good]), _result(1, [bad])])
    assert err.value.tx_index == 1
    assert err.value.rule == "INVALID_DEPOSIT_EVENT_LAYOUT"


def test_other_logs_are_not_deposits():
    other_topic = Log(DEPOSIT_CONTRACT, (DEPOSIT_TOPIC + 1,), b"junk")
    other_address = Log(b"\x01" * 20, (DEPOSIT_TOPIC,), b"junk")
    assert deposit_requests([_result(0, [other_topic, other_address])]) == b""


def test_requests_leave_out_empty_kinds_and_hash_as_eip_7685_says():
    deposit = Log(DEPOSIT_CONTRACT, (DEPOSIT_TOPIC,), deposit_event())
    requests = block_requests([_result(0, [deposit])], b"", b"\x99" * 76)
    assert [r[:1] for r in requests] == [b"\x00", b"\x02"]
    expected = sha256(b"".join(sha256(r).digest() for r in requests)).digest()
    assert requests_hash(requests) == expected
    assert requests_hash([]) == sha256(b"").digest()


def test_pyevm_messages_map_to_rule_names():
    assert pyevm_rule("Invalid transaction nonce: Expected 3, but got 2") == "NONCE_MISMATCH_TOO_LOW"
    assert pyevm_rule("Invalid transaction nonce: Expected 3, but got 4") == "NONCE_MISMATCH_TOO_HIGH"
    assert pyevm_rule("Sender's max fee per gas (1) is lower than block's base fee per gas (7)") == (
        "INSUFFICIENT_MAX_FEE_PER_GAS"
    )
    assert pyevm_rule("something else") is None


def test_rejection_must_be_the_expected_one_when_its_rule_is_known():
    intrinsic = BlockRejected("gas too low", 0, "INTRINSIC_GAS_TOO_LOW")
    assert rejection_mismatch("TransactionException.INTRINSIC_GAS_TOO_LOW", intrinsic) is None
    either = "TransactionException.INSUFFICIENT_ACCOUNT_FUNDS|TransactionException.INTRINSIC_GAS_TOO_LOW"
    assert rejection_mismatch(either, intrinsic) is None
    wrong = rejection_mismatch("BlockException.INVALID_REQUESTS", intrinsic)
    assert "INVALID_REQUESTS" in wrong and "INTRINSIC_GAS_TOO_LOW" in wrong
    # an unnamed block-level rejection is not a transaction's
    unnamed = BlockRejected("something")
    assert rejection_mismatch("TransactionException.NONCE_IS_MAX", unnamed)
    assert rejection_mismatch("BlockException.INCORRECT_BLOCK_FORMAT", unnamed) is None


def _first_block(path, network: str):
    test = next(t for t in json.loads(path.read_text()).values() if t["network"] == network)
    genesis_rlp = bytes.fromhex(test["genesisRLP"][2:])
    block_rlp = bytes.fromhex(test["blocks"][0]["rlp"][2:])
    vm = vm_for_network(network, 1, 0)
    parent = rlp.decode(genesis_rlp, sedes=vm.get_block_class()).header
    header = rlp.decode(block_rlp, sedes=block_class(partial(vm_for_network, network), block_rlp)).header
    return vm_for_network(network, header.block_number, header.timestamp), parent, header


def test_header_checks_catch_a_wrong_excess_blob_gas_and_gas_used_above_limit():
    path = require_data(EEST / "v5.4.0/blockchain_tests/prague/eip7002_el_triggerable_withdrawals/test_eip_7002.json")
    vm, parent, header = _first_block(path, "Prague")
    check_header(vm, header, parent)  # the fixture's header is valid
    assert header.excess_blob_gas == expected_excess_blob_gas(vm, parent)
    with pytest.raises(BlockRejected) as err:
        check_header(vm, header.copy(excess_blob_gas=header.excess_blob_gas + 131072), parent)
    assert err.value.rule == "INCORRECT_EXCESS_BLOB_GAS"
    with pytest.raises(BlockRejected) as err:
        check_header(vm, header.copy(gas_used=header.gas_limit + 1), parent)
    assert err.value.rule == "INVALID_GAS_USED_ABOVE_LIMIT"
    with pytest.raises(BlockRejected) as err:
        check_header(vm, header.copy(base_fee_per_gas=header.base_fee_per_gas + 1), parent)
    assert err.value.rule == "INVALID_BASEFEE_PER_GAS"


def test_a_rejection_known_by_two_names_matches_either():
    too_many = BlockRejected("7 blobs", 0, TOO_MANY_BLOBS)
    assert rejection_mismatch("TransactionException.TYPE_3_TX_BLOB_COUNT_EXCEEDED", too_many) is None
    assert rejection_mismatch("TransactionException.TYPE_3_TX_MAX_BLOB_GAS_ALLOWANCE_EXCEEDED", too_many) is None
    assert rejection_mismatch("TransactionException.INTRINSIC_GAS_TOO_LOW", too_many)
