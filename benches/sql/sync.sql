-- sync: GET /users/{user_id}/changes (a full sync's first page, 100 changes)
-- What the server sends PostgreSQL for one such request, written from the
-- store's own statement (src/store/statements/) by tests/api/benchmark_sql.rs, which
-- fails when this file differs. Variables: :user_id, :task_id a seeded task (the
-- benchmark's scripts pick one from bench_pool); :new_id, :now a new time-ordered id and
-- the current time (fetched with \gset); :title a random integer; the others are
-- constants the benchmark passes with -D.
\set limit_1 1
\set limit_101 101
\set since 0
SELECT "users"."id", "users"."created_at", "users"."change_seq", "users"."task_count", "users"."tombstone_count", "users"."tombstones_dropped_through" FROM "users" WHERE "users"."id" = :user_id LIMIT :limit_1;
SELECT "id", "user_id", "title", "description", "is_completed", "created_at", "updated_at", "version", "deleted" FROM (SELECT "id", "user_id", "title", "description", "is_completed", "created_at", "updated_at", "version", FALSE AS "deleted" FROM "tasks" WHERE "tasks"."user_id" = :user_id AND "tasks"."version" > :since ORDER BY "version" ASC LIMIT :limit_101) AS "changed" UNION ALL SELECT "id", "user_id", "title", "description", "is_completed", "created_at", "updated_at", "version", "deleted" FROM (SELECT "task_id" AS "id", "user_id" AS "user_id", CAST(NULL AS text) AS "title", CAST(NULL AS text) AS "description", CAST(NULL AS boolean) AS "is_completed", CAST(NULL AS timestamptz) AS "created_at", CAST(NULL AS timestamptz) AS "updated_at", "version" AS "version", TRUE AS "deleted" FROM "task_tombstones" WHERE "task_tombstones"."user_id" = :user_id AND "task_tombstones"."version" > :since ORDER BY "version" ASC LIMIT :limit_101) AS "deleted" ORDER BY "version" ASC LIMIT :limit_101;
