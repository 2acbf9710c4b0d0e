-- list_position: GET /users/{user_id}/tasks?list_id=inbox&sort=position (first page)
-- What the server sends PostgreSQL for one such request, written from the
-- store's own statement (src/store/statements/) by tests/api/benchmark_sql.rs, which
-- fails when this file differs. Variables: :user_id, :task_id a seeded task (the
-- benchmark's scripts pick one from bench_pool); :new_id, :now a new time-ordered id and
-- the current time (fetched with \gset); :title a random integer; the others are
-- constants the benchmark passes with -D.
SELECT "tasks"."id", "tasks"."user_id", "tasks"."title", "tasks"."description", "tasks"."is_completed", "tasks"."completed_at", "tasks"."due_date", "tasks"."due_time", "tasks"."due_time_zone", "tasks"."priority", "tasks"."tags", "tasks"."tag_keys", "tasks"."recurrence", "tasks"."recurrence_start", "tasks"."list_id", "tasks"."position", "tasks"."created_at", "tasks"."updated_at", "tasks"."version" FROM "tasks" WHERE "tasks"."user_id" = :user_id AND "tasks"."list_id" IS NULL ORDER BY "position" ASC, "tasks"."id" ASC LIMIT 21;
