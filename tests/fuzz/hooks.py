"""Schemathesis hooks of tests/fuzz/run: the rules of the task model that the contract's schemas
do not state, so that positive_data_acceptance runs on every operation and every phase.

- Tags are unique trimmed and in lowercase ("Home", " home" and "HOME" are the same tag); the
  contract's `uniqueItems` compares them exactly. A positive case whose body's tags repeat so is
  not generated (filter_case): it is not valid data, though JSON Schema cannot say so.
- A recurrence needs a due date. JSON Schema could say it (a body's `anyOf`), but the client
  generators read that as a union of partial bodies, so the contract says it in `recurrence`'s
  description: a positive createTask or replaceTask case with a `recurrence` and no `due` is not
  generated (filter_case).
- A merge patch (updateTask) is checked merged with the task it patches, which no schema of the
  request can know: giving `recurrence` to a task without a due date, `due.time` or
  `due.time_zone` without `due.date` to one without a due date, `due.time_zone` to one without a
  time, clearing `due.time` of one with a time zone, or `due` of a recurring one. A rejection of
  positive data by updateTask with a 400 naming only those rules, each with its message, is
  dropped (filter_failure); any other field, message or status still fails the run.
- A task's `list_id` must name one of the user's lists, which is what the server holds, not what
  a schema can state (as an `If-Match` naming another version): a 400 of createTask, replaceTask
  or updateTask naming only `list_id` as not one of the user's lists is dropped the same way; so
  is a 400 of moveTask naming only `list_id` so, or `after` as not another task of the list the
  task moves to.
- An atomic applyBatch answers with its failing operation's status: a 404 naming a task or a list
  of one of its operations (TASK_NOT_FOUND, LIST_NOT_FOUND) is not the batch's user missing, so
  the stateful phase's "created resource not found" (ST302) is dropped for those codes only; a
  USER_NOT_FOUND still fails the run. Its 400 for an operation refused by one of the rules above
  (a `list_id` not one of the user's lists, say, which the stateful phase links into a
  create_task body from another user's list) is dropped as that endpoint's is. Its 412 for an
  operation's `if_match` naming none of the task's versions (PRECONDITION_FAILED, as an
  `If-Match` header naming another version is rightly refused: what the server holds) is dropped
  from "schema-valid request rejected" (ST202) for that code only.
- A batch that is not atomic answers 200 whatever its operations answer: each runs as if sent
  alone, and an operation whose body breaks its endpoint's schema is refused in its own result
  (400 VALIDATION_ERROR). The stateful phase can make such a batch from data it links across
  operations (a created list's id put into an `update_list` body as `list_id`), so the
  "schema-violating request accepted" check (ST201) is dropped for a non-atomic applyBatch
  answered 200 in which an operation was refused so; an atomic batch, or one with no such
  refusal, still fails the run.

Every one of those rules is tested in tests/api/ (task_model.rs, recurrence.rs).
"""

import json

import schemathesis
from schemathesis import GenerationMode

# White space as the server trims it (Rust's char::is_whitespace, Unicode's White_Space): not
# Python's str.isspace, which also takes U+001C to U+001F.
WHITE_SPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + \
    "\u2028\u2029\u202f\u205f\u3000"

# updateTask's refusals that depend on the stored task: field, and how its message starts.
STORED_TASK_RULES = {
    ("due.date", "is required"),
    ("due.time_zone", "needs a time"),
    ("due", "cannot be cleared while the task recurs"),
    ("recurrence", "needs a due date"),
}


def tags_repeat(body):
    tags = body.get("tags") if isinstance(body, dict) else None
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        return False
    keys = [tag.strip(WHITE_SPACE).lower() for tag in tags]
    return len(set(keys)) != len(keys)


def recurs_without_due(operation_id, body):
    return (operation_id in ("createTask", "replaceTask") and isinstance(body, dict)
            and body.get("recurrence") is not None and body.get("due") is None)


def operation_id(case):
    return case.operation.definition.raw.get("operationId")


@schemathesis.hook
def filter_case(context, case):
    meta = case.meta
    positive = meta is None or meta.generation.mode == GenerationMode.POSITIVE
    return not (positive and (tags_repeat(case.body) or recurs_without_due(operation_id(case), case.body)))


# Refusals of a task write that depend on the lists the user holds: field, and how its message
# starts.
HELD_LIST_RULES = {("list_id", "is not one of the user's lists")}

# The refusals each operation may give to schema-valid data for what the server holds.
HELD_STATE_RULES = {
    "createTask": HELD_LIST_RULES,
    "replaceTask": HELD_LIST_RULES,
    "updateTask": STORED_TASK_RULES | HELD_LIST_RULES,
    "moveTask": HELD_LIST_RULES | {("after", "is not another task of the list the task moves to")},
}
# An atomic batch answers with its failing operation's refusal, fields named as its endpoint names
# them: any of the endpoints' refusals for what the server holds.
HELD_STATE_RULES["applyBatch"] = set().union(*HELD_STATE_RULES.values())


def refused_for_what_is_held(response, rules):
    if response.status_code != 400:
        return False
    try:
        fields = json.loads(response.content)["error"]["details"]["fields"]
    except (ValueError, KeyError, TypeError):
        return False
    return bool(fields) and all(
        any(field.get("field") == name and str(field.get("message", "")).startswith(start)
            for name, start in rules)
        for field in fields
    )


def error_code(response):
    try:
        return json.loads(response.content)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


def an_operations_target_missing(case, response):
    return (operation_id(case) == "applyBatch" and response.status_code == 404
            and error_code(response) in ("TASK_NOT_FOUND", "LIST_NOT_FOUND"))


def an_operations_precondition_failed(case, response):
    return (operation_id(case) == "applyBatch" and response.status_code == 412
            and error_code(response) == "PRECONDITION_FAILED")


def refused_inside_a_batch(case, response):
    if operation_id(case) != "applyBatch" or response.status_code != 200:
        return False
    if not isinstance(case.body, dict) or case.body.get("atomic") is True:
        return False
    try:
        results = json.loads(response.content)["results"]
    except (ValueError, KeyError, TypeError):
        return False
    return any(
        isinstance(result, dict) and result.get("status") == 400
        and (result.get("error") or {}).get("code") == "VALIDATION_ERROR"
        for result in results
    )


@schemathesis.hook
def filter_failure(context, failure, case, response):
    held = HELD_STATE_RULES.get(operation_id(case), set())
    return not (
        (failure.code == "ST202" and refused_for_what_is_held(response, held))
        or (failure.code == "ST202" and an_operations_precondition_failed(case, response))
        or (failure.code == "ST302" and an_operations_target_missing(case, response))
        or (failure.code == "ST201" and refused_inside_a_batch(case, response))
    )
