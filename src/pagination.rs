//! Keyset pagination of a user's tasks: sort orders, filters and the opaque cursor bound to them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{check_storable, Task};
use crate::tokens::{TokenError, TokenKeys};

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

    fn key_of(self, task: &Task) -> SortKey {
        match self.field() {
            SortField::CreatedAt => SortKey::Time(task.created_at),
            SortField::UpdatedAt => SortKey::Time(task.updated_at),
            SortField::Title => SortKey::Title(task.title.clone()),
        }
    }
}

/// Which of a user's tasks a list shows (short names, none when unset: cursors carry it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskFilter {
    /// Only tasks with this completion state.
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub completed: Option<bool>,
    /// Only tasks whose title contains this text, case-insensitively.
    #[serde(rename = "q", default, skip_serializing_if = "Option::is_none")]
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

/// What a cursor carries: the position and everything it is valid for (short names: tokens
/// travel in URLs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    #[serde(rename = "u")]
    user_id: Uuid,
    #[serde(rename = "s")]
    sort: TaskSort,
    #[serde(rename = "f")]
    filter: TaskFilter,
    #[serde(rename = "k")]
    key: SortKey,
    #[serde(rename = "i")]
    id: Uuid,
}

impl Cursor {
    /// The cursor of the page that follows `last`.
    pub fn after(user_id: Uuid, sort: TaskSort, filter: &TaskFilter, last: &Task) -> Self {
        Self {
            user_id,
            sort,
            filter: filter.clone(),
            key: sort.key_of(last),
            id: last.id,
        }
    }

    /// The opaque token, sealed with the current key.
    pub fn encode(&self, keys: &TokenKeys) -> String {
        keys.seal(self)
    }

    /// Reads a token; a changed, truncated or forged token, or one made with a key this server no
    /// longer holds, is refused.
    pub fn decode(keys: &TokenKeys, token: &str) -> Result<Self, String> {
        keys.open(token).map_err(|err| {
            match err {
                TokenError::UnknownKey => {
                    "was made with a key this server no longer holds; start again from the first \
                     page"
                }
                TokenError::Invalid => {
                    "is not a valid cursor; pass next_cursor from the previous page unchanged"
                }
            }
            .to_owned()
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
    use crate::tokens::TokenKey;

    fn single_key() -> TokenKeys {
        TokenKeys::new(TokenKey::random(), Vec::new())
    }

    fn sample_task() -> Task {
        let now = crate::domain::now();
        Task {
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
        let keys = single_key();
        let token = Cursor::after(task.user_id, TaskSort::TitleAsc, &filter, &task).encode(&keys);
        let cursor = Cursor::decode(&keys, &token).unwrap();
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
        let keys = single_key();
        let filter = TaskFilter::default();
        let token =
            Cursor::after(task.user_id, TaskSort::CreatedAtDesc, &filter, &task).encode(&keys);
        let mut tampered = token.clone().into_bytes();
        tampered[20] = if tampered[20] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        let invalid = Cursor::decode(&keys, &tampered).unwrap_err();
        assert!(invalid.contains("not a valid cursor"), "{invalid}");
        assert!(Cursor::decode(&keys, &token[..token.len() - 2]).is_err());
        assert!(Cursor::decode(&keys, "not a cursor").is_err());
        let unknown = Cursor::decode(&single_key(), &token).unwrap_err();
        assert!(unknown.contains("no longer holds"), "{unknown}");
    }

    #[test]
    fn a_cursor_shows_no_title_or_search_text() {
        let mut task = sample_task();
        task.title = "Secret plans".to_owned();
        let filter = TaskFilter {
            completed: None,
            title_contains: Some("plans".to_owned()),
        };
        let token =
            Cursor::after(task.user_id, TaskSort::TitleAsc, &filter, &task).encode(&single_key());
        let bytes =
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &token)
                .unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains("plans"));
        assert!(token.len() < 256, "{} characters", token.len());
    }
}
