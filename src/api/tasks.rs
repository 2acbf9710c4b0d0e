//! The task operations under `/users/{user_id}/tasks`.

use poem_openapi::registry::MetaSchema;
use poem_openapi::{ApiResponse, OpenApi};
use serde_json::Value;
use uuid::Uuid;

use super::caller::Caller;
use super::conditional::{etag, preconditions, EntityTags};
use super::error::{
    ApiError, ErrorResponse, FieldError, FieldLocation, ReadErrors, TaskChangeErrors,
    TaskCreateErrors, TaskDeleteErrors, TaskReadErrors,
};
use super::input::{
    json_kind, BodyField, BodyFieldList, Checked, CollectFields, FieldDescription, HeaderParam,
    HeaderValue, JsonBody, JsonObjectBody, MergePatch, PageSize, ParamValue, PathParam, QueryParam,
    SignedToken, Whole,
};
use super::resources::{JsonResponse, Nullable, TaskPage, TaskResource, WrittenJson};
use super::ApiTags;
use crate::domain::{
    check_storable, IdempotencyKey, TaskChanges, TaskDescription, TaskFields, TaskTitle,
    WriteCondition, DESCRIPTION_MAX_CHARS, IDEMPOTENCY_KEY_MAX_CHARS, STORABLE_PATTERN,
    TASK_READ_ONLY_FIELDS, TITLE_MAX_CHARS, TITLE_PATTERN,
};
use crate::pagination::{self, Cursor, ListError, TaskFilter, TaskListRequest, TaskSort};
use crate::store;
use crate::AppState;

/// How many tasks a page holds: 1 to 100, 20 by default.
type TaskPageSize = PageSize<20, 100>;
const SEARCH_MAX_CHARS: usize = 255;

/// The writable fields of a task's bodies (`TaskInput`, `TaskPatch`), in the document's order.
pub type TaskBodyFields = (Title, Description, IsCompleted);

/// The task's fields a client writes.
pub const TASK_WRITABLE_FIELDS: &[&str] = <TaskBodyFields as BodyFieldList>::NAMES;

/// A task's `title`.
pub struct Title;

impl BodyField for Title {
    const NAME: &'static str = "title";
    type Value = TaskTitle;

    const DESCRIPTION: FieldDescription = FieldDescription {
        whole: "Required: 1 to 255 characters as sent, at least one of them not white space, no NUL;\n\
             stored with surrounding white space trimmed.",
        merge_patch: "1 to 255 characters as sent, at least one of them not white space, no NUL; stored with\n\
             surrounding white space trimmed; null is refused.",
    };

    fn schema() -> MetaSchema {
        MetaSchema {
            min_length: Some(1),
            max_length: Some(TITLE_MAX_CHARS),
            pattern: Some(TITLE_PATTERN.to_owned()),
            ..MetaSchema::new("string")
        }
    }

    fn example(merge_patch: bool) -> Value {
        if merge_patch {
            "Buy oat milk"
        } else {
            "Buy milk"
        }
        .into()
    }

    fn default() -> Option<TaskTitle> {
        None
    }

    fn parse(value: &Value) -> Result<TaskTitle, String> {
        match value {
            Value::String(text) => TaskTitle::parse(text),
            other => Err(format!("must be a string, got {}", json_kind(other))),
        }
    }
}

/// A task's `description`: null for none.
pub struct Description;

impl BodyField for Description {
    const NAME: &'static str = "description";
    type Value = Option<TaskDescription>;

    const DESCRIPTION: FieldDescription = FieldDescription {
        whole: "At most 10,000 characters, no NUL; absent or null for none.",
        merge_patch: "At most 10,000 characters, no NUL; null clears it.",
    };

    fn schema() -> MetaSchema {
        MetaSchema {
            nullable: true,
            max_length: Some(DESCRIPTION_MAX_CHARS),
            pattern: Some(STORABLE_PATTERN.to_owned()),
            ..MetaSchema::new("string")
        }
    }

    fn example(merge_patch: bool) -> Value {
        if merge_patch {
            Value::Null
        } else {
            "Two litres, semi-skimmed".into()
        }
    }

