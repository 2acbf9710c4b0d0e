-- list_today: GET /users/{user_id}/tasks?due_from=D&due_to=D&completed=false&sort=due (first page)
-- What the server sends PostgreSQL for one such request, written from the
-- store's own statement (src/store/statements/) by tests/api/benchmark_sql.rs, which
-- fails when this file differs. Variables: :user_id, :task_id a seeded task (the
-- benchmark's scripts pick one from bench_pool); :new_id, :now a new time-ordered id and
-- the current time (fetched with \gset); :title a random integer; the others are
-- constants the benchmark passes with -D.
SELECT "tasks"."id", "tasks"."user_id", "tasks"."title", "tasks"."description", "tasks"."is_completed", "tasks"."completed_at", "tasks"."due_date", "tasks"."due_time", "tasks"."due_time_zone", "tasks"."priority", "tasks"."tags", "tasks"."tag_keys", "tasks"."recurrence", "tasks"."recurrence_start", "tasks"."list_id", "tasks"."position", "tasks"."created_at", "tasks"."updated_at", "tasks"."version" FROM "tasks" WHERE "tasks"."user_id" = :user_id AND "tasks"."is_completed" = :is_completed AND COALESCE(("due_date" - DATE '1970-01-01') * CAST(100000 AS bigint) + COALESCE(CAST(EXTRACT(EPOCH FROM "due_time") AS bigint) + 1, 0), 1000000000000000) BETWEEN :due_first AND :due_last ORDER BY COALESCE(("due_date" - DATE '1970-01-01') * CAST(100000 AS bigint) + COALESCE(CAST(EXTRACT(EPOCH FROM "due_time") AS bigint) + 1, 0), 1000000000000000) ASC, "tasks"."id" ASC LIMIT 21;
