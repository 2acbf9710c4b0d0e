// Drives every operation of openapi/task-operations.yaml against a running server through a
// client generated from the contract alone: types by openapi-typescript (generated/schema.d.ts,
// made at test time), calls by openapi-fetch. Every answer is checked strictly; the first
// mismatch throws and the process exits non-zero. One line is printed per operation exercised.
//
//   BASE_URL=http://127.0.0.1:8000 node dist/client.js

import { randomUUID } from "node:crypto";
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./generated/schema.js";

type Task = components["schemas"]["Task"];
type User = components["schemas"]["User"];
type ErrorEnvelope = components["schemas"]["ErrorEnvelope"];
type ErrorCode = components["schemas"]["ErrorCode"];
type Sort = NonNullable<paths["/users/{user_id}/tasks"]["get"]["parameters"]["query"]>["sort"];

const baseUrl = process.env.BASE_URL;
if (!baseUrl) {
  throw new Error("BASE_URL is not set (e.g. BASE_URL=http://127.0.0.1:8000)");
}

// Records the Content-Type of every request actually sent, so the PATCH media type is checked
// on the wire rather than trusted.
const sentContentTypes: (string | null)[] = [];
const recordContentType: Middleware = {
  onRequest({ request }) {
    sentContentTypes.push(request.headers.get("content-type"));
    return undefined;
  },
};

const client = createClient<paths>({ baseUrl });
client.use(recordContentType);

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
  console.log(`ok  ${operation.padEnd(12)} ${detail}`);
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
  ok(TIMESTAMP.test(task.created_at), `${what}: created_at ${task.created_at}`);
  ok(TIMESTAMP.test(task.updated_at), `${what}: updated_at ${task.updated_at}`);
  ok(task.updated_at >= task.created_at, `${what}: updated_at before created_at`);
  eq(
    JSON.stringify(Object.keys(task).sort()),
    JSON.stringify(["created_at", "description", "id", "is_completed", "title", "updated_at", "user_id"]),
    `${what}: keys`,
  );
}

async function listAll(
  userId: string,
  query: { limit: number; sort?: Sort; completed?: boolean; q?: string },
  what: string,
): Promise<{ tasks: Task[]; pages: number }> {
  const tasks: Task[] = [];
  let cursor: string | undefined;
  let pages = 0;
  for (;;) {
    const { data, error, response } = await client.GET("/users/{user_id}/tasks", {
      params: { path: { user_id: userId }, query: { ...query, cursor } },
    });
    ok(error === undefined, `${what}: unexpected error ${JSON.stringify(error)}`);
    status(response, 200, what);
    const page = present(data, what);
    pages += 1;
    ok(page.items.length <= query.limit, `${what}: page ${pages} holds ${page.items.length} > limit`);
    tasks.push(...page.items);
    if (page.next_cursor === null) {
      break;
    }
    ok(page.items.length === query.limit, `${what}: a non-last page is not full`);
    cursor = page.next_cursor;
    ok(pages < 100, `${what}: the cursor never ends`);
  }
  eq(new Set(tasks.map((t) => t.id)).size, tasks.length, `${what}: a task was listed twice`);
  return { tasks, pages };
}