    fn default() -> Option<Option<TaskDescription>> {
        Some(None)
    }

    fn parse(value: &Value) -> Result<Option<TaskDescription>, String> {
        match value {
            Value::Null => Ok(None),
            Value::String(text) => TaskDescription::parse(text).map(Some),
            other => Err(format!(
                "must be a string or null, got {}",
                json_kind(other)
            )),
        }
    }
}

/// A task's `is_completed`: false by default.
pub struct IsCompleted;

impl BodyField for IsCompleted {
    const NAME: &'static str = "is_completed";
    type Value = bool;

    const DESCRIPTION: FieldDescription = FieldDescription {
        whole: "Whether the task is done; defaults to false.",
        merge_patch: "Whether the task is done.",
    };

    fn schema() -> MetaSchema {
        MetaSchema::new("boolean")
    }

    fn example(merge_patch: bool) -> Value {
        merge_patch.into()
    }

    fn default() -> Option<bool> {
        Some(false)
    }

    fn parse(value: &Value) -> Result<bool, String> {
        value
            .as_bool()
            .ok_or_else(|| format!("must be a boolean, got {}", json_kind(value)))
    }
}

impl JsonObjectBody for TaskFields {
    const NAME: &'static str = "TaskInput";
    const DESCRIPTION: &'static str = "A task's fields as created, or as they wholly replace a \
        task (PUT): absent fields take their\ndefaults. Unknown and read-only fields are refused.";
    type Fields = TaskBodyFields;
    type Presence = Whole;
    const READ_ONLY: &'static [&'static str] = &TASK_READ_ONLY_FIELDS;

    fn from_values(
        (title, description, is_completed): (TaskTitle, Option<TaskDescription>, bool),
    ) -> Self {
        Self {
            title,
            description,
            is_completed,
        }
    }
}

impl JsonObjectBody for TaskChanges {
    const NAME: &'static str = "TaskPatch";
    const DESCRIPTION: &'static str = "A JSON merge patch (RFC 7396) of a task: an absent field \
        stays as it is,\n`\"description\": null` clears the description, `\"title\": null` is \
        refused, `{}` changes\nnothing. Unknown and read-only fields are refused.";
    type Fields = TaskBodyFields;
    type Presence = MergePatch;
    const READ_ONLY: &'static [&'static str] = &TASK_READ_ONLY_FIELDS;
    const MEDIA_TYPES: &'static [&'static str] =
        &["application/json", "application/merge-patch+json"];

    fn from_values(
        (title, description, is_completed): (
            Option<TaskTitle>,
            Option<Option<TaskDescription>>,
            Option<bool>,
        ),
    ) -> Self {
        Self {
            title,
            description,
            is_completed,
        }
    }
}

impl ParamValue for TaskSort {
    fn schema() -> MetaSchema {
        MetaSchema {
            enum_items: TaskSort::ALL
                .iter()
                .map(|(_, name)| (*name).into())
                .collect(),
            default: Some("-created_at".into()),
            example: Some("title".into()),
            ..MetaSchema::new("string")
        }
    }

    fn parse(raw: &str) -> Result<Self, String> {
        TaskSort::parse(raw)
    }
}

/// Text to find in titles, case-insensitively.
pub struct TitleSearch(String);

impl ParamValue for TitleSearch {
    fn schema() -> MetaSchema {
        MetaSchema {
            max_length: Some(SEARCH_MAX_CHARS),
            pattern: Some(STORABLE_PATTERN.to_owned()),
            example: Some("milk".into()),
            ..MetaSchema::new("string")
        }
    }

    fn parse(raw: &str) -> Result<Self, String> {
        check_storable(raw)?;
        match raw.chars().count() {
            n if n > SEARCH_MAX_CHARS => Err(format!(
                "must be at most {SEARCH_MAX_CHARS} characters (got {n})"
            )),
            _ => Ok(Self(raw.to_owned())),
        }
    }
}

