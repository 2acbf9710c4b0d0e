-- list_deep: GET /users/{deep_user_id}/tasks?cursor=… (20 tasks, 50,000 tasks into the list)
-- What the server sends PostgreSQL for one such request, written from the
-- store's own statement (src/store/statements/) by tests/api/benchmark_sql.rs, which
-- fails when this file differs. Variables: :user_id, :task_id a seeded task (the
-- benchmark's scripts pick one from bench_pool); :new_id, :now a new time-ordered id and
-- the current time (fetched with \gset); :title a random integer; the others are
-- constants the benchmark passes with -D.
SELECT "tasks"."id", "tasks"."user_id", "tasks"."title", "tasks"."description", "tasks"."is_completed", "tasks"."completed_at", "tasks"."due_date", "tasks"."due_time", "tasks"."due_time_zone", "tasks"."priority", "tasks"."tags", "tasks"."tag_keys", "tasks"."recurrence", "tasks"."recurrence_start", "tasks"."list_id", "tasks"."position", "tasks"."created_at", "tasks"."updated_at", "tasks"."version" FROM "tasks" WHERE "tasks"."user_id" = :deep_user_id AND "created_at" <= :after_created_at AND ("created_at" < :after_created_at OR ("created_at" = :after_created_at AND "id" < :after_id)) ORDER BY "created_at" DESC, "tasks"."id" DESC LIMIT 21;
