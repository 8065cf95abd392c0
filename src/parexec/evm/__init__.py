"""One transaction on one state view -> reads, writes, gas, logs (py-evm backend)."""
