//! A user's lists: created (with a client-made id or a new one), read, paged, renamed and
//! deleted with their tasks, each write one statement on PostgreSQL as a task's is.

use sea_orm::{ConnectionTrait, FromQueryResult, SqlErr};
use uuid::Uuid;

use super::statements::{CreateList, DeleteList, GetList, ListLists, OwnedList, RenameList};
use super::{
    get_user, is_foreign_key_violation, versions_to_expect, StoreError, StoreResult, WRITE_ATTEMPTS,
};
use crate::db::Database;
use crate::domain::{self, List, ListChanges, ListFields, WriteCondition};
use crate::entity::list;

impl From<list::Model> for List {
    fn from(row: list::Model) -> Self {
        Self {
            id: row.id,
            user_id: row.user_id,
            name: row.name,
            created_at: row.created_at,
            updated_at: row.updated_at,
            version: row.version,
        }
    }
}

/// One page of a user's lists, oldest first.
#[derive(Debug)]
pub struct ListPage {
    pub lists: Vec<List>,
    /// Whether more lists follow the last one of this page.
    pub has_more: bool,
}

/// Creates a list with the owner's next change number as its version: one statement on
/// PostgreSQL, one transaction on SQLite. A user holding `max_lists` lists gets
/// `ListQuotaExceeded`, checked under the owner's lock in the same write; an id that any user's
/// list has already gets `ListAlreadyExists`, and nothing is written either way.
pub async fn create_list(
    db: &Database,
    user_id: Uuid,
    fields: ListFields,
    max_lists: i64,
) -> StoreResult<List> {
    let _turn = db.write_permit(user_id).await?;
    let now = domain::now();
    let mut list = List {
        id: fields.id.unwrap_or_else(Uuid::now_v7),
        user_id,
        name: fields.name.into_inner(),
        created_at: now,
        updated_at: now,
        version: 0,
    };
    for _ in 0..WRITE_ATTEMPTS {
        let create = CreateList {
            list: &list,
            max_lists,
        };
        let created = match db.write(&create).await {
            Ok(row) => row.map(|row| row.try_get_by_index::<i64>(0)).transpose()?,
            Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                return Err(StoreError::ListAlreadyExists(list.id))
            }
            Err(err) => return Err(StoreError::of_write(err)),
        };
        if let Some(version) = created {
            list.version = version;
            return Ok(list);
        }
        // No owner or no room; or a list was deleted just now (then again).
        if get_user(db, user_id).await?.list_count >= max_lists {
            return Err(StoreError::ListQuotaExceeded(max_lists));
        }
    }
    Err(StoreError::Contended(
        "the owner's lists kept changing under the create",
    ))
}

pub async fn get_list(db: &Database, user_id: Uuid, list_id: Uuid) -> StoreResult<List> {
    let select = GetList(OwnedList { user_id, list_id }).statement(db.get_database_backend());
    match list::Model::find_by_statement(select).one(db).await? {
        Some(list) => Ok(list.into()),
        None => Err(list_miss(db, user_id, list_id).await),
    }
}

/// One keyset page of the user's lists after `after` (the previous page's last `created_at` and
/// `id`), in one SELECT; the owner is looked up only when the page is empty.
pub async fn list_lists(
    db: &Database,
    user_id: Uuid,
    after: Option<(chrono::DateTime<chrono::Utc>, Uuid)>,
    limit: u64,
) -> StoreResult<ListPage> {
    let select = ListLists {
        user_id,
        after,
        limit,
    }
    .statement(db.get_database_backend());
    let mut rows = list::Model::find_by_statement(select).all(db).await?;
    if rows.is_empty() {
        get_user(db, user_id).await?;
    }
    let has_more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    Ok(ListPage {
        lists: rows.into_iter().map(List::from).collect(),
        has_more,
    })
}

/// Why a conditional write of an existing list wrote nothing: its list, when the condition holds.
async fn unwritten(
    db: &Database,
    user_id: Uuid,
    list_id: Uuid,
    condition: &WriteCondition,
) -> StoreResult<List> {
    let current = get_list(db, user_id, list_id).await?;
    if condition.allows(current.version) {
        Ok(current)
    } else {
        Err(StoreError::ListPreconditionFailed(list_id))
    }
}

