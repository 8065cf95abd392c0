"""JSON-RPC over HTTP, as `parexec fetch` talks to a node.

Raw JSON-RPC over httpx rather than web3.py: a block dump *is* the node's answer
(web3.py turns answers into its own types, and its batching and retry support
differ between versions), and httpx gives a thread-safe client with pooled
keep-alive connections and exact timeouts. Retries are tenacity's.

Calls go out as JSON-RPC batches (one HTTP request, many calls); at most
``concurrency`` requests are in flight. A request is retried, with exponential
backoff and jitter (or the node's Retry-After), when it fails in a way that
passes: a timeout or a dropped connection, HTTP 429 or 5xx, a JSON-RPC error
that says a rate limit was hit, or a reply that is not JSON-RPC at all (a
proxy's error page, a cut-off body). What does not pass (an unknown method,
invalid parameters, an execution error) fails at once as RpcError.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections import Counter
from dataclasses import dataclass

import httpx
from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_attempt

from parexec.json_input import parse_json
from parexec.model import FixtureError

RATE_LIMIT_CODES = {-32005, -32029, -32097, 429}  # Infura/Geth "limit exceeded", providers' own
RATE_LIMIT_WORDS = ("rate limit", "too many requests", "limit exceeded", "capacity exceeded")


class RpcError(Exception):
    """A JSON-RPC error answer that retrying will not fix."""

    def __init__(self, method: str, code, message: str):
        super().__init__(f"{method}: {message} (JSON-RPC error {code})")
        self.method, self.code = method, code


class NodeUnreachable(Exception):
    """The node did not give a usable answer within the retries (the reason of the last)."""


class _Transient(Exception):
    """A failure that may pass: retried."""

    def __init__(self, reason: str, detail: str, wait: float | None = None):
        super().__init__(detail)
        self.reason, self.wait = reason, wait


@dataclass(frozen=True)
class Call:
    method: str
    params: tuple = ()


class RpcClient:
    def __init__(self, url: str, concurrency: int = 4, timeout: float = 120.0, attempts: int = 6,
                 backoff: float = 0.5, max_batch: int = 100):
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"{url!r}: the RPC address must start with http:// or https://")
        self.url = url
        self.attempts, self.backoff, self.max_batch = attempts, backoff, max_batch
        self.http = httpx.Client(timeout=timeout, limits=httpx.Limits(max_connections=concurrency,
                                                                       max_keepalive_connections=concurrency))
        self._slots = threading.Semaphore(concurrency)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.retries: Counter = Counter()  # reason -> retried requests
        self.requests = 0

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, *params):
        return self.batch([Call(method, params)])[0]

    def batch(self, calls: list[Call]) -> list:
        """The results of ``calls``, in order (sent in batches of at most max_batch)."""
        results = []
        for start in range(0, len(calls), self.max_batch):
            results += self._with_retries(calls[start:start + self.max_batch])
        return results

    # ------------------------------------------------------------ one request
    def _with_retries(self, calls: list[Call]) -> list:
        try:
            for attempt in Retrying(stop=stop_after_attempt(self.attempts), wait=self._wait,
                                    retry=retry_if_exception_type(_Transient), reraise=False):
                with attempt:
                    return self._request(calls)
        except RetryError as exc:
            last = exc.last_attempt.exception()
            raise NodeUnreachable(f"{self.attempts} attempts failed; the last: {last}") from None
        raise AssertionError("unreachable")

    def _wait(self, retry_state) -> float:
        error = retry_state.outcome.exception()
        with self._lock:
            self.retries[error.reason] += 1
        exponential = self.backoff * 2 ** (retry_state.attempt_number - 1)
        return max(error.wait or 0.0, exponential * random.uniform(0.5, 1.0))

    def _request(self, calls: list[Call]) -> list:
        ids = [next(self._ids) for _ in calls]
        body = [{"jsonrpc": "2.0", "id": i, "method": c.method, "params": list(c.params)}
                for i, c in zip(ids, calls)]
        with self._slots:
            with self._lock:
                self.requests += 1
            try:
                response = self.http.post(self.url, json=body)
            except httpx.TimeoutException as exc:
                raise _Transient("timeout", f"no answer in time ({type(exc).__name__})") from None
            except httpx.TransportError as exc:
                raise _Transient("connection", f"connection failed: {exc}") from None
        if response.status_code == 429:
            raise _Transient("rate limit", "HTTP 429 Too Many Requests", _retry_after(response))
        if response.status_code >= 500:
            raise _Transient("server error", f"HTTP {response.status_code}")
        if response.status_code >= 400:
            raise RpcError(calls[0].method, response.status_code, f"HTTP {response.status_code}: "
                                                                   f"{response.text[:200]}")
        try:
            answers = parse_json(response.content, "the reply")
        except FixtureError as exc:  # not JSON, not UTF-8, nested too deep
            raise _Transient("malformed reply", f"not JSON ({exc}): {response.content[:80]!r}") from None
        if isinstance(answers, dict):  # one answer for the whole batch: an error
            raise self._error(calls[0], answers)
        if not isinstance(answers, list):
            raise _Transient("malformed reply", f"not a JSON-RPC batch answer: {str(answers)[:80]}")
        by_id = {a.get("id"): a for a in answers if isinstance(a, dict)}
        results = []
        for i, call in zip(ids, calls):
            answer = by_id.get(i)
            if answer is None:
                raise _Transient("malformed reply", f"no answer to {call.method} in the batch")
            if answer.get("error") is not None:
                raise self._error(call, answer)
            if "result" not in answer:
                raise _Transient("malformed reply", f"{call.method}: an answer without result or error")
            results.append(answer["result"])
        return results

    @staticmethod
    def _error(call: Call, answer: dict) -> Exception:
        error = answer.get("error")
        if not isinstance(error, dict):
            return _Transient("malformed reply", f"{call.method}: not a JSON-RPC answer: {str(answer)[:80]}")
        code, message = error.get("code"), str(error.get("message", ""))
        if code in RATE_LIMIT_CODES or any(w in message.lower() for w in RATE_LIMIT_WORDS):
            return _Transient("rate limit", f"{call.method}: {message} ({code})")
        return RpcError(call.method, code, message)


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return min(float(response.headers["Retry-After"]), 60.0)
    except (KeyError, ValueError):
        return None
