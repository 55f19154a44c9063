"""The graph ports on Neo4j 5 through the official async driver (managed transactions with driver retries).

One adapter per process (bootstrap builds it once), hence one bookmark manager per process: every session
passes it, so a read follows this process's earlier writes even on a cluster behind a `neo4j://` routing
URI. Reads run in read transactions (routed to readers), writes in write transactions (to the leader).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Self, TypeVar

import neo4j

from context_service.adapters.cypher import catalogue as q
from context_service.adapters.cypher.dialect import NEO4J
from context_service.adapters.cypher.graph import CypherGraph, Execute, Rows
from context_service.adapters.cypher.kept_loads import KEPT_NODES
from context_service.adapters.neo4j.driver import BACKEND, build_driver
from context_service.adapters.neo4j.errors import translate
from context_service.domain.history_pages import DEFAULT_RETENTION
from context_service.ports.errors import PortError, StoreUnavailable

T = TypeVar("T")
# Each schema statement gets its own budget: on a cold server, or one that must index existing data, a
# constraint can take far longer than a query, and one shared budget would fail the whole step.
SCHEMA_STATEMENT_SECONDS = 30.0


async def _rows(tx: neo4j.AsyncManagedTransaction, text: str, params: q.Params) -> Rows:
    result = await tx.run(text, params)
    return [list(values) for values in await result.values()]


class Neo4jGraph(CypherGraph):
    """Async context manager: opens the driver, verifies connectivity and ensures the schema on enter."""

    backend = BACKEND
    engine = "Neo4j"
    name = "graph"

    def __init__(
        self,
        *,
        uri: str,
        user: str,
        password: str,
        database: str = "neo4j",
        max_pool_size: int = 50,
        timeout_seconds: float = 5.0,
        history_retention: int = DEFAULT_RETENTION,
        trusted_ca_file: Path | None = None,
        schema_statement_seconds: float = SCHEMA_STATEMENT_SECONDS,
        kept_nodes: int = KEPT_NODES,
    ) -> None:
        super().__init__(
            dialect=NEO4J,
            timeout_seconds=timeout_seconds,
            history_retention=history_retention,
            kept_nodes=kept_nodes,
        )
        self._uri = uri
        self._auth = (user, password)
        self._database = database
        self._pool = max_pool_size
        self._ca = trusted_ca_file
        self._schema_budget = max(schema_statement_seconds, timeout_seconds)
        self._bookmarks = neo4j.AsyncGraphDatabase.bookmark_manager()
        self._driver: neo4j.AsyncDriver | None = None

    def connect(self) -> None:
        """Build the driver without contacting the server (StoreMisconfigured if the settings are refused)."""
        if self._driver is None:
            self._driver = build_driver(
                uri=self._uri,
                auth=self._auth,
                trusted_ca_file=self._ca,
                timeout_seconds=self._timeout,
                max_pool_size=self._pool,
            )

    async def __aenter__(self) -> Self:
        """Open the driver, check the server, ensure constraints."""
        self.connect()
        try:
            await self.ping()
            await self.migrate()
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the driver and its pool."""
        if self._driver is not None:
            driver, self._driver = self._driver, None
            await driver.close()

    def _translate(self, exc: BaseException, operation: str) -> PortError | None:
        return translate(exc, backend=self.backend, operation=operation)

    def _opened(self) -> neo4j.AsyncDriver:
        if self._driver is None:
            raise StoreUnavailable("Neo4j adapter is closed", backend=BACKEND)
        return self._driver

    def _session(self, access: str) -> neo4j.AsyncSession:
        return self._opened().session(
            database=self._database, default_access_mode=access, bookmark_manager=self._bookmarks
        )

    async def _read(self, query: str, params: q.Params, operation: str) -> Rows:
        """A read in a managed read transaction."""

        async def work() -> Rows:
            async with self._session(neo4j.READ_ACCESS) as session:
                return await session.execute_read(_rows, query, params)

        return await self._guarded(operation, work)

    async def _write(self, work: Callable[[Execute], Awaitable[T]], operation: str) -> T:
        """Every statement of `work` in one managed write transaction (retried by the driver if transient)."""

        async def unit(tx: neo4j.AsyncManagedTransaction) -> T:
            return await work(lambda text, params: _rows(tx, text, params))

        async def call() -> T:
            async with self._session(neo4j.WRITE_ACCESS) as session:
                return await session.execute_write(unit)

        return await self._guarded(operation, call)

    async def ping(self) -> None:
        """Return when Neo4j answers."""
        await self._guarded("ping", lambda: self._opened().verify_connectivity())

    async def migrate(self) -> None:
        """Idempotent schema step: a uniqueness constraint (with its index) on `id` for every label."""
        for statement in self.dialect.schema:
            await self._guarded("migrate", partial(self._schema, statement), budget=self._schema_budget)

    async def _schema(self, statement: str) -> None:
        """One schema statement in its own auto-commit transaction (schema and data never share one)."""
        query = neo4j.Query(statement, timeout=self._schema_budget)
        async with self._session(neo4j.WRITE_ACCESS) as session:
            await (await session.run(query)).consume()

    async def drop(self) -> None:
        """Delete every node and relationship (tests)."""
        await self._write(lambda run: run(q.DROP_ALL, {}), "drop")
