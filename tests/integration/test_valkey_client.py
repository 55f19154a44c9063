"""The Valkey client against private valkey-servers: connectivity, outages, hangs, credentials, metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis import exceptions as rx

from context_service.adapters.valkey.client import Command, ValkeyClient
from context_service.adapters.valkey.kv import ValkeyKeyValueStore
from context_service.adapters.valkey.planning import ValkeyPlanningStore
from context_service.config import ValkeySettings
from context_service.domain.model import Milestone
from context_service.local_servers import LocalServer, free_port, valkey_server
from context_service.observability.metrics import REGISTRY
from context_service.ports.errors import PortError, StoreTimeout, StoreUnavailable
from tests.conformance.backends import STORE_TIMEOUT, valkey_client, valkey_settings
from tests.support.servers import start_or_fail, stopped

pytestmark = pytest.mark.integration


@pytest.fixture
def private_valkey(tmp_path: Path) -> Iterator[LocalServer]:
    """A valkey-server of this test alone, which the test may stop, pause and start again."""
    server = start_or_fail(valkey_server(tmp_path))
    yield server
    server.stop()


def sample(name: str, **labels: str) -> float:
    """A metric sample of the process registry (0 when never observed)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def get(key: str) -> Command:
    """A GET sent alone (`ValkeyClient.run`)."""
    return Command(key, ("GET", key))


async def test_entering_the_client_pings_and_it_is_the_valkey_health_probe(valkey: LocalServer) -> None:
    # Act
    async with valkey_client(valkey) as client:
        await client.ping()

    # Assert
    assert client.name == "valkey"


async def test_entering_a_client_of_an_unreachable_server_raises_store_unavailable() -> None:
    # Arrange
    client = ValkeyClient(
        settings=ValkeySettings(VALKEY_URL=f"redis://127.0.0.1:{free_port()}"), timeout_seconds=1
    )

    # Act
    with pytest.raises(StoreUnavailable) as raised:
        await client.__aenter__()

    # Assert
    assert (raised.value.backend, raised.value.operation) == ("valkey", "ping")
    assert isinstance(raised.value.__cause__, rx.ConnectionError)


async def test_a_closed_client_raises_store_unavailable(valkey: LocalServer) -> None:
    # Arrange
    async with valkey_client(valkey) as client:
        pass

    # Act
    with pytest.raises(StoreUnavailable):
        await client.ping()


def every_call(kv: ValkeyKeyValueStore, planning: ValkeyPlanningStore) -> list[Callable[[], Awaitable[Any]]]:
    """One call of each adapter method."""
    return [
        lambda: kv.get("k"),
        lambda: kv.get_versioned("k"),
        lambda: kv.set("k", {"v": 1}, ttl=5),
        lambda: kv.delete("k"),
        lambda: kv.list_keys("*"),
        lambda: kv.get_many(["k", "j"]),
        lambda: kv.set_many({"k": {"v": 1}}),
        lambda: kv.delete_many(["k"]),
        lambda: kv.compare_and_set("k", 0, {"v": 1}),
        lambda: planning.load("S", ["qa"]),
        lambda: planning.merge_spec("S", {"title": "t"}),
        lambda: planning.save_handoff("S", 1, {"b": 1}, 60),
        lambda: planning.append_planning_event("S", Milestone("e", "d", 1)),
    ]


async def test_a_stopped_server_raises_port_errors_and_the_same_client_recovers_on_restart(
    private_valkey: LocalServer,
) -> None:
    # Arrange
    async with valkey_client(private_valkey, timeout_seconds=1) as client:
        kv = ValkeyKeyValueStore(client=client)
        calls = every_call(kv, ValkeyPlanningStore(client=client))
        for call in calls:
            await call()  # every connection of the pool has been used once
        private_valkey.stop()

        # Act
        failures = []
        for call in calls:
            with pytest.raises(PortError) as raised:
                await call()
            failures.append(raised.value)
        private_valkey.start()
        await kv.set("back", {"v": 1})

        # Assert
        assert all(isinstance(f, StoreUnavailable | StoreTimeout) for f in failures)
        assert all(isinstance(f.__cause__, rx.RedisError | OSError) for f in failures)
        assert await kv.get("back") == {"v": 1}


