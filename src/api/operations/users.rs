//! The user operations under `/users`.

use poem_openapi::registry::MetaSchema;
use poem_openapi::{ApiResponse, OpenApi};
use serde_json::Value;
use uuid::Uuid;

use super::ApiTags;
use crate::api::error::{ApiError, CreateUserErrors, CurrentUserErrors, ErrorResponse, ReadErrors};
use crate::api::request::caller::Caller;
use crate::api::request::input::{
    json_kind, named, BodyField, CollectFields, FieldDescription, JsonBody, JsonObjectBody,
    ParamValue, PathParam, Whole,
};
use crate::api::response::resources::{JsonResponse, UserResource, EXAMPLE_USER_ID};
use crate::domain::Invalid;
use crate::store;
use crate::AppState;

/// A user's `id`, as an external identity provider issued it.
pub struct UserId;

impl BodyField for UserId {
    const NAME: &'static str = "id";
    type Value = Option<Uuid>;

    const DESCRIPTION: FieldDescription =
        FieldDescription::same("The user's id; the server makes one when it is absent.");

    fn schema(_merge_patch: bool) -> MetaSchema {
        MetaSchema::new_with_format("string", "uuid")
    }

    fn example(_merge_patch: bool) -> Value {
        EXAMPLE_USER_ID.to_string().into()
    }

    fn default() -> Option<Option<Uuid>> {
        Some(None)
    }

    fn parse(value: &Value) -> Result<Option<Uuid>, Vec<Invalid>> {
        let parsed = value
            .as_str()
            .ok_or_else(|| format!("must be a UUID string, got {}", json_kind(value)))
            .and_then(<Uuid as ParamValue>::parse);
        named(Self::NAME, parsed).map(Some)
    }
}

/// What `POST /users` asks for: a given id, or none.
pub struct UserRegistration {
    id: Option<Uuid>,
}

impl JsonObjectBody for UserRegistration {
    const NAME: &'static str = "UserInput";
    const DESCRIPTION: &'static str =
        "An optional registration body: the id an external identity provider issued.";
    type Fields = (UserId,);
    type Presence = Whole;
    const READ_ONLY: &'static [&'static str] = &["created_at"];
    const REQUIRED: bool = false;

    fn from_values((id,): (Option<Uuid>,)) -> Result<Self, Vec<Invalid>> {
        Ok(Self { id })
    }
}

#[derive(ApiResponse)]
pub enum UserCreated {
    /// The user was registered.
    #[oai(status = 201)]
    Created(
        JsonResponse<UserResource>,
        /// The new user's URL.
        #[oai(header = "Location")]
        String,
    ),
}

#[derive(ApiResponse)]
pub enum UserFound {
    /// The user.
    #[oai(status = 200)]
    Ok(JsonResponse<UserResource>),
}

#[derive(ApiResponse)]
pub enum UserDeleted {
    /// The user and all the user's tasks were deleted.
    #[oai(status = 204)]
    NoContent,
}

pub struct UsersApi {
    pub state: AppState,
}

#[OpenApi(tag = "ApiTags::Users")]
impl UsersApi {
    /// Register a user
    ///
    /// With a bearer token this registers the caller (a body `id` other than the caller's is
    /// 403 `FORBIDDEN`): a front end signs in, calls `GET /me`, and registers on its 404. With
    /// authentication off, no body (or `{}`) makes a new id and `{"id": …}` registers an id that
    /// an external identity provider issued. An id that exists already is 409
    /// `USER_ALREADY_EXISTS`. A user must exist before tasks can be made for it.
    #[oai(path = "/users", method = "post", operation_id = "createUser")]
    async fn create_user(
        &self,
        caller: Caller,
        body: JsonBody<UserRegistration>,
    ) -> Result<UserCreated, ErrorResponse<CreateUserErrors>> {
        let registration = body.0?;
        let id = match (caller.user_id(), registration.id) {
            (Some(caller), Some(id)) if id != caller => return Err(ApiError::Forbidden.into()),
            (Some(caller), _) => Some(caller),
            (None, id) => id,
        };
        let user = store::create_user(&self.state.db, id).await?;
        let location = format!("/users/{}", user.id);
        Ok(UserCreated::Created(JsonResponse(user.into()), location))
    }

    /// Get the caller's user
    ///
    /// The user the bearer token names; 404 `USER_NOT_FOUND` until the caller has registered
    /// with `POST /users`. 401 when authentication is off: there is no caller.
    #[oai(path = "/me", method = "get", operation_id = "getCurrentUser")]
    async fn get_current_user(
        &self,
        caller: Caller,
    ) -> Result<UserFound, ErrorResponse<CurrentUserErrors>> {
        let user_id = caller.user_id().ok_or(ApiError::NoCaller)?;
        let user = store::get_user(&self.state.db, user_id).await?;
        Ok(UserFound::Ok(JsonResponse(user.into())))
    }

    /// Get a user
    ///
    /// 404 `USER_NOT_FOUND` when there is no such user.
    #[oai(path = "/users/:user_id", method = "get", operation_id = "getUser")]
    async fn get_user(
        &self,
        _caller: Caller,
        /// The user's id.
        user_id: PathParam<Uuid>,
    ) -> Result<UserFound, ErrorResponse<ReadErrors>> {
        let (user_id,) = (user_id.checked(),).collect_fields()?;
        let user = store::get_user(&self.state.db, user_id).await?;
        Ok(UserFound::Ok(JsonResponse(user.into())))
    }

    /// Delete a user
    ///
    /// Deletes the user and every task of the user.
    #[oai(
        path = "/users/:user_id",
        method = "delete",
        operation_id = "deleteUser"
    )]
    async fn delete_user(
        &self,
        _caller: Caller,
        /// The user's id.
        user_id: PathParam<Uuid>,
    ) -> Result<UserDeleted, ErrorResponse<ReadErrors>> {
        let (user_id,) = (user_id.checked(),).collect_fields()?;
        store::delete_user(&self.state.db, user_id).await?;
        Ok(UserDeleted::NoContent)
    }
}
