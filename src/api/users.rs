//! The user operations under `/users`.

use poem_openapi::param::Path;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::error::{CreateUserErrors, ErrorResponse, ReadErrors};
use super::input::{
    BodyFields, Checked, CheckedParam, CollectFields, JsonBody, JsonObjectBody, Param,
};
use super::resources::{JsonResponse, UserResource, EXAMPLE_USER_ID};
use super::ApiTags;
use crate::store;
use crate::AppState;

/// An optional registration body: the id an external identity provider issued.
#[derive(Object)]
#[oai(rename = "UserInput", deny_unknown_fields, example)]
pub struct UserInputSchema {
    /// The user's id; the server makes one when it is absent.
    pub id: Option<Uuid>,
}

impl Example for UserInputSchema {
    fn example() -> Self {
        Self {
            id: Some(EXAMPLE_USER_ID),
        }
    }
}

/// What `POST /users` asks for: a given id, or none.
pub struct UserRegistration {
    id: Option<Uuid>,
}

impl JsonObjectBody for UserRegistration {
    type Schema = UserInputSchema;
    const REQUIRED: bool = false;

    fn from_fields(fields: &BodyFields) -> Checked<Self> {
        let (id, ()) = (
            fields.optional::<Uuid>("id"),
            fields.only(&["id"], &["created_at"]),
        )
            .collect_fields()?;
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
    /// With no body (or `{}`) the server makes the id; with `{"id": …}` it registers an id that
    /// an external identity provider issued, and an id that exists already is 409
    /// `USER_ALREADY_EXISTS`. A user must exist before tasks can be made for it.
    #[oai(path = "/users", method = "post", operation_id = "createUser")]
    async fn create_user(
        &self,
        body: JsonBody<UserRegistration>,
    ) -> Result<UserCreated, ErrorResponse<CreateUserErrors>> {
        let registration = body.0?;
        let user = store::create_user(&self.state.db, registration.id).await?;
        let location = format!("/users/{}", user.id);
        Ok(UserCreated::Created(JsonResponse(user.into()), location))
    }

    /// Get a user
    ///
    /// 404 `USER_NOT_FOUND` when there is no such user.
    #[oai(path = "/users/:user_id", method = "get", operation_id = "getUser")]
    async fn get_user(
        &self,
        /// The user's id.
        user_id: Path<Param<Uuid>>,
    ) -> Result<UserFound, ErrorResponse<ReadErrors>> {
        let (user_id,) = (user_id.checked("user_id"),).collect_fields()?;
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
        /// The user's id.
        user_id: Path<Param<Uuid>>,
    ) -> Result<UserDeleted, ErrorResponse<ReadErrors>> {
        let (user_id,) = (user_id.checked("user_id"),).collect_fields()?;
        store::delete_user(&self.state.db, user_id).await?;
        Ok(UserDeleted::NoContent)
    }
}
