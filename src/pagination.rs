//! Keyset pagination of a user's tasks (sort orders, filters, the opaque cursor bound to them,
//! reading a page and minting the next page's cursor) and of a user's lists (oldest first), and
//! how a page is cut to its byte bound.

use chrono::{DateTime, NaiveDate, NaiveTime, Timelike, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::db::Database;
use crate::domain::{check_storable, List, Task};
use crate::store::{self, StoreError, TaskQuery};
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
    /// By `due.date`, then all-day before timed, then `due.time` as written; tasks without `due`
    /// last.
    DueAsc,
    /// The exact reverse of `DueAsc`, except that tasks without `due` are still last.
    DueDesc,
    /// None, low, medium, high.
    PriorityAsc,
    PriorityDesc,
    /// The manual order: `position` in byte order.
    PositionAsc,
}

/// The field a sort order compares first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortField {
    CreatedAt,
    UpdatedAt,
    Title,
    Due,
    Priority,
    Position,
}

impl TaskSort {
    /// Every sort order with the query value that selects it.
    pub const ALL: [(TaskSort, &'static str); 11] = [
        (TaskSort::CreatedAtDesc, "-created_at"),
        (TaskSort::CreatedAtAsc, "created_at"),
        (TaskSort::UpdatedAtDesc, "-updated_at"),
        (TaskSort::UpdatedAtAsc, "updated_at"),
        (TaskSort::TitleAsc, "title"),
        (TaskSort::TitleDesc, "-title"),
        (TaskSort::DueAsc, "due"),
        (TaskSort::DueDesc, "-due"),
        (TaskSort::PriorityAsc, "priority"),
        (TaskSort::PriorityDesc, "-priority"),
        (TaskSort::PositionAsc, "position"),
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
            Self::DueAsc | Self::DueDesc => SortField::Due,
            Self::PriorityAsc | Self::PriorityDesc => SortField::Priority,
            Self::PositionAsc => SortField::Position,
        }
    }

    pub fn is_descending(self) -> bool {
        matches!(
            self,
            Self::CreatedAtDesc
                | Self::UpdatedAtDesc
                | Self::TitleDesc
                | Self::DueDesc
                | Self::PriorityDesc
        )
    }

    fn key_of(self, task: &Task) -> SortKey {
        match self.field() {
            SortField::CreatedAt => SortKey::Time(task.created_at),
            SortField::UpdatedAt => SortKey::Time(task.updated_at),
            SortField::Title => SortKey::Title(task.title.clone()),
            SortField::Due => SortKey::Due(due_key(
                task.due.as_ref().map(|due| (due.date(), due.time())),
                self.is_descending(),
            )),
            SortField::Priority => SortKey::Priority(task.priority.level()),
            SortField::Position => SortKey::Position(task.position.clone()),
        }
    }
}

/// How many due keys a day spans: room for the seconds of a day plus one.
const DUE_KEYS_PER_DAY: i64 = 100_000;

/// The due key of a task without `due`: beyond every date's key, so that such tasks come last in
/// the sort's direction (the greatest key ascending, its negation descending).
const NO_DUE_KEY: i64 = 1_000_000_000_000_000;

/// The integer the due sorts compare (the store's and the migration's `due_key` expressions):
/// days since 1970-01-01 × 100000, plus 1 + the seconds since midnight when there is a time (so
/// that on one date all-day comes first ascending, last descending); `NO_DUE_KEY` (negated when
/// descending) without a due date.
pub fn due_key(due: Option<(NaiveDate, Option<NaiveTime>)>, descending: bool) -> i64 {
    match due {
        Some((date, time)) => {
            first_due_key(date)
                + time.map_or(0, |time| i64::from(time.num_seconds_from_midnight()) + 1)
        }
        None if descending => -NO_DUE_KEY,
        None => NO_DUE_KEY,
    }
}

/// The least due key of a date (its all-day tasks').
fn first_due_key(date: NaiveDate) -> i64 {
    i64::from(date.to_epoch_days()) * DUE_KEYS_PER_DAY
}