async def test_a_server_that_stops_answering_raises_store_timeout(private_valkey: LocalServer) -> None:
    # Arrange
    async with valkey_client(private_valkey, timeout_seconds=0.3) as client:
        with stopped(private_valkey), pytest.raises(StoreTimeout) as raised:
            # Act
            await client.ping()

        # Assert
        # The call's own deadline (no socket timeout on a single node), or the driver's on a cluster.
        assert isinstance(raised.value.__cause__, TimeoutError | rx.TimeoutError)
        await client.ping()  # answers again once the server resumes


async def test_a_reply_slower_than_the_drivers_default_socket_timeout_waits_for_the_store_timeout(
    private_valkey: LocalServer,
) -> None:
    # Arrange: redis-py gives up on a socket after 5 s unless told otherwise; the store timeout here is 8 s
    async with valkey_client(private_valkey, timeout_seconds=8.0) as client:
        await client.run("set", Command("slow", ("SET", "slow", "answered")))
        started = asyncio.get_running_loop().time()

        # Act
        with stopped(private_valkey, resume_after=5.5):
            reply = await client.run("get", get("slow"))

        # Assert
        assert reply == "answered"
        assert asyncio.get_running_loop().time() - started >= 5.5


async def test_credentials_from_the_settings_authenticate(private_valkey: LocalServer) -> None:
    # Arrange
    async with valkey_client(private_valkey) as admin, admin.call("test.config") as redis:
        await redis.config_set("requirepass", "s3cret pass")  # after start: the readiness probe sends no AUTH
    url = private_valkey.url
    right = ValkeySettings(VALKEY_URL=url, REDIS_USERNAME="default", REDIS_PASSWORD="s3cret pass")
    wrong = ValkeySettings(VALKEY_URL=url, REDIS_PASSWORD="nope")

    # Act
    async with ValkeyClient(settings=right, timeout_seconds=1) as client:
        await client.ping()
    with pytest.raises(StoreUnavailable) as raised:
        await ValkeyClient(settings=wrong, timeout_seconds=1).__aenter__()

    # Assert
    assert "s3cret" not in str(raised.value)


async def test_store_calls_are_timed_and_failures_counted_by_port_error(tmp_path: Path) -> None:
    # Arrange
    server = start_or_fail(valkey_server(tmp_path))
    latency_before = sample("context_store_call_seconds_count", backend="valkey", operation="kv.get")
    errors_before = sample(
        "context_store_errors_total", backend="valkey", operation="kv.get", error="StoreUnavailable"
    )
    async with ValkeyClient(settings=valkey_settings(server), timeout_seconds=1) as client:
        kv = ValkeyKeyValueStore(client=client)
        await kv.get("k")
        server.stop()

        # Act
        with pytest.raises(StoreUnavailable):
            await kv.get("k")

    # Assert
    assert (
        sample("context_store_call_seconds_count", backend="valkey", operation="kv.get") == latency_before + 2
    )
    errors = sample(
        "context_store_errors_total", backend="valkey", operation="kv.get", error="StoreUnavailable"
    )
    assert errors == errors_before + 1


async def test_a_command_cut_off_by_its_deadline_leaves_no_reply_for_the_next_one(
    private_valkey: LocalServer,
) -> None:
    # Arrange: the first command is sent to a paused server, so its reply comes only after its deadline
    async with valkey_client(private_valkey, timeout_seconds=0.3) as client:
        await client.run("test.set", Command("a", ("MSET", "a", "1", "b", "2")))
        with stopped(private_valkey), pytest.raises(StoreTimeout):
            await client.run("test.get", get("a"))

        # Act
        replies = [await client.run("test.get", get(key)) for key in ("b", "a", "b")]

    # Assert: each command has its own reply
    assert replies == ["2", "1", "2"]


async def test_an_error_reply_keeps_the_connection_in_step(valkey: LocalServer) -> None:
    # Arrange
    key = f"direct:{free_port()}"
    async with valkey_client(valkey) as client:
        await client.run("test.set", Command(key, ("SET", key, "not a number")))

        before = await client.run("test.id", Command(key, ("CLIENT", "ID")))

        # Act
        with pytest.raises(PortError):
            await client.run("test.incr", Command(key, ("INCR", key)))
        after = [await client.run("test.get", get(key)) for _ in range(3)]
        still = await client.run("test.id", Command(key, ("CLIENT", "ID")))

    # Assert: the same connection served on, each command with its own reply
    assert after == ["not a number"] * 3
    assert still == before


