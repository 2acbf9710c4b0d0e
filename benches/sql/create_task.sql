-- create_task: POST /users/{user_id}/tasks {"title", "description"}
-- What the server sends PostgreSQL for one such request, written from the
-- store's own statement (src/store/statements/) by tests/api/benchmark_sql.rs, which
-- fails when this file differs. Variables: :user_id, :task_id a seeded task (the
-- benchmark's scripts pick one from bench_pool); :new_id, :now a new time-ordered id and
-- the current time (fetched with \gset); :title a random integer; the others are
-- constants the benchmark passes with -D.
\set since 9223372036854775807
\set title random(1, 1000000000)
WITH "counter" AS (UPDATE "users" SET "change_seq" = "users"."change_seq" + 1, "task_count" = "users"."task_count" + 1 WHERE "users"."id" = :user_id AND "users"."task_count" < :since RETURNING "change_seq", "tombstones_dropped_through") INSERT INTO "tasks" ("id", "user_id", "title", "description", "is_completed", "completed_at", "due_date", "due_time", "due_time_zone", "priority", "tags", "tag_keys", "recurrence", "recurrence_start", "list_id", "position", "created_at", "updated_at", "version") SELECT :new_id, :user_id, :title, :description, :is_completed, NULL, NULL, NULL, NULL, 0, '[]', '[]', NULL, NULL, NULL, 'a0', :now, :now, "change_seq" FROM "counter" RETURNING "version";
