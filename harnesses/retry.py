"""Calling a model endpoint within an episode's deadline, retrying what is worth retrying.

The OpenAI client's own retries reuse one fixed timeout per attempt, so a slow server could
keep an episode running long past its deadline; here every attempt gets only the time left,
429 and 5xx answers and dropped connections are retried with exponential backoff (or the
server's `retry-after`), and anything else fails at once with the endpoint's own message.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

import openai
from pydantic import BaseModel

T = TypeVar("T")
RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


class RetryPolicy(BaseModel):
    max_retries: int = 4
    initial_delay_s: float = 0.5
    max_delay_s: float = 8.0


class ModelCallTimeout(Exception):
    """The episode's deadline passed while waiting for the model."""


class ModelCallFailed(Exception):
    """The endpoint refused the request, or kept failing after every retry."""


def _retry_after(exc: openai.APIStatusError) -> float | None:
    headers = exc.response.headers
    try:
        if "retry-after-ms" in headers:
            return float(headers["retry-after-ms"]) / 1000
        if "retry-after" in headers:
            return float(headers["retry-after"])
    except ValueError:
        return None
    return None


def describe(exc: Exception) -> str:
    """An endpoint error in one line: the status and the server's own message."""
    if isinstance(exc, openai.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {}
        return f"HTTP {exc.status_code}: {body.get('message') or exc.message}"
    return f"{type(exc).__name__}: {exc}"


def call_model(
    send: Callable[[float], T],
    deadline: float,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """`send(timeout)` until it succeeds; raises ModelCallTimeout or ModelCallFailed."""
    policy = policy or RetryPolicy()
    jitter = random.Random(0)  # deterministic backoff: runs are reproducible
    attempt = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ModelCallTimeout("episode deadline passed while waiting for the model")
        try:
            return send(remaining)
        except openai.APITimeoutError as exc:
            if deadline - time.monotonic() <= 0:
                raise ModelCallTimeout(
                    "episode deadline passed while waiting for the model"
                ) from None
            error: Exception = exc
            delay = 0.0
        except openai.APIStatusError as exc:
            if exc.status_code not in RETRYABLE_STATUS:
                raise ModelCallFailed(
                    f"model endpoint refused the request: {describe(exc)}"
                ) from exc
            error, delay = exc, _retry_after(exc)
            if delay is None:
                delay = min(policy.initial_delay_s * 2**attempt, policy.max_delay_s)
                delay *= 1 - 0.25 * jitter.random()
        except openai.APIConnectionError as exc:
            error = exc
            delay = min(policy.initial_delay_s * 2**attempt, policy.max_delay_s)
        if attempt >= policy.max_retries:
            raise ModelCallFailed(
                f"model endpoint failed {attempt + 1} times; last: {describe(error)}"
            ) from error
        if time.monotonic() + delay >= deadline:
            raise ModelCallTimeout(
                f"episode deadline would pass before the next retry (last: {describe(error)})"
            )
        sleep(delay)
        attempt += 1
