"""The graph ports on Neo4j 5 through the official async driver (managed transactions with driver retries)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import neo4j
import neo4j.exceptions as neo4j_errors

from context_service.adapters.cypher import catalogue as q
from context_service.adapters.cypher.dialect import NEO4J
from context_service.adapters.cypher.graph import CypherGraph, Execute, Rows
from context_service.domain.history_pages import DEFAULT_RETENTION
from context_service.ports.errors import StoreUnavailable

T = TypeVar("T")
BACKEND = "neo4j"
_UNAVAILABLE = (
    neo4j_errors.ServiceUnavailable,
    neo4j_errors.SessionExpired,
    neo4j_errors.TransientError,
    neo4j_errors.AuthError,
    OSError,
)


async def _rows(tx: neo4j.AsyncManagedTransaction, text: str, params: q.Params) -> Rows:
    result = await tx.run(text, params)
    return [list(values) for values in await result.values()]


class Neo4jGraph(CypherGraph):
    """Async context manager: opens the driver, verifies connectivity and ensures the schema on enter."""

    backend = BACKEND
    engine = "Neo4j"
    name = "graph"
    unavailable_errors = _UNAVAILABLE
    rejected_errors = (neo4j_errors.Neo4jError,)

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
    ) -> None:
        super().__init__(dialect=NEO4J, timeout_seconds=timeout_seconds, history_retention=history_retention)
        self._uri = uri
        self._auth = (user, password)
        self._database = database
        self._pool = max_pool_size
        self._ca = trusted_ca_file
        self._driver: neo4j.AsyncDriver | None = None

    async def __aenter__(self) -> Self:
        """Open the driver, check the server, ensure constraints."""
        options: dict[str, Any] = {
            "max_connection_pool_size": self._pool,
            "connection_timeout": self._timeout,
            "connection_acquisition_timeout": self._timeout,
        }
        if self._ca is not None:
            options["trusted_certificates"] = neo4j.TrustCustomCAs(str(self._ca))
        self._driver = neo4j.AsyncGraphDatabase.driver(self._uri, auth=self._auth, **options)
        try:
            await self.ping()
            await self.migrate()
        except BaseException:
            await self._driver.close()
            self._driver = None
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the driver and its pool."""
        if self._driver is not None:
            await self._driver.close()
            self._driver = None

    def _open(self) -> neo4j.AsyncDriver:
        if self._driver is None:
            raise StoreUnavailable("Neo4j adapter is closed", backend=BACKEND)
        return self._driver

    async def _read(self, query: str, params: q.Params, operation: str) -> Rows:
        """A read in a managed read transaction."""

        async def work() -> Rows:
            async with self._open().session(database=self._database) as session:
                return await session.execute_read(_rows, query, params)

        return await self._guarded(operation, work)

    async def _write(self, work: Callable[[Execute], Awaitable[T]], operation: str) -> T:
        """Every statement of `work` in one managed write transaction (retried by the driver if transient)."""

        async def unit(tx: neo4j.AsyncManagedTransaction) -> T:
            return await work(lambda text, params: _rows(tx, text, params))

        async def call() -> T:
            async with self._open().session(database=self._database) as session:
                return await session.execute_write(unit)

        return await self._guarded(operation, call)

    async def ping(self) -> None:
        """Return when Neo4j answers."""
        await self._guarded("ping", self._open().verify_connectivity)

    async def migrate(self) -> None:
        """Idempotent schema step: a uniqueness constraint (with its index) on `id` for every label."""

        async def ensure() -> None:
            async with self._open().session(database=self._database) as session:
                for statement in self.dialect.schema:
                    await (await session.run(statement)).consume()

        await self._guarded("migrate", ensure)

    async def drop(self) -> None:
        """Delete every node and relationship (tests)."""

        async def wipe() -> None:
            async with self._open().session(database=self._database) as session:
                await (await session.run("MATCH (n) DETACH DELETE n")).consume()

        await self._guarded("drop", wipe)
