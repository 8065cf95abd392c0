"""One transaction on one state view -> reads, writes, gas, logs (py-evm backend)."""

from parexec.evm import strict_rlp

strict_rlp.install()  # py-evm decodes blocks and transactions with pyrlp: canonical RLP only
