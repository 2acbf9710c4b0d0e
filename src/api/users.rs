//! The user operations under `/users`.

use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::error::{CreateUserErrors, ErrorResponse, ReadErrors};
use super::input::{
    BodyFields, Checked, CheckedParam, CollectFields, JsonBody, JsonObjectBody, Param,
};
use super::resources::UserResource;
use super::ApiTags;
use crate::store;
use crate::AppState;

/// An optional registration: the id an external identity provider issued.
#[derive(Object)]
#[oai(rename = "UserInput", deny_unknown_fields)]
pub struct UserInputSchema {
    /// The user's id; a new one is made when absent.
    pub id: Option<Uuid>,
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
        Json<UserResource>,
        /// The new user's URL.
        #[oai(header = "Location")]
        String,
    ),
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
    #[oai(path = "/users", method = "post", operation_id = "createUser")]
    async fn create_user(
        &self,
        body: JsonBody<UserRegistration>,
    ) -> Result<UserCreated, ErrorResponse<CreateUserErrors>> {
        let registration = body.0?;
        let user = store::create_user(&self.state.db, registration.id).await?;
        let location = format!("/users/{}", user.id);
        Ok(UserCreated::Created(Json(user.into()), location))
    }

    /// Get a user
    #[oai(path = "/users/:user_id", method = "get", operation_id = "getUser")]
    async fn get_user(
        &self,
        user_id: Path<Param<Uuid>>,
    ) -> Result<Json<UserResource>, ErrorResponse<ReadErrors>> {
        let (user_id,) = (user_id.checked("user_id"),).collect_fields()?;
        let user = store::get_user(&self.state.db, user_id).await?;
        Ok(Json(user.into()))
    }

    /// Delete a user and all the user's tasks
    #[oai(
        path = "/users/:user_id",
        method = "delete",
        operation_id = "deleteUser"
    )]
    async fn delete_user(
        &self,
        user_id: Path<Param<Uuid>>,
    ) -> Result<UserDeleted, ErrorResponse<ReadErrors>> {
        let (user_id,) = (user_id.checked("user_id"),).collect_fields()?;
        store::delete_user(&self.state.db, user_id).await?;
        Ok(UserDeleted::NoContent)
    }
}
