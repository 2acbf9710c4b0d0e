//! The list operations under `/users/{user_id}/lists`: a user's named containers of tasks.

use poem_openapi::registry::MetaSchema;
use poem_openapi::{ApiResponse, OpenApi};
use serde_json::Value;
use uuid::Uuid;

use super::ApiTags;
use crate::api::error::{
    ApiError, ErrorResponse, ListCreateErrors, ReadErrors, TaskChangeErrors, TaskDeleteErrors,
    TaskReadErrors,
};
use crate::api::request::caller::Caller;
use crate::api::request::conditional::{
    etag, DeleteConditions, ReadConditions, ReadOutcome, WriteConditions,
};
use crate::api::request::input::{
    json_kind, named, BodyField, ClientMadeId, CollectFields, FieldDescription, JsonBody,
    JsonObjectBody, MadeByClient, MergePatch, PageSize, PathParam, QueryParam, SignedToken, Whole,
};
use crate::api::response::resources::{
    JsonResponse, ListPage, ListResource, Nullable, WrittenJson,
};
use crate::db::Database;
use crate::domain::{
    Invalid, List, ListChanges, ListFields, ListName, WriteCondition, LIST_READ_ONLY_FIELDS,
    TITLE_MAX_CHARS, TITLE_PATTERN,
};
use crate::fairness::UserLimits;
use crate::pagination::{self, ListCursor};
use crate::store;
use crate::AppState;

/// How many lists a page holds: 1 to 100, 20 by default.
type ListPageSize = PageSize<20, 100>;

/// A list's `name`: a title's rules.
pub struct Name;

impl BodyField for Name {
    const NAME: &'static str = "name";
    type Value = ListName;

    const DESCRIPTION: FieldDescription = FieldDescription {
        whole: "Required: 1 to 255 characters as sent, at least one of them not white space, no NUL;\n\
             stored with surrounding white space trimmed. Names need not be unique.",
        merge_patch: "1 to 255 characters as sent, at least one of them not white space, no NUL; stored with\n\
             surrounding white space trimmed; null is refused.",
    };

    fn schema(_merge_patch: bool) -> MetaSchema {
        MetaSchema {
            min_length: Some(1),
            max_length: Some(TITLE_MAX_CHARS),
            pattern: Some(TITLE_PATTERN.to_owned()),
            ..MetaSchema::new("string")
        }
    }

    fn example(merge_patch: bool) -> Value {
        if merge_patch { "Shopping" } else { "Groceries" }.into()
    }

    fn default() -> Option<ListName> {
        None
    }

    fn parse(value: &Value) -> Result<ListName, Vec<Invalid>> {
        let parsed = match value {
            Value::String(text) => ListName::parse(text),
            other => Err(format!("must be a string, got {}", json_kind(other))),
        };
        named(Self::NAME, parsed)
    }
}

impl MadeByClient for List {
    const ID_DESCRIPTION: &'static str =
        "The new list's id, made by the client (so that it can refer to the list before the\n\
         server has answered); absent: the server makes one. An id that a list has already\n\
         (whoever owns it) is 409 `LIST_ALREADY_EXISTS`, and nothing is created.";
}

impl JsonObjectBody for ListFields {
    const NAME: &'static str = "ListInput";
    const DESCRIPTION: &'static str = "A list as created: its name, and optionally the id the \
        client made for it.\nUnknown and read-only fields are refused.";
    type Fields = (Name, ClientMadeId<List>);
    type Presence = Whole;
    const READ_ONLY: &'static [&'static str] = &LIST_READ_ONLY_FIELDS;

    fn from_values((name, id): (ListName, Option<Uuid>)) -> Result<Self, Vec<Invalid>> {
        Ok(Self { id, name })
    }
}

impl JsonObjectBody for ListChanges {
    const NAME: &'static str = "ListPatch";
    const DESCRIPTION: &'static str = "A JSON merge patch (RFC 7396) of a list: `name` renames \
        it, `{}` changes\nnothing, `\"name\": null` is refused. Unknown and read-only fields are \
        refused.";
    type Fields = (Name,);
    type Presence = MergePatch;
    const READ_ONLY: &'static [&'static str] = &LIST_READ_ONLY_FIELDS;
    const MEDIA_TYPES: &'static [&'static str] =
        &["application/json", "application/merge-patch+json"];

    fn from_values((name,): (Option<ListName>,)) -> Result<Self, Vec<Invalid>> {
        Ok(Self { name })
    }
}

#[derive(ApiResponse)]
pub enum ListCreated {
    /// The list was created.
    #[oai(status = 201)]
    Created(
        JsonResponse<ListResource>,
        /// The new list's URL.
        #[oai(header = "Location")]
        String,
        /// The list's entity tag: its `version` in quotes.
        #[oai(header = "ETag")]
        String,
    ),
}