async def test_concurrent_single_commands_share_one_connection_each_with_its_own_reply(
    private_valkey: LocalServer,
) -> None:
    # Arrange
    async with valkey_client(private_valkey) as client:
        await client.run("test.set", Command("k0", ("MSET", *(f"k{i}" for i in range(200) for _ in "kv"))))
        ids = {await client.run("test.id", Command("k", ("CLIENT", "ID")))}

        # Act: 200 commands in flight at once, an error reply among them
        replies = await asyncio.gather(
            *(client.run("test.get", get(f"k{i}")) for i in range(200)),
            client.run("test.incr", Command("k", ("HGET", "k7", "f"))),
            return_exceptions=True,
        )
        ids.add(await client.run("test.id", Command("k", ("CLIENT", "ID"))))
        async with client.call("test.list") as redis:
            listed = await redis.client_list()

    # Assert: each command got its own reply, all on one connection beside the pool's one
    assert replies[:200] == [f"k{i}" for i in range(200)]
    assert isinstance(replies[200], PortError)
    assert len(ids) == 1
    assert len(listed) == 2


async def test_a_caller_that_gives_up_leaves_its_reply_behind_and_the_connection_in_step(
    private_valkey: LocalServer,
) -> None:
    # Arrange
    async with valkey_client(private_valkey, timeout_seconds=STORE_TIMEOUT) as client:
        await client.run("test.set", Command("a", ("MSET", "a", "1", "b", "2")))
        before = await client.run("test.id", Command("a", ("CLIENT", "ID")))

        # Act: the caller's own deadline (shorter than the store's) passes while the server is paused
        with stopped(private_valkey, resume_after=0.3):
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.1):
                    await client.run("test.get", get("a"))
            replies = [await client.run("test.get", get(key)) for key in ("b", "a")]
        after = await client.run("test.id", Command("a", ("CLIENT", "ID")))

    # Assert: the late reply was dropped, not handed to the next command; no new connection was needed
    assert replies == ["2", "1"]
    assert after == before


async def test_a_connection_closed_by_the_server_is_replaced_without_failing_the_next_command(
    valkey: LocalServer,
) -> None:
    # Arrange
    key = f"killed:{free_port()}"
    async with valkey_client(valkey) as client:
        await client.run("test.set", Command(key, ("SET", key, "v")))
        killed = await client.run("test.id", Command(key, ("CLIENT", "ID")))
        async with client.call("test.kill") as redis:
            await redis.execute_command("CLIENT", "KILL", "ID", killed)

        # Act
        reply = await client.run("test.get", get(key))
        replaced = await client.run("test.id", Command(key, ("CLIENT", "ID")))

    # Assert
    assert reply == "v"
    assert replaced != killed


async def test_a_command_written_before_its_connection_was_lost_is_not_sent_again(
    private_valkey: LocalServer,
) -> None:
    # Arrange: the first command (WAIT for a replica that does not exist) holds the INCR behind it
    async with valkey_client(private_valkey, timeout_seconds=STORE_TIMEOUT) as client:
        await client.run("test.set", Command("n", ("SET", "n", "0")))
        held = [
            asyncio.ensure_future(client.run("test.wait", Command("n", ("WAIT", 1, 2000)))),
            asyncio.ensure_future(client.run("test.incr", Command("n", ("INCR", "n")))),
        ]
        await asyncio.sleep(0.2)  # both written

        # Act: the connection is lost with both unanswered
        async with client.call("test.kill") as redis:
            await redis.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
        outcomes = await asyncio.gather(*held, return_exceptions=True)
        value = await client.run("test.get", get("n"))

    # Assert: the client cannot tell whether a written command ran, so it is not sent again (here it had
    # not run: a second send would have applied it; one that had run would have been applied twice)
    assert all(isinstance(o, StoreUnavailable) for o in outcomes)
    assert value == "0"


async def test_every_command_waiting_on_a_server_that_stops_answering_fails_within_the_store_timeout(
    private_valkey: LocalServer,
) -> None:
    # Arrange
    async with valkey_client(private_valkey, timeout_seconds=0.3) as client:
        await client.run("test.set", Command("a", ("SET", "a", "1")))
        loop = asyncio.get_running_loop()

        # Act
        with stopped(private_valkey):
            started = loop.time()
            outcomes = await asyncio.gather(
                *(client.run("test.get", get("a")) for _ in range(20)), return_exceptions=True
            )
            waited = loop.time() - started
        again = await client.run("test.get", get("a"))

    # Assert
    assert all(isinstance(o, StoreTimeout) for o in outcomes)
    assert 0.3 <= waited < 1.5
    assert again == "1"
