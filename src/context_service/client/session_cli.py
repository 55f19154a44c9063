"""`context-service session put|get|find|watch|drop|list`: the session context for people, as JSON lines."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import sys
from typing import Any

import grpc

from context_service.client.session import SessionClient, VersionMismatch


def add_parser(sub: Any) -> None:
    """The `session` command and its sub-commands."""
    session = sub.add_parser("session", help="read, write and watch a shared session context")
    session.add_argument("--address", default="localhost:50054", help="host:port of the server")
    session.add_argument("--token", default=None, help="bearer token, when the server asks for one")
    session.add_argument("--timeout", type=float, default=10.0, help="deadline of each call in seconds")
    actions = session.add_subparsers(dest="action", required=True)
    _entry_commands(actions)
    _session_commands(actions)


def _entry_commands(actions: Any) -> None:
    put = actions.add_parser("put", help="write one entry")
    put.add_argument("session_id")
    put.add_argument("key")
    put.add_argument("--json", required=True, dest="value", help="the value (any JSON)")
    put.add_argument(
        "--ttl", type=float, default=None, help="seconds to live (0: never; default: the session's)"
    )
    put.add_argument("--tag", action="append", default=[], help="a tag (repeatable)")
    put.add_argument("--source", default="cli", help="who wrote it")
    put.add_argument(
        "--expected-version", type=int, default=None, help="write only at this version (0: absent)"
    )
    _idempotency_key(put)
    get = actions.add_parser("get", help="read one entry")
    get.add_argument("session_id")
    get.add_argument("key")
    find = actions.add_parser("find", help="entries by glob pattern and/or tag")
    find.add_argument("session_id")
    find.add_argument("--pattern", default="", help="glob over keys (* and ?)")
    find.add_argument("--tag", default="", help="only entries carrying this tag")
    watch = actions.add_parser("watch", help="print changes as they happen (Ctrl-C to stop)")
    watch.add_argument("session_id")
    watch.add_argument("--pattern", default="", help="glob over keys (* and ?)")
    watch.add_argument("--initial", action="store_true", help="first print every matching entry")


def _session_commands(actions: Any) -> None:
    drop = actions.add_parser("drop", help="remove a session and every entry in it")
    drop.add_argument("session_id")
    _idempotency_key(drop)
    listing = actions.add_parser("list", help="session ids")
    listing.add_argument("--prefix", default="", help="only ids starting with this")


def _idempotency_key(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--idempotency-key", default=None, help="run again with the same key: made once, first answer printed"
    )


def run(args: argparse.Namespace) -> int:
    """Run one sub-command; 1 on an RPC error (its code and message on stderr)."""
    try:
        return asyncio.run(_run(args))
    except grpc.aio.AioRpcError as err:
        print(f"{err.code().name}: {err.details()}", file=sys.stderr)
        return 1
    except VersionMismatch as exc:
        print(f"ABORTED: {exc}", file=sys.stderr)
        return 1
    except json.JSONDecodeError as exc:
        print(f"--json is not valid JSON: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


def _print(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False), flush=True)


async def _run(args: argparse.Namespace) -> int:
    session_id = getattr(args, "session_id", "")
    async with SessionClient(args.address, session_id, token=args.token, timeout=args.timeout) as client:
        if args.action == "put":
            _print(dataclasses.asdict(await client.set(
                args.key, json.loads(args.value), ttl=args.ttl, source=args.source, tags=args.tag,
                expected_version=args.expected_version, idempotency_key=args.idempotency_key,
            )))  # fmt: skip
        elif args.action == "get":
            entry = await client.get_entry(args.key)
            if entry is None:
                print(f"NOT_FOUND: no live entry '{args.key}'", file=sys.stderr)
                return 1
            _print(dataclasses.asdict(entry))
        elif args.action == "find":
            found = await (
                client.find_by_tag(args.tag, args.pattern)
                if args.tag
                else client.find_by_pattern(args.pattern)
            )
            _print(found)
        elif args.action == "watch":
            with contextlib.suppress(asyncio.CancelledError):
                async for event in client.subscribe(args.pattern, include_initial=args.initial):
                    _print(dataclasses.asdict(event))
        elif args.action == "drop":
            removed = await client.drop(idempotency_key=args.idempotency_key)
            _print({"session_id": session_id, "entries_removed": removed})
        else:
            _print(await client.sessions(args.prefix))
    return 0
