-- get_task: GET /users/{user_id}/tasks/{task_id}
-- The SQL the server sent PostgreSQL for one such request (1 statement(s)),
-- captured from PostgreSQL's statement log by `cargo bench --bench load`, which
-- rewrites this file when the server's SQL changes. Each $n parameter is a variable:
-- :user_id, :task_id a seeded task (the benchmark's scripts pick one from bench_pool);
-- :new_id, :now a new time-ordered id and the current time (fetched with \gset);
-- :title a random integer; the others are constants, defined below for -D.
\set limit 1
SELECT "tasks"."id", "tasks"."user_id", "tasks"."title", "tasks"."description", "tasks"."is_completed", "tasks"."created_at", "tasks"."updated_at" FROM "tasks" WHERE "tasks"."id" = :task_id AND "tasks"."user_id" = :user_id LIMIT :limit;
