// Drives every operation of openapi/task-operations.yaml against a running server with
// authentication on, through a client generated from the contract alone: types by
// openapi-typescript (generated/schema.d.ts, made at test time), calls by openapi-fetch. Each
// simulated user is a fresh random UUID with an HS256 JWT minted here (node:crypto only) from
// AUTH_JWT_SECRET and AUTH_ISSUER, sent by its own openapi-fetch client as
// `Authorization: Bearer <jwt>` (the client's `headers` option). Every answer is checked
// strictly; the first mismatch throws and the process exits non-zero. One line is printed per
// operation exercised.
//
//   BASE_URL=http://127.0.0.1:8000 AUTH_JWT_SECRET=... AUTH_ISSUER=https://issuer.example \
//     node dist/client.js
//
// AUTH_ISSUER (the iss claim) and AUTH_AUDIENCE (the aud claim) are optional and must match the
// server's; AUTH_JWT_SECRET must be the server's secret.

import { randomUUID } from "node:crypto";
import createClient, { type Client, type Middleware } from "openapi-fetch";
import type { components, paths } from "./generated/schema.js";
import { mintToken } from "./token.js";

type Task = components["schemas"]["Task"];
type TaskChange = components["schemas"]["TaskChange"];
type Change = components["schemas"]["Change"];
type TaskList = components["schemas"]["List"];
type User = components["schemas"]["User"];
type ErrorEnvelope = components["schemas"]["ErrorEnvelope"];
type ErrorCode = components["schemas"]["ErrorCode"];
type Sort = NonNullable<paths["/users/{user_id}/tasks"]["get"]["parameters"]["query"]>["sort"];
type Api = Client<paths>;

const baseUrl = process.env.BASE_URL;
if (!baseUrl) {
  throw new Error("BASE_URL is not set (e.g. BASE_URL=http://127.0.0.1:8000)");
}
// Set when BASE_URL is a validating proxy (Prism) that answers a request without credentials
// itself: the no-token checks are then left out, as the server never sees those requests.
const behindValidatingProxy = process.env.VALIDATING_PROXY === "1";

// Records the Content-Type, Authorization and precondition headers of every request actually
// sent, so the PATCH media type, the bearer token, If-Match, If-None-Match and Idempotency-Key
// (each given as a generated header parameter) are checked on the wire rather than trusted.
const sent: {
  contentType: string | null;
  authorization: string | null;
  ifMatch: string | null;
  ifNoneMatch: string | null;
  idempotencyKey: string | null;
}[] = [];
const recordRequest: Middleware = {
  onRequest({ request }) {
    sent.push({
      contentType: request.headers.get("content-type"),
      authorization: request.headers.get("authorization"),
      ifMatch: request.headers.get("if-match"),
      ifNoneMatch: request.headers.get("if-none-match"),
      idempotencyKey: request.headers.get("idempotency-key"),
    });
    return undefined;
  },
};
const lastContentType = (): string | null => sent.at(-1)?.contentType ?? null;

// A client of its own per caller: the token goes in the client's default headers.
function clientFor(token?: string): Api {
  const api = createClient<paths>({
    baseUrl,
    headers: token === undefined ? {} : { Authorization: `Bearer ${token}` },
  });
  api.use(recordRequest);
  return api;
}

