//! The task operations under `/users/{user_id}/tasks`.

use poem_openapi::registry::MetaSchema;
use poem_openapi::types::{Example, MaybeUndefined};
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde_json::Value;
use uuid::Uuid;

use super::caller::Caller;
use super::error::{ErrorResponse, FieldError, FieldLocation, ReadErrors, TaskWriteErrors};
use super::input::{
    json_kind, BodyFields, Checked, CollectFields, FieldValue, JsonBody, JsonObjectBody,
    ParamValue, PathParam, QueryParam,
};
use super::resources::{JsonResponse, Nullable, TaskPage, TaskResource};
use super::ApiTags;
use crate::domain::{
    check_storable, TaskChanges, TaskDescription, TaskFields, TaskTitle, TASK_READ_ONLY_FIELDS,
    TASK_WRITABLE_FIELDS,
};
use crate::pagination::{Cursor, TaskFilter, TaskSort};
use crate::store::{self, TaskQuery};
use crate::AppState;

const DEFAULT_PAGE_SIZE: u64 = 20;
const MAX_PAGE_SIZE: u64 = 100;
const SEARCH_MAX_CHARS: usize = 255;

/// A task's fields as created, or as they wholly replace a task (PUT): absent fields take their
/// defaults. Unknown and read-only fields are refused.
#[derive(Object)]
#[oai(rename = "TaskInput", deny_unknown_fields, example)]
pub struct TaskInputSchema {
    /// Required: 1 to 255 characters as sent, at least one of them not white space, no NUL;
    /// stored with surrounding white space trimmed.
    #[oai(validator(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\u0000]*[^\u0000\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000]*$"
    ))]
    pub title: String,
    /// At most 10,000 characters, no NUL; absent or null for none.
    #[oai(validator(max_length = 10000, pattern = r"^[^\u0000]*$"), nullable)]
    pub description: Option<String>,
    /// Whether the task is done; defaults to false.
    pub is_completed: Option<bool>,
}

impl Example for TaskInputSchema {
    fn example() -> Self {
        Self {
            title: "Buy milk".to_owned(),
            description: Some("Two litres, semi-skimmed".to_owned()),
            is_completed: Some(false),
        }
    }
}

/// A JSON merge patch (RFC 7396) of a task: an absent field stays as it is,
/// `"description": null` clears the description, `"title": null` is refused, `{}` changes
/// nothing. Unknown and read-only fields are refused.
#[derive(Object)]
#[oai(rename = "TaskPatch", deny_unknown_fields, example)]
pub struct TaskPatchSchema {
    /// 1 to 255 characters as sent, at least one of them not white space, no NUL; stored with
    /// surrounding white space trimmed; null is refused.
    #[oai(validator(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\u0000]*[^\u0000\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000]*$"
    ))]
    pub title: Option<String>,
    /// At most 10,000 characters, no NUL; null clears it.
    #[oai(validator(max_length = 10000, pattern = r"^[^\u0000]*$"), nullable)]
    pub description: MaybeUndefined<String>,
    /// Whether the task is done.
    pub is_completed: Option<bool>,
}

impl Example for TaskPatchSchema {
    fn example() -> Self {
        Self {
            title: Some("Buy oat milk".to_owned()),
            description: MaybeUndefined::Null,
            is_completed: Some(true),
        }
    }
}

impl FieldValue for TaskTitle {
    fn from_json(value: &Value) -> Result<Self, String> {
        match value {
            Value::String(text) => TaskTitle::parse(text),
            other => Err(format!("must be a string, got {}", json_kind(other))),
        }
    }
}

impl FieldValue for TaskDescription {
    fn from_json(value: &Value) -> Result<Self, String> {
        match value {
            Value::String(text) => TaskDescription::parse(text),
            other => Err(format!(
                "must be a string or null, got {}",
                json_kind(other)
            )),
        }
    }
}

impl JsonObjectBody for TaskFields {
    type Schema = TaskInputSchema;

