"""A session change whose answer was lost with its connection, and which its client sent again, lands once.

The pooled connections (a change followed by WAIT) and the cluster client send a command again after a lost
connection, although the server may have run it: the store gives each change such a client sends a write id,
and the script makes the change once per id.
"""

from __future__ import annotations

import re
import uuid

import pytest

from context_service.adapters.valkey.client import ValkeyClient
from context_service.adapters.valkey.session import ValkeySessionStore
from context_service.config import ValkeySettings
from context_service.domain.session import PutItem
from context_service.local_servers import LocalServer
from tests.support.sockets import CuttingProxy

pytestmark = pytest.mark.integration
NOW_MS = 1_793_534_400_000
SESSION = "s-resend"  # the first command naming it is the Put


async def test_a_put_sent_again_after_its_answer_was_lost_is_made_once(valkey: LocalServer) -> None:
    async with CuttingProxy(valkey.port, re.compile(SESSION.encode())) as proxy:
        settings = ValkeySettings(
            VALKEY_URL=f"redis://127.0.0.1:{proxy.port}", VALKEY_WAIT_REPLICAS=1, VALKEY_WAIT_TIMEOUT_MS=1
        )
        async with ValkeyClient(settings=settings, timeout_seconds=5) as client:
            assert client.may_resend
            store = ValkeySessionStore(client=client, prefix=f"ctx:test:{uuid.uuid4().hex}:")
            await store.put("warm-up", [PutItem("a", "0")], NOW_MS)  # the scripts are cached from here on
            proxy.arm()
            result = await store.put(SESSION, [PutItem("a", "1")], NOW_MS)
            [entry] = await store.get(SESSION, ["a"], NOW_MS)
            latest = await store.latest_revision(SESSION)
    assert len(proxy.cut) == 1
    assert proxy.cut[0].startswith(b"*")  # the lost answer: an applied change
    assert (result.revision, result.entries[0].version) == (1, 1)
    assert (entry.version, entry.revision, latest) == (1, 1, 1)
