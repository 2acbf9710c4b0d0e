-- list_deep: GET /users/{deep_user_id}/tasks?cursor=… (20 tasks, 50,000 tasks into the list)
-- The SQL the server sent PostgreSQL for one such request (1 statement(s)),
-- captured from PostgreSQL's statement log by `cargo bench --bench load`, which
-- rewrites this file when the server's SQL changes. Each $n parameter is a variable:
-- :user_id, :task_id a seeded task (the benchmark's scripts pick one from bench_pool);
-- :new_id, :now a new time-ordered id and the current time (fetched with \gset);
-- :title a random integer; the others are constants, defined below for -D.
--@define deep_user_id=01941f29-7c00-73b1-8d46-b5b6e595776f
--@define after_created_at=2025-01-01 02:00:49.85+00
--@define after_id=01941f98-1bba-7d0d-85e2-d871173c5329
\set limit 21
SELECT "tasks"."id", "tasks"."user_id", "tasks"."title", "tasks"."description", "tasks"."is_completed", "tasks"."created_at", "tasks"."updated_at" FROM "tasks" WHERE "tasks"."user_id" = :deep_user_id AND "created_at" <= :after_created_at AND ("created_at" < :after_created_at OR ("created_at" = :after_created_at AND "id" < :after_id)) ORDER BY "created_at" DESC, "tasks"."id" DESC LIMIT :limit;
