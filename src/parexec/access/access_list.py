"""Block access lists: every transaction's exact footprint, from a serial run.

The idea of EIP-7928: a builder publishes, with the block, what each transaction
reads and writes, so that executors can schedule without discovering conflicts.
parexec writes them as JSON (``parexec access-list``) and reads them back as
hints for declared-access strategies. The file names its block (number and
hash) and each transaction's hash, so hints are never applied to the wrong
block; every location is checked on reading. The sender saves the reader a
signature recovery (optional; like the rest it is a hint, and the commit
checks every result).

    {"format": "parexec-block-access-list/1",
     "block": {"number": 19426587, "hash": "0x..."},
     "transactions": [{"index": 0, "hash": "0x...", "sender": "0x...",
                       "reads": [["nonce", "0xabc..."], ["storage", "0xdef...", "0x3"]],
                       "writes": [["balance_delta", "0xabc..."]]}, ...]}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from parexec.access.footprint import KINDS, Footprint
from parexec.json_input import read_json
from parexec.model import STORAGE, FixtureError, TxResult
from parexec.strategies.serial import SerialStrategy

FORMAT = "parexec-block-access-list/1"


def block_access_list(block, tx_results: list[TxResult]) -> dict:
    """The access list of ``block`` from its (serial) transaction results."""
    transactions = []
    for tx, result in zip(block.transactions, tx_results):
        footprint = Footprint.of_result(result)
        entry = {"index": result.index, "hash": "0x" + tx.hash.hex()}
        if footprint.sender is not None:
            entry["sender"] = "0x" + footprint.sender.hex()
        entry["reads"] = sorted(map(_location_json, footprint.reads))
        entry["writes"] = sorted(map(_location_json, footprint.writes))
        transactions.append(entry)
    return {
        "format": FORMAT,
        "block": {"number": block.header.block_number, "hash": "0x" + block.header.hash.hex()},
        "transactions": transactions,
    }


class AccessListRecorder(SerialStrategy):
    """Serial execution that keeps the access list of every block it executes:
    how a chain of blocks (an ethereum/tests case) gets one list per block."""

    def __init__(self, **options):
        super().__init__(**options)
        self.lists: list[dict] = []

    def run_transactions(self, env, block, state, workers=1):
        results, stats = super().run_transactions(env, block, state, workers)
        self.lists.append(block_access_list(block, results))
        return results, stats


def file_name(data: dict) -> str:
    """Where a list goes in a folder of them: unique per block."""
    return f"{data['block']['number']}-{data['block']['hash'][2:18]}.json"


def write_access_list(data: dict, path: Path | None) -> str:
    """The JSON text (one line per transaction), also written to ``path`` if given."""
    head = {k: v for k, v in data.items() if k != "transactions"}
    lines = [json.dumps(tx, separators=(",", ":")) for tx in data["transactions"]]
    text = json.dumps(head)[:-1] + ', "transactions": [\n' + ",\n".join(lines) + "\n]}\n"
    if path is not None:
        Path(path).write_text(text)
    return text


def write_access_lists(lists: list[dict], output: Path | None) -> str | None:
    """One block's list to the file ``output`` (None: returned, for standard
    output), several into the folder ``output``, one ``file_name`` each.
    Raises ValueError for several lists and no folder to put them in."""
    if len(lists) == 1 and not (output is not None and output.is_dir()):
        text = write_access_list(lists[0], output)
        return text if output is None else None
    if output is None:
        raise ValueError(f"{len(lists)} blocks: give -o FOLDER for their lists")
    output.mkdir(parents=True, exist_ok=True)
    for data in lists:
        write_access_list(data, output / file_name(data))
    return None


def load_access_list(path: Path, block) -> list[Footprint]:
    """Footprints per transaction of ``block``. Raises FixtureError, naming the file
    and the fault, if it is not an access list of exactly this block."""
    try:
        data = read_json(path)
    except FixtureError as exc:
        raise FixtureError(f"{exc} (cannot read an access list)") from None
    return footprints_of(data, block, str(path))


def footprints_of(data, block, where: str = "the access list") -> list[Footprint]:
    """Footprints per transaction of ``block`` from a list as ``block_access_list``
    makes it (``where``: what to call it in a message). Raises FixtureError if
    it is not an access list of exactly this block."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise FixtureError(f"{where}: not a parexec block access list (format {FORMAT!r})")
    head = data.get("block")
    if not isinstance(head, dict):
        raise FixtureError(f"{where}: \"block\" is not an object naming the block")
    number, block_hash = block.header.block_number, "0x" + block.header.hash.hex()
    if head.get("number") != number or str(head.get("hash", "")).lower() != block_hash:
        raise FixtureError(
            f"{where}: the access list is for block {head.get('number')} {head.get('hash')}, "
            f"not block {number} {block_hash}"
        )
    entries = data.get("transactions")
    if not isinstance(entries, list) or len(entries) != len(block.transactions):
        count = len(entries) if isinstance(entries, list) else "no"
        raise FixtureError(f"{where}: {count} transactions listed, the block has {len(block.transactions)}")
    footprints = []
    for i, (entry, tx) in enumerate(zip(entries, block.transactions)):
        if not isinstance(entry, dict) or entry.get("index") != i:
            raise FixtureError(f"{where}: transaction entry {i} is malformed or out of order")
        if str(entry.get("hash", "")).lower() != "0x" + tx.hash.hex():
            raise FixtureError(f"{where}: transaction {i} has hash {entry.get('hash')}, the block's is 0x{tx.hash.hex()}")
        try:
            reads = frozenset(_location(x) for x in entry.get("reads", []))
            writes = frozenset(_location(x) for x in entry.get("writes", []))
            sender = _address(entry["sender"]) if "sender" in entry else None
        except (TypeError, ValueError) as exc:
            raise FixtureError(f"{where}: transaction {i}: {exc}") from None
        footprints.append(Footprint(reads, writes, sender))
    return footprints