    fn from_fields(fields: &BodyFields) -> Checked<Self> {
        let (title, description, is_completed, ()) = (
            fields.required::<TaskTitle>("title"),
            fields.optional::<Option<TaskDescription>>("description"),
            fields.optional::<bool>("is_completed"),
            fields.only(&TASK_WRITABLE_FIELDS, &TASK_READ_ONLY_FIELDS),
        )
            .collect_fields()?;
        Ok(Self {
            title,
            description: description.flatten(),
            is_completed: is_completed.unwrap_or(false),
        })
    }
}

impl JsonObjectBody for TaskChanges {
    type Schema = TaskPatchSchema;
    const MEDIA_TYPES: &'static [&'static str] =
        &["application/json", "application/merge-patch+json"];

    fn from_fields(fields: &BodyFields) -> Checked<Self> {
        let (title, description, is_completed, ()) = (
            fields.optional::<TaskTitle>("title"),
            fields.optional::<Option<TaskDescription>>("description"),
            fields.optional::<bool>("is_completed"),
            fields.only(&TASK_WRITABLE_FIELDS, &TASK_READ_ONLY_FIELDS),
        )
            .collect_fields()?;
        Ok(Self {
            title,
            description,
            is_completed,
        })
    }
}

/// How many tasks a page holds: 1 to 100.
pub struct PageSize(u64);

impl ParamValue for PageSize {
    fn schema() -> MetaSchema {
        MetaSchema {
            minimum: Some(1.0),
            maximum: Some(MAX_PAGE_SIZE as f64),
            default: Some(DEFAULT_PAGE_SIZE.into()),
            example: Some(DEFAULT_PAGE_SIZE.into()),
            ..MetaSchema::new_with_format("integer", "int32")
        }
    }

