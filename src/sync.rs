//! The change feed: the `since` token (how far a client's sync has come, sealed like list
//! cursors, and when it can no longer be followed), reading a page of changes and minting the
//! next token.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::db::Database;
use crate::pagination::{cut_page, page_json_bound, JsonBound, PageRead};
use crate::store::{self, StoreError};
use crate::tokens::{TokenError, TokenKeys};

/// What a `since` token carries: whose feed, which registration of that user, the last version
/// the client has seen, and when the token was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncToken {
    #[serde(rename = "u")]
    user_id: Uuid,
    /// The user's registration time: a user deleted and registered again starts a new feed.
    #[serde(rename = "r", with = "chrono::serde::ts_microseconds")]
    registered_at: DateTime<Utc>,
    #[serde(rename = "v")]
    version: i64,
    #[serde(rename = "t", with = "chrono::serde::ts_microseconds")]
    issued_at: DateTime<Utc>,
}

/// Why a genuine token cannot be followed: the client must start a full sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expired {
    /// Older than the deletions kept.
    History,
    /// Made for a former registration of the user.
    Reregistered,
    /// Sealed with a key this server no longer holds.
    UnknownKey,
}

impl Expired {
    pub fn reason(self) -> &'static str {
        match self {
            Self::History => "it is older than the history of deletions kept",
            Self::Reregistered => "the user was deleted and registered again since it was made",
            Self::UnknownKey => "it was made with a key this server no longer holds",
        }
    }
}

impl SyncToken {
    /// The token after `version`, of a page read at `read_at` that followed `previous` (none: the
    /// first page of a full sync). It is as old as the moment the client was last caught up:
    /// `read_at` when the page reached the end, else `previous`'s (or, for a full sync, the
    /// first page's) time, so that a client paging through a backlog slowly cannot outlive the
    /// deletions kept after that moment.
    pub fn after(
        user_id: Uuid,
        registered_at: DateTime<Utc>,
        version: i64,
        read_at: DateTime<Utc>,
        more_follow: bool,
        previous: Option<&SyncToken>,
    ) -> Self {
        let issued_at = match previous {
            Some(previous) if more_follow => previous.issued_at,
            _ => read_at,
        };
        Self {
            user_id,
            registered_at,
            version,
            issued_at,
        }
    }

    pub fn encode(&self, keys: &TokenKeys) -> String {
        keys.seal(self)
    }

    /// Reads a token of `user_id`'s feed: the token, or `Expired::UnknownKey` for one sealed with
    /// a key this server no longer holds (the client starts a full sync); a changed, truncated,
    /// forged or another user's token is refused.
    pub fn decode(
        keys: &TokenKeys,
        token: &str,
        user_id: Uuid,
    ) -> Result<Result<Self, Expired>, String> {
        let token: Self =
            match keys.open(token) {
                Ok(token) => token,
                Err(TokenError::UnknownKey) => return Ok(Err(Expired::UnknownKey)),
                Err(TokenError::Invalid) => return Err(
                    "is not a valid sync token; pass next_since from the previous page unchanged"
                        .to_owned(),
                ),
            };
        if token.user_id != user_id {
            return Err("was issued for another user's changes".to_owned());
        }
        Ok(Ok(token))
    }

    /// The last version the client has seen, when the token can still be followed: the user is
    /// the registration it was made for, and it is younger than `history` (the time deletions
    /// are kept).
    pub fn version_for(
        &self,
        registered_at: DateTime<Utc>,
        history: Duration,
    ) -> Result<i64, Expired> {
        if self.registered_at != registered_at {
            return Err(Expired::Reregistered);
        }
        if Utc::now() - self.issued_at > history {
            return Err(Expired::History);
        }
        Ok(self.version)
    }
}

/// Why a page of a user's changes cannot be read.
#[derive(Debug)]
pub enum FeedError {
    /// The token can no longer be followed (the reason says why): the client starts a full sync.
    Expired(&'static str),
    Store(StoreError),
}

impl From<StoreError> for FeedError {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

impl From<Expired> for FeedError {
    fn from(expired: Expired) -> Self {
        Self::Expired(expired.reason())
    }
}

/// The changes read for one page of the feed, before the page is cut to its byte bound and given
/// its next token.
pub struct ChangesRead {
    user_id: Uuid,
    registered_at: DateTime<Utc>,
    since: Option<SyncToken>,
    since_version: i64,
    read_at: DateTime<Utc>,
    keys: TokenKeys,
    page: store::ChangePage,
}

/// One page of changes, and the token to continue from.
pub struct ChangePageCut {
    pub page: store::ChangePage,
    pub next_since: String,
}

/// Reads the page of `user_id`'s changes after `since` (none: a full sync), at most `limit`;
/// `history` is how long deletions are kept.
pub async fn list_changes(
    db: &Database,
    keys: &TokenKeys,
    user_id: Uuid,
    since: Option<Result<SyncToken, Expired>>,
    limit: u64,
    history: std::time::Duration,
) -> Result<ChangesRead, FeedError> {
    let user = store::get_user(db, user_id).await?;
    let history = Duration::from_std(history).unwrap_or(Duration::MAX);
    let since = since.transpose()?;
    let since_version = since
        .as_ref()
        .map(|token| token.version_for(user.created_at, history))
        .transpose()?
        .unwrap_or(0);
    // A deletion after the token was dropped to keep the user's deletions bounded.
    if since.is_some() && since_version < user.tombstones_dropped_through {
        return Err(FeedError::Expired(
            "deletions made after it were dropped to keep this user's history within \
             USER_MAX_TOMBSTONES",
        ));
    }
    // Taken before the page's snapshot: every deletion after it is on this page or a later one.
    let read_at = Utc::now();
    let page = store::list_changes(db, user_id, since_version, limit).await?;
    Ok(ChangesRead {
        user_id,
        registered_at: user.created_at,
        since,
        since_version,
        read_at,
        keys: keys.clone(),
        page,
    })
}

impl PageRead for ChangesRead {
    type Row = store::Change;
    type Cut = ChangePageCut;

