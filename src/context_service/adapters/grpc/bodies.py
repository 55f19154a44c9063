"""Read requests taken as their bytes: each small body decoded, checked and mapped once, then kept.

Agents ask the read RPCs the same few questions over and over (each turn asks for its story's context as the
last did). Decoding a request, checking its text and reading its fields through the protobuf runtime costs a
served call far more than the same steps cost in a tight loop (a repeated field read alone about 7 us under
load), so GetContext, RehydrateSession and ValidateScope take their request's bytes, and `KeptBodies` maps
each body to the decoded request and what the RPC makes of it: found again by the bytes, nothing is decoded or
read. A body that is not a valid message, breaks the text rule or is refused by the mapping (GetContext's
validation: an unknown role, a bad id) is refused with INVALID_ARGUMENT every time it comes and is never kept.
The calls with the same body share its decoded request and mapping: they read them and never change them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Generic, TypeVar

from google.protobuf.message import DecodeError, Message

from context_service.adapters.grpc.mappers import check_request, not_decodable

# Bodies kept per RPC, least recently used out first, and the largest kept (larger ones are mapped each time):
# at most a few MB per RPC with what they map to.
KEPT_BODIES = 4096
KEPT_BODY_MAX_BYTES = 512

M = TypeVar("M", bound=Message)
T = TypeVar("T")


class KeptBodies(Generic[M, T]):
    """One RPC's request bodies, each mapped to (the decoded request, `asks` of it)."""

    def __init__(
        self,
        message_type: type[M],
        asks: Callable[[M], T],
        *,
        entries: int = KEPT_BODIES,
        max_bytes: int = KEPT_BODY_MAX_BYTES,
    ) -> None:
        """`asks`: what the RPC makes of a decoded, checked request (a function of it and of what is fixed for
        the process's life, such as the policy)."""
        self._type = message_type
        self._asks = asks
        self._max_bytes = max_bytes
        self._kept = functools.lru_cache(maxsize=entries)(self._read)

    def __call__(self, body: bytes) -> tuple[M, T]:
        """The request `body` decodes to and what it asks; InvalidArgument when it is not a valid one."""
        if len(body) > self._max_bytes:
            return self._read(body)
        return self._kept(body)

    def kept(self) -> int:
        """How many bodies are kept."""
        return self._kept.cache_info().currsize

    def found(self) -> int:
        """How many times a body was found kept."""
        return self._kept.cache_info().hits

    def _read(self, body: bytes) -> tuple[M, T]:
        try:
            request = self._type.FromString(body)
        except DecodeError:
            raise not_decodable(self._type.DESCRIPTOR.name) from None
        check_request(request)
        return request, self._asks(request)
