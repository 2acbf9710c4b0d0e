"""Drive every operation of a running Task API through a client that openapi-python-client
generated from openapi/task-operations.yaml, checking every answer strictly.

    BASE_URL=http://127.0.0.1:8000 python drive.py /tmp/x/task_api_client

The argument is the generated package's directory (made with `--meta none`); its parent goes on
sys.path and the package is imported by its directory name. The first mismatch raises and the
process exits non-zero. One line is printed per operation exercised.
"""

from __future__ import annotations

import datetime
import importlib
import json
import os
import re
import sys
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
MERGE_PATCH = "application/merge-patch+json"
OPERATIONS = [
    "health", "ready", "createUser", "getUser", "createTask", "listTasks", "getTask",
    "replaceTask", "updateTask", "deleteTask", "deleteUser",
]


class Failed(Exception):
    pass


class Checker:
    def __init__(self) -> None:
        self.checks = 0
        self.exercised: set[str] = set()

    def eq(self, actual: Any, expected: Any, what: str) -> None:
        self.checks += 1
        if actual != expected or type(actual) is not type(expected):
            raise Failed(f"{what}: expected {expected!r}, got {actual!r}")

    def ok(self, condition: bool, what: str) -> None:
        self.checks += 1
        if not condition:
            raise Failed(what)

    def isinstance(self, value: Any, cls: type, what: str) -> Any:
        self.checks += 1
        if not isinstance(value, cls):
            raise Failed(f"{what}: expected a {cls.__name__}, got {type(value).__name__}: {value!r}")
        return value

    def line(self, operation: str, detail: str) -> None:
        self.exercised.add(operation)
        print(f"ok  {operation:<12} {detail}", flush=True)