    fn parse(raw: &str) -> Result<Self, String> {
        match raw.parse::<u64>() {
            Ok(size) if (1..=MAX_PAGE_SIZE).contains(&size) => Ok(Self(size)),
            _ => Err(format!(
                "must be an integer from 1 to {MAX_PAGE_SIZE}, got {raw:?}"
            )),
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

/// A cursor as sent; only the server's key can tell whether it is genuine.
pub struct CursorToken(String);

impl ParamValue for CursorToken {
    fn schema() -> MetaSchema {
        // No example: any string but a cursor this server made is refused.
        MetaSchema::new("string")
    }

    fn parse(raw: &str) -> Result<Self, String> {
        Ok(Self(raw.to_owned()))
    }
}

/// Text to find in titles, case-insensitively.
pub struct TitleSearch(String);

impl ParamValue for TitleSearch {
    fn schema() -> MetaSchema {
        MetaSchema {
            max_length: Some(SEARCH_MAX_CHARS),
            pattern: Some(r"^[^\u0000]*$".to_owned()),
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

#[derive(ApiResponse)]
pub enum TaskCreated {
    /// The task was created.
    #[oai(status = 201)]
    Created(
        JsonResponse<TaskResource>,
        /// The new task's URL.
        #[oai(header = "Location")]
        String,
    ),
}

#[derive(ApiResponse)]
pub enum TaskFound {
    /// The task as it is now.
    #[oai(status = 200)]
    Ok(JsonResponse<TaskResource>),
}

#[derive(ApiResponse)]
pub enum TaskPageFound {
    /// One page of tasks, and the cursor of the next one.
    #[oai(status = 200)]
    Ok(JsonResponse<TaskPage>),
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
    /// Creates a task for the user; the answer's `Location` is the new task's URL. The title is
    /// trimmed; `description` defaults to null and `is_completed` to false. 404
    /// `USER_NOT_FOUND` when the user does not exist.
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
        body: JsonBody<TaskFields>,
    ) -> Result<TaskCreated, ErrorResponse<TaskWriteErrors>> {
        let (user_id, fields) = (user_id.checked(), body.0).collect_fields()?;
        let task = store::create_task(&self.state.db, user_id, fields).await?;
        let location = format!("/users/{user_id}/tasks/{}", task.id);
        Ok(TaskCreated::Created(JsonResponse(task.into()), location))
    }

    /// List a user's tasks
    ///
    /// One keyset page at a time: follow `next_cursor` (with the same `sort`, `completed` and
    /// `q`) until it is null to see every task exactly once, even while tasks are added.
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
        limit: QueryParam<PageSize>,
        /// The previous page's `next_cursor`, unchanged; absent for the first page. It is signed:
        /// a changed, truncated or made-up cursor, or one used with another `sort`, filter or
        /// user, is a 400 naming `cursor`.
        cursor: QueryParam<CursorToken>,
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
        let (user_id, limit, cursor, completed, q, sort) = (
            user_id.checked(),
            limit.checked(),
            cursor.checked_then(|token| Cursor::decode(&self.state.cursor_key, &token.0)),
            completed.checked(),
            q.checked(),
            sort.checked(),
        )
            .collect_fields()?;
        let sort = sort.unwrap_or(TaskSort::CreatedAtDesc);
        let filter = TaskFilter {
            completed,
            title_contains: q.map(|q| q.0),
        };
        let after = cursor
            .map(|cursor| cursor.position_for(user_id, sort, &filter))
            .transpose()
            .map_err(|message| vec![FieldError::new(FieldLocation::Query, cursor_name, message)])?;
        let query = TaskQuery {
            sort,
            filter,
            after,
            limit: limit.map_or(DEFAULT_PAGE_SIZE, |size| size.0),
        };
        let filter = query.filter.clone();
        let page = store::list_tasks(&self.state.db, user_id, query).await?;
        let next_cursor =
            page.tasks.last().filter(|_| page.has_more).map(|last| {
                Cursor::after(user_id, sort, &filter, last).encode(&self.state.cursor_key)
            });
        Ok(TaskPageFound::Ok(JsonResponse(TaskPage {
            items: page.tasks.into_iter().map(Into::into).collect(),
            next_cursor: Nullable(next_cursor),
        })))
    }

    /// Get a task
    ///
    /// A task of another user is 404 `TASK_NOT_FOUND`, exactly as if it did not exist.
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
    ) -> Result<TaskFound, ErrorResponse<ReadErrors>> {
        let (user_id, task_id) = (user_id.checked(), task_id.checked()).collect_fields()?;
        let task = store::get_task(&self.state.db, user_id, task_id).await?;
        Ok(TaskFound::Ok(JsonResponse(task.into())))
    }

    /// Replace a task
    ///
    /// Replaces every field: an absent `description` becomes null and an absent
    /// `is_completed` false. `updated_at` moves only when a value really changes.
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
        body: JsonBody<TaskFields>,
    ) -> Result<TaskFound, ErrorResponse<TaskWriteErrors>> {
        self.change_task(user_id, task_id, body.0.map(TaskChanges::from))
            .await
    }

    /// Update a task
    ///
    /// A JSON merge patch (RFC 7396), sent as `application/merge-patch+json` or
    /// `application/json`: absent fields stay, `"description": null` clears the description,
    /// `"title": null` is a 400, `{}` changes nothing. `updated_at` moves only when a value
    /// really changes.
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
        body: JsonBody<TaskChanges>,
    ) -> Result<TaskFound, ErrorResponse<TaskWriteErrors>> {
        self.change_task(user_id, task_id, body.0).await
    }

    /// Delete a task
    ///
    /// Deletes the task for good; a second delete is 404 `TASK_NOT_FOUND`.
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
    ) -> Result<TaskDeleted, ErrorResponse<ReadErrors>> {
        let (user_id, task_id) = (user_id.checked(), task_id.checked()).collect_fields()?;
        store::delete_task(&self.state.db, user_id, task_id).await?;
        Ok(TaskDeleted::NoContent)
    }
}

impl TasksApi {
    /// What PUT and PATCH share: check everything, then apply the changes.
    async fn change_task(
        &self,
        user_id: PathParam<Uuid>,
        task_id: PathParam<Uuid>,
        changes: Checked<TaskChanges>,
    ) -> Result<TaskFound, ErrorResponse<TaskWriteErrors>> {
        let (user_id, task_id, changes) =
            (user_id.checked(), task_id.checked(), changes).collect_fields()?;
        let task = store::update_task(&self.state.db, user_id, task_id, changes).await?;
        Ok(TaskFound::Ok(JsonResponse(task.into())))
    }
}