#[derive(ApiResponse)]
pub enum ListFound {
    /// The list as it is now.
    #[oai(status = 200)]
    Ok(
        JsonResponse<ListResource>,
        /// The list's entity tag: its `version` in quotes.
        #[oai(header = "ETag")]
        String,
    ),
}

impl From<List> for ListFound {
    fn from(list: List) -> Self {
        let tag = etag(list.version);
        Self::Ok(JsonResponse(list.into()), tag)
    }
}

#[derive(ApiResponse)]
pub enum ListRead {
    /// The list as it is now.
    #[oai(status = 200)]
    Ok(
        JsonResponse<ListResource>,
        /// The list's entity tag: its `version` in quotes.
        #[oai(header = "ETag")]
        String,
    ),
    /// `If-None-Match` names the list's current entity tag: the copy the client has is current.
    #[oai(status = 304)]
    NotModified(
        /// The list's entity tag: its `version` in quotes.
        #[oai(header = "ETag")]
        String,
    ),
}

#[derive(ApiResponse)]
pub enum ListPageFound {
    /// One page of lists, oldest first, and the cursor of the next one.
    #[oai(status = 200)]
    Ok(WrittenJson<ListPage>),
}

#[derive(ApiResponse)]
pub enum ListDeleted {
    /// The list and every task in it were deleted.
    #[oai(status = 204)]
    NoContent,
}

pub struct ListsApi {
    pub state: AppState,
}