impl ParamValue for IdempotencyKey {
    fn schema() -> MetaSchema {
        MetaSchema {
            min_length: Some(1),
            max_length: Some(IDEMPOTENCY_KEY_MAX_CHARS + 2),
            pattern: Some(r#"^("[!#-~]{1,255}"|[!#-~]{1,255})$"#.to_owned()),
            example: Some("\"8e03978e-40d5-43e8-bc93-6894a57f9324\"".into()),
            ..MetaSchema::new("string")
        }
    }

    fn parse(raw: &str) -> Result<Self, String> {
        IdempotencyKey::parse(raw)
    }
}

impl HeaderValue for IdempotencyKey {
    const LIST: bool = false;
}

#[derive(ApiResponse)]
pub enum TaskCreated {
    /// The task was created (or, with `Idempotent-Replayed: true`, had been created by an
    /// earlier request with the same `Idempotency-Key`, whose answer this is).
    #[oai(status = 201)]
    Created(
        JsonResponse<TaskResource>,
        /// The new task's URL.
        #[oai(header = "Location")]
        String,
        /// The task's entity tag: its `version` in quotes.
        #[oai(header = "ETag")]
        String,
        /// `true` when this is the stored answer to an earlier request with the same
        /// `Idempotency-Key` (nothing was created now); absent otherwise.
        #[oai(header = "Idempotent-Replayed")]
        Option<String>,
    ),
}

#[derive(ApiResponse)]
pub enum TaskFound {
    /// The task as it is now.
    #[oai(status = 200)]
    Ok(
        JsonResponse<TaskResource>,
        /// The task's entity tag: its `version` in quotes.
        #[oai(header = "ETag")]
        String,
    ),
}

impl From<crate::domain::Task> for TaskFound {
    fn from(task: crate::domain::Task) -> Self {
        let tag = etag(task.version);
        Self::Ok(JsonResponse(task.into()), tag)
    }
}

#[derive(ApiResponse)]
pub enum TaskRead {
    /// The task as it is now.
    #[oai(status = 200)]
    Ok(
        JsonResponse<TaskResource>,
        /// The task's entity tag: its `version` in quotes.
        #[oai(header = "ETag")]
        String,
    ),
    /// `If-None-Match` names the task's current entity tag: the copy the client has is current.
    #[oai(status = 304)]
    NotModified(
        /// The task's entity tag: its `version` in quotes.
        #[oai(header = "ETag")]
        String,
    ),
}

#[derive(ApiResponse)]
pub enum TaskPageFound {
    /// One page of tasks, and the cursor of the next one.
    #[oai(status = 200)]
    Ok(WrittenJson<TaskPage>),
}

#[derive(ApiResponse)]
pub enum TaskDeleted {
    /// The task was deleted.
    #[oai(status = 204)]
    NoContent,
}

pub struct TasksApi {
    pub state: AppState,
}

#[OpenApi(tag = "ApiTags::Tasks")]
impl TasksApi {
    /// Create a task
    ///
    /// Creates a task for the user; the answer's `Location` is the new task's URL and its `ETag`
    /// the task's version. The title is trimmed; `description` defaults to null and
    /// `is_completed` to false. 404 `USER_NOT_FOUND` when the user does not exist.
    ///
    /// With an `Idempotency-Key`, the create is safe to retry: a retry with the same key and
    /// the same fields gets the first answer again (status, body, `Location`, `ETag`) with
    /// `Idempotent-Replayed: true`, and creates nothing; the same key with other fields is 422
    /// `IDEMPOTENCY_KEY_REUSED`; a retry while the first is still running waits for it (409
    /// `IDEMPOTENCY_KEY_IN_USE` when it cannot). Keys are the user's own and are kept 24 hours
    /// (`IDEMPOTENCY_KEY_TTL_HOURS`); errors are not stored.
    #[oai(
        path = "/users/:user_id/tasks",
        method = "post",
        operation_id = "createTask"
    )]
    async fn create_task(
        &self,
        _caller: Caller,
        /// The owner's id.
        user_id: PathParam<Uuid>,
        /// 1 to 255 visible ASCII characters (a UUID is a good key), bare or quoted, the same for
        /// every retry of one create. Kept 24 hours (`IDEMPOTENCY_KEY_TTL_HOURS`), then
        /// forgotten.
        #[oai(name = "Idempotency-Key")]
        idempotency_key: HeaderParam<IdempotencyKey>,
        body: JsonBody<TaskFields>,
    ) -> Result<TaskCreated, ErrorResponse<TaskCreateErrors>> {
        let (user_id, key, fields) =
            (user_id.checked(), idempotency_key.checked(), body.0).collect_fields()?;
        let created = store::create_task(
            &self.state.db,
            user_id,
            fields,
            key.as_ref(),
            self.state.limits.max_tasks,
        )
        .await?;
        let task = created.task;
        let location = format!("/users/{user_id}/tasks/{}", task.id);
        let tag = etag(task.version);
        let replayed = created.replayed.then(|| "true".to_owned());
        Ok(TaskCreated::Created(
            JsonResponse(task.into()),
            location,
            tag,
            replayed,
        ))
    }

    /// List a user's tasks
    ///
    /// One keyset page at a time: follow `next_cursor` (with the same `sort`, `completed` and
    /// `q`) until it is null to see every task exactly once, even while tasks are added. A page
    /// holds at most `limit` tasks, and ends early, with a `next_cursor`, before the task that
    /// would take its JSON past the server's page size (`PAGE_MAX_BYTES`, 1 MiB by default); a
    /// single task larger than that is sent alone.
    #[oai(
        path = "/users/:user_id/tasks",
        method = "get",
        operation_id = "listTasks"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn list_tasks(
        &self,
        _caller: Caller,
        /// The owner's id.
        user_id: PathParam<Uuid>,
        /// How many tasks a page holds: 1 to 100 (never clamped).
        limit: QueryParam<TaskPageSize>,
        /// The previous page's `next_cursor`, unchanged; absent for the first page. It is sealed
        /// (encrypted and signed): a changed, truncated or made-up cursor, one used with another
        /// `sort`, filter or user, or one sealed with a key the server no longer holds, is a 400
        /// naming `cursor`.
        cursor: QueryParam<SignedToken>,
        /// Only completed (`true`) or open (`false`) tasks.
        completed: QueryParam<bool>,
        /// Only tasks whose title contains this text, case-insensitively; `%` and `_` are
        /// ordinary characters.
        q: QueryParam<TitleSearch>,
        /// The order: by `created_at`, `updated_at` or `title` (case-insensitive), `-` for
        /// descending; ties are broken by `id`.
        sort: QueryParam<TaskSort>,
    ) -> Result<TaskPageFound, ErrorResponse<ReadErrors>> {
        let cursor_name = cursor.name();
        let keys = self.state.token_keys.keys(&self.state.db).await?;
        let (user_id, limit, cursor, completed, q, sort) = (
            user_id.checked(),
            limit.checked(),
            cursor.checked_then(|token| Cursor::decode(keys, &token.0)),
            completed.checked(),
            q.checked(),
            sort.checked(),
        )
            .collect_fields()?;
        let request = TaskListRequest {
            sort: sort.unwrap_or(TaskSort::CreatedAtDesc),
            filter: TaskFilter {
                completed,
                title_contains: q.map(|q| q.0),
            },
            cursor,
            limit: limit.unwrap_or_default().0,
        };
        let read = pagination::list_tasks(&self.state.db, keys, user_id, request)
            .await
            .map_err(|err| match err {
                ListError::Cursor(message) => ApiError::Validation(vec![FieldError::new(
                    FieldLocation::Query,
                    cursor_name,
                    message,
                )]),
                ListError::Store(err) => err.into(),
            })?;
        let max_bytes = self.state.page_max_bytes;
        let json_bound = read.json_bound::<TaskResource>();
        let written = WrittenJson::new(json_bound, move || {
            let cut = read.cut::<TaskResource>(max_bytes);
            TaskPage {
                items: cut.page.tasks.into_iter().map(Into::into).collect(),
                next_cursor: Nullable(cut.next_cursor),
            }
        });
        Ok(TaskPageFound::Ok(written.await?))
    }

    /// Get a task
    ///
    /// A task of another user is 404 `TASK_NOT_FOUND`, exactly as if it did not exist. The
    /// answer's `ETag` is the task's version; with `If-None-Match` naming it, the answer is 304
    /// with no body; with an `If-Match` that names none of it, 412 `PRECONDITION_FAILED`.
    #[oai(
        path = "/users/:user_id/tasks/:task_id",
        method = "get",
        operation_id = "getTask"
    )]
    async fn get_task(
        &self,
        _caller: Caller,
        /// The owner's id.
        user_id: PathParam<Uuid>,
        /// The task's id.
        task_id: PathParam<Uuid>,
        /// The entity tags the client expects (compared strongly: `W/` tags never match), or
        /// `*`: 412 Precondition Failed when none is the task's current tag.
        #[oai(name = "If-Match")]
        if_match: HeaderParam<EntityTags>,
        /// The entity tags of copies the client has (`W/` or not: compared weakly), or `*`: 304
        /// Not Modified when one is the task's current tag.
        #[oai(name = "If-None-Match")]
        if_none_match: HeaderParam<EntityTags>,
    ) -> Result<TaskRead, ErrorResponse<TaskReadErrors>> {
        let (user_id, task_id, if_match, if_none_match) = (
            user_id.checked(),
            task_id.checked(),
            if_match.checked(),
            if_none_match.checked(),
        )
            .collect_fields()?;
        let task = store::get_task(&self.state.db, user_id, task_id).await?;
        if !preconditions(if_match.as_ref(), None).allows(task.version) {
            return Err(ApiError::PreconditionFailed(task_id).into());
        }
        let tag = etag(task.version);
        if if_none_match.is_some_and(|tags| tags.names_weakly(task.version)) {
            return Ok(TaskRead::NotModified(tag));
        }
        Ok(TaskRead::Ok(JsonResponse(task.into()), tag))
    }

    /// Replace a task
    ///
    /// Replaces every field: an absent `description` becomes null and an absent
    /// `is_completed` false. `updated_at` and `version` move only when a value really changes.
    /// With `If-Match`, only when the task's current `ETag` is listed, and with `If-None-Match`,
    /// only when it is not: otherwise 412 `PRECONDITION_FAILED` and nothing is written.
    #[oai(
        path = "/users/:user_id/tasks/:task_id",
        method = "put",
        operation_id = "replaceTask"
    )]
    async fn replace_task(
        &self,
        _caller: Caller,
        /// The owner's id.
        user_id: PathParam<Uuid>,
        /// The task's id.
        task_id: PathParam<Uuid>,
        /// The entity tags the client's copy may have (compared strongly: `W/` tags never
        /// match), or `*`: the write happens only if one is the task's current tag.
        #[oai(name = "If-Match")]
        if_match: HeaderParam<EntityTags>,
        /// The entity tags of copies the client has (`W/` or not: compared weakly), or `*`: the
        /// write happens only if none is the task's current tag (`*`: never, the task exists).
        #[oai(name = "If-None-Match")]
        if_none_match: HeaderParam<EntityTags>,
        body: JsonBody<TaskFields>,
    ) -> Result<TaskFound, ErrorResponse<TaskChangeErrors>> {
        let condition = write_condition(if_match, if_none_match);
        self.change_task(user_id, task_id, condition, body.0.map(TaskChanges::from))
            .await
    }

    /// Update a task
    ///
    /// A JSON merge patch (RFC 7396), sent as `application/merge-patch+json` or
    /// `application/json`: absent fields stay, `"description": null` clears the description,
    /// `"title": null` is a 400, `{}` changes nothing. `updated_at` and `version` move only
    /// when a value really changes. With `If-Match`, only when the task's current `ETag` is
    /// listed, and with `If-None-Match`, only when it is not: otherwise 412
    /// `PRECONDITION_FAILED` and nothing is written.
    #[oai(
        path = "/users/:user_id/tasks/:task_id",
        method = "patch",
        operation_id = "updateTask"
    )]
    async fn update_task(
        &self,
        _caller: Caller,
        /// The owner's id.
        user_id: PathParam<Uuid>,
        /// The task's id.
        task_id: PathParam<Uuid>,
        /// The entity tags the client's copy may have (compared strongly: `W/` tags never
        /// match), or `*`: the write happens only if one is the task's current tag.
        #[oai(name = "If-Match")]
        if_match: HeaderParam<EntityTags>,
        /// The entity tags of copies the client has (`W/` or not: compared weakly), or `*`: the
        /// write happens only if none is the task's current tag (`*`: never, the task exists).
        #[oai(name = "If-None-Match")]
        if_none_match: HeaderParam<EntityTags>,
        body: JsonBody<TaskChanges>,
    ) -> Result<TaskFound, ErrorResponse<TaskChangeErrors>> {
        let condition = write_condition(if_match, if_none_match);
        self.change_task(user_id, task_id, condition, body.0).await
    }

    /// Delete a task
    ///
    /// Deletes the task for good (the change feed reports the deletion); a second delete is 404
    /// `TASK_NOT_FOUND`. With `If-Match`, only when the task's current `ETag` is listed, and
    /// with `If-None-Match`, only when it is not: otherwise 412 `PRECONDITION_FAILED` and
    /// nothing is deleted.
    #[oai(
        path = "/users/:user_id/tasks/:task_id",
        method = "delete",
        operation_id = "deleteTask"
    )]
    async fn delete_task(
        &self,
        _caller: Caller,
        /// The owner's id.
        user_id: PathParam<Uuid>,
        /// The task's id.
        task_id: PathParam<Uuid>,
        /// The entity tags the client's copy may have (compared strongly: `W/` tags never
        /// match), or `*`: the delete happens only if one is the task's current tag.
        #[oai(name = "If-Match")]
        if_match: HeaderParam<EntityTags>,
        /// The entity tags of copies the client has (`W/` or not: compared weakly), or `*`: the
        /// write happens only if none is the task's current tag (`*`: never, the task exists).
        #[oai(name = "If-None-Match")]
        if_none_match: HeaderParam<EntityTags>,
    ) -> Result<TaskDeleted, ErrorResponse<TaskDeleteErrors>> {
        let (user_id, task_id, condition) = (
            user_id.checked(),
            task_id.checked(),
            write_condition(if_match, if_none_match),
        )
            .collect_fields()?;
        store::delete_task(
            &self.state.db,
            user_id,
            task_id,
            condition,
            self.state.limits.max_tombstones,
        )
        .await?;
        Ok(TaskDeleted::NoContent)
    }
}

