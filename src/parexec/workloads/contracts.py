"""The contracts synthetic workloads call, as hand-assembled EVM bytecode."""

from __future__ import annotations

OPCODES = {
    "STOP": 0x00, "ADD": 0x01, "SUB": 0x03, "GT": 0x11, "CALLER": 0x33,
    "CALLDATALOAD": 0x35, "MSTORE": 0x52, "SLOAD": 0x54, "SSTORE": 0x55,
    "JUMPI": 0x57, "JUMPDEST": 0x5B, "PUSH0": 0x5F, "DUP1": 0x80, "DUP2": 0x81,
    "SWAP1": 0x90, "LOG3": 0xA3, "REVERT": 0xFD,
}


def assemble(*items) -> bytes:
    """Opcode names and ints (pushed with the smallest PUSHn)."""
    out = bytearray()
    for item in items:
        if isinstance(item, str):
            out.append(OPCODES[item])
        else:
            raw = item.to_bytes(max(1, (item.bit_length() + 7) // 8), "big")
            out.append(0x5F + len(raw))
            out += raw
    return bytes(out)


# keccak("Transfer(address,address,uint256)")
TRANSFER_TOPIC = 0xDDF252AD1BE2C89B69C2B068FC378DAA952BA7F163C4A11628F55A4DF523B3EF

# A minimal token: calldata = to (32 bytes) | amount (32 bytes); the balance of
# an address lives in the slot numbered by the address. Reverts on insufficient
# balance; emits Transfer(from, to, amount).
def _token(revert_at: int) -> bytes:
    body = assemble(
        "CALLER", "SLOAD",                 # [bal]
        32, "CALLDATALOAD",                # [bal, amount]
        "DUP2", "DUP2", "GT",              # amount > bal ?
        revert_at, "JUMPI",
        "SWAP1", "SUB",                    # [bal - amount]
        "CALLER", "SSTORE",                # balances[caller] = bal - amount
        "PUSH0", "CALLDATALOAD",           # [to]
        "DUP1", "SLOAD",                   # [to, bal_to]
        32, "CALLDATALOAD", "ADD",         # [to, bal_to + amount]
        "SWAP1", "SSTORE",                 # balances[to] += amount
        32, "CALLDATALOAD", "PUSH0", "MSTORE",
        "PUSH0", "CALLDATALOAD", "CALLER", TRANSFER_TOPIC, 32, "PUSH0", "LOG3",
        "STOP",
    )
    return body + assemble("JUMPDEST", "PUSH0", "PUSH0", "REVERT")


TOKEN_CODE = _token(len(_token(0xFF)) - 4)

# A counter every call increments: each call depends on the previous one.
COUNTER_CODE = assemble("PUSH0", "SLOAD", 1, "ADD", "PUSH0", "SSTORE", "STOP")
