"""The fleet.context.admin.v1 ContextAdminService servicer: history pages and story snapshots."""

from __future__ import annotations

import grpc

from context_service.adapters.grpc.servicer import rpc
from context_service.application.services import UseCases
from context_service.domain.model import ChangeRecord
from fleet.context.admin.v1 import admin_pb2 as pb
from fleet.context.admin.v1 import admin_pb2_grpc as pb_grpc


def history_record(record: ChangeRecord) -> pb.HistoryRecord:
    """A change record on the wire."""
    return pb.HistoryRecord(
        seq=record.seq,
        version=record.version,
        operation=record.operation,
        entity_type=record.entity_type,
        entity_id=record.entity_id,
        role=record.role,
        task_id=record.task_id,
        reason=record.reason,
        timestamp=record.timestamp,
        digest_before=record.digest_before,
        digest_after=record.digest_after,
        source=record.source,
    )


class ContextAdminServicer(pb_grpc.ContextAdminServiceServicer):
    """Thin inbound adapter over the history and snapshot use cases."""

    def __init__(self, *, use_cases: UseCases) -> None:
        self._uc = use_cases

    @rpc
    async def GetHistory(
        self, request: pb.GetHistoryRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetHistoryResponse:
        """One page of a story's change records, newest first."""
        page = await self._uc.get_history.execute(
            request.story_id, request.entity_id, request.page_size, request.page_token
        )
        return pb.GetHistoryResponse(
            records=[history_record(r) for r in page.records], next_page_token=page.next_page_token
        )

    @rpc
    async def ExportStory(
        self, request: pb.ExportStoryRequest, context: grpc.aio.ServicerContext
    ) -> pb.ExportStoryResponse:
        """The story's snapshot document."""
        exported = await self._uc.export_story.execute(request.story_id)
        return pb.ExportStoryResponse(document_json=exported.document_json, digest=exported.digest)

    @rpc
    async def ImportStory(
        self, request: pb.ImportStoryRequest, context: grpc.aio.ServicerContext
    ) -> pb.ImportStoryResponse:
        """Load a snapshot document, all of it or nothing."""
        done = await self._uc.import_story.execute(request.document_json, replace=request.replace)
        return pb.ImportStoryResponse(
            story_id=done.story_id,
            version=done.version,
            nodes=done.nodes,
            edges=done.edges,
            history_records=done.history_records,
        )
