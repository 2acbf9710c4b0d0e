"""Write a copy of the contract that openapi-python-client can digest.

openapi-python-client (0.29.1) generates broken code for a request body offered in two media types with the same
schema (PATCH updateTask: `application/json` and `application/merge-patch+json`, both
TaskPatch): `update_task.py` fails on import (`NameError: name 'Unset' is not defined`), and
its two identical `isinstance(body, TaskPatch)` branches could never pick `application/json`
anyway. A client needs only one of the media types the server accepts, so where a request body
offers `application/merge-patch+json` this keeps that one alone.

Two of the task bodies' rules are read looser, the server checking them still (their refusals
are tested in tests/api/): the generator refuses an enum two of whose values make the same Python
name (`ValueError: Duplicate key GMT0 in enum`), as the IANA time zone names `Etc/GMT+0`,
`Etc/GMT-0` and `Etc/GMT0` do, so `TimeZone` is a string; and it reads a due date's shapes
(`anyOf`: all day, floating, zoned) as a union that keeps the first shape's parts alone, so
`due` is one object whose parts are null when absent.

One line is printed per rewrite; nothing else in the document changes. The committed contract
is never touched: `run` generates the Python client from the copy this writes.

    python normalize_contract.py IN.yaml OUT.yaml
"""

from __future__ import annotations

import sys
from typing import Any

from ruamel.yaml import YAML

MERGE_PATCH = "application/merge-patch+json"


def rewrite(node: Any, where: str, log: list[str]) -> Any:
    if isinstance(node, dict):
        content = node.get("content")
        if where.endswith("/requestBody") and isinstance(content, dict) and len(content) > 1:
            keep = MERGE_PATCH
            if keep in content and all(v == content[keep] for v in content.values()):
                log.append(f"{where}: content {sorted(content)} (same schema) -> [{keep}]")
                node = {**node, "content": {keep: content[keep]}}
        return {key: rewrite(value, f"{where}/{key}", log) for key, value in node.items()}
    if isinstance(node, list):
        return [rewrite(item, f"{where}/{i}", log) for i, item in enumerate(node)]
    return node


def plain_task_bodies(document: Any, log: list[str]) -> None:
    schemas = document["components"]["schemas"]
    schemas["TimeZone"].pop("enum")
    log.append("#/components/schemas/TimeZone: enum of IANA names -> string")
    due = schemas["TaskInput"]["properties"]["due"]
    zoned = next(shape for shape in due["anyOf"] if shape.get("title") == "DueZoned")
    parts = {name: {**part, "nullable": True} if name != "date" else part
             for name, part in zoned["properties"].items()}
    schemas["TaskInput"]["properties"]["due"] = {
        "type": "object", "description": due["description"], "nullable": True,
        "required": ["date"], "properties": parts, "additionalProperties": False,
    }
    log.append("#/components/schemas/TaskInput/properties/due: anyOf of shapes -> one object")


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    yaml = YAML(typ="safe", pure=True)
    with open(sys.argv[1], encoding="utf-8") as f:
        document = yaml.load(f)
    log: list[str] = []
    document = rewrite(document, "#", log)
    plain_task_bodies(document, log)
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        yaml.dump(document, f)
    for entry in log:
        print(f"  normalized {entry}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