/// The greatest due key of a date (its tasks due at 23:59:59 and any key below the next date's).
fn last_due_key(date: NaiveDate) -> i64 {
    first_due_key(date) + DUE_KEYS_PER_DAY - 1
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
    /// Only tasks carrying this tag, by its key (Unicode lowercase).
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    pub tag_key: Option<String>,
    /// Only tasks of this priority (its stored level).
    #[serde(rename = "p", default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i16>,
    /// Only tasks with (`true`) or without (`false`) a due date.
    #[serde(rename = "h", default, skip_serializing_if = "Option::is_none")]
    pub has_due: Option<bool>,
    /// Only tasks due on this date or later.
    #[serde(rename = "df", default, skip_serializing_if = "Option::is_none")]
    pub due_from: Option<NaiveDate>,
    /// Only tasks due on this date or earlier.
    #[serde(rename = "dt", default, skip_serializing_if = "Option::is_none")]
    pub due_to: Option<NaiveDate>,
    /// Only tasks of this list, or of the inbox.
    #[serde(rename = "l", default, skip_serializing_if = "Option::is_none")]
    pub list: Option<ListFilter>,
}

impl TaskFilter {
    /// The due keys `due_from` and `due_to` allow, when either is given: a task without `due`
    /// (whose key is beyond every date's, either way) never matches, and `due_from` after
    /// `due_to` matches nothing.
    pub fn due_key_range(&self) -> Option<(i64, i64)> {
        if self.due_from.is_none() && self.due_to.is_none() {
            return None;
        }
        Some((
            self.due_from.map_or(1 - NO_DUE_KEY, first_due_key),
            self.due_to.map_or(NO_DUE_KEY - 1, last_due_key),
        ))
    }
}

/// The list a `list_id` filter names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ListFilter {
    /// The tasks in no list.
    Inbox,
    /// The tasks of one of the user's lists.
    List(Uuid),
}

/// The sort-key value of the last task of a page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SortKey {
    #[serde(with = "chrono::serde::ts_microseconds")]
    Time(DateTime<Utc>),
    Title(String),
    /// See [`due_key`].
    Due(i64),
    /// A priority's stored level.
    Priority(i16),
    /// A position, compared as bytes.
    Position(String),
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
        open_cursor(keys, token)
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
                | (SortKey::Due(_), SortField::Due)
                | (SortKey::Priority(_), SortField::Priority)
                | (SortKey::Position(_), SortField::Position)
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

/// Which page of which tasks a client asks for.
#[derive(Debug)]
pub struct TaskListRequest {
    pub sort: TaskSort,
    pub filter: TaskFilter,
    /// The previous page's cursor; none for the first page.
    pub cursor: Option<Cursor>,
    pub limit: u64,
}

/// Why a page of tasks cannot be listed.
#[derive(Debug)]
pub enum ListError {
    /// The cursor was made for another list (the message says how).
    Cursor(String),
    Store(StoreError),
}

impl From<StoreError> for ListError {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

/// The tasks read for one page, before the page is cut to its byte bound and given its cursor.
pub struct TasksRead {
    user_id: Uuid,
    sort: TaskSort,
    filter: TaskFilter,
    keys: TokenKeys,
    page: store::TaskPage,
}

/// One page of tasks, and the cursor of the page after it (`None` on the last page).
pub struct TaskPageCut {
    pub page: store::TaskPage,
    pub next_cursor: Option<String>,
}

/// Reads one page of `user_id`'s tasks; the cursor must have been made for this very list.
pub async fn list_tasks(
    db: &Database,
    keys: &TokenKeys,
    user_id: Uuid,
    request: TaskListRequest,
) -> Result<TasksRead, ListError> {
    let TaskListRequest {
        sort,
        filter,
        cursor,
        limit,
    } = request;
    let after = cursor
        .map(|cursor| cursor.position_for(user_id, sort, &filter))
        .transpose()
        .map_err(ListError::Cursor)?;
    let query = TaskQuery {
        sort,
        filter: filter.clone(),
        after,
        limit,
    };
    let page = store::list_tasks(db, user_id, query).await?;
    Ok(TasksRead {
        user_id,
        sort,
        filter,
        keys: keys.clone(),
        page,
    })
}

impl PageRead for TasksRead {
    type Row = Task;
    type Cut = TaskPageCut;

    fn json_bound<Item: JsonBound<Task>>(&self) -> usize {
        page_json_bound::<Item, _>(&self.page.tasks)
    }