// A simulated user: a fresh random id, a token naming it, and a client sending that token.
interface Caller {
  id: string;
  token: string;
  api: Api;
}
function newCaller(): Caller {
  const id = randomUUID();
  const token = mintToken(id);
  return { id, token, api: clientFor(token) };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
const MERGE_PATCH = "application/merge-patch+json";

const exercised = new Set<string>();
let checks = 0;

function fail(message: string): never {
  throw new Error(`assertion failed: ${message}`);
}

function eq<T>(actual: T, expected: T, what: string): void {
  checks += 1;
  if (actual !== expected) {
    fail(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }
}

function ok(condition: boolean, what: string): void {
  checks += 1;
  if (!condition) {
    fail(what);
  }
}

function present<T>(value: T | undefined, what: string): T {
  checks += 1;
  if (value === undefined) {
    fail(`${what}: no body`);
  }
  return value;
}

function status(response: Response, expected: number, what: string): void {
  eq(response.status, expected, `${what}: HTTP status`);
}

function line(operation: string, detail: string): void {
  exercised.add(operation);
  console.log(`ok  ${operation.padEnd(14)} ${detail}`);
}

// A typed error: the body must parse as the generated ErrorEnvelope with the given code.
function expectError(
  error: ErrorEnvelope | undefined,
  response: Response,
  httpStatus: number,
  code: ErrorCode,
  what: string,
): ErrorEnvelope {
  status(response, httpStatus, what);
  const envelope = present(error, what);
  eq(envelope.error.code, code, `${what}: error.code`);
  eq(typeof envelope.error.message, "string", `${what}: error.message type`);
  ok(envelope.error.message.length > 0, `${what}: error.message is empty`);
  ok(typeof envelope.error.details === "object" && envelope.error.details !== null, `${what}: details`);
  return envelope;
}

function expectFields(envelope: ErrorEnvelope, expected: string[], what: string): void {
  const fields = envelope.error.details.fields;
  ok(fields !== undefined, `${what}: details.fields is absent`);
  const names = (fields ?? []).map((f) => f.field).sort();
  eq(JSON.stringify(names), JSON.stringify([...expected].sort()), `${what}: details.fields[].field`);
  for (const f of fields ?? []) {
    eq(f.location, "body", `${what}: location of ${f.field}`);
    ok(f.message.length > 0, `${what}: message of ${f.field} is empty`);
  }
}

function checkUser(user: User, what: string): void {
  ok(UUID.test(user.id), `${what}: id ${user.id} is not a lowercase UUID`);
  ok(TIMESTAMP.test(user.created_at), `${what}: created_at ${user.created_at} is not UTC with microseconds`);
  eq(JSON.stringify(Object.keys(user).sort()), JSON.stringify(["created_at", "id"]), `${what}: keys`);
}

function checkTask(
  task: Task,
  userId: string,
  expected: { title: string; description: string | null; is_completed: boolean },
  what: string,
): void {
  ok(UUID.test(task.id), `${what}: id ${task.id} is not a lowercase UUID`);
  eq(task.user_id, userId, `${what}: user_id`);
  eq(task.title, expected.title, `${what}: title`);
  eq(task.description, expected.description, `${what}: description`);
  eq(task.is_completed, expected.is_completed, `${what}: is_completed`);
  ok(
    task.is_completed ? TIMESTAMP.test(task.completed_at ?? "") : task.completed_at === null,
    `${what}: completed_at ${task.completed_at} does not follow is_completed`,
  );
  ok(TIMESTAMP.test(task.created_at), `${what}: created_at ${task.created_at}`);
  ok(TIMESTAMP.test(task.updated_at), `${what}: updated_at ${task.updated_at}`);
  ok(task.updated_at >= task.created_at, `${what}: updated_at before created_at`);
  ok(Number.isInteger(task.version) && task.version >= 1, `${what}: version ${task.version} is not an integer >= 1`);
  eq(
    JSON.stringify(Object.keys(task).sort()),
    JSON.stringify([
      "completed_at", "created_at", "description", "due", "id", "is_completed", "list_id", "position", "priority",
      "recurrence", "tags", "title", "updated_at", "user_id", "version",
    ]),
    `${what}: keys`,
  );
}

function checkList(list: TaskList, userId: string, name: string, what: string): void {
  ok(UUID.test(list.id), `${what}: id ${list.id} is not a lowercase UUID`);
  eq(list.user_id, userId, `${what}: user_id`);
  eq(list.name, name, `${what}: name`);
  ok(TIMESTAMP.test(list.created_at), `${what}: created_at ${list.created_at}`);
  ok(TIMESTAMP.test(list.updated_at), `${what}: updated_at ${list.updated_at}`);
  ok(list.updated_at >= list.created_at, `${what}: updated_at before created_at`);
  ok(Number.isInteger(list.version) && list.version >= 1, `${what}: version ${list.version} is not an integer >= 1`);
  eq(
    JSON.stringify(Object.keys(list).sort()),
    JSON.stringify(["created_at", "id", "name", "updated_at", "user_id", "version"]),
    `${what}: keys`,
  );
}

// The ETag of an answer carrying one task or list: its version in quotes. openapi-typescript
// types the header (ETAG: string) but openapi-fetch hands back the fetch Response, so it is read
// from there.
function expectETag(response: Response, resource: { version: number }, what: string): string {
  const etag = response.headers.get("etag");
  eq(etag, `"${resource.version}"`, `${what}: ETag`);
  return etag as string;
}

// Follows next_cursor from the first page to the last, checking every page; returns the items
// in the order given.
async function followCursor<T extends { id: string }>(
  fetchPage: (cursor: string | undefined) => Promise<{
    data?: { items: T[]; next_cursor: string | null };
    error?: unknown;
    response: Response;
  }>,
  limit: number,
  what: string,
): Promise<{ items: T[]; pages: number }> {
  const items: T[] = [];
  let cursor: string | undefined;
  let pages = 0;
  for (;;) {
    const { data, error, response } = await fetchPage(cursor);
    ok(error === undefined, `${what}: unexpected error ${JSON.stringify(error)}`);
    status(response, 200, what);
    const page = present(data, what);
    pages += 1;
    ok(page.items.length <= limit, `${what}: page ${pages} holds ${page.items.length} > limit`);
    items.push(...page.items);
    if (page.next_cursor === null) {
      break;
    }
    ok(page.items.length === limit, `${what}: a non-last page is not full`);
    cursor = page.next_cursor;
    ok(pages < 100, `${what}: the cursor never ends`);
  }
  eq(new Set(items.map((item) => item.id)).size, items.length, `${what}: an item was listed twice`);
  return { items, pages };
}

async function listAll(
  api: Api,
  userId: string,
  query: { limit: number; sort?: Sort; completed?: boolean; q?: string; tag?: string; list_id?: string },
  what: string,
): Promise<{ tasks: Task[]; pages: number }> {
  const { items, pages } = await followCursor(
    (cursor) => api.GET("/users/{user_id}/tasks", { params: { path: { user_id: userId }, query: { ...query, cursor } } }),
    query.limit,
    what,
  );
  return { tasks: items, pages };
}

async function listAllLists(api: Api, userId: string, limit: number, what: string): Promise<{ lists: TaskList[]; pages: number }> {
  const { items, pages } = await followCursor(
    (cursor) => api.GET("/users/{user_id}/lists", { params: { path: { user_id: userId }, query: { limit, cursor } } }),
    limit,
    what,
  );
  return { lists: items, pages };
}

// Follows listChanges from `since` (absent: a full sync) while has_more is true, checking every
// page and change of either kind (told apart by `kind`, the generated union's discriminator);
// returns the changes in the order given and the last next_since.
async function syncAll(
  api: Api,
  userId: string,
  query: { limit: number; since?: string },
  what: string,
): Promise<{ changes: Change[]; nextSince: string; pages: number }> {
  const changes: Change[] = [];
  let since = query.since;
  let pages = 0;
  for (;;) {
    const { data, error, response } = await api.GET("/users/{user_id}/changes", {
      params: { path: { user_id: userId }, query: { limit: query.limit, since } },
    });
    ok(error === undefined, `${what}: unexpected error ${JSON.stringify(error)}`);
    status(response, 200, what);
    const page = present(data, what);
    pages += 1;
    const keys = JSON.stringify(Object.keys(page).sort());
    eq(keys, JSON.stringify(["changes", "has_more", "next_since"]), `${what}: keys`);
    ok(page.changes.length <= query.limit, `${what}: page ${pages} holds ${page.changes.length} > limit`);
    ok(typeof page.next_since === "string" && page.next_since.length > 0, `${what}: next_since`);
    for (const change of page.changes) {
      checkChange(change, userId, what);
      changes.push(change);
    }
    since = page.next_since;
    if (!page.has_more) {
      break;
    }
    ok(page.changes.length > 0, `${what}: a page with has_more holds no change`);
    ok(pages < 100, `${what}: has_more never ends`);
  }
  for (let i = 1; i < changes.length; i += 1) {
    ok((changes[i]?.version ?? 0) > (changes[i - 1]?.version ?? 0), `${what}: changes not in version order`);
  }
  const changed = changes.map((c) => (c.kind === "task" ? `task ${c.task_id}` : `list ${c.list_id}`));
  eq(new Set(changed).size, changes.length, `${what}: a task or list changed twice in one sync`);
  return { changes, nextSince: since as string, pages };
}

// One change of the feed, decoded through the generated union: a TaskChange or a ListChange
// (narrowed on `kind`), with exactly its kind's members, its task or list null exactly when
// deleted.
function checkChange(change: Change, userId: string, what: string): void {
  const [idMember, id, resource] = ((): [string, string, { id: string; user_id: string; version: number } | null] => {
    switch (change.kind) {
      case "task":
        return ["task_id", change.task_id, change.task];
      case "list":
        return ["list_id", change.list_id, change.list];
      default: {
        const unknown: never = change;
        return fail(`${what}: a change of an unknown kind ${JSON.stringify(unknown)}`);
      }
    }
  })();
  const about = `${what}: change of ${change.kind} ${id}`;
  eq(
    JSON.stringify(Object.keys(change).sort()),
    JSON.stringify(["deleted", "kind", change.kind, idMember, "version"].sort()),
    `${about}: keys`,
  );
  ok(UUID.test(id), `${about}: ${idMember} is not a lowercase UUID`);
  ok(Number.isInteger(change.version) && change.version >= 1, `${about}: version ${change.version}`);
  if (change.deleted) {
    eq(resource, null, `${about}: a deleted ${change.kind}'s ${change.kind}`);
  } else {
    ok(resource !== null, `${about}: a live ${change.kind}'s ${change.kind} is null`);
    eq(resource?.id, id, `${about}: ${change.kind}.id`);
    eq(resource?.user_id, userId, `${about}: ${change.kind}.user_id`);
    eq(resource?.version, change.version, `${about}: ${change.kind}.version`);
  }
}

// The task changes of a feed that holds no list's: each change must be a task's.
function taskChanges(changes: Change[], what: string): TaskChange[] {
  return changes.map((change) => {
    if (change.kind !== "task") {
      fail(`${what}: a change of kind ${change.kind}`);
    }
    return change;
  });
}

// What a client keeps of a user's lists and tasks, fed by the change feed alone.
interface Replica {
  lists: Map<string, TaskList>;
  tasks: Map<string, Task>;
}

// Applies changes of either kind in the order given: the latest state replaces the kept one, a
// deletion removes it.
function applyChanges(replica: Replica, changes: Change[]): void {
  for (const change of changes) {
    if (change.kind === "task") {
      if (change.task === null) {
        replica.tasks.delete(change.task_id);
      } else {
        replica.tasks.set(change.task_id, change.task);
      }
    } else if (change.list === null) {
      replica.lists.delete(change.list_id);
    } else {
      replica.lists.set(change.list_id, change.list);
    }
  }
}

const byId = (a: { id: string }, b: { id: string }): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
// The manual order: positions compared as byte strings (ASCII here, so as JavaScript compares
// strings), ties by id.
const byPosition = (a: Task, b: Task): number =>
  a.position < b.position ? -1 : a.position > b.position ? 1 : byId(a, b);

// The replica holds exactly the server's lists and tasks, each in its latest state, every task's
// list among the lists, and each list's (and the inbox's) order as listTasks sort=position gives it.
async function expectInSync(api: Api, userId: string, replica: Replica, what: string): Promise<void> {
  const { lists } = await listAllLists(api, userId, 100, `${what}: listLists`);
  eq(
    JSON.stringify([...lists].sort(byId)),
    JSON.stringify([...replica.lists.values()].sort(byId)),
    `${what}: the replica's lists = listLists`,
  );
  const { tasks } = await listAll(api, userId, { limit: 100 }, `${what}: listTasks`);
  eq(
    JSON.stringify([...tasks].sort(byId)),
    JSON.stringify([...replica.tasks.values()].sort(byId)),
    `${what}: the replica's tasks = listTasks`,
  );
  for (const task of replica.tasks.values()) {
    ok(task.list_id === null || replica.lists.has(task.list_id), `${what}: task ${task.id} names a list not synced`);
  }
  for (const listId of ["inbox", ...replica.lists.keys()]) {
    const { tasks: ordered } = await listAll(
      api,
      userId,
      { limit: 2, sort: "position", list_id: listId },
      `${what}: listTasks list_id=${listId} sort=position`,
    );
    const local = [...replica.tasks.values()].filter((t) => (t.list_id ?? "inbox") === listId).sort(byPosition);
    eq(
      JSON.stringify(ordered.map((t) => t.id)),
      JSON.stringify(local.map((t) => t.id)),
      `${what}: list ${listId}'s order = the replica's by position`,
    );
  }
}

const REALM = 'Bearer realm="task-api"';

// No token: 401 UNAUTHORIZED as the generated ErrorEnvelope, and the Bearer challenge.
function expectNoToken(error: ErrorEnvelope | undefined, response: Response, what: string): void {
  expectError(error, response, 401, "UNAUTHORIZED", what);
  eq(response.headers.get("www-authenticate"), REALM, `${what}: WWW-Authenticate`);
}

// A token the server refuses: 401 UNAUTHORIZED, the challenge says invalid_token, the token is
// never echoed.
function expectBadToken(
  error: ErrorEnvelope | undefined,
  response: Response,
  token: string,
  what: string,
): void {
  const envelope = expectError(error, response, 401, "UNAUTHORIZED", what);
  const challenge = response.headers.get("www-authenticate") ?? "";
  ok(challenge.startsWith(`${REALM}, error="invalid_token"`), `${what}: WWW-Authenticate ${JSON.stringify(challenge)}`);
  const signature = token.split(".")[2] ?? token;
  ok(!challenge.includes(signature) && !envelope.error.message.includes(signature), `${what}: the token is echoed`);
}

function expectForbidden(error: ErrorEnvelope | undefined, response: Response, what: string): void {
  expectError(error, response, 403, "FORBIDDEN", what);
  eq(response.headers.get("www-authenticate"), null, `${what}: a WWW-Authenticate on a 403`);
}

async function main(): Promise<void> {
  const anonymous = clientFor();

  // ---- health, ready: open without a token ---------------------------------------------------
  {
    const { data, response } = await anonymous.GET("/health");
    status(response, 200, "health");
    eq(present(data, "health").status, "ok", "health: status");
    line("health", "GET /health (no token) -> 200 {status: ok}");
  }
  {
    const { data, response } = await anonymous.GET("/ready");
    status(response, 200, "ready");
    eq(present(data, "ready").status, "ok", "ready: status");
    line("ready", "GET /ready (no token) -> 200 {status: ok}");
  }

  // ---- no token, a bad token: 401 on every operation under /users and /me ------------------
  {
    const someone = randomUUID();
    const task = randomUUID();
    const path = { user_id: someone };
    const taskPath = { user_id: someone, task_id: task };
    const listPath = { user_id: someone, list_id: randomUUID() };
    const calls: [string, (api: Api) => Promise<{ error?: ErrorEnvelope; response: Response }>][] = [
      ["createUser", (api) => api.POST("/users")],
      ["getCurrentUser", (api) => api.GET("/me")],
      ["getUser", (api) => api.GET("/users/{user_id}", { params: { path } })],
      ["deleteUser", (api) => api.DELETE("/users/{user_id}", { params: { path } })],
      ["createTask", (api) => api.POST("/users/{user_id}/tasks", { params: { path }, body: { title: "x" } })],
      ["listTasks", (api) => api.GET("/users/{user_id}/tasks", { params: { path } })],
      ["getTask", (api) => api.GET("/users/{user_id}/tasks/{task_id}", { params: { path: taskPath } })],
      [
        "replaceTask",
        (api) => api.PUT("/users/{user_id}/tasks/{task_id}", { params: { path: taskPath }, body: { title: "x" } }),
      ],
      [
        "updateTask",
        (api) =>
          api.PATCH("/users/{user_id}/tasks/{task_id}", {
            params: { path: taskPath },
            headers: { "Content-Type": MERGE_PATCH },
            body: { title: "x" },
          }),
      ],
      ["deleteTask", (api) => api.DELETE("/users/{user_id}/tasks/{task_id}", { params: { path: taskPath } })],
      [
        "moveTask",
        (api) => api.POST("/users/{user_id}/tasks/{task_id}/move", { params: { path: taskPath }, body: { after: null } }),
      ],
      ["listTags", (api) => api.GET("/users/{user_id}/tags", { params: { path } })],
      ["createList", (api) => api.POST("/users/{user_id}/lists", { params: { path }, body: { name: "x" } })],
      ["listLists", (api) => api.GET("/users/{user_id}/lists", { params: { path } })],
      ["getList", (api) => api.GET("/users/{user_id}/lists/{list_id}", { params: { path: listPath } })],
      [
        "updateList",
        (api) =>
          api.PATCH("/users/{user_id}/lists/{list_id}", {
            params: { path: listPath },
            headers: { "Content-Type": MERGE_PATCH },
            body: { name: "x" },
          }),
      ],
      ["deleteList", (api) => api.DELETE("/users/{user_id}/lists/{list_id}", { params: { path: listPath } })],
      ["listChanges", (api) => api.GET("/users/{user_id}/changes", { params: { path } })],
    ];
    if (!behindValidatingProxy) {
      for (const [operation, call] of calls) {
        const { error, response } = await call(anonymous);
        eq(sent.at(-1)?.authorization ?? null, null, `${operation} without a token: an Authorization was sent`);
        expectNoToken(error, response, `${operation} without a token`);
      }
      line(
        "createUser",
        `no token on all ${calls.length} operations under /users and /me -> 401 UNAUTHORIZED (typed), ` +
          `WWW-Authenticate: ${REALM}`,
      );
    }

    const forged = mintToken(someone, { key: `not-the-server-secret-${randomUUID()}` });
    const expired = mintToken(someone, { lifetime: -3600 });
    const badTokens = [
      ["a token signed with another key", forged],
      ["a token expired an hour ago", expired],
    ] as const;
    for (const [kind, token] of badTokens) {
      const api = clientFor(token);
      for (const [operation, call] of calls.slice(0, 3)) {
        const { error, response } = await call(api);
        eq(sent.at(-1)?.authorization ?? null, `Bearer ${token}`, `${operation} with ${kind}: Authorization sent`);
        expectBadToken(error, response, token, `${operation} with ${kind}`);
      }
    }
    line("getUser", 'a forged and an expired token -> 401 UNAUTHORIZED, WWW-Authenticate error="invalid_token"');
  }

  // ---- getCurrentUser before registering, createUser as the caller ---------------------------
  const alice = newCaller(); // the main user: registers with no body
  const bob = newCaller(); // registers with {}
  const carol = newCaller(); // registers with {id: her own id}
  const dave = newCaller(); // never registers
  const erin = newCaller(); // registers late: her idempotent creates and her change feed
  const frank = newCaller(); // his lists, their manual order, and a replica the change feed feeds
  {
    const { error, response } = await alice.api.GET("/me");
    eq(sent.at(-1)?.authorization ?? null, `Bearer ${alice.token}`, "getCurrentUser: Authorization sent");
    expectError(error, response, 404, "USER_NOT_FOUND", "getCurrentUser before registering");
    line("getCurrentUser", "GET /me before POST /users -> 404 USER_NOT_FOUND (typed)");
  }

  const created = await alice.api.POST("/users");
  status(created.response, 201, "createUser without a body");
  const user = present(created.data, "createUser without a body");
  checkUser(user, "createUser without a body");
  eq(user.id, alice.id, "createUser without a body: id is the token's sub");
  eq(created.response.headers.get("location"), `/users/${user.id}`, "createUser: Location");
  eq(lastContentType(), null, "createUser without a body: a Content-Type was sent");
  line("createUser", `POST /users (no body, bearer) -> 201 id = the token's sub ${user.id}, Location`);

  {
    const { data, response } = await alice.api.GET("/me");
    status(response, 200, "getCurrentUser after registering");
    const me = present(data, "getCurrentUser after registering");
    checkUser(me, "getCurrentUser");
    eq(JSON.stringify(me), JSON.stringify(user), "getCurrentUser: the registered user");
    line("getCurrentUser", "GET /me after POST /users -> 200, the registered user");
  }

  const empty = await bob.api.POST("/users", { body: {} });
  status(empty.response, 201, "createUser {}");
  const other = present(empty.data, "createUser {}");
  checkUser(other, "createUser {}");
  eq(other.id, bob.id, "createUser {}: id is the token's sub");
  ok(other.id !== user.id, "createUser {}: the same id twice");
  line("createUser", "POST /users {} (another token) -> 201 with that token's sub");

  const chosenId = carol.id;
  const chosen = await carol.api.POST("/users", { body: { id: chosenId } });
  status(chosen.response, 201, "createUser {id}");
  const chosenUser = present(chosen.data, "createUser {id}");
  checkUser(chosenUser, "createUser {id}");
  eq(chosenUser.id, chosenId, "createUser {id}: id");
  eq(chosen.response.headers.get("location"), `/users/${chosenId}`, "createUser {id}: Location");
  line("createUser", `POST /users {id: the caller's own ${chosenId}} -> 201 with that id`);

  const again = await carol.api.POST("/users", { body: { id: chosenId } });
  expectError(again.error, again.response, 409, "USER_ALREADY_EXISTS", "createUser of an existing id");
  const twice = await alice.api.POST("/users");
  expectError(twice.error, twice.response, 409, "USER_ALREADY_EXISTS", "createUser twice without a body");
  line("createUser", "POST /users again ({id: own} and no body) -> 409 USER_ALREADY_EXISTS (typed)");

  {
    const { error, response } = await dave.api.POST("/users", { body: { id: randomUUID() } });
    expectForbidden(error, response, "createUser {id: not the caller's}");
    const byAlice = await alice.api.POST("/users", { body: { id: dave.id } });
    expectForbidden(byAlice.error, byAlice.response, "createUser {id: another caller's}");
    const me = await dave.api.GET("/me");
    expectError(me.error, me.response, 404, "USER_NOT_FOUND", "getCurrentUser after a refused createUser");
    line("createUser", "POST /users {id: not the caller's} -> 403 FORBIDDEN (typed), nobody registered");
  }

  // ---- getUser -------------------------------------------------------------------------------
  {
    const { data, response } = await alice.api.GET("/users/{user_id}", { params: { path: { user_id: user.id } } });
    status(response, 200, "getUser");
    const got = present(data, "getUser");
    eq(got.id, user.id, "getUser: id");
    eq(got.created_at, user.created_at, "getUser: created_at");
    line("getUser", `GET /users/${user.id} (own token) -> 200, same user`);
  }
  {
    const { error, response } = await dave.api.GET("/users/{user_id}", { params: { path: { user_id: dave.id } } });
    expectError(error, response, 404, "USER_NOT_FOUND", "getUser of a missing user");
    line("getUser", "GET /users/{own, unregistered} -> 404 USER_NOT_FOUND (typed)");
  }
  {
    const { error, response } = await alice.api.GET("/users/{user_id}", {
      params: { path: { user_id: "not-a-uuid" } },
    });
    expectForbidden(error, response, "getUser of a malformed id");
    line("getUser", "GET /users/not-a-uuid -> 403 FORBIDDEN (not the caller's path; refused before parsing)");
  }

  // ---- createTask ----------------------------------------------------------------------------
  const client = alice.api;
  const path = { user_id: user.id };
  const first = await client.POST("/users/{user_id}/tasks", {
    params: { path },
    body: { title: "  Buy milk  " },
  });
  status(first.response, 201, "createTask");
  const milk = present(first.data, "createTask");
  checkTask(milk, user.id, { title: "Buy milk", description: null, is_completed: false }, "createTask");
  eq(milk.created_at, milk.updated_at, "createTask: updated_at differs from created_at");
  eq(first.response.headers.get("location"), `/users/${user.id}/tasks/${milk.id}`, "createTask: Location");
  expectETag(first.response, milk, "createTask");
  eq(first.response.headers.get("idempotent-replayed"), null, "createTask without a key: Idempotent-Replayed");
  eq(lastContentType(), "application/json", "createTask: Content-Type sent");
  line("createTask", `POST .../tasks {title: "  Buy milk  "} -> 201, trimmed, description null, Location, ETag`);

  const full = await client.POST("/users/{user_id}/tasks", {
    params: { path },
    body: { title: "Call Bob", description: "About the lease", is_completed: true },
  });
  status(full.response, 201, "createTask with every field");
  const bobTask = present(full.data, "createTask with every field");
  checkTask(
    bobTask,
    user.id,
    { title: "Call Bob", description: "About the lease", is_completed: true },
    "createTask full",
  );
  expectETag(full.response, bobTask, "createTask full");
  ok(bobTask.version > milk.version, "createTask full: version did not grow");
  line("createTask", "POST .../tasks {title, description, is_completed: true} -> 201, as sent");

  {
    const { error, response } = await client.POST("/users/{user_id}/tasks", {
      params: { path },
      body: { title: "   " },
    });
    const envelope = expectError(error, response, 400, "VALIDATION_ERROR", "createTask with a blank title");
    expectFields(envelope, ["title"], "createTask with a blank title");
    line("createTask", "POST .../tasks {title: \"   \"} -> 400 VALIDATION_ERROR, details.fields names title (typed)");
  }
  {
    const { error, response } = await client.POST("/users/{user_id}/tasks", {
      params: { path },
      body: { title: "", description: "x".repeat(10_001) },
    });
    const envelope = expectError(error, response, 400, "VALIDATION_ERROR", "createTask with two bad fields");
    expectFields(envelope, ["title", "description"], "createTask with two bad fields");
    line("createTask", "POST .../tasks {title: \"\", description: 10,001 chars} -> 400 naming both fields");
  }
  {
    const { error, response } = await dave.api.POST("/users/{user_id}/tasks", {
      params: { path: { user_id: dave.id } },
      body: { title: "Orphan" },
    });
    expectError(error, response, 404, "USER_NOT_FOUND", "createTask for a missing user");
    line("createTask", "POST /users/{own, unregistered}/tasks -> 404 USER_NOT_FOUND (typed)");
  }

  // ---- listTasks: limit, sort, filters, cursors ----------------------------------------------
  const titles = ["delta", "Alpha", "charlie", "Echo", "bravo"];
  const made: Task[] = [milk, bobTask];
  for (const title of titles) {
    const { data, response } = await client.POST("/users/{user_id}/tasks", { params: { path }, body: { title } });
    status(response, 201, `createTask ${title}`);
    made.push(present(data, `createTask ${title}`));
  }
  const allIds = made.map((t) => t.id).sort();
  {
    const { tasks, pages } = await listAll(client, user.id, { limit: 2, sort: "title" }, "listTasks sort=title");
    eq(pages, 4, "listTasks sort=title limit=2: pages");
    eq(
      JSON.stringify(tasks.map((t) => t.title)),
      JSON.stringify(["Alpha", "bravo", "Buy milk", "Call Bob", "charlie", "delta", "Echo"]),
      "listTasks sort=title: order (case-insensitive)",
    );
    eq(JSON.stringify(tasks.map((t) => t.id).sort()), JSON.stringify(allIds), "listTasks sort=title: ids");
    line("listTasks", `limit=2 sort=title: ${pages} pages following next_cursor, 7 tasks, case-insensitive order`);
  }
  {
    const { tasks, pages } = await listAll(client, user.id, { limit: 3, sort: "-title" }, "listTasks sort=-title");
    eq(pages, 3, "listTasks sort=-title limit=3: pages");
    eq(tasks[0]?.title, "Echo", "listTasks sort=-title: first");
    eq(tasks.at(-1)?.title, "Alpha", "listTasks sort=-title: last");
    line("listTasks", `limit=3 sort=-title: ${pages} pages, reverse order`);
  }
  {
    const { tasks } = await listAll(client, user.id, { limit: 100, sort: "created_at" }, "listTasks sort=created_at");
    eq(
      JSON.stringify(tasks.map((t) => t.id)),
      JSON.stringify(made.map((t) => t.id)),
      "listTasks sort=created_at: order",
    );
    const { tasks: newest } = await listAll(client, user.id, { limit: 5 }, "listTasks default sort");
    eq(
      JSON.stringify(newest.map((t) => t.id)),
      JSON.stringify([...made].reverse().map((t) => t.id)),
      "listTasks default sort (-created_at): order",
    );
    line("listTasks", "sort=created_at and the default (-created_at): creation order, both ways");
  }
  {
    const { tasks: done } = await listAll(client, user.id, { limit: 10, completed: true }, "listTasks completed=true");
    eq(JSON.stringify(done.map((t) => t.id)), JSON.stringify([bobTask.id]), "listTasks completed=true");
    const { tasks: open } = await listAll(
      client,
      user.id,
      { limit: 10, completed: false },
      "listTasks completed=false",
    );
    eq(open.length, 6, "listTasks completed=false: count");
    const { tasks: found } = await listAll(client, user.id, { limit: 10, q: "HA" }, "listTasks q=HA");
    eq(JSON.stringify(found.map((t) => t.title).sort()), JSON.stringify(["Alpha", "charlie"]), "listTasks q=HA");
    line("listTasks", "completed=true / completed=false / q=HA (case-insensitive substring) filter as documented");
  }
  {
    const { error, response } = await client.GET("/users/{user_id}/tasks", {
      params: { path, query: { limit: 2, sort: "title", cursor: "not-a-cursor" } },
    });
    const envelope = expectError(error, response, 400, "VALIDATION_ERROR", "listTasks with a forged cursor");
    eq(envelope.error.details.fields?.[0]?.field, "cursor", "listTasks with a forged cursor: field");
    eq(envelope.error.details.fields?.[0]?.location, "query", "listTasks with a forged cursor: location");
    line("listTasks", "cursor=not-a-cursor -> 400 VALIDATION_ERROR naming query cursor (typed)");
  }
  {
    const { error, response } = await client.GET("/users/{user_id}/tasks", {
      params: { path, query: { limit: 101 } },
    });
    const envelope = expectError(error, response, 400, "VALIDATION_ERROR", "listTasks limit=101");
    eq(envelope.error.details.fields?.[0]?.field, "limit", "listTasks limit=101: field");
    line("listTasks", "limit=101 -> 400 VALIDATION_ERROR naming limit (never clamped)");
  }
  {
    const { tasks } = await listAll(bob.api, bob.id, { limit: 100 }, "listTasks of another user");
    eq(tasks.length, 0, "listTasks as bob: alice's tasks are listed");
    line("listTasks", "another caller's own list -> 200, empty: none of the first caller's tasks");
  }

  // ---- getTask -------------------------------------------------------------------------------
  {
    const { data, response } = await client.GET("/users/{user_id}/tasks/{task_id}", {
      params: { path: { user_id: user.id, task_id: milk.id } },
    });
    status(response, 200, "getTask");
    const got = present(data, "getTask");
    eq(JSON.stringify(got), JSON.stringify(milk), "getTask: the task as created");
    expectETag(response, got, "getTask");
    line("getTask", `GET .../tasks/${milk.id} -> 200, identical to the created task, ETag "${got.version}"`);
  }
  {
    const { error, response } = await client.GET("/users/{user_id}/tasks/{task_id}", {
      params: { path: { user_id: user.id, task_id: randomUUID() } },
    });
    const envelope = expectError(error, response, 404, "TASK_NOT_FOUND", "getTask of a missing task");
    // Read through the generated types: envelope.error.code is the ErrorCode union.
    if (envelope.error.code !== "TASK_NOT_FOUND") {
      fail("getTask of a missing task: code");
    }
    line("getTask", "GET .../tasks/{missing} -> 404 error.error.code === \"TASK_NOT_FOUND\" (typed)");
  }
  {
    const { error, response } = await client.GET("/users/{user_id}/tasks/{task_id}", {
      params: { path: { user_id: user.id, task_id: "not-a-uuid" } },
    });
    const envelope = expectError(error, response, 400, "VALIDATION_ERROR", "getTask of a malformed task id");
    const fields = envelope.error.details.fields ?? [];
    eq(fields[0]?.field, "task_id", "getTask of a malformed task id: field");
    eq(fields[0]?.location, "path", "getTask of a malformed task id: location");
    line("getTask", "GET .../tasks/not-a-uuid -> 400 VALIDATION_ERROR naming path task_id (typed)");
  }
  {
    const { error, response } = await bob.api.GET("/users/{user_id}/tasks/{task_id}", {
      params: { path: { user_id: bob.id, task_id: milk.id } },
    });
    expectError(error, response, 404, "TASK_NOT_FOUND", "getTask of another user's task under one's own path");
    line("getTask", "another user's task id under one's own path -> 404 TASK_NOT_FOUND, as if missing");
  }

  // ---- another user's paths: 403 FORBIDDEN on every operation, and nothing happens ------------
  {
    const own = await bob.api.POST("/users/{user_id}/tasks", {
      params: { path: { user_id: bob.id } },
      body: { title: "Bob's own" },
    });
    status(own.response, 201, "createTask as bob");
    const bobsTask = present(own.data, "createTask as bob");
    const theirs = { user_id: bob.id };
    const theirTask = { user_id: bob.id, task_id: bobsTask.id };
    const calls: [string, () => Promise<{ error?: ErrorEnvelope; response: Response }>][] = [
      ["getUser", () => client.GET("/users/{user_id}", { params: { path: theirs } })],
      ["createTask", () => client.POST("/users/{user_id}/tasks", { params: { path: theirs }, body: { title: "x" } })],
      ["listTasks", () => client.GET("/users/{user_id}/tasks", { params: { path: theirs } })],
      // An invalid query on another user's path is refused for the path, not validated.
      [
        "listTasks limit=101",
        () => client.GET("/users/{user_id}/tasks", { params: { path: theirs, query: { limit: 101 } } }),
      ],
      ["getTask", () => client.GET("/users/{user_id}/tasks/{task_id}", { params: { path: theirTask } })],
      [
        "replaceTask",
        () =>
          client.PUT("/users/{user_id}/tasks/{task_id}", { params: { path: theirTask }, body: { title: "Stolen" } }),
      ],
      [
        "updateTask",
        () =>
          client.PATCH("/users/{user_id}/tasks/{task_id}", {
            params: { path: theirTask },
            headers: { "Content-Type": MERGE_PATCH },
            body: { is_completed: true },
          }),
      ],
      ["deleteTask", () => client.DELETE("/users/{user_id}/tasks/{task_id}", { params: { path: theirTask } })],
      ["deleteUser", () => client.DELETE("/users/{user_id}", { params: { path: theirs } })],
      ["listChanges", () => client.GET("/users/{user_id}/changes", { params: { path: theirs } })],
      // Whether that user exists or not.
      ["getUser (unregistered)", () => client.GET("/users/{user_id}", { params: { path: { user_id: dave.id } } })],
    ];
    for (const [operation, call] of calls) {
      const { error, response } = await call();
      expectForbidden(error, response, `${operation} on another user's path`);
    }
    const still = await bob.api.GET("/users/{user_id}/tasks/{task_id}", { params: { path: theirTask } });
    status(still.response, 200, "getTask as bob after the refused calls");
    eq(JSON.stringify(present(still.data, "bob's task")), JSON.stringify(bobsTask), "bob's task changed");
    const { tasks } = await listAll(bob.api, bob.id, { limit: 100 }, "bob's tasks after the refused calls");
    eq(tasks.length, 1, "bob's tasks after the refused calls: count");
    const me = await bob.api.GET("/me");
    status(me.response, 200, "getCurrentUser as bob after the refused deleteUser");
    line(
      "getTask",
      `another user's path on ${calls.length} calls -> 403 FORBIDDEN (typed); their user and task untouched`,
    );
  }

  // ---- replaceTask ---------------------------------------------------------------------------
  let current: Task;
  {
    const { data, response } = await client.PUT("/users/{user_id}/tasks/{task_id}", {
      params: { path: { user_id: user.id, task_id: milk.id } },
      body: { title: " Buy oat milk ", description: "Two litres", is_completed: true },
    });
    status(response, 200, "replaceTask");
    current = present(data, "replaceTask");
    checkTask(current, user.id, { title: "Buy oat milk", description: "Two litres", is_completed: true }, "replaceTask");
    eq(current.id, milk.id, "replaceTask: id");
    eq(current.created_at, milk.created_at, "replaceTask: created_at moved");
    ok(current.updated_at > milk.updated_at, "replaceTask: updated_at did not move");
    ok(current.version > milk.version, "replaceTask: version did not grow");
    expectETag(response, current, "replaceTask");
    line("replaceTask", "PUT {title, description, is_completed} -> 200, all fields replaced; updated_at, version moved");
  }
  {
    const { data, response } = await client.PUT("/users/{user_id}/tasks/{task_id}", {
      params: { path: { user_id: user.id, task_id: bobTask.id } },
      body: { title: "Call Bob" },
    });
    status(response, 200, "replaceTask with defaults");
    const replaced = present(data, "replaceTask with defaults");
    checkTask(replaced, user.id, { title: "Call Bob", description: null, is_completed: false }, "replaceTask defaults");
    line("replaceTask", "PUT {title} -> 200, absent description null and is_completed false");
  }
  {
    const { error, response } = await client.PUT("/users/{user_id}/tasks/{task_id}", {
      params: { path: { user_id: user.id, task_id: randomUUID() } },
      body: { title: "Nothing" },
    });
    expectError(error, response, 404, "TASK_NOT_FOUND", "replaceTask of a missing task");
    line("replaceTask", "PUT .../tasks/{missing} -> 404 TASK_NOT_FOUND (typed)");
  }

  // ---- updateTask (JSON merge patch) ---------------------------------------------------------
  const taskPath = { user_id: user.id, task_id: milk.id };
  {
    const { data, response } = await client.PATCH("/users/{user_id}/tasks/{task_id}", {
      params: { path: taskPath },
      headers: { "Content-Type": MERGE_PATCH },
      body: { is_completed: false },
    });
    eq(lastContentType(), MERGE_PATCH, "updateTask: Content-Type sent");
    eq(sent.at(-1)?.authorization ?? null, `Bearer ${alice.token}`, "updateTask: Authorization sent with the body");
    status(response, 200, "updateTask is_completed");
    const patched = present(data, "updateTask is_completed");
    checkTask(patched, user.id, { title: "Buy oat milk", description: "Two litres", is_completed: false }, "updateTask");
    ok(patched.updated_at > current.updated_at, "updateTask: updated_at did not move");
    ok(patched.version > current.version, "updateTask: version did not grow");
    expectETag(response, patched, "updateTask");
    current = patched;
    line("updateTask", `PATCH (${MERGE_PATCH}) {is_completed: false} -> 200, other fields kept`);
  }
  {
    const { data, response } = await client.PATCH("/users/{user_id}/tasks/{task_id}", {
      params: { path: taskPath },
      headers: { "Content-Type": MERGE_PATCH },
      body: { description: null },
    });
    eq(lastContentType(), MERGE_PATCH, "updateTask clear: Content-Type sent");
    status(response, 200, "updateTask description null");
    const cleared = present(data, "updateTask description null");
    checkTask(cleared, user.id, { title: "Buy oat milk", description: null, is_completed: false }, "updateTask clear");
    current = cleared;
    line("updateTask", `PATCH (${MERGE_PATCH}) {description: null} -> 200, description cleared`);
  }
  {
    const { data, response } = await client.PATCH("/users/{user_id}/tasks/{task_id}", {
      params: { path: taskPath },
      headers: { "Content-Type": MERGE_PATCH },
      body: {},
    });
    status(response, 200, "updateTask {}");
    const same = present(data, "updateTask {}");
    eq(JSON.stringify(same), JSON.stringify(current), "updateTask {}: the task changed");
    expectETag(response, same, "updateTask {}");
    line("updateTask", `PATCH (${MERGE_PATCH}) {} -> 200, nothing changed, updated_at and version kept`);
  }
  {
    const { data, response } = await client.PATCH("/users/{user_id}/tasks/{task_id}", {
      params: { path: taskPath },
      body: { title: "  Buy soy milk " },
    });
    eq(lastContentType(), "application/json", "updateTask as JSON: Content-Type sent");
    status(response, 200, "updateTask as application/json");
    const renamed = present(data, "updateTask as application/json");
    checkTask(renamed, user.id, { title: "Buy soy milk", description: null, is_completed: false }, "updateTask json");
    current = renamed;
    line("updateTask", "PATCH (application/json) {title: \"  Buy soy milk \"} -> 200, trimmed");
  }
  {
    const { error, response } = await client.PATCH("/users/{user_id}/tasks/{task_id}", {
      params: { path: taskPath },
      headers: { "Content-Type": MERGE_PATCH },
      body: { title: "" },
    });
    const envelope = expectError(error, response, 400, "VALIDATION_ERROR", "updateTask with an empty title");
    expectFields(envelope, ["title"], "updateTask with an empty title");
    line("updateTask", "PATCH {title: \"\"} -> 400 VALIDATION_ERROR, details.fields names title (typed)");
  }
  {
    const { error, response } = await client.PATCH("/users/{user_id}/tasks/{task_id}", {
      params: { path: taskPath },
      headers: { "Content-Type": "text/plain" },
      body: { title: "x" },
    });
    expectError(error, response, 415, "UNSUPPORTED_MEDIA_TYPE", "updateTask as text/plain");
    line("updateTask", "PATCH as text/plain -> 415 UNSUPPORTED_MEDIA_TYPE (typed)");
  }

  // ---- conditional requests: ETag, If-Match (412 when stale), If-None-Match (304) ------------
  {
    const read = await client.GET("/users/{user_id}/tasks/{task_id}", { params: { path: taskPath } });
    status(read.response, 200, "getTask before a conditional PATCH");
    const before = present(read.data, "getTask before a conditional PATCH");
    eq(JSON.stringify(before), JSON.stringify(current), "getTask before a conditional PATCH: the task");
    const oldTag = expectETag(read.response, before, "getTask before a conditional PATCH");

    const fresh = await client.PATCH("/users/{user_id}/tasks/{task_id}", {
      params: { path: taskPath, header: { "If-Match": oldTag } },
      headers: { "Content-Type": MERGE_PATCH },
      body: { is_completed: true },
    });
    eq(sent.at(-1)?.ifMatch ?? null, oldTag, "updateTask If-Match: If-Match sent");
    status(fresh.response, 200, "updateTask If-Match current");
    const patched = present(fresh.data, "updateTask If-Match current");
    checkTask(patched, user.id, { title: "Buy soy milk", description: null, is_completed: true }, "If-Match current");
    ok(patched.version > before.version, "updateTask If-Match: version did not grow");
    const newTag = expectETag(fresh.response, patched, "updateTask If-Match");
    ok(newTag !== oldTag, "updateTask If-Match: the ETag did not change");
    current = patched;
    line(
      "updateTask",
      `PATCH If-Match: ${oldTag} (current) -> 200, version ${before.version} -> ${patched.version}, ETag ${newTag}`,
    );

    const stale = await client.PATCH("/users/{user_id}/tasks/{task_id}", {
      params: { path: taskPath, header: { "If-Match": oldTag } },
      headers: { "Content-Type": MERGE_PATCH },
      body: { title: "A stale write" },
    });
    eq(sent.at(-1)?.ifMatch ?? null, oldTag, "updateTask stale If-Match: If-Match sent");
    expectError(stale.error, stale.response, 412, "PRECONDITION_FAILED", "updateTask with a stale If-Match");
    const after = await client.GET("/users/{user_id}/tasks/{task_id}", { params: { path: taskPath } });
    status(after.response, 200, "getTask after a refused PATCH");
    const unchanged = present(after.data, "getTask after a refused PATCH");
    eq(JSON.stringify(unchanged), JSON.stringify(patched), "updateTask with a stale If-Match: the task changed");
    expectETag(after.response, unchanged, "getTask after a refused PATCH");
    line("updateTask", `PATCH If-Match: ${oldTag} (stale) -> 412 PRECONDITION_FAILED (typed), the task unchanged`);

    const cached = await client.GET("/users/{user_id}/tasks/{task_id}", {
      params: { path: taskPath, header: { "If-None-Match": newTag } },
    });
    eq(sent.at(-1)?.ifNoneMatch ?? null, newTag, "getTask If-None-Match: If-None-Match sent");
    status(cached.response, 304, "getTask If-None-Match current");
    ok(cached.data === undefined, "getTask If-None-Match current: data on a 304");
    // openapi-fetch reads a non-2xx answer without a Content-Length as text: "" when there is no body.
    eq((cached.error as unknown) ?? "", "", "getTask If-None-Match current: a body on the 304");
    eq(cached.response.headers.get("etag"), newTag, "getTask If-None-Match current: ETag");
    const changed = await client.GET("/users/{user_id}/tasks/{task_id}", {
      params: { path: taskPath, header: { "If-None-Match": oldTag } },
    });
    status(changed.response, 200, "getTask If-None-Match stale");
    eq(JSON.stringify(present(changed.data, "getTask If-None-Match stale")), JSON.stringify(patched), "getTask 200");
    line("getTask", `GET If-None-Match: ${newTag} (current) -> 304, no body, ETag; ${oldTag} (stale) -> 200`);
  }

  // ---- deleteTask ----------------------------------------------------------------------------
  {
    const { data, error, response } = await client.DELETE("/users/{user_id}/tasks/{task_id}", {
      params: { path: taskPath },
    });
    status(response, 204, "deleteTask");
    ok(data === undefined && error === undefined, "deleteTask: 204 with a body");
    const gone = await client.GET("/users/{user_id}/tasks/{task_id}", { params: { path: taskPath } });
    expectError(gone.error, gone.response, 404, "TASK_NOT_FOUND", "getTask after deleteTask");
    const twice = await client.DELETE("/users/{user_id}/tasks/{task_id}", { params: { path: taskPath } });
    expectError(twice.error, twice.response, 404, "TASK_NOT_FOUND", "deleteTask twice");
    const { tasks } = await listAll(client, user.id, { limit: 100 }, "listTasks after deleteTask");
    eq(tasks.length, 6, "listTasks after deleteTask: count");
    line("deleteTask", "DELETE -> 204; then GET and a second DELETE -> 404 TASK_NOT_FOUND; 6 tasks left");
  }

  // ---- createTask with an Idempotency-Key: a retry is answered again, nothing made twice -----
  const erinPath = { user_id: erin.id };
  {
    const { response } = await erin.api.POST("/users");
    status(response, 201, "createUser as erin");
  }
  const key = randomUUID();
  const rentInput = { title: "Pay rent", description: "Before the 5th" };
  const once = await erin.api.POST("/users/{user_id}/tasks", {
    params: { path: erinPath, header: { "Idempotency-Key": key } },
    body: rentInput,
  });
  eq(sent.at(-1)?.idempotencyKey ?? null, key, "createTask with a key: Idempotency-Key sent");
  status(once.response, 201, "createTask with a key");
  const rent = present(once.data, "createTask with a key");
  checkTask(rent, erin.id, { title: "Pay rent", description: "Before the 5th", is_completed: false }, "createTask key");
  const rentTag = expectETag(once.response, rent, "createTask with a key");
  eq(once.response.headers.get("idempotent-replayed"), null, "createTask with a key, first: Idempotent-Replayed");
  {
    const retry = await erin.api.POST("/users/{user_id}/tasks", {
      params: { path: erinPath, header: { "Idempotency-Key": key } },
      body: rentInput,
    });
    eq(sent.at(-1)?.idempotencyKey ?? null, key, "createTask retried: Idempotency-Key sent");
    status(retry.response, 201, "createTask retried");
    const replayed = present(retry.data, "createTask retried");
    eq(JSON.stringify(replayed), JSON.stringify(rent), "createTask retried: the body");
    eq(retry.response.headers.get("location"), `/users/${erin.id}/tasks/${rent.id}`, "createTask retried: Location");
    eq(retry.response.headers.get("location"), once.response.headers.get("location"), "createTask retried: Location");
    eq(retry.response.headers.get("etag"), rentTag, "createTask retried: ETag");
    eq(retry.response.headers.get("idempotent-replayed"), "true", "createTask retried: Idempotent-Replayed");
    const { tasks } = await listAll(erin.api, erin.id, { limit: 100 }, "listTasks after a replayed create");
    eq(JSON.stringify(tasks), JSON.stringify([rent]), "listTasks after a replayed create: one task");
    line(
      "createTask",
      "POST Idempotency-Key: <uuid> twice -> 201 both, same body, Location and ETag, the second with " +
        "Idempotent-Replayed: true; 1 task listed",
    );
  }
  {
    const other = await erin.api.POST("/users/{user_id}/tasks", {
      params: { path: erinPath, header: { "Idempotency-Key": key } },
      body: { ...rentInput, title: "Pay rent twice" },
    });
    expectError(other.error, other.response, 422, "IDEMPOTENCY_KEY_REUSED", "createTask: a key with another title");
    const { tasks } = await listAll(erin.api, erin.id, { limit: 100 }, "listTasks after a reused key");
    eq(JSON.stringify(tasks), JSON.stringify([rent]), "listTasks after a reused key: one task");
    line("createTask", "the same Idempotency-Key, another title -> 422 IDEMPOTENCY_KEY_REUSED (typed), nothing made");
  }

  // ---- listChanges: a full sync in pages equals the list; then exactly the next change -------
  {
    const create = async (title: string): Promise<Task> => {
      const { data, response } = await erin.api.POST("/users/{user_id}/tasks", {
        params: { path: erinPath },
        body: { title },
      });
      status(response, 201, `createTask ${title}`);
      return present(data, `createTask ${title}`);
    };
    const plants = await create("Water the plants");
    const flights = await create("Book flights");
    const passport = await create("Renew passport");
    const plantsPath = { user_id: erin.id, task_id: plants.id };
    const watered = await erin.api.PATCH("/users/{user_id}/tasks/{task_id}", {
      params: { path: plantsPath, header: { "If-Match": `"${plants.version}"` } },
      headers: { "Content-Type": MERGE_PATCH },
      body: { is_completed: true },
    });
    status(watered.response, 200, "updateTask before the sync");
    const plantsNow = present(watered.data, "updateTask before the sync");
    const flightsPath = { user_id: erin.id, task_id: flights.id };
    {
      // If-Match compares strongly: a weak tag never matches, and nothing is deleted.
      const weak = `W/"${flights.version}"`;
      const { error, response } = await erin.api.DELETE("/users/{user_id}/tasks/{task_id}", {
        params: { path: flightsPath, header: { "If-Match": weak } },
      });
      eq(sent.at(-1)?.ifMatch ?? null, weak, "deleteTask If-Match W/: If-Match sent");
      expectError(error, response, 412, "PRECONDITION_FAILED", "deleteTask with a weak If-Match");
      const still = await erin.api.GET("/users/{user_id}/tasks/{task_id}", { params: { path: flightsPath } });
      status(still.response, 200, "getTask after a refused deleteTask");
      const deleted = await erin.api.DELETE("/users/{user_id}/tasks/{task_id}", {
        params: { path: flightsPath, header: { "If-Match": `"${flights.version}"` } },
      });
      status(deleted.response, 204, "deleteTask If-Match current");
      line("deleteTask", `DELETE If-Match: ${weak} -> 412 PRECONDITION_FAILED, kept; "${flights.version}" -> 204`);
    }

    const full = await syncAll(erin.api, erin.id, { limit: 2 }, "listChanges full sync");
    eq(full.pages, 2, "listChanges full sync limit=2: pages");
    eq(full.changes.length, 4, "listChanges full sync: changes");
    const { tasks: listed } = await listAll(erin.api, erin.id, { limit: 100 }, "listTasks beside the sync");
    const erinChanges = taskChanges(full.changes, "listChanges full sync");
    const synced = erinChanges.filter((c) => !c.deleted).map((c) => c.task as Task);
    eq(JSON.stringify([...synced].sort(byId)), JSON.stringify([...listed].sort(byId)), "full sync = listTasks");
    eq(
      JSON.stringify([...listed].sort(byId)),
      JSON.stringify([rent, plantsNow, passport].sort(byId)),
      "listTasks beside the sync: each live task in its latest version",
    );
    const gone = erinChanges.filter((c) => c.deleted);
    eq(JSON.stringify(gone.map((c) => [c.task_id, c.task])), JSON.stringify([[flights.id, null]]), "the deletion");
    ok((gone[0]?.version ?? 0) > plantsNow.version, "listChanges: the deletion is not the latest change");
    line(
      "listChanges",
      `full sync limit=2: ${full.pages} pages following next_since until has_more false, ${full.changes.length} ` +
        "changes in version order = listTasks (latest versions) + the deleted task {deleted: true, task: null}",
    );

    const passportPath = { user_id: erin.id, task_id: passport.id };
    const renewed = await erin.api.PATCH("/users/{user_id}/tasks/{task_id}", {
      params: { path: passportPath },
      headers: { "Content-Type": MERGE_PATCH },
      body: { title: "Renew passport today" },
    });
    status(renewed.response, 200, "updateTask after the sync");
    const passportNow = present(renewed.data, "updateTask after the sync");
    const next = await syncAll(erin.api, erin.id, { limit: 2, since: full.nextSince }, "listChanges since");
    eq(
      JSON.stringify(next.changes),
      JSON.stringify([{ kind: "task", task_id: passport.id, version: passportNow.version, deleted: false, task: passportNow }]),
      "listChanges since the last next_since: exactly the one change",
    );
    eq(next.pages, 1, "listChanges since: pages");
    const none = await syncAll(erin.api, erin.id, { limit: 2, since: next.nextSince }, "listChanges caught up");
    eq(none.changes.length, 0, "listChanges since the latest next_since: changes");
    line("listChanges", "one more PATCH; since=last next_since -> exactly that change; since=its next_since -> none");
  }
  {
    const { error, response } = await erin.api.GET("/users/{user_id}/changes", {
      params: { path: erinPath, query: { since: "not-a-token" } },
    });
    const envelope = expectError(error, response, 400, "VALIDATION_ERROR", "listChanges with a forged since");
    eq(envelope.error.details.fields?.[0]?.field, "since", "listChanges with a forged since: field");
    eq(envelope.error.details.fields?.[0]?.location, "query", "listChanges with a forged since: location");
    line("listChanges", "since=not-a-token -> 400 VALIDATION_ERROR naming query since (typed)");
  }

  // ---- a tag filter, a priority sort, listTags --------------------------------------------------
  {
    const bodies: components["schemas"]["TaskInput"][] = [
      { title: "File taxes", tags: ["Admin", "money"], priority: "high" },
      { title: "Pay rent", tags: ["Money"], priority: "medium" },
      { title: "Call mum", tags: ["family"], priority: "low" },
    ];
    for (const body of bodies) {
      const { response } = await erin.api.POST("/users/{user_id}/tasks", { params: { path: erinPath }, body });
      status(response, 201, `createTask ${body.title}`);
    }
    const { tasks: money, pages } = await listAll(
      erin.api,
      erin.id,
      { limit: 1, tag: "MONEY", sort: "-priority" },
      "listTasks tag=MONEY sort=-priority",
    );
    eq(JSON.stringify(money.map((t) => t.title)), JSON.stringify(["File taxes", "Pay rent"]), "listTasks tag=MONEY");
    eq(pages, 2, "listTasks tag=MONEY sort=-priority limit=1: pages");
    line("listTasks", `tag=MONEY sort=-priority limit=1: ${pages} pages, the tagged tasks high first`);
    const { tasks: byPriority } = await listAll(erin.api, erin.id, { limit: 2, sort: "priority" }, "sort=priority");
    eq(
      JSON.stringify(byPriority.map((t) => t.title).slice(-3)),
      JSON.stringify(["Call mum", "Pay rent", "File taxes"]),
      "listTasks sort=priority: none, low, medium, high",
    );
    line("listTasks", "sort=priority limit=2: none, low, medium, high");
    const { data, response } = await erin.api.GET("/users/{user_id}/tags", { params: { path: erinPath } });
    status(response, 200, "listTags");
    eq(
      JSON.stringify(present(data, "listTags")),
      JSON.stringify({ tags: [{ name: "Admin", count: 1 }, { name: "family", count: 1 }, { name: "Money", count: 2 }] }),
      "listTags: once per lowercase form, the smallest spelling, counted, sorted",
    );
    line("listTags", "GET /users/{id}/tags -> 200 [Admin 1, family 1, Money 2]");
  }

  // ---- the task model: a zoned due date, a recurring task completed ---------------------------
  {
    const carolPath = { user_id: carol.id };
    const zoned = await carol.api.POST("/users/{user_id}/tasks", {
      params: { path: carolPath },
      body: {
        title: "Meeting in Paris",
        due: { date: "2026-12-24", time: "18:30", time_zone: "Europe/Paris" },
        priority: "high",
        tags: [" Work ", "errands"],
      },
    });
    status(zoned.response, 201, "createTask with a zoned due date");
    const meeting = present(zoned.data, "createTask with a zoned due date");
    checkTask(meeting, carol.id, { title: "Meeting in Paris", description: null, is_completed: false }, "zoned");
    eq(
      JSON.stringify(meeting.due),
      JSON.stringify({ date: "2026-12-24", time: "18:30:00", time_zone: "Europe/Paris" }),
      "createTask zoned: due as sent, time with seconds",
    );
    eq(meeting.priority, "high", "createTask zoned: priority");
    eq(JSON.stringify(meeting.tags), JSON.stringify(["Work", "errands"]), "createTask zoned: tags trimmed, in order");
    line("createTask", "POST .../tasks {due: {date, time: \"18:30\", time_zone: \"Europe/Paris\"}} -> 201, time 18:30:00");

    const weekly = await carol.api.POST("/users/{user_id}/tasks", {
      params: { path: carolPath },
      body: { title: "Gym", due: { date: "2026-12-07" }, recurrence: "RRULE:FREQ=WEEKLY;BYDAY=MO,WE" },
    });
    status(weekly.response, 201, "createTask recurring");
    const gym = present(weekly.data, "createTask recurring");
    eq(gym.recurrence, "FREQ=WEEKLY;BYDAY=MO,WE", "createTask recurring: rule normalised");
    const done = await carol.api.PATCH("/users/{user_id}/tasks/{task_id}", {
      params: { path: { user_id: carol.id, task_id: gym.id } },
      headers: { "Content-Type": MERGE_PATCH },
      body: { is_completed: true },
    });
    status(done.response, 200, "updateTask completing a recurring task");
    const rolled = present(done.data, "updateTask completing a recurring task");
    checkTask(rolled, carol.id, { title: "Gym", description: null, is_completed: false }, "recurring completion");
    eq(rolled.due?.date, "2026-12-09", "recurring completion: the next occurrence");
    eq(rolled.version, gym.version + 1, "recurring completion: one new version");
    line("updateTask", "PATCH {is_completed: true} on a weekly MO,WE task due Monday -> 200, open, due Wednesday");
  }

  // ---- applyBatch: an offline queue of edits flushed as one request ---------------------------
  {
    const list = randomUUID();
    const packed = randomUUID();
    const flushed = await carol.api.POST("/users/{user_id}/batch", {
      params: { path: { user_id: carol.id } },
      body: {
        operations: [
          { op: "create_list", body: { id: list, name: "Trip" } },
          { op: "create_task", idempotency_key: packed, body: { id: packed, title: "Pack" } },
          { op: "update_task", task_id: packed, if_match: "*", body: { is_completed: true } },
          { op: "delete_task", task_id: randomUUID() },
        ],
      },
    });
    status(flushed.response, 200, "applyBatch");
    const batch = present(flushed.data, "applyBatch");
    eq(JSON.stringify(batch.results.map((result) => result.status)), "[201,201,200,404]", "applyBatch: statuses");
    eq(batch.results[0]?.list?.id, list, "applyBatch: the list made with the client's id");
    const packedDone = present(batch.results[2]?.task ?? undefined, "applyBatch: the updated task");
    checkTask(packedDone, carol.id, { title: "Pack", description: null, is_completed: true }, "applyBatch update");
    eq(packedDone.id, packed, "applyBatch: the update reached the task the queue created");
    eq(batch.results[2]?.etag, `"${packedDone.version}"`, "applyBatch: the update's ETag");
    eq(batch.results[3]?.error?.code, "TASK_NOT_FOUND", "applyBatch: an unknown task's delete");
    eq(batch.version, packedDone.version, "applyBatch: the counter after the batch");
    const atomic = await carol.api.POST("/users/{user_id}/batch", {
      params: { path: { user_id: carol.id } },
      body: {
        atomic: true,
        operations: [
          { op: "create_task", body: { title: "Not kept" } },
          { op: "update_task", task_id: packed, if_match: '"1"', body: { title: "Stale" } },
        ],
      },
    });
    expectError(atomic.error, atomic.response, 412, "PRECONDITION_FAILED", "applyBatch atomic");
    eq(atomic.error?.error.details.operation, 1, "applyBatch atomic: the failing operation");
    line("applyBatch", "4 queued edits (client-made ids) -> 200, results in order; atomic with a stale If-Match -> 412");
  }

  // ---- lists and manual order, kept by a replica that the change feed alone feeds -------------
  {
    const api = frank.api;
    const frankPath = { user_id: frank.id };
    status((await api.POST("/users")).response, 201, "createUser as frank");
    const replica: Replica = { lists: new Map(), tasks: new Map() };

    const groceriesMade = await api.POST("/users/{user_id}/lists", {
      params: { path: frankPath },
      body: { name: "  Groceries  " },
    });
    status(groceriesMade.response, 201, "createList");
    const groceries = present(groceriesMade.data, "createList");
    checkList(groceries, frank.id, "Groceries", "createList");
    eq(groceries.created_at, groceries.updated_at, "createList: updated_at differs from created_at");
    eq(groceriesMade.response.headers.get("location"), `/users/${frank.id}/lists/${groceries.id}`, "createList: Location");
    expectETag(groceriesMade.response, groceries, "createList");
    line("createList", `POST .../lists {name: "  Groceries  "} -> 201 List, name trimmed, server-made id, Location, ETag`);

    const tripId = randomUUID();
    const tripMade = await api.POST("/users/{user_id}/lists", {
      params: { path: frankPath },
      body: { id: tripId, name: "Trip" },
    });
    status(tripMade.response, 201, "createList with a client-made id");
    const trip = present(tripMade.data, "createList with a client-made id");
    checkList(trip, frank.id, "Trip", "createList with a client-made id");
    eq(trip.id, tripId, "createList: the client-made id");
    eq(tripMade.response.headers.get("location"), `/users/${frank.id}/lists/${tripId}`, "createList {id}: Location");
    expectETag(tripMade.response, trip, "createList {id}");
    ok(trip.version > groceries.version, "createList {id}: version did not grow");
    const again = await api.POST("/users/{user_id}/lists", {
      params: { path: frankPath },
      body: { id: tripId, name: "Trip again" },
    });
    expectError(again.error, again.response, 409, "LIST_ALREADY_EXISTS", "createList with an existing id");
    const bobs = await bob.api.POST("/users/{user_id}/lists", {
      params: { path: { user_id: bob.id } },
      body: { id: tripId, name: "Bob's trip" },
    });
    expectError(bobs.error, bobs.response, 409, "LIST_ALREADY_EXISTS", "createList with another user's list id");
    line(
      "createList",
      "POST .../lists {id: client-made, name} -> 201 with that id; that id again, by its owner or another user -> " +
        "409 LIST_ALREADY_EXISTS (typed)",
    );

    {
      const tripPath = { user_id: frank.id, list_id: trip.id };
      const { data, response } = await api.GET("/users/{user_id}/lists/{list_id}", { params: { path: tripPath } });
      status(response, 200, "getList");
      eq(JSON.stringify(present(data, "getList")), JSON.stringify(trip), "getList: the list as created");
      expectETag(response, trip, "getList");
      const missing = await api.GET("/users/{user_id}/lists/{list_id}", {
        params: { path: { user_id: frank.id, list_id: randomUUID() } },
      });
      expectError(missing.error, missing.response, 404, "LIST_NOT_FOUND", "getList of a missing list");
      const theirs = await bob.api.GET("/users/{user_id}/lists/{list_id}", {
        params: { path: { user_id: bob.id, list_id: trip.id } },
      });
      expectError(theirs.error, theirs.response, 404, "LIST_NOT_FOUND", "getList of another user's list");
      line("getList", `GET .../lists/${trip.id} -> 200, as created, ETag; missing or another user's -> 404 LIST_NOT_FOUND`);
      const { lists, pages } = await listAllLists(api, frank.id, 1, "listLists limit=1");
      eq(JSON.stringify(lists), JSON.stringify([groceries, trip]), "listLists: oldest first");
      eq(pages, 2, "listLists limit=1: pages");
      line("listLists", `limit=1: ${pages} pages following next_cursor, oldest first`);
    }

    // Tasks made in the list go to its end, in the order made; one with a client-made id.
    const packId = randomUUID();
    const inTrip: Task[] = [];
    for (const body of [
      { title: "Passport", list_id: trip.id },
      { title: "Tickets", list_id: trip.id },
      { title: "Pack", list_id: trip.id, id: packId },
      { title: "Charger", list_id: trip.id },
    ]) {
      const { data, response } = await api.POST("/users/{user_id}/tasks", { params: { path: frankPath }, body });
      status(response, 201, `createTask ${body.title} in a list`);
      const task = present(data, `createTask ${body.title} in a list`);
      checkTask(task, frank.id, { title: body.title, description: null, is_completed: false }, `createTask ${body.title}`);
      eq(task.list_id, trip.id, `createTask ${body.title}: list_id`);
      ok(/^[0-9A-Za-z]+$/.test(task.position), `createTask ${body.title}: position ${task.position}`);
      ok((inTrip.at(-1)?.position ?? "") < task.position, `createTask ${body.title}: not at the list's end`);
      inTrip.push(task);
    }
    eq(inTrip[2]?.id, packId, "createTask in a list: the client-made id");
    {
      const { error, response } = await api.POST("/users/{user_id}/tasks", {
        params: { path: frankPath },
        body: { title: "Pack twice", id: packId },
      });
      expectError(error, response, 409, "TASK_ALREADY_EXISTS", "createTask with an existing id");
    }
    const milkMade = await api.POST("/users/{user_id}/tasks", {
      params: { path: frankPath },
      body: { title: "Milk", list_id: groceries.id },
    });
    status(milkMade.response, 201, "createTask in another list");
    const milkTask = present(milkMade.data, "createTask in another list");
    const inboxMade = await api.POST("/users/{user_id}/tasks", { params: { path: frankPath }, body: { title: "Call mum" } });
    status(inboxMade.response, 201, "createTask in the inbox");
    eq(present(inboxMade.data, "createTask in the inbox").list_id, null, "createTask without list_id: the inbox");

    // The order as listTasks sort=position&list_id=… reads it back, in pages of 3.
    const orderOf = async (listId: string, what: string): Promise<Task[]> =>
      (await listAll(api, frank.id, { limit: 3, sort: "position", list_id: listId }, what)).tasks;
    const titlesOf = (tasks: Task[]): string => JSON.stringify(tasks.map((t) => t.title));
    eq(
      titlesOf(await orderOf(trip.id, "the list's order after the creates")),
      JSON.stringify(["Passport", "Tickets", "Pack", "Charger"]),
      "listTasks sort=position list_id: the order made",
    );
    eq(titlesOf(await orderOf("inbox", "the inbox")), JSON.stringify(["Call mum"]), "listTasks list_id=inbox");
    line(
      "createTask",
      "POST .../tasks {list_id} x4 (one with a client-made id) -> 201, each at the list's end (position ascending); " +
        "that id again -> 409 TASK_ALREADY_EXISTS (typed)",
    );

    // moveTask with If-Match: the last task first, then one right after another.
    const moveWithETag = async (task: Task, after: string | null, what: string): Promise<Task> => {
      const etag = `"${task.version}"`;
      const { data, error, response } = await api.POST("/users/{user_id}/tasks/{task_id}/move", {
        params: { path: { user_id: frank.id, task_id: task.id }, header: { "If-Match": etag } },
        body: { after },
      });
      eq(sent.at(-1)?.ifMatch ?? null, etag, `${what}: If-Match sent`);
      ok(error === undefined, `${what}: unexpected error ${JSON.stringify(error)}`);
      status(response, 200, what);
      const moved = present(data, what);
      checkTask(moved, frank.id, { title: task.title, description: null, is_completed: false }, what);
      eq(moved.list_id, task.list_id, `${what}: list_id`);
      ok(moved.version > task.version, `${what}: version did not grow`);
      ok(moved.position !== task.position, `${what}: position did not change`);
      expectETag(response, moved, what);
      return moved;
    };
    const [passport, tickets, pack, charger] = inTrip as [Task, Task, Task, Task];
    const chargerFirst = await moveWithETag(charger, null, "moveTask after null");
    ok(chargerFirst.position < passport.position, "moveTask after null: not before the first");
    eq(
      titlesOf(await orderOf(trip.id, "the list's order after a move")),
      JSON.stringify(["Charger", "Passport", "Tickets", "Pack"]),
      "moveTask after null: the order read back",
    );
    const passportMoved = await moveWithETag(passport, tickets.id, "moveTask after a task");
    ok(
      tickets.position < passportMoved.position && passportMoved.position < pack.position,
      `moveTask after Tickets: position ${passportMoved.position} not between ${tickets.position} and ${pack.position}`,
    );
    const movedOrder = await orderOf(trip.id, "the list's order after two moves");
    eq(titlesOf(movedOrder), JSON.stringify(["Charger", "Tickets", "Passport", "Pack"]), "moveTask: the order read back");
    line(
      "moveTask",
      `POST .../move {after: null} If-Match "${charger.version}" -> 200, first, ETag "${chargerFirst.version}"; ` +
        "{after: Tickets} -> right after it; sort=position&list_id reads the order back",
    );
    {
      const stalePath = { user_id: frank.id, task_id: charger.id };
      const stale = await api.POST("/users/{user_id}/tasks/{task_id}/move", {
        params: { path: stalePath, header: { "If-Match": `"${charger.version}"` } },
        body: { after: pack.id },
      });
      expectError(stale.error, stale.response, 412, "PRECONDITION_FAILED", "moveTask with a stale If-Match");
      const elsewhere = await api.POST("/users/{user_id}/tasks/{task_id}/move", {
        params: { path: stalePath, header: { "If-Match": `"${chargerFirst.version}"` } },
        body: { after: milkTask.id },
      });
      const envelope = expectError(elsewhere.error, elsewhere.response, 400, "VALIDATION_ERROR", "moveTask after a task of another list");
      expectFields(envelope, ["after"], "moveTask after a task of another list");
      eq(
        JSON.stringify(await orderOf(trip.id, "the list's order after refused moves")),
        JSON.stringify(movedOrder),
        "refused moves: the list changed",
      );
      line("moveTask", "a stale If-Match -> 412 PRECONDITION_FAILED; after a task of another list -> 400 naming after; the order kept");
    }

    // A full sync in pages of 3 feeds the replica: both kinds, decoded through the union.
    const full = await syncAll(api, frank.id, { limit: 3 }, "listChanges full sync of lists and tasks");
    applyChanges(replica, full.changes);
    const kinds = (changes: Change[]): string => JSON.stringify([...new Set(changes.map((c) => c.kind))].sort());
    eq(kinds(full.changes), JSON.stringify(["list", "task"]), "full sync: both kinds");
    eq(full.changes.length, 2 + 6, "full sync: 2 lists and 6 tasks, each once");
    await expectInSync(api, frank.id, replica, "after the full sync");
    line(
      "listChanges",
      `full sync limit=3: ${full.pages} pages until has_more false, ${full.changes.length} changes of kinds ` +
        "task and list in one version order; the replica = listLists, listTasks and each list's sort=position order",
    );

    // A rename, a move, a list deleted with its tasks: the feed since the last token brings
    // exactly those, and the replica follows.
    const tripPath = { user_id: frank.id, list_id: trip.id };
    const renamed = await api.PATCH("/users/{user_id}/lists/{list_id}", {
      params: { path: tripPath, header: { "If-Match": `"${trip.version}"` } },
      headers: { "Content-Type": MERGE_PATCH },
      body: { name: "Holiday" },
    });
    eq(sent.at(-1)?.ifMatch ?? null, `"${trip.version}"`, "updateList: If-Match sent");
    eq(lastContentType(), MERGE_PATCH, "updateList: Content-Type sent");
    status(renamed.response, 200, "updateList");
    const holiday = present(renamed.data, "updateList");
    checkList(holiday, frank.id, "Holiday", "updateList");
    eq(holiday.created_at, trip.created_at, "updateList: created_at moved");
    ok(holiday.updated_at > trip.updated_at, "updateList: updated_at did not move");
    ok(holiday.version > trip.version, "updateList: version did not grow");
    expectETag(renamed.response, holiday, "updateList");
    const staleRename = await api.PATCH("/users/{user_id}/lists/{list_id}", {
      params: { path: tripPath, header: { "If-Match": `"${trip.version}"` } },
      headers: { "Content-Type": MERGE_PATCH },
      body: { name: "Stale" },
    });
    expectError(staleRename.error, staleRename.response, 412, "PRECONDITION_FAILED", "updateList with a stale If-Match");
    line("updateList", `PATCH (${MERGE_PATCH}) {name: "Holiday"} If-Match "${trip.version}" -> 200, ETag; again -> 412`);

    const tripTasks = await orderOf(trip.id, "the list's tasks before its delete");
    const milkMoved = await api.POST("/users/{user_id}/tasks/{task_id}/move", {
      params: { path: { user_id: frank.id, task_id: milkTask.id } },
      body: { after: null, list_id: null },
    });
    status(milkMoved.response, 200, "moveTask into the inbox");
    const milkInInbox = present(milkMoved.data, "moveTask into the inbox");
    eq(milkInInbox.list_id, null, "moveTask list_id null: the inbox");
    eq(
      titlesOf(await orderOf("inbox", "the inbox after a move into it")),
      JSON.stringify(["Milk", "Call mum"]),
      "moveTask {after: null, list_id: null}: first in the inbox",
    );
    line("moveTask", "{after: null, list_id: null} -> 200, out of its list, first in the inbox");

    const staleDelete = await api.DELETE("/users/{user_id}/lists/{list_id}", {
      params: { path: tripPath, header: { "If-Match": `"${trip.version}"` } },
    });
    expectError(staleDelete.error, staleDelete.response, 412, "PRECONDITION_FAILED", "deleteList with a stale If-Match");
    const deleted = await api.DELETE("/users/{user_id}/lists/{list_id}", {
      params: { path: tripPath, header: { "If-Match": `"${holiday.version}"` } },
    });
    eq(sent.at(-1)?.ifMatch ?? null, `"${holiday.version}"`, "deleteList: If-Match sent");
    status(deleted.response, 204, "deleteList");
    const gone = await api.GET("/users/{user_id}/lists/{list_id}", { params: { path: tripPath } });
    expectError(gone.error, gone.response, 404, "LIST_NOT_FOUND", "getList after deleteList");
    for (const task of tripTasks) {
      const { error, response } = await api.GET("/users/{user_id}/tasks/{task_id}", {
        params: { path: { user_id: frank.id, task_id: task.id } },
      });
      expectError(error, response, 404, "TASK_NOT_FOUND", `getTask ${task.title} after its list's delete`);
    }
    line("deleteList", `DELETE If-Match stale -> 412; "${holiday.version}" -> 204, the list and its 4 tasks gone`);

    const next = await syncAll(api, frank.id, { limit: 2, since: full.nextSince }, "listChanges since the full sync");
    // The move first; then the list's deletion and each of its tasks', in the numbers the delete
    // took (their order among themselves is not the contract's).
    const summary = next.changes.map((c) =>
      c.kind === "task" ? `task ${c.task_id} deleted=${c.deleted}` : `list ${c.list_id} deleted=${c.deleted}`,
    );
    eq(summary[0], `task ${milkTask.id} deleted=false`, "listChanges since the full sync: the move first");
    eq(
      JSON.stringify(summary.slice(1).sort()),
      JSON.stringify(
        [...tripTasks.map((t) => `task ${t.id} deleted=true`), `list ${trip.id} deleted=true`].sort(),
      ),
      "listChanges since the full sync: each task's deletion and the list's (its rename overtaken by its deletion)",
    );
    applyChanges(replica, next.changes);
    await expectInSync(api, frank.id, replica, "after the incremental sync");
    eq(JSON.stringify([...replica.lists.keys()]), JSON.stringify([groceries.id]), "the replica's lists");
    const caughtUp = await syncAll(api, frank.id, { limit: 2, since: next.nextSince }, "listChanges caught up");
    eq(caughtUp.changes.length, 0, "listChanges caught up: changes");
    line(
      "listChanges",
      `since the full sync limit=2: ${next.pages} pages, the move, ${tripTasks.length} task deletions and the ` +
        "list's deletion; the replica = the server's lists, tasks and order again",
    );
  }

  // ---- deleteUser: each caller deletes themself ------------------------------------------------
  for (const caller of [alice, bob, carol, erin, frank]) {
    const { data, error, response } = await caller.api.DELETE("/users/{user_id}", {
      params: { path: { user_id: caller.id } },
    });
    status(response, 204, "deleteUser");
    ok(data === undefined && error === undefined, "deleteUser: 204 with a body");
  }
  {
    const gone = await client.GET("/users/{user_id}", { params: { path: { user_id: user.id } } });
    expectError(gone.error, gone.response, 404, "USER_NOT_FOUND", "getUser after deleteUser");
    const me = await client.GET("/me");
    expectError(me.error, me.response, 404, "USER_NOT_FOUND", "getCurrentUser after deleteUser");
    const tasks = await client.GET("/users/{user_id}/tasks", { params: { path: { user_id: user.id } } });
    expectError(tasks.error, tasks.response, 404, "USER_NOT_FOUND", "listTasks after deleteUser");
    const changes = await client.GET("/users/{user_id}/changes", { params: { path: { user_id: user.id } } });
    expectError(changes.error, changes.response, 404, "USER_NOT_FOUND", "listChanges after deleteUser");
    const task = await client.GET("/users/{user_id}/tasks/{task_id}", {
      params: { path: { user_id: user.id, task_id: bobTask.id } },
    });
    ok(task.response.status === 404, `getTask after deleteUser: status ${task.response.status}`);
    const twice = await client.DELETE("/users/{user_id}", { params: { path: { user_id: user.id } } });
    expectError(twice.error, twice.response, 404, "USER_NOT_FOUND", "deleteUser twice");
    line(
      "deleteUser",
      "each caller DELETEs themself -> 204; then getUser, GET /me, listTasks, listChanges, second DELETE -> 404 " +
        "USER_NOT_FOUND",
    );
  }

  const all = [
    "health", "ready", "createUser", "getCurrentUser", "getUser", "createTask", "listTasks", "getTask",
    "replaceTask", "updateTask", "deleteTask", "moveTask", "listTags", "createList", "listLists", "getList",
    "updateList", "deleteList", "listChanges", "applyBatch", "deleteUser",
  ];
  const missed = all.filter((op) => !exercised.has(op));
  if (missed.length > 0) {
    fail(`operations not exercised: ${missed.join(", ")}`);
  }
  console.log(`typescript client: ${exercised.size}/${all.length} operations, ${checks} checks passed`);
}

main().catch((err: unknown) => {
  console.error(`typescript client FAILED: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
