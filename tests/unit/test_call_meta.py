"""What a call's metadata gives the use cases and the log line (`request_meta` inside the `rpc` wrapper)."""

from __future__ import annotations

import re
from typing import Any

from context_service.adapters.grpc.servicer import request_meta, rpc
from context_service.application.common import RequestMeta
from fleet.context.v1 import context_pb2 as pb
from tests.support.fakes import ServicerCall


class Servicer:
    @rpc
    async def ValidateScope(self, request: Any, context: Any) -> RequestMeta:
        return request_meta(context)


async def meta_of(call: ServicerCall) -> RequestMeta:
    return await Servicer().ValidateScope(pb.ValidateScopeRequest(role="developer", phase="BUILD"), call)


async def test_a_call_without_ids_gets_a_new_correlation_id_and_no_idempotency_key() -> None:
    # Act
    first, second = await meta_of(ServicerCall(("user-agent", "h2load"))), await meta_of(ServicerCall())

    # Assert
    assert re.fullmatch("[0-9a-f]{32}", first.correlation_id)
    assert re.fullmatch("[0-9a-f]{32}", second.correlation_id)
    assert first.correlation_id != second.correlation_id
    assert (first.idempotency_key, first.occurred_at_ms, first.source) == ("", 0, "ValidateScope")


async def test_the_first_named_correlation_header_wins_and_the_idempotency_key_is_trimmed() -> None:
    # Act
    meta = await meta_of(
        ServicerCall(
            ("x-request-id", "r-1"), ("x-correlation-id", "c-1"), ("idempotency-key", "  k-1 "), ("te", "x")
        )
    )

    # Assert
    assert meta == RequestMeta(correlation_id="c-1", idempotency_key="k-1", source="ValidateScope")


async def test_ids_are_cut_at_256_characters_and_binary_values_are_ignored() -> None:
    # Act
    meta = await meta_of(ServicerCall(("x-correlation-id-bin", b"\x00"), ("correlation-id", "c" * 300)))

    # Assert
    assert meta.correlation_id == "c" * 256