impl TasksApi {
    /// What PUT and PATCH share: check everything, then apply the changes.
    async fn change_task(
        &self,
        user_id: PathParam<Uuid>,
        task_id: PathParam<Uuid>,
        condition: Checked<WriteCondition>,
        changes: Checked<TaskChanges>,
    ) -> Result<TaskFound, ErrorResponse<TaskChangeErrors>> {
        let (user_id, task_id, condition, changes) =
            (user_id.checked(), task_id.checked(), condition, changes).collect_fields()?;
        let task = store::update_task(&self.state.db, user_id, task_id, changes, condition).await?;
        Ok(task.into())
    }
}

/// What `If-Match` and `If-None-Match` let a write change: anything when both are absent.
fn write_condition(
    if_match: HeaderParam<EntityTags>,
    if_none_match: HeaderParam<EntityTags>,
) -> Checked<WriteCondition> {
    let (if_match, if_none_match) =
        (if_match.checked(), if_none_match.checked()).collect_fields()?;
    Ok(preconditions(if_match.as_ref(), if_none_match.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_the_documented_pattern_allows_parses() {
        let schema = <IdempotencyKey as ParamValue>::schema();
        let pattern = regex::Regex::new(schema.pattern.as_deref().unwrap()).unwrap();
        let longest = "k".repeat(IDEMPOTENCY_KEY_MAX_CHARS);
        for allowed in [
            "k",
            "\"k\"",
            "8e03978e-40d5",
            "!#~",
            &longest,
            &format!("\"{longest}\""),
        ] {
            assert!(pattern.is_match(allowed), "{allowed}");
            assert!(IdempotencyKey::parse(allowed).is_ok(), "{allowed}");
        }
        for refused in ["", "a b", "\"\"", &format!("{longest}k")] {
            assert!(!pattern.is_match(refused), "{refused}");
            assert!(IdempotencyKey::parse(refused).is_err(), "{refused}");
        }
    }
}