async function main(): Promise<void> {
  // ---- health, ready ---------------------------------------------------------------------
  {
    const { data, response } = await client.GET("/health");
    status(response, 200, "health");
    eq(present(data, "health").status, "ok", "health: status");
    line("health", "GET /health -> 200 {status: ok}");
  }
  {
    const { data, response } = await client.GET("/ready");
    status(response, 200, "ready");
    eq(present(data, "ready").status, "ok", "ready: status");
    line("ready", "GET /ready -> 200 {status: ok}");
  }

  // ---- createUser (no body, {}, {id}), conflicts ---------------------------------------------
  const created = await client.POST("/users");
  status(created.response, 201, "createUser without a body");
  const user = present(created.data, "createUser without a body");
  checkUser(user, "createUser without a body");
  eq(created.response.headers.get("location"), `/users/${user.id}`, "createUser: Location");
  eq(sentContentTypes.at(-1) ?? null, null, "createUser without a body: a Content-Type was sent");
  line("createUser", `POST /users (no body) -> 201 ${user.id}, Location /users/${user.id}`);

  const empty = await client.POST("/users", { body: {} });
  status(empty.response, 201, "createUser {}");
  const other = present(empty.data, "createUser {}");
  checkUser(other, "createUser {}");
  ok(other.id !== user.id, "createUser {}: the same id twice");
  line("createUser", "POST /users {} -> 201 with a new server-made id");

  const chosenId = randomUUID();
  const chosen = await client.POST("/users", { body: { id: chosenId } });
  status(chosen.response, 201, "createUser {id}");
  const chosenUser = present(chosen.data, "createUser {id}");
  checkUser(chosenUser, "createUser {id}");
  eq(chosenUser.id, chosenId, "createUser {id}: id");
  eq(chosen.response.headers.get("location"), `/users/${chosenId}`, "createUser {id}: Location");
  line("createUser", `POST /users {id: ${chosenId}} -> 201 with that id`);

  const again = await client.POST("/users", { body: { id: chosenId } });
  expectError(again.error, again.response, 409, "USER_ALREADY_EXISTS", "createUser of an existing id");
  line("createUser", "POST /users {id: existing} -> 409 USER_ALREADY_EXISTS (typed)");

  // ---- getUser -------------------------------------------------------------------------------
  {
    const { data, response } = await client.GET("/users/{user_id}", { params: { path: { user_id: user.id } } });
    status(response, 200, "getUser");
    const got = present(data, "getUser");
    eq(got.id, user.id, "getUser: id");
    eq(got.created_at, user.created_at, "getUser: created_at");
    line("getUser", `GET /users/${user.id} -> 200, same user`);
  }
  {
    const missing = randomUUID();
    const { error, response } = await client.GET("/users/{user_id}", { params: { path: { user_id: missing } } });
    expectError(error, response, 404, "USER_NOT_FOUND", "getUser of a missing user");
    line("getUser", "GET /users/{missing} -> 404 USER_NOT_FOUND (typed)");
  }
  {
    const { error, response } = await client.GET("/users/{user_id}", { params: { path: { user_id: "not-a-uuid" } } });
    const envelope = expectError(error, response, 400, "VALIDATION_ERROR", "getUser of a malformed id");
    const fields = envelope.error.details.fields ?? [];
    eq(fields[0]?.field, "user_id", "getUser of a malformed id: field");
    eq(fields[0]?.location, "path", "getUser of a malformed id: location");
    line("getUser", "GET /users/not-a-uuid -> 400 VALIDATION_ERROR naming path user_id (typed)");
  }

  // ---- createTask ----------------------------------------------------------------------------
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
  eq(sentContentTypes.at(-1) ?? null, "application/json", "createTask: Content-Type sent");
  line("createTask", `POST .../tasks {title: "  Buy milk  "} -> 201, trimmed, description null, Location`);

  const full = await client.POST("/users/{user_id}/tasks", {
    params: { path },
    body: { title: "Call Bob", description: "About the lease", is_completed: true },
  });
  status(full.response, 201, "createTask with every field");
  const bob = present(full.data, "createTask with every field");
  checkTask(bob, user.id, { title: "Call Bob", description: "About the lease", is_completed: true }, "createTask full");
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
    const { error, response } = await client.POST("/users/{user_id}/tasks", {
      params: { path: { user_id: randomUUID() } },
      body: { title: "Orphan" },
    });
    expectError(error, response, 404, "USER_NOT_FOUND", "createTask for a missing user");
    line("createTask", "POST /users/{missing}/tasks -> 404 USER_NOT_FOUND (typed)");
  }

  // ---- listTasks: limit, sort, filters, cursors ----------------------------------------------
  const titles = ["delta", "Alpha", "charlie", "Echo", "bravo"];
  const made: Task[] = [milk, bob];
  for (const title of titles) {
    const { data, response } = await client.POST("/users/{user_id}/tasks", { params: { path }, body: { title } });
    status(response, 201, `createTask ${title}`);
    made.push(present(data, `createTask ${title}`));
  }
  const allIds = made.map((t) => t.id).sort();
  {
    const { tasks, pages } = await listAll(user.id, { limit: 2, sort: "title" }, "listTasks sort=title");
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
    const { tasks, pages } = await listAll(user.id, { limit: 3, sort: "-title" }, "listTasks sort=-title");
    eq(pages, 3, "listTasks sort=-title limit=3: pages");
    eq(tasks[0]?.title, "Echo", "listTasks sort=-title: first");
    eq(tasks.at(-1)?.title, "Alpha", "listTasks sort=-title: last");
    line("listTasks", `limit=3 sort=-title: ${pages} pages, reverse order`);
  }
  {
    const { tasks } = await listAll(user.id, { limit: 100, sort: "created_at" }, "listTasks sort=created_at");
    eq(JSON.stringify(tasks.map((t) => t.id)), JSON.stringify(made.map((t) => t.id)), "listTasks sort=created_at: order");
    const { tasks: newest } = await listAll(user.id, { limit: 5 }, "listTasks default sort");
    eq(
      JSON.stringify(newest.map((t) => t.id)),
      JSON.stringify([...made].reverse().map((t) => t.id)),
      "listTasks default sort (-created_at): order",
    );
    line("listTasks", "sort=created_at and the default (-created_at): creation order, both ways");
  }
  {
    const { tasks: done } = await listAll(user.id, { limit: 10, completed: true }, "listTasks completed=true");
    eq(JSON.stringify(done.map((t) => t.id)), JSON.stringify([bob.id]), "listTasks completed=true");
    const { tasks: open } = await listAll(user.id, { limit: 10, completed: false }, "listTasks completed=false");
    eq(open.length, 6, "listTasks completed=false: count");
    const { tasks: found } = await listAll(user.id, { limit: 10, q: "HA" }, "listTasks q=HA");
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

  // ---- getTask -------------------------------------------------------------------------------
  {
    const { data, response } = await client.GET("/users/{user_id}/tasks/{task_id}", {
      params: { path: { user_id: user.id, task_id: milk.id } },
    });
    status(response, 200, "getTask");
    const got = present(data, "getTask");
    eq(JSON.stringify(got), JSON.stringify(milk), "getTask: the task as created");
    line("getTask", `GET .../tasks/${milk.id} -> 200, identical to the created task`);
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
      params: { path: { user_id: other.id, task_id: milk.id } },
    });
    expectError(error, response, 404, "TASK_NOT_FOUND", "getTask of another user's task");
    line("getTask", "GET another user's task -> 404 TASK_NOT_FOUND, as if missing");
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
    line("replaceTask", "PUT {title, description, is_completed} -> 200, every field replaced, updated_at moved");
  }
  {
    const { data, response } = await client.PUT("/users/{user_id}/tasks/{task_id}", {
      params: { path: { user_id: user.id, task_id: bob.id } },
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
    eq(sentContentTypes.at(-1) ?? null, MERGE_PATCH, "updateTask: Content-Type sent");
    status(response, 200, "updateTask is_completed");
    const patched = present(data, "updateTask is_completed");
    checkTask(patched, user.id, { title: "Buy oat milk", description: "Two litres", is_completed: false }, "updateTask");
    ok(patched.updated_at > current.updated_at, "updateTask: updated_at did not move");
    current = patched;
    line("updateTask", `PATCH (${MERGE_PATCH}) {is_completed: false} -> 200, other fields kept`);
  }
  {
    const { data, response } = await client.PATCH("/users/{user_id}/tasks/{task_id}", {
      params: { path: taskPath },
      headers: { "Content-Type": MERGE_PATCH },
      body: { description: null },
    });
    eq(sentContentTypes.at(-1) ?? null, MERGE_PATCH, "updateTask clear: Content-Type sent");
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
    line("updateTask", `PATCH (${MERGE_PATCH}) {} -> 200, nothing changed, updated_at kept`);
  }
  {
    const { data, response } = await client.PATCH("/users/{user_id}/tasks/{task_id}", {
      params: { path: taskPath },
      body: { title: "  Buy soy milk " },
    });
    eq(sentContentTypes.at(-1) ?? null, "application/json", "updateTask as JSON: Content-Type sent");
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
    const { tasks } = await listAll(user.id, { limit: 100 }, "listTasks after deleteTask");
    eq(tasks.length, 6, "listTasks after deleteTask: count");
    line("deleteTask", "DELETE -> 204; then GET and a second DELETE -> 404 TASK_NOT_FOUND; 6 tasks left");
  }

  // ---- deleteUser ----------------------------------------------------------------------------
  for (const u of [user.id, other.id, chosenId]) {
    const { data, error, response } = await client.DELETE("/users/{user_id}", { params: { path: { user_id: u } } });
    status(response, 204, "deleteUser");
    ok(data === undefined && error === undefined, "deleteUser: 204 with a body");
  }
  {
    const gone = await client.GET("/users/{user_id}", { params: { path: { user_id: user.id } } });
    expectError(gone.error, gone.response, 404, "USER_NOT_FOUND", "getUser after deleteUser");
    const tasks = await client.GET("/users/{user_id}/tasks", { params: { path: { user_id: user.id } } });
    expectError(tasks.error, tasks.response, 404, "USER_NOT_FOUND", "listTasks after deleteUser");
    const task = await client.GET("/users/{user_id}/tasks/{task_id}", {
      params: { path: { user_id: user.id, task_id: bob.id } },
    });
    ok(task.response.status === 404, `getTask after deleteUser: status ${task.response.status}`);
    const twice = await client.DELETE("/users/{user_id}", { params: { path: { user_id: user.id } } });
    expectError(twice.error, twice.response, 404, "USER_NOT_FOUND", "deleteUser twice");
    line("deleteUser", "DELETE x3 -> 204; then getUser, listTasks, second DELETE -> 404 USER_NOT_FOUND");
  }

  const all = [
    "health", "ready", "createUser", "getUser", "createTask", "listTasks", "getTask",
    "replaceTask", "updateTask", "deleteTask", "deleteUser",
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