    /// Also mints the cursor of the page after it.
    fn cut<Item: Serialize + From<Task> + JsonBound<Task>>(self, max_bytes: usize) -> TaskPageCut {
        let mut page = self.page;
        page.has_more |= cut_page::<Item, _>(&mut page.tasks, max_bytes);
        let next_cursor = page.tasks.last().filter(|_| page.has_more).map(|last| {
            Cursor::after(self.user_id, self.sort, &self.filter, last).encode(&self.keys)
        });
        TaskPageCut { page, next_cursor }
    }
}

/// Opens a cursor of kind `T`; a changed, truncated or forged token, one of another kind, or one
/// made with a key this server no longer holds, is refused.
fn open_cursor<T: serde::de::DeserializeOwned>(keys: &TokenKeys, token: &str) -> Result<T, String> {
    keys.open(token).map_err(|err| {
        match err {
            TokenError::UnknownKey => {
                "was made with a key this server no longer holds; start again from the first page"
            }
            TokenError::Invalid => {
                "is not a valid cursor; pass next_cursor from the previous page unchanged"
            }
        }
        .to_owned()
    })
}

/// What a cursor of a user's lists carries: whose lists, and the `created_at` and `id` of the
/// previous page's last list (short names: tokens travel in URLs). Unknown names are refused, so
/// that a task list's cursor is no list cursor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListCursor {
    #[serde(rename = "u")]
    user_id: Uuid,
    #[serde(rename = "c", with = "chrono::serde::ts_microseconds")]
    created_at: DateTime<Utc>,
    #[serde(rename = "i")]
    id: Uuid,
}

impl ListCursor {
    /// The opaque token, sealed with the current key.
    fn encode(&self, keys: &TokenKeys) -> String {
        keys.seal(self)
    }

    /// Reads a token (see `open_cursor`).
    pub fn decode(keys: &TokenKeys, token: &str) -> Result<Self, String> {
        open_cursor(keys, token)
    }

    /// The `created_at` and `id` to continue after, if this cursor was made for this user.
    fn position_for(self, user_id: Uuid) -> Result<(DateTime<Utc>, Uuid), String> {
        if self.user_id != user_id {
            return Err("was issued for another user's lists".to_owned());
        }
        Ok((self.created_at, self.id))
    }
}

/// The lists read for one page, before the page is cut to its byte bound and given its cursor.
pub struct ListsRead {
    user_id: Uuid,
    keys: TokenKeys,
    page: store::ListPage,
}

/// One page of lists, and the cursor of the page after it (`None` on the last page).
pub struct ListPageCut {
    pub page: store::ListPage,
    pub next_cursor: Option<String>,
}

/// Reads one page of `user_id`'s lists, oldest first; the cursor must have been made for this
/// user's lists.
pub async fn list_lists(
    db: &Database,
    keys: &TokenKeys,
    user_id: Uuid,
    cursor: Option<ListCursor>,
    limit: u64,
) -> Result<ListsRead, ListError> {
    let after = cursor
        .map(|cursor| cursor.position_for(user_id))
        .transpose()
        .map_err(ListError::Cursor)?;
    let page = store::list_lists(db, user_id, after, limit).await?;
    Ok(ListsRead {
        user_id,
        keys: keys.clone(),
        page,
    })
}

impl PageRead for ListsRead {
    type Row = List;
    type Cut = ListPageCut;

    fn json_bound<Item: JsonBound<List>>(&self) -> usize {
        page_json_bound::<Item, _>(&self.page.lists)
    }

    /// Also mints the cursor of the page after it.
    fn cut<Item: Serialize + From<List> + JsonBound<List>>(self, max_bytes: usize) -> ListPageCut {
        let mut page = self.page;
        page.has_more |= cut_page::<Item, _>(&mut page.lists, max_bytes);
        let next_cursor = page.lists.last().filter(|_| page.has_more).map(|last| {
            ListCursor {
                user_id: self.user_id,
                created_at: last.created_at,
                id: last.id,
            }
            .encode(&self.keys)
        });
        ListPageCut { page, next_cursor }
    }
}

/// Room kept within a page's byte bound for the page's own fields around its items (a cursor or
/// sync token, `has_more`).
const PAGE_FIELDS_BYTES: usize = 4 * 1024;

