"""The console entry point: `context-service serve | call | rpcs`."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence

import structlog
from pydantic import ValidationError

from context_service.config import Settings
from context_service.domain.policy import PolicyError
from context_service.observability.logging import configure_logging

log = structlog.get_logger()
# The printed example commands are long on purpose: they are meant to be copied as they are.
EXAMPLES = """\
Context Service is listening on {address} (demo project loaded). Try, from another terminal:

  .venv/bin/context-service call GetContext --json '{{"story_id": "US-101", "role": "developer", "phase": "BUILD"}}'
  .venv/bin/context-service call RehydrateSession --json '{{"case_id": "US-101", "roles": ["architect", "qa"], "include_timeline": true}}'
  .venv/bin/context-service call GetGraphRelationships --json '{{"node_id": "EPIC-CHECKOUT", "node_type": "Epic", "depth": 2}}'

Press Ctrl-C to stop.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="context-service", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the gRPC server (settings from the environment)")
    serve.add_argument("--demo", action="store_true", help="seed the demo project and print example calls")
    call = sub.add_parser("call", help="call one RPC of a running server with a JSON request")
    call.add_argument("rpc", help="RPC name, e.g. GetContext")
    call.add_argument("--json", default="{}", help="the request as ProtoJSON")
    call.add_argument("--address", default="localhost:50054", help="host:port of the server")
    call.add_argument("--metadata", action="append", default=[], metavar="KEY=VALUE", help="request metadata")
    call.add_argument("--timeout", type=float, default=10.0, help="deadline in seconds")
    sub.add_parser("rpcs", help="list the RPCs `call` accepts")
    return parser


def describe_error(exc: ValidationError) -> str:
    """One line naming the variable and what is wrong with it."""
    error = exc.errors()[0]
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{error['loc'][0]}: {message}" if error["loc"] else message


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments and run the command; exit non-zero with one clear line on bad configuration."""
    args = _parser().parse_args(argv)
    if args.command == "call":
        from context_service.adapters.grpc.client import run_call  # noqa: PLC0415 — only this command needs it

        return run_call(args.rpc, args.json, args.address, args.metadata, args.timeout)
    if args.command == "rpcs":
        from context_service.adapters.grpc.client import rpc_names  # noqa: PLC0415

        print("\n".join(rpc_names()))
        return 0
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"context-service: invalid configuration: {describe_error(exc)}", file=sys.stderr)
        return 2
    configure_logging(settings.observability.log_level, settings.observability.log_format)
    try:
        return asyncio.run(_serve(settings, demo=args.demo))
    except PolicyError as exc:
        print(f"context-service: {exc}", file=sys.stderr)
        return 2


async def _serve(settings: Settings, *, demo: bool) -> int:
    from context_service.adapters.grpc.server import GrpcServer  # noqa: PLC0415 — keep `call` start-up light
    from context_service.bootstrap import build_container  # noqa: PLC0415
    from context_service.demo import seed_demo  # noqa: PLC0415

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with build_container(settings) as container:
        if demo or settings.seed_demo:
            await seed_demo(container)
        if settings.nats.enabled:
            log.warning(
                "nats_unavailable", detail="this build has no NATS integration yet: serving gRPC only"
            )
        else:
            log.info("nats_disabled", detail="ENABLE_NATS=false: serving gRPC only")
        server = GrpcServer(
            use_cases=container.use_cases,
            host=settings.grpc.host,
            port=settings.grpc.port,
            max_message_bytes=settings.grpc.max_message_bytes,
            grace_seconds=settings.grpc.shutdown_grace_seconds,
        )
        async with server:
            if demo:
                print(EXAMPLES.format(address=f"localhost:{server.port}"), flush=True)
            await stop.wait()
            log.info("shutdown_requested")
    return 0