class AccessListHints:
    """The block access lists under a path (one file, or a folder searched for
    them), found by block: parexec's JSON lists (each transaction's locations,
    what declared-access strategies take) by block hash, and EIP-7928 lists
    (``NUMBER-HASH.rlp`` from ``access-list --format eip7928``, what ``bal``
    takes) by the number and hash in their name; one ``.rlp`` file named
    otherwise (a list from elsewhere) is the list of whichever block runs, held
    to that block as any list is. A block without a list gets None (the
    strategy then does without)."""

    def __init__(self, path: Path):
        from parexec.access.eip7928_builder import is_eip7928_file_stem

        path = Path(path)
        if not path.exists():
            raise FixtureError(f"{path}: no such file or folder")
        files = [path] if path.is_file() else sorted(path.rglob("*.json")) + sorted(path.rglob("*.rlp"))
        self.by_hash: dict[str, Path] = {}
        self.eip7928: dict[str, Path] = {}  # "NUMBER-HASH16" -> file
        self.eip7928_any: Path | None = None  # a file named otherwise, given alone
        unnamed = []  # .rlp files in a folder that are named otherwise: matched to no block
        for file in files:
            if file.suffix == ".rlp":
                if is_eip7928_file_stem(file.stem):
                    self.eip7928[file.stem] = file
                elif path.is_file():
                    self.eip7928_any = file
                else:
                    unnamed.append(file.name)
                continue
            try:
                data = read_json(file)
            except FixtureError:
                if path.is_file():
                    raise
                data = None  # in a folder: not a list (a readable view, a stray file)
            if isinstance(data, dict) and data.get("format") == FORMAT:
                head = data.get("block")
                self.by_hash[str(head.get("hash", "") if isinstance(head, dict) else "").lower()] = file
            elif path.is_file():
                raise FixtureError(f"{file}: not a parexec block access list (format {FORMAT!r})")
        if not self.by_hash and not self.eip7928 and self.eip7928_any is None:
            why = (f" (its .rlp files, such as {unnamed[0]}, are not named NUMBER-HASH16.rlp as "
                   "`access-list --format eip7928` names them, so no block is theirs)") if unnamed else ""
            raise FixtureError(f"{path}: no block access lists found{why}")

    def footprints_for(self, block) -> list[Footprint] | None:
        file = self.by_hash.get("0x" + block.header.hash.hex())
        return None if file is None else load_access_list(file, block)

    def eip7928_for(self, block):
        """The block's EIP-7928 list (access.eip7928.BlockAccessList), or None."""
        encoded = self.eip7928_encoded_for(block)
        return None if encoded is None else encoded.decode_for(block)

    def eip7928_encoded_for(self, block):
        """The block's EIP-7928 list still encoded (access.eip7928.EncodedList), or None."""
        from parexec.access.eip7928_builder import eip7928_file_stem, read_encoded_list

        file = self.eip7928.get(eip7928_file_stem(block), self.eip7928_any)
        return None if file is None else read_encoded_list(file)


def _location_json(loc: tuple) -> list:
    out = [loc[0], "0x" + loc[1].hex()]
    if loc[0] == STORAGE:
        out.append(hex(loc[2]))
    return out


def _location(item) -> tuple:
    if not isinstance(item, list) or not item or item[0] not in KINDS:
        raise ValueError(f"bad location {item!r}")
    kind = item[0]
    if len(item) != (3 if kind == STORAGE else 2):
        raise ValueError(f"bad location {item!r}")
    address = _address(item[1])
    if kind == STORAGE:
        slot = int(_strip(item[2]), 16)
        if not 0 <= slot < 2**256:
            raise ValueError(f"bad slot in {item!r}")
        return (kind, address, slot)
    return (kind, address)


def _address(text) -> bytes:
    address = bytes.fromhex(_strip(text))
    if len(address) != 20:
        raise ValueError(f"bad address {text!r}")
    return address


def _strip(text) -> str:
    if not isinstance(text, str) or not text.startswith("0x"):
        raise ValueError(f"expected a 0x-prefixed hex string, got {text!r}")
    return text[2:]


@dataclass(frozen=True)
class GivenLists:
    """Hints held in memory, the same for whichever block asks: footprints for the
    declared-access strategies (or a parexec list as ``block_access_list`` makes
    it, held to the block that asks as a file is), an EIP-7928 list for bal
    (tests, benchmarks and ``parexec.execute`` give exact lists, and lists made
    wrong on purpose, this way)."""

    footprints: list[Footprint] | None = None
    eip7928: object = None
    parexec: dict | None = None  # a list as block_access_list makes it: held to the block that asks

    def footprints_for(self, block) -> list[Footprint] | None:
        return footprints_of(self.parexec, block) if self.parexec is not None else self.footprints

    def eip7928_for(self, block):
        return self.eip7928
