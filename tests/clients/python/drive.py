"""Drive every operation of a running Task API with authentication on, through a client that
openapi-python-client generated from openapi/task-operations.yaml, checking every answer strictly.

    BASE_URL=http://127.0.0.1:8000 AUTH_JWT_SECRET=... AUTH_ISSUER=https://issuer.example \\
        python drive.py /tmp/x/task_api_client

The argument is the generated package's directory (made with `--meta none`); its parent goes on
sys.path and the package is imported by its directory name. Each simulated user is a fresh random
UUID with an HS256 JWT minted here with the standard library alone (hmac, hashlib, base64) from
AUTH_JWT_SECRET (the server's secret) and AUTH_ISSUER (the iss claim; optional, as is
AUTH_AUDIENCE for aud), and calls through the generated `AuthenticatedClient(base_url=...,
token=...)`; requests without a token go through the generated plain `Client`. The first
mismatch raises and the process exits non-zero. One line is printed per operation exercised.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import importlib
import json
import os
import re
import sys
import time
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
MERGE_PATCH = "application/merge-patch+json"
REALM = 'Bearer realm="task-api"'
OPERATIONS = [
    "health", "ready", "createUser", "getCurrentUser", "getUser", "createTask", "listTasks", "getTask",
    "replaceTask", "updateTask", "deleteTask", "moveTask", "listTags", "createList", "listLists", "getList",
    "updateList", "deleteList", "listChanges", "applyBatch", "deleteUser",
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
        print(f"ok  {operation:<14} {detail}", flush=True)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def mint_token(sub: str, secret: str, issuer: str | None, audience: str | None, lifetime: int = 600) -> str:
    """An HS256 JWT for `sub`: header.claims.signature, each base64url without padding."""
    now = int(time.time())
    claims: dict[str, Any] = {"sub": sub, "iat": now, "exp": now + lifetime}
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
    signed = f"{header}.{payload}"
    signature = hmac.new(secret.encode(), signed.encode(), hashlib.sha256).digest()
    return f"{signed}.{_b64url(signature)}"


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
    secret = os.environ.get("AUTH_JWT_SECRET")
    if not secret:
        print("AUTH_JWT_SECRET is not set: it must be the server's HS256 secret (authentication on)", file=sys.stderr)
        return 2
    issuer = os.environ.get("AUTH_ISSUER") or None
    audience = os.environ.get("AUTH_AUDIENCE") or None
    pkg = load(sys.argv[1])
    name = pkg.__name__
    api = {
        op: importlib.import_module(f"{name}.api.{group}.{module}")
        for op, group, module in [
            ("health", "health", "health"),
            ("ready", "health", "ready"),
            ("createUser", "users", "create_user"),
            ("getCurrentUser", "users", "get_current_user"),
            ("getUser", "users", "get_user"),
            ("deleteUser", "users", "delete_user"),
            ("createTask", "tasks", "create_task"),
            ("listTasks", "tasks", "list_tasks"),
            ("getTask", "tasks", "get_task"),
            ("replaceTask", "tasks", "replace_task"),
            ("updateTask", "tasks", "update_task"),
            ("deleteTask", "tasks", "delete_task"),
            ("moveTask", "tasks", "move_task"),
            ("listTags", "tasks", "list_tags"),
            ("createList", "lists", "create_list"),
            ("listLists", "lists", "list_lists"),
            ("getList", "lists", "get_list"),
            ("updateList", "lists", "update_list"),
            ("deleteList", "lists", "delete_list"),
            ("listChanges", "sync", "list_changes"),
            ("applyBatch", "sync", "apply_batch"),
        ]
    }
    models = importlib.import_module(f"{name}.models")
    types = importlib.import_module(f"{name}.types")
    Client = pkg.Client
    AuthenticatedClient = pkg.AuthenticatedClient
    TaskChange = models.TaskChange
    ListChange = models.ListChange
    TaskList = models.List
    ListInput = models.ListInput
    ListPage = models.ListPage
    ListPatch = models.ListPatch
    NewTask = models.NewTask
    TaskMove = models.TaskMove
    ChangePage = models.ChangePage
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

    # What was sent on the wire: (method, content-type) per request, its Authorization, and the
    # precondition headers the generated functions take as arguments (if_match, if_none_match,
    # idempotency_key).
    sent: list[tuple[str, str | None]] = []
    sent_authorization: list[str | None] = []
    sent_preconditions: list[dict[str, str | None]] = []

    def record(request: Any) -> None:
        sent.append((request.method, request.headers.get("content-type")))
        sent_authorization.append(request.headers.get("authorization"))
        sent_preconditions.append(
            {name: request.headers.get(name) for name in ("if-match", "if-none-match", "idempotency-key")}
        )

    hooks = {"event_hooks": {"request": [record]}}

    def token_for(sub: uuid.UUID, **kwargs: Any) -> str:
        return mint_token(str(sub), kwargs.pop("key", secret), issuer, audience, **kwargs)

    def authenticated(token: str) -> Any:
        return AuthenticatedClient(base_url=base_url, token=token, raise_on_unexpected_status=True, httpx_args=hooks)

    class Caller:
        """A simulated user: a fresh random id, a token naming it, the generated client sending it."""

        def __init__(self) -> None:
            self.id = uuid.uuid4()
            self.token = token_for(self.id)
            self.client = authenticated(self.token)

    anonymous = Client(base_url=base_url, raise_on_unexpected_status=True, httpx_args=hooks)
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
        task = check_owned(response, Task, user_id, what)
        c.eq(task.title, expected["title"], f"{what}: title")
        c.eq(task.description, expected["description"], f"{what}: description")
        c.eq(task.is_completed, expected["is_completed"], f"{what}: is_completed")
        body = raw(response)
        c.eq(
            sorted(body),
            ["completed_at", "created_at", "description", "due", "id", "is_completed", "list_id", "position",
             "priority", "recurrence", "tags", "title", "updated_at", "user_id", "version"],
            f"{what}: keys",
        )
        c.ok(
            bool(TIMESTAMP_RE.match(body["completed_at"] or "")) if body["is_completed"] else body["completed_at"] is None,
            f"{what}: completed_at {body['completed_at']} does not follow is_completed",
        )
        return task

    def check_list(response: Any, http_status: int, user_id: uuid.UUID, name: str, what: str) -> Any:
        status(response, http_status, what)
        task_list = check_owned(response, TaskList, user_id, what)
        c.eq(task_list.name, name, f"{what}: name")
        c.eq(sorted(raw(response)), ["created_at", "id", "name", "updated_at", "user_id", "version"], f"{what}: keys")
        return task_list

    def check_owned(response: Any, resource_type: type, user_id: uuid.UUID, what: str) -> Any:
        """What a task and a list share: an id, the owner, times in UTC with microseconds, a
        version, no unknown fields, and the version in quotes as ETag."""
        resource = c.isinstance(response.parsed, resource_type, what)
        c.isinstance(resource.id, uuid.UUID, f"{what}: id")
        c.eq(resource.user_id, user_id, f"{what}: user_id")
        c.isinstance(resource.created_at, datetime.datetime, f"{what}: created_at")
        c.isinstance(resource.updated_at, datetime.datetime, f"{what}: updated_at")
        c.ok(resource.updated_at >= resource.created_at, f"{what}: updated_at before created_at")
        c.isinstance(resource.version, int, f"{what}: version")
        c.ok(resource.version >= 1, f"{what}: version {resource.version} < 1")
        c.eq(resource.additional_properties, {}, f"{what}: unknown fields")
        body = raw(response)
        c.ok(bool(TIMESTAMP_RE.match(body["created_at"])), f"{what}: created_at {body['created_at']}")
        c.ok(bool(TIMESTAMP_RE.match(body["updated_at"])), f"{what}: updated_at {body['updated_at']}")
        c.eq(type(body["version"]), int, f"{what}: version on the wire")
        # Every answer carrying one task or list has its version in quotes as ETag; the generated
        # functions type no response headers, so it is read from Response.headers.
        c.eq(response.headers.get("etag"), f'"{resource.version}"', f"{what}: ETag")
        return resource

    def expect_no_token(response: Any, what: str) -> None:
        expect_error(response, 401, ErrorCode.UNAUTHORIZED, what)
        c.eq(response.headers.get("www-authenticate"), REALM, f"{what}: WWW-Authenticate")

    def expect_bad_token(response: Any, token: str, what: str) -> None:
        envelope = expect_error(response, 401, ErrorCode.UNAUTHORIZED, what)
        challenge = response.headers.get("www-authenticate", "")
        c.ok(challenge.startswith(f'{REALM}, error="invalid_token"'), f"{what}: WWW-Authenticate {challenge!r}")
        signature = token.rsplit(".", 1)[-1]
        c.ok(signature not in challenge and signature not in envelope.error.message, f"{what}: the token is echoed")

    def expect_forbidden(response: Any, what: str) -> None:
        expect_error(response, 403, ErrorCode.FORBIDDEN, what)
        c.eq(response.headers.get("www-authenticate"), None, f"{what}: a WWW-Authenticate on a 403")

    def follow_cursor(fetch_page: Any, page_type: type, item_type: type, limit: int, what: str) -> tuple[list[Any], int]:
        """Follows next_cursor from the first page to the last, checking every page."""
        items: list[Any] = []
        cursor: Any = UNSET
        pages = 0
        while True:
            r = fetch_page(cursor)
            status(r, 200, what)
            page = c.isinstance(r.parsed, page_type, what)
            pages += 1
            c.ok(len(page.items) <= limit, f"{what}: page {pages} is over the limit")
            for item in page.items:
                c.isinstance(item, item_type, f"{what}: item")
            items.extend(page.items)
            if page.next_cursor is None:
                break
            c.isinstance(page.next_cursor, str, f"{what}: next_cursor")
            c.eq(len(page.items), limit, f"{what}: a non-last page is not full")
            cursor = page.next_cursor
            c.ok(pages < 100, f"{what}: the cursor never ends")
        c.eq(len({item.id for item in items}), len(items), f"{what}: an item was listed twice")
        return items, pages

    def list_all(client: Any, user_id: uuid.UUID, limit: int, what: str, **query: Any) -> tuple[list[Any], int]:
        return follow_cursor(
            lambda cursor: api["listTasks"].sync_detailed(user_id, client=client, limit=limit, cursor=cursor, **query),
            TaskPage, Task, limit, what,
        )

    def list_all_lists(client: Any, user_id: uuid.UUID, limit: int, what: str) -> tuple[list[Any], int]:
        return follow_cursor(
            lambda cursor: api["listLists"].sync_detailed(user_id, client=client, limit=limit, cursor=cursor),
            ListPage, TaskList, limit, what,
        )

    def sync_all(
        client: Any, user_id: uuid.UUID, limit: int, what: str, since: Any = UNSET
    ) -> tuple[list[Any], str, int]:
        """Follows listChanges from `since` (UNSET: a full sync) while has_more, checking every page."""
        changes: list[Any] = []
        pages = 0
        while True:
            r = api["listChanges"].sync_detailed(user_id, client=client, since=since, limit=limit)
            status(r, 200, what)
            page = c.isinstance(r.parsed, ChangePage, what)
            pages += 1
            c.eq(page.additional_properties, {}, f"{what}: unknown fields")
            c.ok(len(page.changes) <= limit, f"{what}: page {pages} is over the limit")
            c.isinstance(page.next_since, str, f"{what}: next_since")
            c.ok(page.next_since != "", f"{what}: next_since is empty")
            c.isinstance(page.has_more, bool, f"{what}: has_more")
            for change, body in zip(page.changes, raw(r)["changes"], strict=True):
                check_change(change, body, user_id, what)
            changes.extend(page.changes)
            since = page.next_since
            if not page.has_more:
                break
            c.ok(len(page.changes) > 0, f"{what}: a page with has_more holds no change")
            c.ok(pages < 100, f"{what}: has_more never ends")
        versions = [change.version for change in changes]
        c.eq(versions, sorted(set(versions)), f"{what}: changes not in version order")
        changed = {(change.kind.value, change_id(change)) for change in changes}
        c.eq(len(changed), len(changes), f"{what}: a task or list changed twice in one sync")
        return changes, since, pages

    def change_id(change: Any) -> uuid.UUID:
        return change.task_id if isinstance(change, TaskChange) else change.list_id

    def check_change(change: Any, body: dict[str, Any], user_id: uuid.UUID, what: str) -> None:
        """One change of the feed, decoded by the generated client into the union's member that its
        `kind` names (TaskChange or ListChange), with exactly that kind's members, its task or list
        None exactly when deleted."""
        kinds = {"task": (TaskChange, "task_id", "task", Task), "list": (ListChange, "list_id", "list", TaskList)}
        c.ok(body.get("kind") in kinds, f"{what}: a change of kind {body.get('kind')!r}")
        change_type, id_member, member, resource_type = kinds[body["kind"]]
        c.isinstance(change, change_type, f"{what}: a change of kind {body['kind']}")
        c.eq(change.kind.value, body["kind"], f"{what}: kind decoded")
        about = f"{what}: change of {body['kind']} {body[id_member]}"
        c.eq(sorted(body), sorted(["deleted", "kind", id_member, member, "version"]), f"{about}: keys")
        c.eq(change.additional_properties, {}, f"{about}: unknown fields")
        c.isinstance(change_id(change), uuid.UUID, f"{about}: {id_member}")
        c.isinstance(change.version, int, f"{about}: version")
        c.ok(change.version >= 1, f"{about}: version {change.version} < 1")
        resource = change.task if change_type is TaskChange else change.list_
        if change.deleted:
            c.eq(resource, None, f"{about}: a deleted {member}'s {member}")
            c.eq(body[member], None, f"{about}: {member} is JSON null")
        else:
            c.isinstance(resource, resource_type, f"{about}: {member}")
            c.eq(resource.id, change_id(change), f"{about}: {member}.id")
            c.eq(resource.user_id, user_id, f"{about}: {member}.user_id")
            c.eq(resource.version, change.version, f"{about}: {member}.version")
            c.eq(resource.additional_properties, {}, f"{about}: {member}'s unknown fields")

    class Replica:
        """What a client keeps of a user's lists and tasks, fed by the change feed alone."""

        def __init__(self) -> None:
            self.lists: dict[uuid.UUID, Any] = {}
            self.tasks: dict[uuid.UUID, Any] = {}

        def apply(self, changes: list[Any]) -> None:
            """The latest state replaces the kept one, a deletion removes it, in the order given."""
            for change in changes:
                kept, resource = (
                    (self.tasks, change.task) if isinstance(change, TaskChange) else (self.lists, change.list_)
                )
                if change.deleted:
                    kept.pop(change_id(change), None)
                else:
                    kept[change_id(change)] = resource

    def expect_in_sync(client: Any, user_id: uuid.UUID, replica: Replica, what: str) -> None:
        """The replica holds exactly the server's lists and tasks, each in its latest state, every
        task's list among the lists, and each list's (and the inbox's) order as listTasks
        sort=position gives it (positions compared as byte strings, ties by id)."""
        lists, _ = list_all_lists(client, user_id, 100, f"{what}: listLists")
        c.eq({lst.id: lst for lst in lists}, replica.lists, f"{what}: the replica's lists = listLists")
        tasks, _ = list_all(client, user_id, 100, f"{what}: listTasks")
        c.eq({t.id: t for t in tasks}, replica.tasks, f"{what}: the replica's tasks = listTasks")
        for task in replica.tasks.values():
            c.ok(task.list_id is None or task.list_id in replica.lists, f"{what}: task {task.id} names a list not synced")
        for list_id in ["inbox", *map(str, replica.lists)]:
            ordered, _ = list_all(client, user_id, 2, f"{what}: listTasks list_id={list_id} sort=position",
                                  list_id=list_id, sort=ListTasksSort.POSITION)
            local = sorted((t for t in replica.tasks.values() if str(t.list_id or "inbox") == list_id),
                           key=lambda t: (t.position.encode(), t.id))
            c.eq([t.id for t in ordered], [t.id for t in local], f"{what}: list {list_id}'s order = the replica's")

    # ---- health, ready: open without a token ---------------------------------------------------
    for op in ("health", "ready"):
        r = api[op].sync_detailed(client=anonymous)
        status(r, 200, op)
        c.eq(c.isinstance(r.parsed, HealthStatus, op).status, "ok", f"{op}: status")
        c.line(op, f"GET /{op} (no token) -> 200 HealthStatus(status='ok')")

    # ---- no token, a bad token: 401 on every operation under /users and /me -----------------
    someone, some_task, some_list = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    calls: list[tuple[str, Any]] = [
        ("createUser", lambda cl: api["createUser"].sync_detailed(client=cl)),
        ("getCurrentUser", lambda cl: api["getCurrentUser"].sync_detailed(client=cl)),
        ("getUser", lambda cl: api["getUser"].sync_detailed(someone, client=cl)),
        ("deleteUser", lambda cl: api["deleteUser"].sync_detailed(someone, client=cl)),
        ("createTask", lambda cl: api["createTask"].sync_detailed(someone, client=cl, body=TaskInput(title="x"))),
        ("listTasks", lambda cl: api["listTasks"].sync_detailed(someone, client=cl)),
        ("getTask", lambda cl: api["getTask"].sync_detailed(someone, some_task, client=cl)),
        ("replaceTask",
         lambda cl: api["replaceTask"].sync_detailed(someone, some_task, client=cl, body=TaskInput(title="x"))),
        ("updateTask",
         lambda cl: api["updateTask"].sync_detailed(someone, some_task, client=cl, body=TaskPatch(title="x"))),
        ("deleteTask", lambda cl: api["deleteTask"].sync_detailed(someone, some_task, client=cl)),
        ("listTags", lambda cl: api["listTags"].sync_detailed(someone, client=cl)),
        # Refused before its body is read, each write below ends its connection and says so
        # (Connection: close), so httpx never sends its next request on a closed connection.
        ("moveTask",
         lambda cl: api["moveTask"].sync_detailed(someone, some_task, client=cl, body=TaskMove(after=None))),
        ("createList", lambda cl: api["createList"].sync_detailed(someone, client=cl, body=ListInput(name="x"))),
        ("listLists", lambda cl: api["listLists"].sync_detailed(someone, client=cl)),
        ("getList", lambda cl: api["getList"].sync_detailed(someone, some_list, client=cl)),
        ("updateList",
         lambda cl: api["updateList"].sync_detailed(someone, some_list, client=cl, body=ListPatch(name="x"))),
        ("deleteList", lambda cl: api["deleteList"].sync_detailed(someone, some_list, client=cl)),
        ("listChanges", lambda cl: api["listChanges"].sync_detailed(someone, client=cl)),
    ]
    # Behind a validating proxy (Prism, VALIDATING_PROXY=1) a request without credentials is
    # answered by the proxy itself: the no-token checks are left out there.
    if os.environ.get("VALIDATING_PROXY") != "1":
        for op, call in calls:
            r = call(anonymous)
            c.eq(sent_authorization[-1], None, f"{op} without a token: an Authorization was sent")
            expect_no_token(r, f"{op} without a token")
        c.line("createUser", f"no token on all {len(calls)} operations under /users and /me -> 401 "
               f"ErrorEnvelope, ErrorCode.UNAUTHORIZED, WWW-Authenticate: {REALM}")

    forged = token_for(someone, key=f"not-the-server-secret-{uuid.uuid4()}")
    expired = token_for(someone, lifetime=-3600)
    for kind, token in (("a token signed with another key", forged), ("a token expired an hour ago", expired)):
        bad = authenticated(token)
        for op, call in calls[:3]:
            r = call(bad)
            c.eq(sent_authorization[-1], f"Bearer {token}", f"{op} with {kind}: Authorization sent")
            expect_bad_token(r, token, f"{op} with {kind}")
    c.line("getUser", "a forged and an expired token -> 401 ErrorCode.UNAUTHORIZED, "
           'WWW-Authenticate error="invalid_token"')

    # ---- getCurrentUser before registering, createUser as the caller ---------------------------
    alice = Caller()  # the main user: registers with no body
    bob = Caller()  # registers with UserInput()
    carol = Caller()  # registers with UserInput(id=her own id)
    dave = Caller()  # never registers
    erin = Caller()  # registers late: her idempotent creates and her change feed
    frank = Caller()  # his lists, their manual order, and a replica the change feed feeds
    client = alice.client

    r = api["getCurrentUser"].sync_detailed(client=client)
    c.eq(sent_authorization[-1], f"Bearer {alice.token}", "getCurrentUser: Authorization sent")
    expect_error(r, 404, ErrorCode.USER_NOT_FOUND, "getCurrentUser before registering")
    c.line("getCurrentUser", "GET /me before POST /users -> 404 ErrorEnvelope, ErrorCode.USER_NOT_FOUND")

    r = api["createUser"].sync_detailed(client=client)
    user = check_user(r, 201, "createUser without a body")
    c.eq(user.id, alice.id, "createUser without a body: id is the token's sub")
    c.eq(r.headers.get("location"), f"/users/{user.id}", "createUser: Location")
    c.eq(sent[-1], ("POST", "application/json"), "createUser without a body: request sent")
    c.line("createUser", f"POST /users (no body, AuthenticatedClient) -> 201 id = the token's sub {user.id}, Location")

    r = api["getCurrentUser"].sync_detailed(client=client)
    me = check_user(r, 200, "getCurrentUser after registering")
    c.eq(me, user, "getCurrentUser: the registered user")
    c.line("getCurrentUser", "GET /me after POST /users -> 200 User, the registered user")

    r = api["createUser"].sync_detailed(client=bob.client, body=UserInput())
    other = check_user(r, 201, "createUser {}")
    c.eq(other.id, bob.id, "createUser {}: id is the token's sub")
    c.ok(other.id != user.id, "createUser {}: the same id twice")
    c.line("createUser", "POST /users UserInput() ({}, another token) -> 201 with that token's sub")

    chosen_id = carol.id
    r = api["createUser"].sync_detailed(client=carol.client, body=UserInput(id=chosen_id))
    chosen = check_user(r, 201, "createUser {id}")
    c.eq(chosen.id, chosen_id, "createUser {id}: id")
    c.eq(r.headers.get("location"), f"/users/{chosen_id}", "createUser {id}: Location")
    c.line("createUser", f"POST /users UserInput(id=the caller's own {chosen_id}) -> 201 with that id")

    r = api["createUser"].sync_detailed(client=carol.client, body=UserInput(id=chosen_id))
    expect_error(r, 409, ErrorCode.USER_ALREADY_EXISTS, "createUser of an existing id")
    r = api["createUser"].sync_detailed(client=client)
    expect_error(r, 409, ErrorCode.USER_ALREADY_EXISTS, "createUser twice without a body")
    c.line("createUser", "POST /users again (own id and no body) -> 409 ErrorEnvelope, ErrorCode.USER_ALREADY_EXISTS")

    r = api["createUser"].sync_detailed(client=dave.client, body=UserInput(id=uuid.uuid4()))
    expect_forbidden(r, "createUser {id: not the caller's}")
    r = api["createUser"].sync_detailed(client=client, body=UserInput(id=dave.id))
    expect_forbidden(r, "createUser {id: another caller's}")
    r = api["getCurrentUser"].sync_detailed(client=dave.client)
    expect_error(r, 404, ErrorCode.USER_NOT_FOUND, "getCurrentUser after a refused createUser")
    c.line("createUser", "POST /users UserInput(id=not the caller's) -> 403 ErrorCode.FORBIDDEN, nobody registered")

    # ---- getUser -------------------------------------------------------------------------------
    r = api["getUser"].sync_detailed(user.id, client=client)
    got = check_user(r, 200, "getUser")
    c.eq(got.id, user.id, "getUser: id")
    c.eq(got.created_at, user.created_at, "getUser: created_at")
    c.line("getUser", f"GET /users/{user.id} (own token) -> 200, same user")

    r = api["getUser"].sync_detailed(dave.id, client=dave.client)
    expect_error(r, 404, ErrorCode.USER_NOT_FOUND, "getUser of a missing user")
    c.line("getUser", "GET /users/{own, unregistered} -> 404 ErrorEnvelope, ErrorCode.USER_NOT_FOUND")

    # ---- createTask ----------------------------------------------------------------------------
    r = api["createTask"].sync_detailed(user.id, client=client, body=TaskInput(title="  Buy milk  "))
    milk = check_task(r, 201, user.id, {"title": "Buy milk", "description": None, "is_completed": False}, "createTask")
    c.eq(milk.created_at, milk.updated_at, "createTask: updated_at differs from created_at")
    c.eq(r.headers.get("location"), f"/users/{user.id}/tasks/{milk.id}", "createTask: Location")
    c.eq(r.headers.get("idempotent-replayed"), None, "createTask without a key: Idempotent-Replayed")
    c.eq(raw(r)["description"], None, "createTask: description is JSON null")
    c.line("createTask", "POST .../tasks TaskInput(title='  Buy milk  ') -> 201, trimmed, description None, Location, "
           "ETag")

    r = api["createTask"].sync_detailed(
        user.id, client=client, body=TaskInput(title="Call Bob", description="About the lease", is_completed=True)
    )
    bob_task = check_task(
        r, 201, user.id, {"title": "Call Bob", "description": "About the lease", "is_completed": True},
        "createTask full",
    )
    c.ok(bob_task.version > milk.version, "createTask full: version did not grow")
    c.line("createTask", "POST .../tasks TaskInput(title, description, is_completed=True) -> 201, as sent")

    r = api["createTask"].sync_detailed(user.id, client=client, body=TaskInput(title="   "))
    envelope = expect_error(r, 400, ErrorCode.VALIDATION_ERROR, "createTask with a blank title")
    expect_fields(envelope, ["title"], FieldLocation.BODY, "createTask with a blank title")
    c.line("createTask", "POST .../tasks title='   ' -> 400 ErrorCode.VALIDATION_ERROR, details.fields names title")

    r = api["createTask"].sync_detailed(user.id, client=client, body=TaskInput(title="", description="x" * 10_001))
    envelope = expect_error(r, 400, ErrorCode.VALIDATION_ERROR, "createTask with two bad fields")
    expect_fields(envelope, ["title", "description"], FieldLocation.BODY, "createTask with two bad fields")
    c.line("createTask", "POST .../tasks title='', description 10,001 chars -> 400 naming both")

    r = api["createTask"].sync_detailed(dave.id, client=dave.client, body=TaskInput(title="Orphan"))
    expect_error(r, 404, ErrorCode.USER_NOT_FOUND, "createTask for a missing user")
    c.line("createTask", "POST /users/{own, unregistered}/tasks -> 404 ErrorCode.USER_NOT_FOUND")

    # ---- listTasks -----------------------------------------------------------------------------
    made = [milk, bob_task]
    for title in ["delta", "Alpha", "charlie", "Echo", "bravo"]:
        r = api["createTask"].sync_detailed(user.id, client=client, body=TaskInput(title=title))
        made.append(check_task(r, 201, user.id, {"title": title, "description": None, "is_completed": False}, title))
    all_ids = sorted(str(t.id) for t in made)

    tasks, pages = list_all(client, user.id, 2, "listTasks sort=title", sort=ListTasksSort.TITLE)
    c.eq(pages, 4, "listTasks sort=title limit=2: pages")
    c.eq(
        [t.title for t in tasks],
        ["Alpha", "bravo", "Buy milk", "Call Bob", "charlie", "delta", "Echo"],
        "listTasks sort=title: order (case-insensitive)",
    )
    c.eq(sorted(str(t.id) for t in tasks), all_ids, "listTasks sort=title: ids")
    c.line("listTasks", f"limit=2 sort=ListTasksSort.TITLE: {pages} pages following next_cursor, 7 tasks")

    tasks, pages = list_all(client, user.id, 3, "listTasks sort=-title", sort=ListTasksSort("-title"))
    c.eq(pages, 3, "listTasks sort=-title: pages")
    c.eq([t.title for t in tasks][0], "Echo", "listTasks sort=-title: first")
    c.eq([t.title for t in tasks][-1], "Alpha", "listTasks sort=-title: last")
    c.line("listTasks", f"limit=3 sort=-title: {pages} pages, reverse order")

    tasks, _ = list_all(client, user.id, 100, "listTasks sort=created_at", sort=ListTasksSort.CREATED_AT)
    c.eq([t.id for t in tasks], [t.id for t in made], "listTasks sort=created_at: order")
    tasks, _ = list_all(client, user.id, 5, "listTasks default sort")
    c.eq([t.id for t in tasks], [t.id for t in reversed(made)], "listTasks default sort: order")
    c.line("listTasks", "sort=created_at and the default (-created_at): creation order, both ways")

    tasks, _ = list_all(client, user.id, 10, "listTasks completed=True", completed=True)
    c.eq([t.id for t in tasks], [bob_task.id], "listTasks completed=True")
    tasks, _ = list_all(client, user.id, 10, "listTasks completed=False", completed=False)
    c.eq(len(tasks), 6, "listTasks completed=False: count")
    tasks, _ = list_all(client, user.id, 10, "listTasks q=HA", q="HA")
    c.eq(sorted(t.title for t in tasks), ["Alpha", "charlie"], "listTasks q=HA")
    c.line("listTasks", "completed=True / completed=False / q='HA' filter as documented")

    r = api["listTasks"].sync_detailed(user.id, client=client, limit=2, cursor="not-a-cursor", sort=ListTasksSort.TITLE)
    envelope = expect_error(r, 400, ErrorCode.VALIDATION_ERROR, "listTasks with a forged cursor")
    expect_fields(envelope, ["cursor"], FieldLocation.QUERY, "listTasks with a forged cursor")
    c.line("listTasks", "cursor='not-a-cursor' -> 400 ErrorCode.VALIDATION_ERROR naming query cursor")

    tasks, _ = list_all(bob.client, bob.id, 100, "listTasks of another caller")
    c.eq(tasks, [], "listTasks as bob: alice's tasks are listed")
    c.line("listTasks", "another caller's own list -> 200, empty: none of the first caller's tasks")

    # ---- getTask -------------------------------------------------------------------------------
    r = api["getTask"].sync_detailed(user.id, milk.id, client=client)
    got = check_task(r, 200, user.id, {"title": "Buy milk", "description": None, "is_completed": False}, "getTask")
    c.eq(got, milk, "getTask: the task as created")
    c.line("getTask", f"GET .../tasks/{milk.id} -> 200, equal to the created Task, ETag \"{got.version}\"")

    r = api["getTask"].sync_detailed(user.id, uuid.uuid4(), client=client)
    envelope = expect_error(r, 404, ErrorCode.TASK_NOT_FOUND, "getTask of a missing task")
    c.ok(envelope.error.code is ErrorCode.TASK_NOT_FOUND, "getTask of a missing task: ErrorCode member")
    c.line("getTask", "GET .../tasks/{missing} -> 404 ErrorEnvelope, error.code == ErrorCode.TASK_NOT_FOUND")

    r = api["getTask"].sync_detailed(bob.id, milk.id, client=bob.client)
    expect_error(r, 404, ErrorCode.TASK_NOT_FOUND, "getTask of another user's task under one's own path")
    c.line("getTask", "another user's task id under one's own path -> 404 ErrorCode.TASK_NOT_FOUND, as if missing")

    # ---- another user's paths: 403 FORBIDDEN on every operation, and nothing happens ------------
    r = api["createTask"].sync_detailed(bob.id, client=bob.client, body=TaskInput(title="Bob's own"))
    bobs = check_task(r, 201, bob.id, {"title": "Bob's own", "description": None, "is_completed": False}, "bob's task")
    theirs: list[tuple[str, Any]] = [
        ("getUser", lambda: api["getUser"].sync_detailed(bob.id, client=client)),
        ("createTask", lambda: api["createTask"].sync_detailed(bob.id, client=client, body=TaskInput(title="x"))),
        ("listTasks", lambda: api["listTasks"].sync_detailed(bob.id, client=client)),
        # An invalid query on another user's path is refused for the path, not validated.
        ("listTasks cursor=not-a-cursor",
         lambda: api["listTasks"].sync_detailed(bob.id, client=client, cursor="not-a-cursor")),
        ("getTask", lambda: api["getTask"].sync_detailed(bob.id, bobs.id, client=client)),
        ("replaceTask",
         lambda: api["replaceTask"].sync_detailed(bob.id, bobs.id, client=client, body=TaskInput(title="Stolen"))),
        ("updateTask",
         lambda: api["updateTask"].sync_detailed(bob.id, bobs.id, client=client, body=TaskPatch(is_completed=True))),
        ("deleteTask", lambda: api["deleteTask"].sync_detailed(bob.id, bobs.id, client=client)),
        ("deleteUser", lambda: api["deleteUser"].sync_detailed(bob.id, client=client)),
        ("listChanges", lambda: api["listChanges"].sync_detailed(bob.id, client=client)),
        # Whether that user exists or not.
        ("getUser (unregistered)", lambda: api["getUser"].sync_detailed(dave.id, client=client)),
    ]
    for op, call in theirs:
        expect_forbidden(call(), f"{op} on another user's path")
    r = api["getTask"].sync_detailed(bob.id, bobs.id, client=bob.client)
    c.eq(check_task(r, 200, bob.id, {"title": "Bob's own", "description": None, "is_completed": False}, "bob's task"),
         bobs, "bob's task after the refused calls")
    tasks, _ = list_all(bob.client, bob.id, 100, "bob's tasks after the refused calls")
    c.eq([t.id for t in tasks], [bobs.id], "bob's tasks after the refused calls")
    r = api["getCurrentUser"].sync_detailed(client=bob.client)
    check_user(r, 200, "GET /me as bob after the refused deleteUser")
    c.line("getTask", f"another user's path on {len(theirs)} calls -> 403 ErrorCode.FORBIDDEN; "
           "their user and task untouched")

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
    c.ok(current.version > milk.version, "replaceTask: version did not grow")
    c.line("replaceTask", "PUT TaskInput(title, description, is_completed) -> 200, every field replaced, version grew")

    r = api["replaceTask"].sync_detailed(user.id, bob_task.id, client=client, body=TaskInput(title="Call Bob"))
    check_task(
        r, 200, user.id, {"title": "Call Bob", "description": None, "is_completed": False}, "replaceTask defaults"
    )
    c.line("replaceTask", "PUT TaskInput(title) -> 200, absent description None, is_completed False")

    r = api["replaceTask"].sync_detailed(user.id, uuid.uuid4(), client=client, body=TaskInput(title="Nothing"))
    expect_error(r, 404, ErrorCode.TASK_NOT_FOUND, "replaceTask of a missing task")
    c.line("replaceTask", "PUT .../tasks/{missing} -> 404 ErrorCode.TASK_NOT_FOUND")

    # ---- updateTask ----------------------------------------------------------------------------
    r = api["updateTask"].sync_detailed(user.id, milk.id, client=client, body=TaskPatch(is_completed=False))
    c.eq(sent[-1], ("PATCH", MERGE_PATCH), "updateTask: request sent")
    c.eq(sent_authorization[-1], f"Bearer {alice.token}", "updateTask: Authorization sent beside the Content-Type")
    patched = check_task(
        r, 200, user.id, {"title": "Buy oat milk", "description": "Two litres", "is_completed": False}, "updateTask"
    )
    c.ok(patched.updated_at > current.updated_at, "updateTask: updated_at did not move")
    c.ok(patched.version > current.version, "updateTask: version did not grow")
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
    c.line("updateTask", f"PATCH ({MERGE_PATCH}) TaskPatch() ({{}}) -> 200, nothing changed, updated_at, version kept")

    r = api["updateTask"].sync_detailed(user.id, milk.id, client=client, body=TaskPatch(title=""))
    envelope = expect_error(r, 400, ErrorCode.VALIDATION_ERROR, "updateTask with an empty title")
    expect_fields(envelope, ["title"], FieldLocation.BODY, "updateTask with an empty title")
    c.line("updateTask", "PATCH TaskPatch(title='') -> 400 ErrorCode.VALIDATION_ERROR naming title")

    r = api["updateTask"].sync_detailed(user.id, uuid.uuid4(), client=client, body=TaskPatch(title="x"))
    expect_error(r, 404, ErrorCode.TASK_NOT_FOUND, "updateTask of a missing task")
    c.line("updateTask", "PATCH .../tasks/{missing} -> 404 ErrorCode.TASK_NOT_FOUND")

    # ---- conditional requests: ETag, If-Match (412 when stale), If-None-Match (304) ------------
    r = api["getTask"].sync_detailed(user.id, milk.id, client=client)
    before = check_task(
        r, 200, user.id, {"title": "Buy oat milk", "description": None, "is_completed": False}, "getTask before PATCH"
    )
    c.eq(before, current, "getTask before a conditional PATCH: the task")
    old_tag = r.headers.get("etag")

    r = api["updateTask"].sync_detailed(
        user.id, milk.id, client=client, body=TaskPatch(is_completed=True), if_match=old_tag
    )
    c.eq(sent_preconditions[-1]["if-match"], old_tag, "updateTask if_match: If-Match sent")
    patched = check_task(
        r, 200, user.id, {"title": "Buy oat milk", "description": None, "is_completed": True}, "updateTask If-Match"
    )
    c.ok(patched.version > before.version, "updateTask If-Match: version did not grow")
    new_tag = r.headers.get("etag")
    c.ok(new_tag != old_tag, "updateTask If-Match: the ETag did not change")
    current = patched
    c.line("updateTask", f"PATCH if_match={old_tag} (current) -> 200, version {before.version} -> {patched.version}, "
           f"ETag {new_tag}")

    r = api["updateTask"].sync_detailed(
        user.id, milk.id, client=client, body=TaskPatch(title="A stale write"), if_match=old_tag
    )
    c.eq(sent_preconditions[-1]["if-match"], old_tag, "updateTask stale if_match: If-Match sent")
    expect_error(r, 412, ErrorCode.PRECONDITION_FAILED, "updateTask with a stale If-Match")
    r = api["getTask"].sync_detailed(user.id, milk.id, client=client)
    unchanged = check_task(
        r, 200, user.id, {"title": "Buy oat milk", "description": None, "is_completed": True}, "getTask after 412"
    )
    c.eq(unchanged, patched, "updateTask with a stale If-Match: the task changed")
    c.line("updateTask", f"PATCH if_match={old_tag} (stale) -> 412 ErrorCode.PRECONDITION_FAILED, the task unchanged")

    r = api["getTask"].sync_detailed(user.id, milk.id, client=client, if_none_match=new_tag)
    c.eq(sent_preconditions[-1]["if-none-match"], new_tag, "getTask if_none_match: If-None-Match sent")
    status(r, 304, "getTask If-None-Match current")
    c.eq(r.parsed, None, "getTask If-None-Match current: parsed")
    c.eq(r.content, b"", "getTask If-None-Match current: a body on the 304")
    c.eq(r.headers.get("etag"), new_tag, "getTask If-None-Match current: ETag")
    r = api["getTask"].sync_detailed(user.id, milk.id, client=client, if_none_match=old_tag)
    c.eq(check_task(
        r, 200, user.id, {"title": "Buy oat milk", "description": None, "is_completed": True}, "If-None-Match stale"
    ), patched, "getTask If-None-Match stale: the task")
    c.line("getTask", f"GET if_none_match={new_tag} (current) -> 304, no body, ETag; {old_tag} (stale) -> 200 Task")

    # ---- deleteTask ----------------------------------------------------------------------------
    r = api["deleteTask"].sync_detailed(user.id, milk.id, client=client)
    status(r, 204, "deleteTask")
    c.eq(r.content, b"", "deleteTask: 204 with a body")
    r = api["getTask"].sync_detailed(user.id, milk.id, client=client)
    expect_error(r, 404, ErrorCode.TASK_NOT_FOUND, "getTask after deleteTask")
    r = api["deleteTask"].sync_detailed(user.id, milk.id, client=client)
    expect_error(r, 404, ErrorCode.TASK_NOT_FOUND, "deleteTask twice")
    tasks, _ = list_all(client, user.id, 100, "listTasks after deleteTask")
    c.eq(len(tasks), 6, "listTasks after deleteTask: count")
    c.line("deleteTask", "DELETE -> 204; then GET and a second DELETE -> 404 TASK_NOT_FOUND; 6 tasks left")

    # ---- createTask with an Idempotency-Key: a retry is answered again, nothing made twice -----
    r = api["createUser"].sync_detailed(client=erin.client)
    check_user(r, 201, "createUser as erin")
    key = str(uuid.uuid4())
    rent_input = {"title": "Pay rent", "description": "Before the 5th"}
    rent_fields = {**rent_input, "is_completed": False}
    first = api["createTask"].sync_detailed(erin.id, client=erin.client, body=TaskInput(**rent_input),
                                            idempotency_key=key)
    c.eq(sent_preconditions[-1]["idempotency-key"], key, "createTask idempotency_key: Idempotency-Key sent")
    rent = check_task(first, 201, erin.id, rent_fields, "createTask with a key")
    c.eq(first.headers.get("idempotent-replayed"), None, "createTask with a key, first: Idempotent-Replayed")

    r = api["createTask"].sync_detailed(erin.id, client=erin.client, body=TaskInput(**rent_input), idempotency_key=key)
    c.eq(sent_preconditions[-1]["idempotency-key"], key, "createTask retried: Idempotency-Key sent")
    c.eq(check_task(r, 201, erin.id, rent_fields, "createTask retried"), rent, "createTask retried: the task")
    c.eq(raw(r), raw(first), "createTask retried: the body")
    c.eq(r.headers.get("location"), f"/users/{erin.id}/tasks/{rent.id}", "createTask retried: Location")
    c.eq(r.headers.get("location"), first.headers.get("location"), "createTask retried: Location")
    c.eq(r.headers.get("etag"), first.headers.get("etag"), "createTask retried: ETag")
    c.eq(r.headers.get("idempotent-replayed"), "true", "createTask retried: Idempotent-Replayed")
    tasks, _ = list_all(erin.client, erin.id, 100, "listTasks after a replayed create")
    c.eq(tasks, [rent], "listTasks after a replayed create: one task")
    c.line("createTask", "POST idempotency_key=<uuid> twice -> 201 both, same body, Location and ETag, the second "
           "with Idempotent-Replayed: true; 1 task listed")

    r = api["createTask"].sync_detailed(
        erin.id, client=erin.client, body=TaskInput(**{**rent_input, "title": "Pay rent twice"}), idempotency_key=key
    )
    expect_error(r, 422, ErrorCode.IDEMPOTENCY_KEY_REUSED, "createTask: a key with another title")
    tasks, _ = list_all(erin.client, erin.id, 100, "listTasks after a reused key")
    c.eq(tasks, [rent], "listTasks after a reused key: one task")
    c.line("createTask", "the same idempotency_key, another title -> 422 ErrorCode.IDEMPOTENCY_KEY_REUSED, none made")

    # ---- listChanges: a full sync in pages equals the list; then exactly the next change -------
    made: dict[str, Any] = {}
    for title in ["Water the plants", "Book flights", "Renew passport"]:
        r = api["createTask"].sync_detailed(erin.id, client=erin.client, body=TaskInput(title=title))
        made[title] = check_task(r, 201, erin.id, {"title": title, "description": None, "is_completed": False}, title)
    plants, flights, passport = made["Water the plants"], made["Book flights"], made["Renew passport"]
    r = api["updateTask"].sync_detailed(
        erin.id, plants.id, client=erin.client, body=TaskPatch(is_completed=True), if_match=f'"{plants.version}"'
    )
    plants_now = check_task(
        r, 200, erin.id, {"title": "Water the plants", "description": None, "is_completed": True}, "updateTask plants"
    )
    # If-Match compares strongly: a weak tag never matches, and nothing is deleted.
    weak = f'W/"{flights.version}"'
    r = api["deleteTask"].sync_detailed(erin.id, flights.id, client=erin.client, if_match=weak)
    c.eq(sent_preconditions[-1]["if-match"], weak, "deleteTask if_match W/: If-Match sent")
    expect_error(r, 412, ErrorCode.PRECONDITION_FAILED, "deleteTask with a weak If-Match")
    r = api["getTask"].sync_detailed(erin.id, flights.id, client=erin.client)
    c.eq(check_task(r, 200, erin.id, {"title": "Book flights", "description": None, "is_completed": False},
                    "getTask after a refused deleteTask"), flights, "deleteTask with a weak If-Match: the task")
    r = api["deleteTask"].sync_detailed(erin.id, flights.id, client=erin.client, if_match=f'"{flights.version}"')
    status(r, 204, "deleteTask If-Match current")
    c.line("deleteTask", f"DELETE if_match={weak} -> 412 ErrorCode.PRECONDITION_FAILED, kept; "
           f'"{flights.version}" -> 204')

    changes, next_since, pages = sync_all(erin.client, erin.id, 2, "listChanges full sync")
    c.eq({type(ch) for ch in changes}, {TaskChange}, "listChanges full sync: erin has no lists, only tasks' changes")
    c.eq(pages, 2, "listChanges full sync limit=2: pages")
    c.eq(len(changes), 4, "listChanges full sync: changes")
    listed, _ = list_all(erin.client, erin.id, 100, "listTasks beside the sync")
    by_id = {t.id: t for t in listed}
    c.eq(len(by_id), 3, "listTasks beside the sync: count")
    c.eq({ch.task_id: ch.task for ch in changes if not ch.deleted}, by_id, "listChanges full sync = listTasks")
    c.eq(by_id, {t.id: t for t in (rent, plants_now, passport)}, "listTasks: each live task in its latest version")
    gone = [ch for ch in changes if ch.deleted]
    c.eq([(ch.task_id, ch.task) for ch in gone], [(flights.id, None)], "listChanges full sync: the deletion")
    c.ok(gone[0].version > plants_now.version, "listChanges: the deletion is not the latest change")
    c.line("listChanges", f"full sync limit=2: {pages} pages following next_since until has_more False, "
           f"{len(changes)} Changes in version order = listTasks (latest versions) + the deleted task "
           "(deleted=True, task=None)")

    r = api["updateTask"].sync_detailed(
        erin.id, passport.id, client=erin.client, body=TaskPatch(title="Renew passport today")
    )
    passport_now = check_task(
        r, 200, erin.id, {"title": "Renew passport today", "description": None, "is_completed": False}, "passport"
    )
    changes, latest, pages = sync_all(erin.client, erin.id, 2, "listChanges since", since=next_since)
    c.eq([(ch.task_id, ch.version, ch.deleted, ch.task) for ch in changes],
         [(passport.id, passport_now.version, False, passport_now)],
         "listChanges since the last next_since: exactly the one change")
    c.eq(pages, 1, "listChanges since: pages")
    changes, _, _ = sync_all(erin.client, erin.id, 2, "listChanges caught up", since=latest)
    c.eq(changes, [], "listChanges since the latest next_since: changes")
    c.line("listChanges", "one more PATCH; since=last next_since -> exactly that change; since=its next_since -> none")

    r = api["listChanges"].sync_detailed(erin.id, client=erin.client, since="not-a-token")
    envelope = expect_error(r, 400, ErrorCode.VALIDATION_ERROR, "listChanges with a forged since")
    expect_fields(envelope, ["since"], FieldLocation.QUERY, "listChanges with a forged since")
    c.line("listChanges", "since='not-a-token' -> 400 ErrorCode.VALIDATION_ERROR naming query since")

    # ---- a tag filter, a priority sort, listTags -----------------------------------------------
    for body in [
        {"title": "File taxes", "tags": ["Admin", "money"], "priority": "high"},
        {"title": "Pay rent", "tags": ["Money"], "priority": "medium"},
        {"title": "Call mum", "tags": ["family"], "priority": "low"},
    ]:
        r = api["createTask"].sync_detailed(erin.id, client=erin.client, body=TaskInput.from_dict(body))
        status(r, 201, f"createTask {body['title']}")
    tasks, pages = list_all(
        erin.client, erin.id, 1, "listTasks tag=MONEY sort=-priority", tag="MONEY", sort=ListTasksSort("-priority")
    )
    c.eq([t.title for t in tasks], ["File taxes", "Pay rent"], "listTasks tag=MONEY sort=-priority")
    c.eq(pages, 2, "listTasks tag=MONEY sort=-priority limit=1: pages")
    c.line("listTasks", f"tag='MONEY' sort=-priority limit=1: {pages} pages, the tagged tasks high first")
    tasks, _ = list_all(erin.client, erin.id, 2, "listTasks sort=priority", sort=ListTasksSort("priority"))
    c.eq([t.title for t in tasks][-3:], ["Call mum", "Pay rent", "File taxes"], "listTasks sort=priority: last")
    c.line("listTasks", "sort=priority limit=2: none, low, medium, high")
    r = api["listTags"].sync_detailed(erin.id, client=erin.client)
    status(r, 200, "listTags")
    c.eq(
        [(tag.name, tag.count) for tag in r.parsed.tags],
        [("Admin", 1), ("family", 1), ("Money", 2)],
        "listTags: once per lowercase form, the smallest spelling, counted, sorted",
    )
    c.line("listTags", "GET /users/{id}/tags -> 200 [Admin 1, family 1, Money 2]")
    r = api["listTags"].sync_detailed(uuid.uuid4(), client=erin.client)
    expect_forbidden(r, "listTags of another user")
    c.line("listTags", "another user's tags -> 403 ErrorCode.FORBIDDEN")

    # ---- the task model: a zoned due date, a recurring task completed ---------------------------
    zoned = TaskInput.from_dict({
        "title": "Meeting in Paris",
        "due": {"date": "2026-12-24", "time": "18:30", "time_zone": "Europe/Paris"},
        "priority": "high",
        "tags": [" Work ", "errands"],
    })
    r = api["createTask"].sync_detailed(carol.id, client=carol.client, body=zoned)
    meeting = check_task(r, 201, carol.id, {"title": "Meeting in Paris", "description": None, "is_completed": False},
                         "createTask with a zoned due date")
    body = raw(r)
    c.eq(body["due"], {"date": "2026-12-24", "time": "18:30:00", "time_zone": "Europe/Paris"},
         "createTask zoned: due as sent, time with seconds")
    c.eq(body["tags"], ["Work", "errands"], "createTask zoned: tags trimmed, in order")
    c.eq(body["priority"], "high", "createTask zoned: priority")
    c.line("createTask", "POST .../tasks due {date, time '18:30', time_zone 'Europe/Paris'} -> 201, time 18:30:00")
    weekly = TaskInput.from_dict({
        "title": "Gym", "due": {"date": "2026-12-07"}, "recurrence": "RRULE:FREQ=WEEKLY;BYDAY=MO,WE",
    })
    r = api["createTask"].sync_detailed(carol.id, client=carol.client, body=weekly)
    gym = check_task(r, 201, carol.id, {"title": "Gym", "description": None, "is_completed": False},
                     "createTask recurring")
    c.eq(raw(r)["recurrence"], "FREQ=WEEKLY;BYDAY=MO,WE", "createTask recurring: rule normalised")
    r = api["updateTask"].sync_detailed(carol.id, gym.id, client=carol.client, body=TaskPatch(is_completed=True))
    rolled = check_task(r, 200, carol.id, {"title": "Gym", "description": None, "is_completed": False},
                        "updateTask completing a recurring task")
    c.eq(raw(r)["due"]["date"], "2026-12-09", "recurring completion: the next occurrence")
    c.eq(rolled.version, gym.version + 1, "recurring completion: one new version")
    c.eq(meeting.user_id, carol.id, "the zoned task is carol's")
    c.line("updateTask", "PATCH TaskPatch(is_completed=True) on a weekly MO,WE task due Monday -> 200, open, "
           "due Wednesday")

    # ---- applyBatch: an offline queue of edits flushed as one request --------------------------
    trip, packed = uuid.uuid4(), uuid.uuid4()
    queue = models.Batch.from_dict({"operations": [
        {"op": "create_list", "body": {"id": str(trip), "name": "Trip"}},
        {"op": "create_task", "idempotency_key": str(packed), "body": {"id": str(packed), "title": "Pack"}},
        {"op": "update_task", "task_id": str(packed), "if_match": "*", "body": {"is_completed": True}},
        {"op": "delete_task", "task_id": str(uuid.uuid4())},
    ]})
    c.eq(type(queue.operations[2]).__name__, "UpdateTaskOperation", "applyBatch: a typed operation")
    r = api["applyBatch"].sync_detailed(carol.id, client=carol.client, body=queue)
    status(r, 200, "applyBatch")
    results = r.parsed.results
    c.eq([result.status for result in results], [201, 201, 200, 404], "applyBatch: statuses in order")
    c.eq(results[0].list_.id, trip, "applyBatch: the list made with the client's id")
    c.eq((results[2].task.id, results[2].task.is_completed), (packed, True), "applyBatch: the queued task, done")
    c.eq(results[2].etag, f'"{results[2].task.version}"', "applyBatch: the update's ETag")
    c.eq(results[3].error.code, ErrorCode.TASK_NOT_FOUND, "applyBatch: an unknown task's delete")
    c.eq(r.parsed.version, results[2].task.version, "applyBatch: the counter after the batch")
    stale = models.Batch.from_dict({"atomic": True, "operations": [
        {"op": "create_task", "body": {"title": "Not kept"}},
        {"op": "update_task", "task_id": str(packed), "if_match": '"1"', "body": {"title": "Stale"}},
    ]})
    r = api["applyBatch"].sync_detailed(carol.id, client=carol.client, body=stale)
    expect_error(r, 412, ErrorCode.PRECONDITION_FAILED, "applyBatch atomic")
    c.eq(raw(r)["error"]["details"]["operation"], 1, "applyBatch atomic: the failing operation")
    c.line("applyBatch", "4 queued edits (client-made ids) -> 200, results in order; atomic with a stale If-Match "
           "-> 412 naming operation 1")

    # ---- lists and manual order, kept by a replica that the change feed alone feeds --------------
    fc = frank.client
    check_user(api["createUser"].sync_detailed(client=fc), 201, "createUser as frank")
    replica = Replica()

    r = api["createList"].sync_detailed(frank.id, client=fc, body=ListInput(name="  Groceries  "))
    groceries = check_list(r, 201, frank.id, "Groceries", "createList")
    c.eq(groceries.created_at, groceries.updated_at, "createList: updated_at differs from created_at")
    c.eq(r.headers.get("location"), f"/users/{frank.id}/lists/{groceries.id}", "createList: Location")
    c.line("createList", "POST .../lists ListInput(name='  Groceries  ') -> 201 List, trimmed, server-made id, "
           "Location, ETag")
    trip_id = uuid.uuid4()
    r = api["createList"].sync_detailed(frank.id, client=fc, body=ListInput(name="Trip", id=trip_id))
    trip = check_list(r, 201, frank.id, "Trip", "createList with a client-made id")
    c.eq(trip.id, trip_id, "createList: the client-made id")
    c.eq(r.headers.get("location"), f"/users/{frank.id}/lists/{trip_id}", "createList with an id: Location")
    c.ok(trip.version > groceries.version, "createList with an id: version did not grow")
    r = api["createList"].sync_detailed(frank.id, client=fc, body=ListInput(name="Trip again", id=trip_id))
    expect_error(r, 409, ErrorCode.LIST_ALREADY_EXISTS, "createList with an existing id")
    r = api["createList"].sync_detailed(bob.id, client=bob.client, body=ListInput(name="Bob's trip", id=trip_id))
    expect_error(r, 409, ErrorCode.LIST_ALREADY_EXISTS, "createList with another user's list id")
    c.line("createList", "ListInput(name, id=client-made) -> 201 with that id; that id again, by its owner or another "
           "user -> 409 ErrorCode.LIST_ALREADY_EXISTS")

    r = api["getList"].sync_detailed(frank.id, trip.id, client=fc)
    c.eq(check_list(r, 200, frank.id, "Trip", "getList"), trip, "getList: the list as created")
    r = api["getList"].sync_detailed(frank.id, uuid.uuid4(), client=fc)
    expect_error(r, 404, ErrorCode.LIST_NOT_FOUND, "getList of a missing list")
    r = api["getList"].sync_detailed(bob.id, trip.id, client=bob.client)
    expect_error(r, 404, ErrorCode.LIST_NOT_FOUND, "getList of another user's list")
    c.line("getList", "GET .../lists/{id} -> 200 List as created, ETag; missing or another user's -> 404 "
           "ErrorCode.LIST_NOT_FOUND")
    lists, pages = list_all_lists(fc, frank.id, 1, "listLists limit=1")
    c.eq(lists, [groceries, trip], "listLists: oldest first")
    c.eq(pages, 2, "listLists limit=1: pages")
    c.line("listLists", f"limit=1: {pages} ListPages following next_cursor, oldest first")

    # Tasks made in the list go to its end, in the order made; one with a client-made id.
    pack_id = uuid.uuid4()
    in_trip: list[Any] = []
    for body in [NewTask(title="Passport", list_id=trip.id), NewTask(title="Tickets", list_id=trip.id),
                 NewTask(title="Pack", list_id=trip.id, id=pack_id), NewTask(title="Charger", list_id=trip.id)]:
        r = api["createTask"].sync_detailed(frank.id, client=fc, body=body)
        task = check_task(r, 201, frank.id, {"title": body.title, "description": None, "is_completed": False},
                          f"createTask {body.title} in a list")
        c.eq(task.list_id, trip.id, f"createTask {body.title}: list_id")
        c.ok(bool(re.fullmatch(r"[0-9A-Za-z]+", task.position)), f"createTask {body.title}: position {task.position}")
        c.ok(not in_trip or in_trip[-1].position < task.position, f"createTask {body.title}: not at the list's end")
        in_trip.append(task)
    c.eq(in_trip[2].id, pack_id, "createTask in a list: the client-made id")
    r = api["createTask"].sync_detailed(frank.id, client=fc, body=NewTask(title="Pack twice", id=pack_id))
    expect_error(r, 409, ErrorCode.TASK_ALREADY_EXISTS, "createTask with an existing id")
    r = api["createTask"].sync_detailed(frank.id, client=fc, body=NewTask(title="Milk", list_id=groceries.id))
    milk_task = check_task(r, 201, frank.id, {"title": "Milk", "description": None, "is_completed": False}, "Milk")
    r = api["createTask"].sync_detailed(frank.id, client=fc, body=NewTask(title="Call mum"))
    c.eq(check_task(r, 201, frank.id, {"title": "Call mum", "description": None, "is_completed": False},
                    "createTask in the inbox").list_id, None, "createTask without list_id: the inbox")

    def order_of(list_id: Any, what: str) -> list[Any]:
        """A list's order as listTasks sort=position&list_id=... reads it back, in pages of 3."""
        tasks, _ = list_all(fc, frank.id, 3, what, list_id=str(list_id), sort=ListTasksSort.POSITION)
        return tasks

    def titles_of(tasks: list[Any]) -> list[str]:
        return [t.title for t in tasks]

    c.eq(titles_of(order_of(trip.id, "the list's order after the creates")),
         ["Passport", "Tickets", "Pack", "Charger"], "listTasks sort=position list_id: the order made")
    c.eq(titles_of(order_of("inbox", "the inbox")), ["Call mum"], "listTasks list_id=inbox")
    c.line("createTask", "NewTask(list_id=...) x4 (one with id=client-made) -> 201, each at the list's end (position "
           "ascending); that id again -> 409 ErrorCode.TASK_ALREADY_EXISTS")

    def move_with_etag(task: Any, after: Any, what: str) -> Any:
        """moveTask with the task's ETag as if_match."""
        etag = f'"{task.version}"'
        r = api["moveTask"].sync_detailed(frank.id, task.id, client=fc, body=TaskMove(after=after), if_match=etag)
        c.eq(sent_preconditions[-1]["if-match"], etag, f"{what}: If-Match sent")
        moved = check_task(r, 200, frank.id, {"title": task.title, "description": None, "is_completed": False}, what)
        c.eq(moved.list_id, task.list_id, f"{what}: list_id")
        c.ok(moved.version > task.version, f"{what}: version did not grow")
        c.ok(moved.position != task.position, f"{what}: position did not change")
        return moved

    passport, tickets, pack, charger = in_trip
    charger_first = move_with_etag(charger, None, "moveTask after None")
    c.ok(charger_first.position < passport.position, "moveTask after None: not before the first")
    c.eq(titles_of(order_of(trip.id, "the list's order after a move")), ["Charger", "Passport", "Tickets", "Pack"],
         "moveTask after None: the order read back")
    passport_moved = move_with_etag(passport, tickets.id, "moveTask after a task")
    c.ok(tickets.position < passport_moved.position < pack.position,
         f"moveTask after Tickets: {passport_moved.position} not between {tickets.position} and {pack.position}")
    moved_order = order_of(trip.id, "the list's order after two moves")
    c.eq(titles_of(moved_order), ["Charger", "Tickets", "Passport", "Pack"], "moveTask: the order read back")
    c.line("moveTask", f"TaskMove(after=None) if_match=\"{charger.version}\" -> 200, first, ETag "
           f"\"{charger_first.version}\"; TaskMove(after=Tickets) -> right after it; sort=position&list_id reads it")
    r = api["moveTask"].sync_detailed(frank.id, charger.id, client=fc, body=TaskMove(after=pack.id),
                                      if_match=f'"{charger.version}"')
    expect_error(r, 412, ErrorCode.PRECONDITION_FAILED, "moveTask with a stale If-Match")
    r = api["moveTask"].sync_detailed(frank.id, charger.id, client=fc, body=TaskMove(after=milk_task.id),
                                      if_match=f'"{charger_first.version}"')
    envelope = expect_error(r, 400, ErrorCode.VALIDATION_ERROR, "moveTask after a task of another list")
    expect_fields(envelope, ["after"], FieldLocation.BODY, "moveTask after a task of another list")
    c.eq(order_of(trip.id, "the list's order after refused moves"), moved_order, "refused moves: the list changed")
    c.line("moveTask", "a stale if_match -> 412 ErrorCode.PRECONDITION_FAILED; after a task of another list -> 400 "
           "naming after; the order kept")

    # A full sync in pages of 3 feeds the replica: both kinds, decoded through the union.
    changes, full_since, pages = sync_all(fc, frank.id, 3, "listChanges full sync of lists and tasks")
    replica.apply(changes)
    c.eq({type(ch) for ch in changes}, {TaskChange, ListChange}, "full sync: both kinds")
    c.eq(len(changes), 2 + 6, "full sync: 2 lists and 6 tasks, each once")
    expect_in_sync(fc, frank.id, replica, "after the full sync")
    c.line("listChanges", f"full sync limit=3: {pages} pages until has_more False, {len(changes)} changes decoded as "
           "TaskChange and ListChange in one version order; the replica = listLists, listTasks and each list's "
           "sort=position order")

    # A rename, a move, a list deleted with its tasks: the feed since the last token brings
    # exactly those, and the replica follows.
    r = api["updateList"].sync_detailed(frank.id, trip.id, client=fc, body=ListPatch(name="Holiday"),
                                        if_match=f'"{trip.version}"')
    c.eq(sent_preconditions[-1]["if-match"], f'"{trip.version}"', "updateList: If-Match sent")
    c.eq(sent[-1], ("PATCH", MERGE_PATCH), "updateList: request sent")
    holiday = check_list(r, 200, frank.id, "Holiday", "updateList")
    c.eq(holiday.created_at, trip.created_at, "updateList: created_at moved")
    c.ok(holiday.updated_at > trip.updated_at, "updateList: updated_at did not move")
    c.ok(holiday.version > trip.version, "updateList: version did not grow")
    r = api["updateList"].sync_detailed(frank.id, trip.id, client=fc, body=ListPatch(name="Stale"),
                                        if_match=f'"{trip.version}"')
    expect_error(r, 412, ErrorCode.PRECONDITION_FAILED, "updateList with a stale If-Match")
    c.line("updateList", f"PATCH ({MERGE_PATCH}) ListPatch(name='Holiday') if_match=\"{trip.version}\" -> 200, ETag; "
           "again -> 412")

    trip_tasks = order_of(trip.id, "the list's tasks before its delete")
    r = api["moveTask"].sync_detailed(frank.id, milk_task.id, client=fc, body=TaskMove(after=None, list_id=None))
    c.eq(raw(r)["list_id"], None, "moveTask list_id=None: the inbox")
    c.eq(titles_of(order_of("inbox", "the inbox after a move into it")), ["Milk", "Call mum"],
         "moveTask TaskMove(after=None, list_id=None): first in the inbox")
    c.line("moveTask", "TaskMove(after=None, list_id=None) -> 200, out of its list, first in the inbox")

    r = api["deleteList"].sync_detailed(frank.id, trip.id, client=fc, if_match=f'"{trip.version}"')
    expect_error(r, 412, ErrorCode.PRECONDITION_FAILED, "deleteList with a stale If-Match")
    r = api["deleteList"].sync_detailed(frank.id, trip.id, client=fc, if_match=f'"{holiday.version}"')
    c.eq(sent_preconditions[-1]["if-match"], f'"{holiday.version}"', "deleteList: If-Match sent")
    status(r, 204, "deleteList")
    c.eq(r.content, b"", "deleteList: 204 with a body")
    r = api["getList"].sync_detailed(frank.id, trip.id, client=fc)
    expect_error(r, 404, ErrorCode.LIST_NOT_FOUND, "getList after deleteList")
    for task in trip_tasks:
        r = api["getTask"].sync_detailed(frank.id, task.id, client=fc)
        expect_error(r, 404, ErrorCode.TASK_NOT_FOUND, f"getTask {task.title} after its list's delete")
    c.line("deleteList", f"DELETE if_match stale -> 412; \"{holiday.version}\" -> 204, the list and its "
           f"{len(trip_tasks)} tasks gone")

    changes, latest, pages = sync_all(fc, frank.id, 2, "listChanges since the full sync", since=full_since)
    summary = [(type(ch).__name__, change_id(ch), ch.deleted) for ch in changes]
    # The move first; then the list's deletion and each of its tasks', in the numbers the delete
    # took (their order among themselves is not the contract's); the rename overtaken by the delete.
    c.eq(summary[0], ("TaskChange", milk_task.id, False), "listChanges since the full sync: the move first")
    c.eq(sorted(summary[1:], key=str),
         sorted([("TaskChange", t.id, True) for t in trip_tasks] + [("ListChange", trip.id, True)], key=str),
         "listChanges since the full sync: each task's deletion and the list's")
    replica.apply(changes)
    expect_in_sync(fc, frank.id, replica, "after the incremental sync")
    c.eq(list(replica.lists), [groceries.id], "the replica's lists")
    changes, _, _ = sync_all(fc, frank.id, 2, "listChanges caught up", since=latest)
    c.eq(changes, [], "listChanges caught up: changes")
    c.line("listChanges", f"since the full sync limit=2: {pages} pages, the move, {len(trip_tasks)} task deletions "
           "and the list's deletion; the replica = the server's lists, tasks and order again")

    # ---- deleteUser: each caller deletes themself ----------------------------------------------
    for caller in (alice, bob, carol, erin, frank):
        r = api["deleteUser"].sync_detailed(caller.id, client=caller.client)
        status(r, 204, "deleteUser")
        c.eq(r.content, b"", "deleteUser: 204 with a body")
    r = api["getUser"].sync_detailed(user.id, client=client)
    expect_error(r, 404, ErrorCode.USER_NOT_FOUND, "getUser after deleteUser")
    r = api["getCurrentUser"].sync_detailed(client=client)
    expect_error(r, 404, ErrorCode.USER_NOT_FOUND, "getCurrentUser after deleteUser")
    r = api["listTasks"].sync_detailed(user.id, client=client)
    expect_error(r, 404, ErrorCode.USER_NOT_FOUND, "listTasks after deleteUser")
    r = api["listChanges"].sync_detailed(user.id, client=client)
    expect_error(r, 404, ErrorCode.USER_NOT_FOUND, "listChanges after deleteUser")
    r = api["deleteUser"].sync_detailed(user.id, client=client)
    expect_error(r, 404, ErrorCode.USER_NOT_FOUND, "deleteUser twice")
    c.line("deleteUser", "each caller DELETEs themself -> 204; then getUser, GET /me, listTasks, listChanges, "
           "second DELETE -> 404 USER_NOT_FOUND")

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
