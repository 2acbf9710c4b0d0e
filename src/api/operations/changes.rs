//! The change feed under `/users/{user_id}/changes`: what changed since a client last synced.

use poem_openapi::{ApiResponse, OpenApi};
use uuid::Uuid;

use super::ApiTags;
use crate::api::error::{ApiError, ChangeFeedErrors, ErrorResponse};
use crate::api::request::caller::Caller;
use crate::api::request::input::{CollectFields, PageSize, PathParam, QueryParam, SignedToken};
use crate::api::response::resources::{Change, ChangePage, WrittenJson};
use crate::sync::{self, FeedError, SyncToken};
use crate::AppState;

/// How many changes a page holds: 1 to 1000, 100 by default.
type ChangePageSize = PageSize<100, 1000>;

#[derive(ApiResponse)]
pub enum ChangePageFound {
    /// One page of changes, and the token to continue from.
    #[oai(status = 200)]
    Ok(WrittenJson<ChangePage>),
}

pub struct ChangesApi {
    pub state: AppState,
}

#[OpenApi(tag = "ApiTags::Sync")]
impl ChangesApi {
    /// List a user's changes since a sync token
    ///
    /// For offline-first clients: every task created, replaced, updated or deleted after
    /// `since`, and every list created, renamed or deleted, in one `version` order, each once in
    /// its latest state. A change's `kind` says which: `task` (with `task_id` and `task`) or
    /// `list` (with `list_id` and `list`); a deletion has `deleted: true` and a null `task` /
    /// `list` (a list's delete deletes its tasks, each a change of its own). Without `since`,
    /// from the beginning (a full sync).
    /// Follow `next_since` while `has_more` is true; keep the last `next_since` to ask again
    /// later. Every change is seen exactly once, even while changes are being written. A page
    /// holds at most `limit` changes, and ends early, with `has_more` true, before the change
    /// that would take its JSON past the server's page size (`PAGE_MAX_BYTES`, 1 MiB by
    /// default); a single change larger than that is sent alone.
    /// Deletions are remembered 30 days (`SYNC_RETENTION_DAYS`): a token older than that, made
    /// before the user was deleted and registered again, or sealed with a key the server no
    /// longer holds, is 410 `SYNC_EXPIRED` (start a full sync).
    #[oai(
        path = "/users/:user_id/changes",
        method = "get",
        operation_id = "listChanges"
    )]
    async fn list_changes(
        &self,
        _caller: Caller,
        /// The owner's id.
        user_id: PathParam<Uuid>,
        /// The previous page's `next_since`, unchanged; absent for a full sync. Sealed
        /// (encrypted and signed): a changed, truncated or made-up token, or another user's, is
        /// a 400 naming `since`.
        since: QueryParam<SignedToken>,
        /// How many changes a page holds: 1 to 1000 (never clamped).
        limit: QueryParam<ChangePageSize>,
    ) -> Result<ChangePageFound, ErrorResponse<ChangeFeedErrors>> {
        let keys = self.state.token_keys.keys(&self.state.db).await?;
        let user_id = user_id.checked();
        let path_user = user_id.as_ref().ok().copied().unwrap_or_default();
        let (user_id, since, limit) = (
            user_id,
            since.checked_then(|token| SyncToken::decode(keys, &token.0, path_user)),
            limit.checked(),
        )
            .collect_fields()?;
        let limit = limit.unwrap_or_default().0;
        let history = self.state.retention.sync_history;
        let read = sync::list_changes(&self.state.db, keys, user_id, since, limit, history)
            .await
            .map_err(|err| match err {
                FeedError::Expired(reason) => ApiError::SyncExpired(reason),
                FeedError::Store(err) => err.into(),
            })?;
        let written =
            WrittenJson::page::<Change, _>(read, self.state.page_max_bytes, |cut| ChangePage {
                changes: cut.page.changes.into_iter().map(Into::into).collect(),
                next_since: cut.next_since,
                has_more: cut.page.has_more,
            });
        Ok(ChangePageFound::Ok(written.await?))
    }
}