def load(package_dir: str) -> ModuleType:
    path = Path(package_dir).resolve()
    if not (path / "__init__.py").is_file():
        raise SystemExit(f"{path} is not a generated client package (no __init__.py)")
    sys.path.insert(0, str(path.parent))
    return importlib.import_module(path.name)


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    base_url = os.environ.get("BASE_URL")
    if not base_url:
        print("BASE_URL is not set (e.g. BASE_URL=http://127.0.0.1:8000)", file=sys.stderr)
        return 2
    pkg = load(sys.argv[1])
    name = pkg.__name__
    api = {
        op: importlib.import_module(f"{name}.api.{group}.{module}")
        for op, group, module in [
            ("health", "health", "health"),
            ("ready", "health", "ready"),
            ("createUser", "users", "create_user"),
            ("getUser", "users", "get_user"),
            ("deleteUser", "users", "delete_user"),
            ("createTask", "tasks", "create_task"),
            ("listTasks", "tasks", "list_tasks"),
            ("getTask", "tasks", "get_task"),
            ("replaceTask", "tasks", "replace_task"),
            ("updateTask", "tasks", "update_task"),
            ("deleteTask", "tasks", "delete_task"),
        ]
    }
    models = importlib.import_module(f"{name}.models")
    types = importlib.import_module(f"{name}.types")
    Client = pkg.Client
    ErrorEnvelope = models.ErrorEnvelope
    ErrorCode = models.ErrorCode
    FieldLocation = models.FieldLocation
    HealthStatus = models.HealthStatus
    ListTasksSort = models.ListTasksSort
    Task = models.Task
    TaskInput = models.TaskInput
    TaskPage = models.TaskPage
    TaskPatch = models.TaskPatch
    User = models.User
    UserInput = models.UserInput
    UNSET = types.UNSET

    sent: list[tuple[str, str | None]] = []

    def record(request: Any) -> None:
        sent.append((request.method, request.headers.get("content-type")))

    client = Client(
        base_url=base_url,
        raise_on_unexpected_status=True,
        httpx_args={"event_hooks": {"request": [record]}},
    )
    c = Checker()

    def status(response: Any, expected: int, what: str) -> None:
        c.eq(int(response.status_code), expected, f"{what}: HTTP status")

    def raw(response: Any) -> Any:
        return json.loads(response.content)

    def expect_error(response: Any, http_status: int, code: Any, what: str) -> Any:
        status(response, http_status, what)
        envelope = c.isinstance(response.parsed, ErrorEnvelope, what)
        c.isinstance(envelope.error.code, ErrorCode, f"{what}: error.code")
        c.ok(envelope.error.code == code, f"{what}: error.code {envelope.error.code!r} != {code!r}")
        c.ok(isinstance(envelope.error.message, str) and envelope.error.message != "", f"{what}: message")
        c.eq(raw(response)["error"]["code"], code.value, f"{what}: code on the wire")
        return envelope

    def expect_fields(envelope: Any, names: list[str], location: Any, what: str) -> None:
        fields = envelope.error.details.fields
        c.ok(fields is not UNSET, f"{what}: details.fields is absent")
        c.eq(sorted(f.field for f in fields), sorted(names), f"{what}: details.fields[].field")
        for f in fields:
            c.isinstance(f.location, FieldLocation, f"{what}: location type")
            c.ok(f.location == location, f"{what}: location of {f.field} is {f.location!r}")
            c.ok(isinstance(f.message, str) and f.message != "", f"{what}: message of {f.field}")

    def check_user(response: Any, http_status: int, what: str) -> Any:
        status(response, http_status, what)
        user = c.isinstance(response.parsed, User, what)
        c.isinstance(user.id, uuid.UUID, f"{what}: id")
        c.isinstance(user.created_at, datetime.datetime, f"{what}: created_at")
        c.eq(user.created_at.utcoffset(), datetime.timedelta(0), f"{what}: created_at is UTC")
        body = raw(response)
        c.eq(sorted(body), ["created_at", "id"], f"{what}: keys")
        c.ok(bool(UUID_RE.match(body["id"])), f"{what}: id {body['id']}")
        c.ok(bool(TIMESTAMP_RE.match(body["created_at"])), f"{what}: created_at {body['created_at']}")
        c.eq(user.additional_properties, {}, f"{what}: unknown fields")
        return user

    def check_task(response: Any, http_status: int, user_id: uuid.UUID, expected: dict[str, Any], what: str) -> Any:
        status(response, http_status, what)
        task = c.isinstance(response.parsed, Task, what)
        c.isinstance(task.id, uuid.UUID, f"{what}: id")
        c.eq(task.user_id, user_id, f"{what}: user_id")
        c.eq(task.title, expected["title"], f"{what}: title")
        c.eq(task.description, expected["description"], f"{what}: description")
        c.eq(task.is_completed, expected["is_completed"], f"{what}: is_completed")
        c.isinstance(task.created_at, datetime.datetime, f"{what}: created_at")
        c.isinstance(task.updated_at, datetime.datetime, f"{what}: updated_at")
        c.ok(task.updated_at >= task.created_at, f"{what}: updated_at before created_at")
        c.eq(task.additional_properties, {}, f"{what}: unknown fields")
        body = raw(response)
        c.eq(
            sorted(body),
            ["created_at", "description", "id", "is_completed", "title", "updated_at", "user_id"],
            f"{what}: keys",
        )
        c.ok(bool(TIMESTAMP_RE.match(body["created_at"])), f"{what}: created_at {body['created_at']}")
        c.ok(bool(TIMESTAMP_RE.match(body["updated_at"])), f"{what}: updated_at {body['updated_at']}")
        return task

    def list_all(user_id: uuid.UUID, limit: int, what: str, **query: Any) -> tuple[list[Any], int]:
        tasks: list[Any] = []
        cursor: Any = UNSET
        pages = 0
        while True:
            r = api["listTasks"].sync_detailed(user_id, client=client, limit=limit, cursor=cursor, **query)
            status(r, 200, what)
            page = c.isinstance(r.parsed, TaskPage, what)
            pages += 1
            c.ok(len(page.items) <= limit, f"{what}: page {pages} is over the limit")
            for item in page.items:
                c.isinstance(item, Task, f"{what}: item")
            tasks.extend(page.items)
            if page.next_cursor is None:
                break
            c.isinstance(page.next_cursor, str, f"{what}: next_cursor")
            c.eq(len(page.items), limit, f"{what}: a non-last page is not full")
            cursor = page.next_cursor
            c.ok(pages < 100, f"{what}: the cursor never ends")
        c.eq(len({t.id for t in tasks}), len(tasks), f"{what}: a task was listed twice")
        return tasks, pages

    # ---- health, ready ---------------------------------------------------------------------
    for op in ("health", "ready"):
        r = api[op].sync_detailed(client=client)
        status(r, 200, op)
        c.eq(c.isinstance(r.parsed, HealthStatus, op).status, "ok", f"{op}: status")
        c.line(op, f"GET /{op} -> 200 HealthStatus(status='ok')")

    # ---- createUser ----------------------------------------------------------------------------
    r = api["createUser"].sync_detailed(client=client)
    user = check_user(r, 201, "createUser without a body")
    c.eq(r.headers.get("location"), f"/users/{user.id}", "createUser: Location")
    c.eq(sent[-1], ("POST", "application/json"), "createUser without a body: request sent")
    c.line("createUser", f"POST /users (no body) -> 201 {user.id}, Location /users/{user.id}")

    r = api["createUser"].sync_detailed(client=client, body=UserInput())
    other = check_user(r, 201, "createUser {}")
    c.ok(other.id != user.id, "createUser {}: the same id twice")
    c.line("createUser", "POST /users UserInput() ({}) -> 201 with a new server-made id")

    chosen_id = uuid.uuid4()
    r = api["createUser"].sync_detailed(client=client, body=UserInput(id=chosen_id))
    chosen = check_user(r, 201, "createUser {id}")
    c.eq(chosen.id, chosen_id, "createUser {id}: id")
    c.line("createUser", f"POST /users UserInput(id={chosen_id}) -> 201 with that id")

    r = api["createUser"].sync_detailed(client=client, body=UserInput(id=chosen_id))
    expect_error(r, 409, ErrorCode.USER_ALREADY_EXISTS, "createUser of an existing id")
    c.line("createUser", "POST /users existing id -> 409 ErrorEnvelope, ErrorCode.USER_ALREADY_EXISTS")

    # ---- getUser -------------------------------------------------------------------------------
    r = api["getUser"].sync_detailed(user.id, client=client)
    got = check_user(r, 200, "getUser")
    c.eq(got.id, user.id, "getUser: id")
    c.eq(got.created_at, user.created_at, "getUser: created_at")
    c.line("getUser", f"GET /users/{user.id} -> 200, same user")

    r = api["getUser"].sync_detailed(uuid.uuid4(), client=client)
    expect_error(r, 404, ErrorCode.USER_NOT_FOUND, "getUser of a missing user")
    c.line("getUser", "GET /users/{missing} -> 404 ErrorEnvelope, ErrorCode.USER_NOT_FOUND")

    # ---- createTask ----------------------------------------------------------------------------
    r = api["createTask"].sync_detailed(user.id, client=client, body=TaskInput(title="  Buy milk  "))
    milk = check_task(r, 201, user.id, {"title": "Buy milk", "description": None, "is_completed": False}, "createTask")
    c.eq(milk.created_at, milk.updated_at, "createTask: updated_at differs from created_at")
    c.eq(r.headers.get("location"), f"/users/{user.id}/tasks/{milk.id}", "createTask: Location")
    c.eq(raw(r)["description"], None, "createTask: description is JSON null")
    c.line("createTask", "POST .../tasks TaskInput(title='  Buy milk  ') -> 201, trimmed, description None, Location")

    r = api["createTask"].sync_detailed(
        user.id, client=client, body=TaskInput(title="Call Bob", description="About the lease", is_completed=True)
    )
    bob = check_task(
        r, 201, user.id, {"title": "Call Bob", "description": "About the lease", "is_completed": True}, "createTask full"
    )
    c.line("createTask", "POST .../tasks TaskInput(title, description, is_completed=True) -> 201, as sent")

    r = api["createTask"].sync_detailed(user.id, client=client, body=TaskInput(title="   "))
    envelope = expect_error(r, 400, ErrorCode.VALIDATION_ERROR, "createTask with a blank title")
    expect_fields(envelope, ["title"], FieldLocation.BODY, "createTask with a blank title")
    c.line("createTask", "POST .../tasks title='   ' -> 400 ErrorCode.VALIDATION_ERROR, details.fields names title")

    r = api["createTask"].sync_detailed(user.id, client=client, body=TaskInput(title="", description="x" * 10_001))
    envelope = expect_error(r, 400, ErrorCode.VALIDATION_ERROR, "createTask with two bad fields")
    expect_fields(envelope, ["title", "description"], FieldLocation.BODY, "createTask with two bad fields")
    c.line("createTask", "POST .../tasks title='', description 10,001 chars -> 400 naming both")

    r = api["createTask"].sync_detailed(uuid.uuid4(), client=client, body=TaskInput(title="Orphan"))
    expect_error(r, 404, ErrorCode.USER_NOT_FOUND, "createTask for a missing user")
    c.line("createTask", "POST /users/{missing}/tasks -> 404 ErrorCode.USER_NOT_FOUND")

    # ---- listTasks -----------------------------------------------------------------------------
    made = [milk, bob]
    for title in ["delta", "Alpha", "charlie", "Echo", "bravo"]:
        r = api["createTask"].sync_detailed(user.id, client=client, body=TaskInput(title=title))
        made.append(check_task(r, 201, user.id, {"title": title, "description": None, "is_completed": False}, title))
    all_ids = sorted(str(t.id) for t in made)

    tasks, pages = list_all(user.id, 2, "listTasks sort=title", sort=ListTasksSort.TITLE)
    c.eq(pages, 4, "listTasks sort=title limit=2: pages")
    c.eq(
        [t.title for t in tasks],
        ["Alpha", "bravo", "Buy milk", "Call Bob", "charlie", "delta", "Echo"],
        "listTasks sort=title: order (case-insensitive)",
    )
    c.eq(sorted(str(t.id) for t in tasks), all_ids, "listTasks sort=title: ids")
    c.line("listTasks", f"limit=2 sort=ListTasksSort.TITLE: {pages} pages following next_cursor, 7 tasks")

    tasks, pages = list_all(user.id, 3, "listTasks sort=-title", sort=ListTasksSort("-title"))
    c.eq(pages, 3, "listTasks sort=-title: pages")
    c.eq([t.title for t in tasks][0], "Echo", "listTasks sort=-title: first")
    c.eq([t.title for t in tasks][-1], "Alpha", "listTasks sort=-title: last")
    c.line("listTasks", f"limit=3 sort=-title: {pages} pages, reverse order")

    tasks, _ = list_all(user.id, 100, "listTasks sort=created_at", sort=ListTasksSort.CREATED_AT)
    c.eq([t.id for t in tasks], [t.id for t in made], "listTasks sort=created_at: order")
    tasks, _ = list_all(user.id, 5, "listTasks default sort")
    c.eq([t.id for t in tasks], [t.id for t in reversed(made)], "listTasks default sort: order")
    c.line("listTasks", "sort=created_at and the default (-created_at): creation order, both ways")

    tasks, _ = list_all(user.id, 10, "listTasks completed=True", completed=True)
    c.eq([t.id for t in tasks], [bob.id], "listTasks completed=True")
    tasks, _ = list_all(user.id, 10, "listTasks completed=False", completed=False)
    c.eq(len(tasks), 6, "listTasks completed=False: count")
    tasks, _ = list_all(user.id, 10, "listTasks q=HA", q="HA")
    c.eq(sorted(t.title for t in tasks), ["Alpha", "charlie"], "listTasks q=HA")
    c.line("listTasks", "completed=True / completed=False / q='HA' filter as documented")

    r = api["listTasks"].sync_detailed(user.id, client=client, limit=2, cursor="not-a-cursor", sort=ListTasksSort.TITLE)
    envelope = expect_error(r, 400, ErrorCode.VALIDATION_ERROR, "listTasks with a forged cursor")
    expect_fields(envelope, ["cursor"], FieldLocation.QUERY, "listTasks with a forged cursor")
    c.line("listTasks", "cursor='not-a-cursor' -> 400 ErrorCode.VALIDATION_ERROR naming query cursor")

    # ---- getTask -------------------------------------------------------------------------------
    r = api["getTask"].sync_detailed(user.id, milk.id, client=client)
    got = check_task(r, 200, user.id, {"title": "Buy milk", "description": None, "is_completed": False}, "getTask")
    c.eq(got, milk, "getTask: the task as created")
    c.line("getTask", f"GET .../tasks/{milk.id} -> 200, equal to the created Task")

    r = api["getTask"].sync_detailed(user.id, uuid.uuid4(), client=client)
    envelope = expect_error(r, 404, ErrorCode.TASK_NOT_FOUND, "getTask of a missing task")
    c.ok(envelope.error.code is ErrorCode.TASK_NOT_FOUND, "getTask of a missing task: ErrorCode member")
    c.line("getTask", "GET .../tasks/{missing} -> 404 ErrorEnvelope, error.code == ErrorCode.TASK_NOT_FOUND")

    r = api["getTask"].sync_detailed(other.id, milk.id, client=client)
    expect_error(r, 404, ErrorCode.TASK_NOT_FOUND, "getTask of another user's task")
    c.line("getTask", "GET another user's task -> 404 ErrorCode.TASK_NOT_FOUND, as if missing")

    # ---- replaceTask ---------------------------------------------------------------------------
    r = api["replaceTask"].sync_detailed(
        user.id, milk.id, client=client,
        body=TaskInput(title=" Buy oat milk ", description="Two litres", is_completed=True),
    )
    current = check_task(
        r, 200, user.id, {"title": "Buy oat milk", "description": "Two litres", "is_completed": True}, "replaceTask"
    )
    c.eq(current.id, milk.id, "replaceTask: id")
    c.eq(current.created_at, milk.created_at, "replaceTask: created_at moved")
    c.ok(current.updated_at > milk.updated_at, "replaceTask: updated_at did not move")
    c.line("replaceTask", "PUT TaskInput(title, description, is_completed) -> 200, every field replaced")

    r = api["replaceTask"].sync_detailed(user.id, bob.id, client=client, body=TaskInput(title="Call Bob"))
    check_task(r, 200, user.id, {"title": "Call Bob", "description": None, "is_completed": False}, "replaceTask defaults")
    c.line("replaceTask", "PUT TaskInput(title) -> 200, absent description None, is_completed False")

    r = api["replaceTask"].sync_detailed(user.id, uuid.uuid4(), client=client, body=TaskInput(title="Nothing"))
    expect_error(r, 404, ErrorCode.TASK_NOT_FOUND, "replaceTask of a missing task")
    c.line("replaceTask", "PUT .../tasks/{missing} -> 404 ErrorCode.TASK_NOT_FOUND")

    # ---- updateTask ----------------------------------------------------------------------------
    r = api["updateTask"].sync_detailed(user.id, milk.id, client=client, body=TaskPatch(is_completed=False))
    c.eq(sent[-1], ("PATCH", MERGE_PATCH), "updateTask: request sent")
    patched = check_task(
        r, 200, user.id, {"title": "Buy oat milk", "description": "Two litres", "is_completed": False}, "updateTask"
    )
    c.ok(patched.updated_at > current.updated_at, "updateTask: updated_at did not move")
    current = patched
    c.line("updateTask", f"PATCH ({MERGE_PATCH}) TaskPatch(is_completed=False) -> 200, other fields kept")

    r = api["updateTask"].sync_detailed(user.id, milk.id, client=client, body=TaskPatch(description=None))
    c.eq(sent[-1], ("PATCH", MERGE_PATCH), "updateTask clear: request sent")
    current = check_task(
        r, 200, user.id, {"title": "Buy oat milk", "description": None, "is_completed": False}, "updateTask clear"
    )
    c.eq(raw(r)["description"], None, "updateTask clear: description is JSON null")
    c.line("updateTask", f"PATCH ({MERGE_PATCH}) TaskPatch(description=None) -> 200, description cleared")

    r = api["updateTask"].sync_detailed(user.id, milk.id, client=client, body=TaskPatch())
    same = check_task(
        r, 200, user.id, {"title": "Buy oat milk", "description": None, "is_completed": False}, "updateTask {}"
    )
    c.eq(same, current, "updateTask {}: the task changed")
    c.line("updateTask", f"PATCH ({MERGE_PATCH}) TaskPatch() ({{}}) -> 200, nothing changed, updated_at kept")

    r = api["updateTask"].sync_detailed(user.id, milk.id, client=client, body=TaskPatch(title=""))
    envelope = expect_error(r, 400, ErrorCode.VALIDATION_ERROR, "updateTask with an empty title")
    expect_fields(envelope, ["title"], FieldLocation.BODY, "updateTask with an empty title")
    c.line("updateTask", "PATCH TaskPatch(title='') -> 400 ErrorCode.VALIDATION_ERROR naming title")

    r = api["updateTask"].sync_detailed(user.id, uuid.uuid4(), client=client, body=TaskPatch(title="x"))
    expect_error(r, 404, ErrorCode.TASK_NOT_FOUND, "updateTask of a missing task")
    c.line("updateTask", "PATCH .../tasks/{missing} -> 404 ErrorCode.TASK_NOT_FOUND")

    # ---- deleteTask ----------------------------------------------------------------------------
    r = api["deleteTask"].sync_detailed(user.id, milk.id, client=client)
    status(r, 204, "deleteTask")
    c.eq(r.content, b"", "deleteTask: 204 with a body")
    r = api["getTask"].sync_detailed(user.id, milk.id, client=client)
    expect_error(r, 404, ErrorCode.TASK_NOT_FOUND, "getTask after deleteTask")
    r = api["deleteTask"].sync_detailed(user.id, milk.id, client=client)
    expect_error(r, 404, ErrorCode.TASK_NOT_FOUND, "deleteTask twice")
    tasks, _ = list_all(user.id, 100, "listTasks after deleteTask")
    c.eq(len(tasks), 6, "listTasks after deleteTask: count")
    c.line("deleteTask", "DELETE -> 204; then GET and a second DELETE -> 404 TASK_NOT_FOUND; 6 tasks left")

    # ---- deleteUser ----------------------------------------------------------------------------
    for u in (user.id, other.id, chosen_id):
        r = api["deleteUser"].sync_detailed(u, client=client)
        status(r, 204, "deleteUser")
        c.eq(r.content, b"", "deleteUser: 204 with a body")
    r = api["getUser"].sync_detailed(user.id, client=client)
    expect_error(r, 404, ErrorCode.USER_NOT_FOUND, "getUser after deleteUser")
    r = api["listTasks"].sync_detailed(user.id, client=client)
    expect_error(r, 404, ErrorCode.USER_NOT_FOUND, "listTasks after deleteUser")
    r = api["deleteUser"].sync_detailed(user.id, client=client)
    expect_error(r, 404, ErrorCode.USER_NOT_FOUND, "deleteUser twice")
    c.line("deleteUser", "DELETE x3 -> 204; then getUser, listTasks, second DELETE -> 404 USER_NOT_FOUND")

    missed = [op for op in OPERATIONS if op not in c.exercised]
    if missed:
        raise Failed(f"operations not exercised: {', '.join(missed)}")
    print(f"python client: {len(c.exercised)}/{len(OPERATIONS)} operations, {c.checks} checks passed")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failed as err:
        print(f"python client FAILED: {err}", file=sys.stderr)
        sys.exit(1)
