//! The tags of a user's tasks under `/users/{user_id}/tags`, with how many tasks carry each.

use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde::Serialize;
use uuid::Uuid;

use super::ApiTags;
use crate::api::error::{ErrorResponse, ReadErrors};
use crate::api::request::caller::Caller;
use crate::api::request::input::PathParam;
use crate::api::response::resources::JsonResponse;
use crate::store::{self, TagCount};
use crate::AppState;

/// The most tags a list of tags holds.
pub const TAG_LIST_MAX_TAGS: usize = 1_000;

/// One tag of a user's tasks.
#[derive(Object, Serialize, Debug, Clone)]
#[oai(rename = "TagCount", example)]
pub struct TagCountResource {
    /// The tag, spelled as the smallest (in byte order) of the spellings it has on the user's
    /// tasks.
    pub name: String,
    /// How many of the user's tasks carry it (in any spelling).
    #[oai(validator(minimum(value = "1")))]
    pub count: i64,
}

impl From<TagCount> for TagCountResource {
    fn from(tag: TagCount) -> Self {
        Self {
            name: tag.name,
            count: tag.count,
        }
    }
}

/// Every tag on a user's tasks, once per lowercase form, sorted by it.
#[derive(Object, Serialize, Debug, Clone)]
#[oai(example)]
pub struct TagList {
    /// At most 1,000 tags, in byte order of their lowercase forms.
    #[oai(validator(max_items = 1000))]
    pub tags: Vec<TagCountResource>,
}

impl Example for TagCountResource {
    fn example() -> Self {
        Self {
            name: "errands".to_owned(),
            count: 2,
        }
    }
}

impl Example for TagList {
    fn example() -> Self {
        Self {
            tags: vec![
                TagCountResource::example(),
                TagCountResource {
                    name: "Work".to_owned(),
                    count: 5,
                },
            ],
        }
    }
}

#[derive(ApiResponse)]
pub enum TagListFound {
    /// The user's tags.
    #[oai(status = 200)]
    Ok(JsonResponse<TagList>),
}

pub struct TagsApi {
    pub state: AppState,
}

#[OpenApi(tag = "ApiTags::Tasks")]
impl TagsApi {
    /// List a user's tags
    ///
    /// Every tag on the user's tasks, once per lowercase form (Unicode lowercase: `Work` and
    /// `work` are one tag), named by the smallest of its spellings in byte order, with the number
    /// of the user's tasks carrying it, sorted by lowercase form (byte order). At most 1,000 tags;
    /// a user with none gets an empty list. Filter the tasks of one with `listTasks`' `tag`.
    #[oai(
        path = "/users/:user_id/tags",
        method = "get",
        operation_id = "listTags"
    )]
    async fn list_tags(
        &self,
        _caller: Caller,
        /// The owner's id.
        user_id: PathParam<Uuid>,
    ) -> Result<TagListFound, ErrorResponse<ReadErrors>> {
        let user_id = user_id.checked()?;
        let tags = store::list_tags(&self.state.db, user_id, TAG_LIST_MAX_TAGS as u64).await?;
        Ok(TagListFound::Ok(JsonResponse(TagList {
            tags: tags.into_iter().map(Into::into).collect(),
        })))
    }
}
