//! Keyset pagination of a user's tasks: sort orders, filters and the opaque cursor bound to them.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

use crate::domain::check_storable;

use crate::entity::task;

/// How a list of tasks is ordered; ties are always broken by `id` in the same direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TaskSort {
    CreatedAtDesc,
    CreatedAtAsc,
    UpdatedAtDesc,
    UpdatedAtAsc,
    TitleAsc,
    TitleDesc,
}

/// The field a sort order compares first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortField {
    CreatedAt,
    UpdatedAt,
    Title,
}

impl TaskSort {
    /// Every sort order with the query value that selects it.
    pub const ALL: [(TaskSort, &'static str); 6] = [
        (TaskSort::CreatedAtDesc, "-created_at"),
        (TaskSort::CreatedAtAsc, "created_at"),
        (TaskSort::UpdatedAtDesc, "-updated_at"),
        (TaskSort::UpdatedAtAsc, "updated_at"),
        (TaskSort::TitleAsc, "title"),
        (TaskSort::TitleDesc, "-title"),
    ];

    pub fn parse(raw: &str) -> Result<Self, String> {
        Self::ALL
            .iter()
            .find(|(_, name)| *name == raw)
            .map(|(sort, _)| *sort)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|(_, name)| *name).collect();
                format!("must be one of {}", names.join(", "))
            })
    }

    pub fn field(self) -> SortField {
        match self {
            Self::CreatedAtDesc | Self::CreatedAtAsc => SortField::CreatedAt,
            Self::UpdatedAtDesc | Self::UpdatedAtAsc => SortField::UpdatedAt,
            Self::TitleAsc | Self::TitleDesc => SortField::Title,
        }
    }

    pub fn is_descending(self) -> bool {
        matches!(
            self,
            Self::CreatedAtDesc | Self::UpdatedAtDesc | Self::TitleDesc
        )
    }

    fn key_of(self, task: &task::Model) -> SortKey {
        match self.field() {
            SortField::CreatedAt => SortKey::Time(task.created_at),
            SortField::UpdatedAt => SortKey::Time(task.updated_at),
            SortField::Title => SortKey::Title(task.title.clone()),
        }
    }
}

/// Which of a user's tasks a list shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskFilter {
    /// Only tasks with this completion state.
    pub completed: Option<bool>,
    /// Only tasks whose title contains this text, case-insensitively.
    pub title_contains: Option<String>,
}

/// The sort-key value of the last task of a page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SortKey {
    #[serde(with = "chrono::serde::ts_microseconds")]
    Time(DateTime<Utc>),
    Title(String),
}

/// Where the next page starts: strictly after this key and id in the sort order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskPosition {
    pub key: SortKey,
    pub id: Uuid,
}

/// What a cursor carries: the position and everything it is valid for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    user_id: Uuid,
    sort: TaskSort,
    filter: TaskFilter,
    key: SortKey,
    id: Uuid,
}

/// The key that signs cursors, so that only this API can make one.
#[derive(Clone)]
pub struct CursorKey(Vec<u8>);

impl CursorKey {
    /// The shortest secret accepted, in bytes.
    pub const MIN_SECRET_LEN: usize = 32;

    /// A key from a configured secret: the same on every instance, and across restarts.
    pub fn from_secret(secret: &str) -> Result<Self, String> {
        if secret.len() < Self::MIN_SECRET_LEN {
            return Err(format!(
                "must be at least {} bytes long (got {})",
                Self::MIN_SECRET_LEN,
                secret.len()
            ));
        }
        Ok(Self(secret.as_bytes().to_vec()))
    }

    /// A key of this process only: its cursors stop working when the process ends.
    pub fn random() -> Self {
        Self([*Uuid::new_v4().as_bytes(), *Uuid::new_v4().as_bytes()].concat())
    }

    fn mac(&self, payload: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(payload);
        mac
    }

    /// An opaque token of `value`: base64url of its JSON followed by its truncated HMAC-SHA256.
    pub fn seal<T: Serialize>(&self, value: &T) -> String {
        let mut bytes = serde_json::to_vec(value).expect("a token's value always serialises");
        let tag = self.mac(&bytes).finalize().into_bytes();
        bytes.extend_from_slice(&tag[..TAG_LEN]);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The value of a token this key sealed; `None` for a changed, truncated or forged one.
    pub fn open<T: DeserializeOwned>(&self, token: &str) -> Option<T> {
        let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
        if bytes.len() <= TAG_LEN {
            return None;
        }
        let (payload, tag) = bytes.split_at(bytes.len() - TAG_LEN);
        self.mac(payload).verify_truncated_left(tag).ok()?;
        serde_json::from_slice(payload).ok()
    }
}

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey(<redacted>)")
    }
}

