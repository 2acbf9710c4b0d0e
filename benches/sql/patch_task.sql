-- patch_task: PATCH /users/{user_id}/tasks/{task_id} {"title"}
-- What the server sends PostgreSQL for one such request, written from the
-- store's own statement (src/store/statements/) by tests/api/benchmark_sql.rs, which
-- fails when this file differs. Variables: :user_id, :task_id a seeded task (the
-- benchmark's scripts pick one from bench_pool); :new_id, :now a new time-ordered id and
-- the current time (fetched with \gset); :title a random integer; the others are
-- constants the benchmark passes with -D.
\set title random(1, 1000000000)
WITH "changed" AS (UPDATE "tasks" SET "title" = :title, "updated_at" = GREATEST(:now, "updated_at"), "version" = "owner"."change_seq" + 1 FROM (SELECT "users"."change_seq" FROM "users" WHERE "users"."id" = :user_id FOR UPDATE) AS "owner" WHERE "tasks"."id" = :task_id AND "tasks"."user_id" = :user_id AND ("tasks"."title" <> :title) RETURNING "id", "user_id", "title", "description", "is_completed", "completed_at", "due_date", "due_time", "due_time_zone", "priority", "tags", "tag_keys", "recurrence", "recurrence_start", "list_id", "position", "created_at", "updated_at", "version"), "counter" AS (UPDATE "users" SET "change_seq" = "users"."change_seq" + 1 WHERE "users"."id" = :user_id AND EXISTS(SELECT 1 FROM "changed") RETURNING "change_seq", "tombstones_dropped_through") SELECT "id", "user_id", "title", "description", "is_completed", "completed_at", "due_date", "due_time", "due_time_zone", "priority", "tags", "tag_keys", "recurrence", "recurrence_start", "list_id", "position", "created_at", "updated_at", "version" FROM "changed";