/// A page read from the store (tasks, lists, changes), before it is cut to its byte bound and
/// given the token of the page after it.
pub trait PageRead: Send + 'static {
    /// What the page holds, as read.
    type Row;
    /// The page as answered: cut, with its token.
    type Cut;

    /// At least the bytes of the page's JSON with `Item`s, read without writing it.
    fn json_bound<Item: JsonBound<Self::Row>>(&self) -> usize;

    /// Cuts the page so that its `Item`s' JSON stays within `max_bytes` (see `cut_page`).
    /// Milliseconds per MiB of a page near its bound: run such a page off the request threads.
    fn cut<Item: Serialize + From<Self::Row> + JsonBound<Self::Row>>(
        self,
        max_bytes: usize,
    ) -> Self::Cut;
}

/// An item of a page whose JSON size has an upper bound read from its row, without writing it.
pub trait JsonBound<Row> {
    /// At least the bytes of the JSON of the item made from `row`.
    fn json_bound(row: &Row) -> usize;
}

/// At least the bytes of a page of `rows`' items in JSON: the items, their commas and the page's
/// own fields.
pub fn page_json_bound<Item: JsonBound<Row>, Row>(rows: &[Row]) -> usize {
    PAGE_FIELDS_BYTES
        + rows
            .iter()
            .map(|row| Item::json_bound(row) + 1)
            .sum::<usize>()
}

/// Cuts `rows` so that a page of their `Item`s stays within `max_bytes` of JSON: it ends before
/// the first row whose item would pass the bound, and keeps at least one row however large.
/// Returns whether rows were left out: the page is then followed as any page with more after it,
/// from its last row. A page whose bound (`page_json_bound`) is within `max_bytes` is not counted.
pub fn cut_page<Item: Serialize + From<Row> + JsonBound<Row>, Row: Clone>(
    rows: &mut Vec<Row>,
    max_bytes: usize,
) -> bool {
    if page_json_bound::<Item, _>(rows) <= max_bytes {
        return false;
    }
    let budget = max_bytes.saturating_sub(PAGE_FIELDS_BYTES);
    let mut written = 0;
    let passing = rows.iter().position(|row| {
        // The item and the comma before it.
        written += json_len(&Item::from(row.clone())) + 1;
        written > budget
    });
    let Some(kept) = passing.map(|index| index.max(1)) else {
        return false;
    };
    let cut = kept < rows.len();
    rows.truncate(kept);
    cut
}

/// How many bytes `value`'s JSON takes, counted as it is written, never held.
fn json_len(value: &impl Serialize) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // A value that cannot be written fails when its page is written.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::TokenKey;

    /// A string's JSON: at most six bytes (`\u00XX`) for each of its bytes, and the quotes.
    impl JsonBound<String> for String {
        fn json_bound(row: &String) -> usize {
            6 * row.len() + 2
        }
    }

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
            completed_at: None,
            due: None,
            priority: Default::default(),
            tags: Default::default(),
            recurrence: None,
            recurrence_start: None,
            list_id: None,
            position: "a0".to_owned(),
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
            ..TaskFilter::default()
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
    fn a_page_is_cut_before_the_row_that_passes_its_bound_and_keeps_one() {
        // Each row's JSON is 1,002 bytes (quotes) plus a comma.
        let row = "x".repeat(1_000);
        let bound = PAGE_FIELDS_BYTES + 3 * 1_003;
        let mut rows = vec![row.clone(); 5];
        assert!(cut_page::<String, _>(&mut rows, bound));
        assert_eq!(rows.len(), 3);
        let mut fitting = vec![row.clone(); 3];
        assert!(!cut_page::<String, _>(&mut fitting, bound));
        assert_eq!(fitting.len(), 3);
        let mut huge = vec!["x".repeat(10 * bound); 2];
        assert!(cut_page::<String, _>(&mut huge, bound));
        assert_eq!(huge.len(), 1);
    }

    #[test]
    fn a_cursor_shows_no_title_or_search_text() {
        let mut task = sample_task();
        task.title = "Secret plans".to_owned();
        let filter = TaskFilter {
            title_contains: Some("plans".to_owned()),
            ..TaskFilter::default()
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