const TAG_LEN: usize = 16;

impl Cursor {
    /// The cursor of the page that follows `last`.
    pub fn after(user_id: Uuid, sort: TaskSort, filter: &TaskFilter, last: &task::Model) -> Self {
        Self {
            user_id,
            sort,
            filter: filter.clone(),
            key: sort.key_of(last),
            id: last.id,
        }
    }

    /// The opaque, signed token.
    pub fn encode(&self, key: &CursorKey) -> String {
        key.seal(self)
    }

    /// Reads a token; a changed, truncated or forged token is refused.
    pub fn decode(key: &CursorKey, token: &str) -> Result<Self, String> {
        key.open(token).ok_or_else(|| {
            "is not a valid cursor; pass next_cursor from the previous page unchanged".to_owned()
        })
    }

    /// The position to continue from, if this cursor was made for this very list.
    pub fn position_for(
        self,
        user_id: Uuid,
        sort: TaskSort,
        filter: &TaskFilter,
    ) -> Result<TaskPosition, String> {
        if self.user_id != user_id || self.sort != sort || &self.filter != filter {
            return Err(
                "was issued for another user, sort or filter; repeat the same query parameters"
                    .to_owned(),
            );
        }
        let key_matches_sort = matches!(
            (&self.key, sort.field()),
            (SortKey::Title(_), SortField::Title)
                | (
                    SortKey::Time(_),
                    SortField::CreatedAt | SortField::UpdatedAt
                )
        );
        if !key_matches_sort {
            return Err("is not a valid cursor for this sort".to_owned());
        }
        if let SortKey::Title(title) = &self.key {
            check_storable(title)?;
        }
        Ok(TaskPosition {
            key: self.key,
            id: self.id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_task() -> task::Model {
        let now = crate::domain::now();
        task::Model {
            id: Uuid::new_v4(),
            user_id: Uuid::new_v4(),
            title: "Buy milk".to_owned(),
            description: None,
            is_completed: false,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    #[test]
    fn cursor_round_trips_and_is_bound_to_its_list() {
        let task = sample_task();
        let filter = TaskFilter::default();
        let key = CursorKey::random();
        let token = Cursor::after(task.user_id, TaskSort::TitleAsc, &filter, &task).encode(&key);
        let cursor = Cursor::decode(&key, &token).unwrap();
        let position = cursor
            .clone()
            .position_for(task.user_id, TaskSort::TitleAsc, &filter)
            .unwrap();
        assert_eq!(position.key, SortKey::Title("Buy milk".to_owned()));
        assert_eq!(position.id, task.id);
        assert!(cursor
            .clone()
            .position_for(task.user_id, TaskSort::TitleDesc, &filter)
            .is_err());
        let other_filter = TaskFilter {
            completed: Some(true),
            title_contains: None,
        };
        assert!(cursor
            .position_for(task.user_id, TaskSort::TitleAsc, &other_filter)
            .is_err());
    }

    #[test]
    fn tampered_or_foreign_key_cursor_is_refused() {
        let task = sample_task();
        let key = CursorKey::random();
        let filter = TaskFilter::default();
        let token =
            Cursor::after(task.user_id, TaskSort::CreatedAtDesc, &filter, &task).encode(&key);
        let mut bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        bytes[5] ^= 1;
        assert!(Cursor::decode(&key, &URL_SAFE_NO_PAD.encode(bytes)).is_err());
        assert!(Cursor::decode(&key, &token[..token.len() - 2]).is_err());
        assert!(Cursor::decode(&key, "not a cursor").is_err());
        assert!(Cursor::decode(&CursorKey::random(), &token).is_err());
    }

    #[test]
    fn a_configured_secret_signs_alike_in_every_process() {
        let task = sample_task();
        let secret = "x".repeat(CursorKey::MIN_SECRET_LEN);
        let one = CursorKey::from_secret(&secret).unwrap();
        let other = CursorKey::from_secret(&secret).unwrap();
        let token = Cursor::after(
            task.user_id,
            TaskSort::TitleAsc,
            &TaskFilter::default(),
            &task,
        )
        .encode(&one);
        assert!(Cursor::decode(&other, &token).is_ok());
        assert!(CursorKey::from_secret("short").is_err());
    }
}