    fn json_bound<Item: JsonBound<store::Change>>(&self) -> usize {
        page_json_bound::<Item, _>(&self.page.changes)
    }

    /// With the `since` token of its last change, or of the token followed when it is empty.
    fn cut<Item: Serialize + From<store::Change> + JsonBound<store::Change>>(
        self,
        max_bytes: usize,
    ) -> ChangePageCut {
        let mut page = self.page;
        page.has_more |= cut_page::<Item, _>(&mut page.changes, max_bytes);
        let last = page
            .changes
            .last()
            .map_or(self.since_version, store::Change::version);
        let next_since = SyncToken::after(
            self.user_id,
            self.registered_at,
            last,
            self.read_at,
            page.has_more,
            self.since.as_ref(),
        )
        .encode(&self.keys);
        ChangePageCut { page, next_since }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::TokenKey;
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};

    #[test]
    fn tokens_round_trip_and_refuse_tampering_and_other_users() {
        let keys = TokenKeys::new(TokenKey::random(), Vec::new());
        let user = Uuid::new_v4();
        let registered = crate::domain::now();
        let token = SyncToken::after(user, registered, 42, Utc::now(), false, None).encode(&keys);
        let read = SyncToken::decode(&keys, &token, user).unwrap().unwrap();
        assert_eq!(read.version_for(registered, Duration::days(30)), Ok(42));
        assert!(SyncToken::decode(&keys, &token, Uuid::new_v4()).is_err());
        let mut tampered = token.clone().into_bytes();
        tampered[20] = if tampered[20] == b'A' { b'B' } else { b'A' };
        assert!(SyncToken::decode(&keys, &String::from_utf8(tampered).unwrap(), user).is_err());
        assert!(SyncToken::decode(&keys, &token[..token.len() - 2], user).is_err());
    }

    #[test]
    fn a_token_of_a_key_no_longer_held_expires_and_a_previous_key_still_opens_it() {
        let (old, new) = (TokenKey::random(), TokenKey::random());
        let user = Uuid::new_v4();
        let token = SyncToken::after(user, Utc::now(), 1, Utc::now(), false, None)
            .encode(&TokenKeys::new(old.clone(), Vec::new()));
        let rotated = TokenKeys::new(new.clone(), vec![old]);
        assert!(SyncToken::decode(&rotated, &token, user).unwrap().is_ok());
        let retired = TokenKeys::new(new, Vec::new());
        assert_eq!(
            SyncToken::decode(&retired, &token, user),
            Ok(Err(Expired::UnknownKey))
        );
        // The previous release's tokens (JSON and an HMAC, in the clear) name no key it holds:
        // their clients start a full sync once.
        let json = format!(r#"{{"u":"{user}","r":0,"v":1,"t":0}}"#);
        let unsealed = URL_SAFE_NO_PAD.encode([json.as_bytes(), &[0; 16]].concat());
        assert_eq!(
            SyncToken::decode(&retired, &unsealed, user),
            Ok(Err(Expired::UnknownKey))
        );
    }

    #[test]
    fn old_tokens_and_former_registrations_expire() {
        let registered = Utc::now();
        let token = SyncToken::after(Uuid::new_v4(), registered, 1, Utc::now(), false, None);
        assert_eq!(
            token.version_for(registered + Duration::microseconds(1), Duration::days(1)),
            Err(Expired::Reregistered)
        );
        let old = SyncToken {
            issued_at: Utc::now() - Duration::days(2),
            ..token
        };
        assert_eq!(
            old.version_for(registered, Duration::days(1)),
            Err(Expired::History)
        );
        // A page with more to follow keeps the age of the token it followed; the last page is
        // as new as its reading.
        let next = SyncToken::after(old.user_id, registered, 9, Utc::now(), true, Some(&old));
        assert_eq!(
            next.version_for(registered, Duration::days(1)),
            Err(Expired::History)
        );
        let caught_up = SyncToken::after(old.user_id, registered, 9, Utc::now(), false, Some(&old));
        assert_eq!(caught_up.version_for(registered, Duration::days(1)), Ok(9));
    }
}
