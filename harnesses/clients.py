"""Model clients shared by every episode of a run: one per endpoint, reused across threads.

Building an OpenAI client is costly next to a fast model's turn (a TLS context, a connection
pool), and a fresh pool per episode also throws away its keep-alive connections. The runner
keeps one `ModelClients` per worker (per process, or per cluster node) and hands it to every
harness in `EpisodeContext.clients`; harnesses in other packages use it the same way:

    client = ctx.clients.openai(ctx.model)
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import openai

    from harnesses.models import ModelEndpoint


class ModelClients:
    """OpenAI clients by endpoint (base URL and key), made on first use. Thread-safe.

    Clients never retry by themselves (`max_retries=0`): retries and timeouts are decided per
    call, against the episode's deadline, by `harnesses.retry.call_model`.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sync: dict[tuple[str, str], openai.OpenAI] = {}
        self._async: dict[tuple[str, str], openai.AsyncOpenAI] = {}

    @staticmethod
    def _key(endpoint: ModelEndpoint) -> tuple[str, str]:
        return (endpoint.base_url, endpoint.api_key())

    def openai(self, endpoint: ModelEndpoint) -> openai.OpenAI:
        """The synchronous OpenAI client for `endpoint`."""
        import openai

        key = self._key(endpoint)
        with self._lock:
            client = self._sync.get(key)
            if client is None:
                client = openai.OpenAI(base_url=key[0], api_key=key[1], max_retries=0)
                self._sync[key] = client
            return client

    def async_openai(self, endpoint: ModelEndpoint) -> openai.AsyncOpenAI:
        """The asynchronous client for `endpoint` (for libraries that want both kinds)."""
        import openai

        key = self._key(endpoint)
        with self._lock:
            client = self._async.get(key)
            if client is None:
                client = openai.AsyncOpenAI(base_url=key[0], api_key=key[1], max_retries=0)
                self._async[key] = client
            return client

    def close(self) -> None:
        """Close the synchronous clients' connection pools (async ones close with their loop)."""
        with self._lock:
            clients, self._sync = list(self._sync.values()), {}
            self._async = {}
        for client in clients:
            client.close()