#[OpenApi(tag = "ApiTags::Lists")]
impl ListsApi {
    /// Create a list
    ///
    /// Creates a list for the user; the answer's `Location` is the new list's URL and its `ETag`
    /// the list's version. The name is trimmed. With an `id` the client made, 409
    /// `LIST_ALREADY_EXISTS` when a list (of any user) has it already, and nothing is created.
    /// 409 `QUOTA_EXCEEDED` when the user holds 1,000 lists already (`USER_MAX_LISTS`). 404
    /// `USER_NOT_FOUND` when the user does not exist.
    #[oai(
        path = "/users/:user_id/lists",
        method = "post",
        operation_id = "createList"
    )]
    async fn create_list(
        &self,
        _caller: Caller,
        /// The owner's id.
        user_id: PathParam<Uuid>,
        body: JsonBody<ListFields>,
    ) -> Result<ListCreated, ErrorResponse<ListCreateErrors>> {
        let (user_id, fields) = (user_id.checked(), body.0).collect_fields()?;
        let state = &self.state;
        Ok(create(&state.db, &state.limits, user_id, fields).await?)
    }

    /// List a user's lists
    ///
    /// Oldest first (`created_at`, then `id`), one keyset page at a time: follow `next_cursor`
    /// until it is null to see every list exactly once, even while lists are added. A page
    /// holds at most `limit` lists, and ends early, with a `next_cursor`, before the list that
    /// would take its JSON past the server's page size (`PAGE_MAX_BYTES`, 1 MiB by default).
    #[oai(
        path = "/users/:user_id/lists",
        method = "get",
        operation_id = "listLists"
    )]
    async fn list_lists(
        &self,
        _caller: Caller,
        /// The owner's id.
        user_id: PathParam<Uuid>,
        /// How many lists a page holds: 1 to 100 (never clamped).
        limit: QueryParam<ListPageSize>,
        /// The previous page's `next_cursor`, unchanged; absent for the first page. It is sealed
        /// (encrypted and signed): a changed, truncated or made-up cursor, one of another user's
        /// lists or of a task list, or one sealed with a key the server no longer holds, is a
        /// 400 naming `cursor`.
        cursor: QueryParam<SignedToken>,
    ) -> Result<ListPageFound, ErrorResponse<ReadErrors>> {
        let cursor_name = cursor.name();
        let keys = self.state.token_keys.keys(&self.state.db).await?;
        let (user_id, limit, cursor) = (
            user_id.checked(),
            limit.checked(),
            cursor.checked_then(|token| ListCursor::decode(keys, &token.0)),
        )
            .collect_fields()?;
        let limit = limit.unwrap_or_default().0;
        let read = pagination::list_lists(&self.state.db, keys, user_id, cursor, limit)
            .await
            .map_err(|err| ApiError::of_page(err, cursor_name))?;
        let written =
            WrittenJson::page::<ListResource, _>(read, self.state.page_max_bytes, |cut| ListPage {
                items: cut.page.lists.into_iter().map(Into::into).collect(),
                next_cursor: Nullable(cut.next_cursor),
            });
        Ok(ListPageFound::Ok(written.await?))
    }

    /// Get a list
    ///
    /// A list of another user is 404 `LIST_NOT_FOUND`, exactly as if it did not exist. The
    /// answer's `ETag` is the list's version; with `If-None-Match` naming it, the answer is 304
    /// with no body; with an `If-Match` that names none of it, 412 `PRECONDITION_FAILED`.
    #[oai(
        path = "/users/:user_id/lists/:list_id",
        method = "get",
        operation_id = "getList"
    )]
    async fn get_list(
        &self,
        _caller: Caller,
        /// The owner's id.
        user_id: PathParam<Uuid>,
        /// The list's id.
        list_id: PathParam<Uuid>,
        conditions: ReadConditions<List>,
    ) -> Result<ListRead, ErrorResponse<TaskReadErrors>> {
        let (user_id, list_id, condition) =
            (user_id.checked(), list_id.checked(), conditions.checked()).collect_fields()?;
        let list = store::get_list(&self.state.db, user_id, list_id).await?;
        let tag = etag(list.version);
        match condition.outcome(list.version) {
            ReadOutcome::PreconditionFailed => {
                Err(ApiError::ListPreconditionFailed(list_id).into())
            }
            ReadOutcome::NotModified => Ok(ListRead::NotModified(tag)),
            ReadOutcome::Answer => Ok(ListRead::Ok(JsonResponse(list.into()), tag)),
        }
    }

    /// Rename a list
    ///
    /// A JSON merge patch (RFC 7396), sent as `application/merge-patch+json` or
    /// `application/json`: `name` renames the list, `{}` changes nothing, `"name": null` is a
    /// 400. `updated_at` and `version` move only when the name really changes. With
    /// `If-Match`, only when the list's current `ETag` is listed, and with `If-None-Match`,
    /// only when it is not: otherwise 412 `PRECONDITION_FAILED` and nothing is written. A list
    /// that does not exist (or is another user's) is 404 `LIST_NOT_FOUND` whatever the
    /// preconditions.
    #[oai(
        path = "/users/:user_id/lists/:list_id",
        method = "patch",
        operation_id = "updateList"
    )]
    async fn update_list(
        &self,
        _caller: Caller,
        /// The owner's id.
        user_id: PathParam<Uuid>,
        /// The list's id.
        list_id: PathParam<Uuid>,
        conditions: WriteConditions<List>,
        body: JsonBody<ListChanges>,
    ) -> Result<ListFound, ErrorResponse<TaskChangeErrors>> {
        let (user_id, list_id, condition, changes) = (
            user_id.checked(),
            list_id.checked(),
            conditions.checked(),
            body.0,
        )
            .collect_fields()?;
        Ok(update(&self.state.db, user_id, list_id, condition, changes).await?)
    }

    /// Delete a list and its tasks
    ///
    /// Deletes the list and every task in it for good, in one transaction: the change feed
    /// reports each task's deletion and the list's, each with a version of its own. A second
    /// delete is 404 `LIST_NOT_FOUND`. With `If-Match`, only when the list's current `ETag` is
    /// listed, and with `If-None-Match`, only when it is not: otherwise 412
    /// `PRECONDITION_FAILED` and nothing is deleted.
    #[oai(
        path = "/users/:user_id/lists/:list_id",
        method = "delete",
        operation_id = "deleteList"
    )]
    async fn delete_list(
        &self,
        _caller: Caller,
        /// The owner's id.
        user_id: PathParam<Uuid>,
        /// The list's id.
        list_id: PathParam<Uuid>,
        conditions: DeleteConditions<List>,
    ) -> Result<ListDeleted, ErrorResponse<TaskDeleteErrors>> {
        let (user_id, list_id, condition) =
            (user_id.checked(), list_id.checked(), conditions.checked()).collect_fields()?;
        let state = &self.state;
        Ok(delete(&state.db, &state.limits, user_id, list_id, condition).await?)
    }
}

/// `createList` once its request is read: what the endpoint and a batch's `create_list` run.
pub async fn create(
    db: &Database,
    limits: &UserLimits,
    user_id: Uuid,
    fields: ListFields,
) -> Result<ListCreated, ApiError> {
    let list = store::create_list(db, user_id, fields, limits.max_lists).await?;
    let location = format!("/users/{user_id}/lists/{}", list.id);
    let tag = etag(list.version);
    Ok(ListCreated::Created(
        JsonResponse(list.into()),
        location,
        tag,
    ))
}

/// `updateList` once its request is read: what the endpoint and a batch's `update_list` run.
pub async fn update(
    db: &Database,
    user_id: Uuid,
    list_id: Uuid,
    condition: WriteCondition,
    changes: ListChanges,
) -> Result<ListFound, ApiError> {
    Ok(store::rename_list(db, user_id, list_id, changes, condition)
        .await?
        .into())
}

/// `deleteList` once its request is read: what the endpoint and a batch's `delete_list` run.
pub async fn delete(
    db: &Database,
    limits: &UserLimits,
    user_id: Uuid,
    list_id: Uuid,
    condition: WriteCondition,
) -> Result<ListDeleted, ApiError> {
    store::delete_list(db, user_id, list_id, condition, limits.max_tombstones).await?;
    Ok(ListDeleted::NoContent)
}