/// The versions a conditional write of a list checks (see `versions_to_expect`).
async fn expected_versions(
    db: &Database,
    user_id: Uuid,
    list_id: Uuid,
    condition: &WriteCondition,
) -> StoreResult<Option<Option<Vec<i64>>>> {
    versions_to_expect(condition, async || {
        Ok(unwritten(db, user_id, list_id, condition).await?.version)
    })
    .await
}

/// Renames a list when the name really changes (and its version satisfies `condition`), in one
/// statement on PostgreSQL: `updated_at` moves and the list takes the owner's next change number.
/// A rename to the name it has, or no name at all, leaves the list and its version as they are.
pub async fn rename_list(
    db: &Database,
    user_id: Uuid,
    list_id: Uuid,
    changes: ListChanges,
    condition: WriteCondition,
) -> StoreResult<List> {
    let _turn = db.write_permit(user_id).await?;
    let Some(name) = changes.name else {
        return unwritten(db, user_id, list_id, &condition).await;
    };
    for _ in 0..WRITE_ATTEMPTS {
        let Some(expected) = expected_versions(db, user_id, list_id, &condition).await? else {
            return unwritten(db, user_id, list_id, &condition).await;
        };
        let rename = RenameList {
            list: OwnedList { user_id, list_id },
            name: name.as_str(),
            expected: expected.as_deref(),
            now: domain::now(),
        };
        let renamed = db
            .write(&rename)
            .await
            .map_err(StoreError::of_write)?
            .map(|row| list::Model::from_query_result(&row, ""))
            .transpose()?;
        if let Some(list) = renamed {
            return Ok(list.into());
        }
        let current = unwritten(db, user_id, list_id, &condition).await?;
        if current.name == name.as_str() {
            return Ok(current);
        }
    }
    Err(StoreError::Contended(
        "the list kept changing under the rename",
    ))
}

/// How many times a list's delete runs again because a task was put in the list after its
/// statement's snapshot was taken (PostgreSQL): each time, another write of the owner's, admitted
/// with it (`USER_MAX_CONCURRENT_WRITES` at a time, 4 by default), committed a task in the list
/// first; the next run sees that task and deletes it too.
const LIST_DELETE_LOSSES_TO_TASKS: usize = 16;

/// Deletes a list and its tasks (when the list's version satisfies `condition`), each remembered
/// as deleted with one of the owner's next change numbers: one statement on PostgreSQL, one
/// transaction on SQLite. The owner's task deletions kept stay within `max_tombstones`.
pub async fn delete_list(
    db: &Database,
    user_id: Uuid,
    list_id: Uuid,
    condition: WriteCondition,
    max_tombstones: i64,
) -> StoreResult<()> {
    let _turn = db.write_permit(user_id).await?;
    let mut attempts = 0;
    let mut lost_to_tasks = 0;
    while attempts < WRITE_ATTEMPTS && lost_to_tasks < LIST_DELETE_LOSSES_TO_TASKS {
        let Some(expected) = expected_versions(db, user_id, list_id, &condition).await? else {
            unwritten(db, user_id, list_id, &condition).await?;
            return Err(StoreError::ListPreconditionFailed(list_id));
        };
        let delete = DeleteList {
            list: OwnedList { user_id, list_id },
            expected: expected.as_deref(),
            now: domain::now(),
            max_tombstones,
        };
        match db.write(&delete).await {
            Ok(Some(_)) => return Ok(()),
            Ok(None) => attempts += 1,
            // A task was put in the list after the statement's snapshot: again, with it.
            Err(err) if is_foreign_key_violation(&err) => lost_to_tasks += 1,
            Err(err) => return Err(StoreError::of_write(err)),
        }
        unwritten(db, user_id, list_id, &condition).await?;
    }
    Err(StoreError::Contended(
        "the list kept changing under the delete",
    ))
}

/// Tells a missing user from a missing (or someone else's) list: runs only when a lookup missed.
async fn list_miss(db: &Database, user_id: Uuid, list_id: Uuid) -> StoreError {
    match get_user(db, user_id).await {
        Ok(_) => StoreError::ListNotFound(list_id),
        Err(err) => err,
    }
}
