"""Reading JSON that parexec did not write: fixtures, dumps, access lists,
genesis files, a node's answers.

Every reader goes through here so that hostile input ends in one FixtureError
naming the file and the fault, never in a crash:

- bytes that are not UTF-8 (the position of the first bad byte);
- text that is not JSON (line and column), NaN or Infinity, or an integer of
  more digits than Python converts;
- nesting deeper than MAX_DEPTH. py-evm and py_ecc raise the recursion limit to
  100000 at import, so the C decoder would recurse until it overflows the C
  stack (a segmentation fault). In the main thread the limit is lowered around
  the decoder, which costs nothing; the limit is interpreter-wide, so another
  thread (a fetch download beside an execution) counts the depth first instead;
- a file over MAX_BYTES (a gzip file: its content), refused before it is read.
"""

from __future__ import annotations

import gzip
import json
import re
import sys
import threading
from itertools import accumulate
from pathlib import Path

from parexec.model import FixtureError

MAX_DEPTH = 512  # the shared fixtures nest 6 levels at most
MAX_BYTES = 1 << 30  # 1024 MiB; the largest shared file is 39 MB (bytecodes.json.gz unpacked)

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"?', re.S)  # unterminated: to the end (linear)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = bytes.maketrans(b"[{]}", b"\x01\x01\x00\x00")


def read_json(path: Path, max_bytes: int = MAX_BYTES):
    """The JSON document in the file ``path`` (gzip-compressed when it ends in
    ``.gz``). Raises FixtureError naming the file."""
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                data = fh.read(max_bytes + 1)
        else:
            if path.stat().st_size > max_bytes:
                raise FixtureError(f"{path}: {path.stat().st_size} bytes, over the {_size(max_bytes)} "
                                   "limit for a JSON file")
            data = path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise FixtureError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    if len(data) > max_bytes:
        raise FixtureError(f"{path}: over the {_size(max_bytes)} limit for a JSON file (unpacked)")
    return parse_json(data, str(path))


def parse_json(data: bytes | str, where: str):
    """The JSON document ``data``; raises FixtureError starting with ``where``."""
    if isinstance(data, (bytes, bytearray)):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FixtureError(f"{where}: not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None
    else:
        text = data
    try:
        if threading.current_thread() is threading.main_thread():
            return _with_lowered_limit(text)
        if _depth(text.encode("utf-8", "surrogatepass")) > MAX_DEPTH:
            raise RecursionError
        return _loads(text)
    except json.JSONDecodeError as exc:
        raise FixtureError(f"{where}: not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    except RecursionError:
        raise FixtureError(f"{where}: JSON nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # NaN, Infinity, an integer of too many digits
        raise FixtureError(f"{where}: not valid JSON: {exc}") from None


def _loads(text: str):
    return json.loads(text, parse_constant=_refuse_constant)


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _with_lowered_limit(text: str):
    """json.loads with the recursion limit at the current depth plus MAX_DEPTH:
    the decoder counts each nested array or object against it."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(_frames() + MAX_DEPTH + 8)  # json.loads and its decoder: 3 frames
    try:
        return _loads(text)
    finally:
        sys.setrecursionlimit(old)


def _frames() -> int:
    frame, n = sys._getframe(1), 0
    while frame is not None:
        frame, n = frame.f_back, n + 1
    return n


def _depth(data: bytes) -> int:
    """How deep the JSON text ``data`` nests (brackets in strings not counted)."""
    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKET).translate(_STEP)
    return max(accumulate(1 if b else -1 for b in brackets), default=0)


def _size(n: int) -> str:
    return f"{n / 2**20:g} MiB"
