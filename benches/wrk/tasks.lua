-- wrk script for the Task API load benchmark (benches/load.rs runs it; see README "Benchmark").
--
--   wrk -t2 -c16 -d20s --latency -s benches/wrk/tasks.lua http://127.0.0.1:8000 \
--       -- SCENARIO POOL_FILE [DEEP_PATH]
--
-- SCENARIO: get_task, get_task_auth (get_task with the user's bearer token), create_task,
-- list_page, list_deep, list_today (a user's open tasks due on TODAY, by due time),
-- list_position (the first page of a user's inbox in the manual order), patch_task,
-- sync (the first page of a user's change feed), mixed
-- (60 % get_task, 20 % list_page, 10 % create_task, 10 % patch_task, drawn per request),
-- batch_create (one POST /users/{id}/batch of create_task operations, as many as batch_patch's
-- tasks on the line) or batch_patch (one batch of update_task operations, one on each of those
-- tasks); the operations of a batch answered 200 that failed on their own are counted.
-- POOL_FILE: seeded tasks to pick from at random, one "user_id task_id token batch_task_id…"
-- per line.
-- DEEP_PATH: the path list_deep requests (a page reached by cursor, fixed for the run).
-- Titles are random integers written as strings, as pgbench's `\set title random(…)` makes them.

local scenario, deep_path
local users, tasks, tokens, batch_tasks = {}, {}, {}, {}
-- get_task's requests, with and without the user's token, made once: the client's own work per
-- request stays as small as it can on a machine it shares with the server.
local get_requests, get_auth_requests = {}, {}
local thread_number = 0
-- The threads, for done() to add up their failed batch operations.
local threads = {}
-- Operations of batches answered 200 whose own status was not 2xx (this thread's).
failed_operations = 0

-- The date list_today lists: benches/load's SEED_TODAY, around which the seeded tasks are due.
local TODAY = "2026-12-06"
local today_query = "/tasks?due_from=" .. TODAY .. "&due_to=" .. TODAY .. "&completed=false&sort=due"

local json = { ["Content-Type"] = "application/json" }
local merge_patch = { ["Content-Type"] = "application/merge-patch+json" }
local description = "Created by the load benchmark"

function setup(thread)
   thread_number = thread_number + 1
   thread:set("thread_number", thread_number)
   threads[#threads + 1] = thread
end

function init(args)
   scenario = args[1]
   for line in io.lines(args[2]) do
      local fields = {}
      for field in line:gmatch("%S+") do
         fields[#fields + 1] = field
      end
      if #fields >= 3 then
         users[#users + 1] = fields[1]
         tasks[#tasks + 1] = fields[2]
         tokens[#tokens + 1] = fields[3]
         batch_tasks[#batch_tasks + 1] = { unpack(fields, 4) }
      end
   end
   for i = 1, #users do
      local path = "/users/" .. users[i] .. "/tasks/" .. tasks[i]
      get_requests[i] = wrk.format("GET", path)
      get_auth_requests[i] = wrk.format("GET", path, { ["Authorization"] = "Bearer " .. tokens[i] })
   end
   deep_path = args[3]
   if #users == 0 then
      error("no tasks in pool file " .. tostring(args[2]))
   end
   math.randomseed(os.time() * 100 + (thread_number or 0))
   -- Only the batches' answers are read: wrk parses no body when there is no response().
   if scenario ~= "batch_create" and scenario ~= "batch_patch" then
      response = nil
   end
end

local function get_task()
   return get_requests[math.random(#users)]
end

local function get_task_auth()
   return get_auth_requests[math.random(#users)]
end

local function list_page()
   return wrk.format("GET", "/users/" .. users[math.random(#users)] .. "/tasks")
end

local function list_deep()
   return wrk.format("GET", deep_path)
end

local function list_today()
   return wrk.format("GET", "/users/" .. users[math.random(#users)] .. today_query)
end

local function list_position()
   return wrk.format("GET", "/users/" .. users[math.random(#users)] .. "/tasks?list_id=inbox&sort=position")
end

local function create_task()
   local body = '{"title":"' .. math.random(1, 1000000000) .. '","description":"' .. description .. '"}'
   return wrk.format("POST", "/users/" .. users[math.random(#users)] .. "/tasks", json, body)
end

local function patch_task()
   local i = math.random(#users)
   local body = '{"title":"' .. math.random(1, 1000000000) .. '"}'
   return wrk.format("PATCH", "/users/" .. users[i] .. "/tasks/" .. tasks[i], merge_patch, body)
end

-- One batch of the user's, its operations made by `operation(k)` for each of batch_patch's tasks.
local function batch(operation)
   local i = math.random(#users)
   local operations = {}
   for k, task in ipairs(batch_tasks[i]) do
      operations[k] = operation(task)
   end
   local body = '{"operations":[' .. table.concat(operations, ",") .. ']}'
   return wrk.format("POST", "/users/" .. users[i] .. "/batch", json, body)
end

local function batch_create()
   return batch(function()
      return '{"op":"create_task","body":{"title":"' .. math.random(1, 1000000000) ..
         '","description":"' .. description .. '"}}'
   end)
end

local function batch_patch()
   return batch(function(task)
      return '{"op":"update_task","task_id":"' .. task .. '","body":{"title":"' ..
         math.random(1, 1000000000) .. '"}}'
   end)
end

local function sync()
   return wrk.format("GET", "/users/" .. users[math.random(#users)] .. "/changes")
end

local function mixed()
   local r = math.random(100)
   if r <= 60 then
      return get_task()
   elseif r <= 80 then
      return list_page()
   elseif r <= 90 then
      return create_task()
   else
      return patch_task()
   end
end

local scenarios = {
   get_task = get_task,
   get_task_auth = get_task_auth,
   create_task = create_task,
   list_page = list_page,
   list_deep = list_deep,
   list_today = list_today,
   list_position = list_position,
   patch_task = patch_task,
   sync = sync,
   mixed = mixed,
   batch_create = batch_create,
   batch_patch = batch_patch,
}

function request()
   return scenarios[scenario]()
end

-- A batch's answer: each operation's result carries its own status.
function response(status, headers, body)
   if status == 200 then
      for code in body:gmatch('"status":(%d+)') do
         if tonumber(code) >= 300 then
            failed_operations = failed_operations + 1
         end
      end
   end
end

-- The run's figures for benches/load.rs, as one JSON line (latencies in microseconds).
function done(summary, latency, requests)
   local errors = summary.errors
   local failed = 0
   for _, thread in ipairs(threads) do
      failed = failed + thread:get("failed_operations")
   end
   io.write(string.format(
      'TASK_API_WRK {"requests":%d,"duration_us":%d,"non_2xx":%d,"failed_operations":%d,' ..
      '"socket_errors":%d,"p50_us":%.1f,"p99_us":%.1f}\n',
      summary.requests, summary.duration, errors.status, failed,
      errors.connect + errors.read + errors.write + errors.timeout,
      latency:percentile(50), latency:percentile(99)))
end
