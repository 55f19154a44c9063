"""Rows of a compact GRAPH.QUERY reply: the common value kinds decoded in one tight loop.

The falkordb client's `QueryResult` decodes every cell through a table of parsers (an enum look-up, a call
and a type check per value, an OrderedDict per map): for a large story's load that is about three times the
cost of this loop. Only nulls, strings, integers, booleans, doubles, lists and maps are decoded here, the
way the client decodes them; any other kind (nodes, edges, paths, points, temporal values), error replies and
replies without a result set go to the client's own parser.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from falkordb.query_result import QueryResult, parse_scalar
from redis.exceptions import ResponseError

Rows = list[list[Any]]
_NULL, _STRING, _INTEGER, _BOOLEAN, _DOUBLE, _ARRAY, _MAP = 1, 2, 3, 4, 5, 6, 10
_AS_SENT = (_STRING, _INTEGER)  # already str and int as the connection decodes them
_SCALARS: dict[int, Callable[[Any], Any]] = {_NULL: lambda _: None, _DOUBLE: float, _BOOLEAN: "true".__eq__}
_ROWS_REPLY = 3  # header, rows, statistics


def reply_rows(graph: Any, reply: list[Any]) -> Rows:
    """The rows of `reply` (a compact reply to a query on `graph`); the client's errors raised as it does."""
    if len(reply) != _ROWS_REPLY or any(isinstance(part, ResponseError) for part in reply):
        return [list(row) for row in QueryResult(graph, reply).result_set]
    return [[_value(cell, graph) for cell in row] for row in reply[1]]


def _value(cell: list[Any], graph: Any) -> Any:
    kind, value = cell
    if kind in _AS_SENT:
        return value
    if kind == _MAP:
        return {value[i]: _value(value[i + 1], graph) for i in range(0, len(value), 2)}
    if kind == _ARRAY:
        return [_value(item, graph) for item in value]
    scalar = _SCALARS.get(kind)
    return scalar(value) if scalar is not None else parse_scalar(cell, graph)
