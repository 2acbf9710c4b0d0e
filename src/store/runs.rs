//! A batch's runs: consecutive creates, or consecutive updates, of one owner's tasks, written
//! together. A run is one transaction under the owner's lock; the tasks it names are read by one
//! statement, its rows written by one multi-row statement and the owner's counter moved once.
//! Each operation is answered as it would be alone, in order, and each that writes takes its own
//! version number, in order; one that fails writes nothing and leaves the others alone.

use std::collections::{HashMap, HashSet};

use sea_orm::{ConnectionTrait, DbErr, SqlErr};
use uuid::Uuid;

use super::statements::{
    InsertTasks, LastPosition, LockOwner, OwnedLists, RewriteTasks, TakeVersions, TasksWithIds,
};
use super::{
    changes_anything, new_task, not_a_users_list, task_row, written_task, StoreError, StoreResult,
};
use crate::db::Database;
use crate::domain::{self, NewTask, Task, TaskChanges, TaskPatch, WriteCondition};

/// One update of a run: a merge patch of one task, written when its version satisfies
/// `condition`.
#[derive(Debug)]
pub struct TaskUpdate {
    pub task_id: Uuid,
    pub patch: TaskPatch,
    pub condition: WriteCondition,
}

/// What each operation of a run answered, in order.
pub type RunAnswers = Vec<StoreResult<Task>>;

/// Creates the tasks in order, each as `create_task` (without an idempotency key) would alone: a
/// create that would take the owner past `max_tasks` gets `TaskQuotaExceeded`, then one whose
/// `list_id` is not the owner's a 400 naming it, then one whose client-made id a task has (or an
/// earlier create of the run took) `TaskAlreadyExists`; the others are inserted, each at the end
/// of its list after the ones before it, with the owner's next change numbers in order.
pub async fn create_tasks(
    db: &Database,
    user_id: Uuid,
    news: Vec<NewTask>,
    max_tasks: i64,
) -> StoreResult<RunAnswers> {
    db.in_transaction(user_id, async |db: &Database| {
        let Some(mut owner) = Owner::locked(db, user_id).await? else {
            return Ok(no_owner(user_id, news.len()));
        };
        let client_ids: Vec<Uuid> = news.iter().filter_map(|new| new.id).collect();
        let mut taken: HashSet<Uuid> = tasks_with_ids(db, None, &client_ids)
            .await?
            .into_iter()
            .map(|task| task.id)
            .collect();
        let lists = owned_lists(
            db,
            user_id,
            news.iter().filter_map(|new| new.fields.list_id),
        );
        let lists = lists.await?;
        let mut ends = ListEnds::default();
        let now = domain::now();
        let mut answers = Vec::with_capacity(news.len());
        let mut created = Vec::with_capacity(news.len());
        for new in news {
            let answer = if owner.task_count >= max_tasks {
                Err(StoreError::TaskQuotaExceeded(max_tasks))
            } else if let Some(list_id) = new.fields.list_id.filter(|id| !lists.contains(id)) {
                Err(not_a_users_list(list_id))
            } else if let Some(id) = new.id.filter(|id| !taken.insert(*id)) {
                Err(StoreError::TaskAlreadyExists(id))
            } else {
                let mut task = new_task(user_id, new, now);
                task.position = ends.after_the_last(db, user_id, task.list_id).await?;
                task.version = owner.next_version();
                owner.task_count += 1;
                created.push(task.clone());
                Ok(task)
            };
            answers.push(answer);
        }
        if !created.is_empty() {
            let insert = InsertTasks(&created).statement(db.get_database_backend());
            db.execute(insert).await.map_err(|err| {
                match err.sql_err() {
                    // A task of another user's took one of the ids after they were read.
                    Some(SqlErr::UniqueConstraintViolation(_)) => {
                        StoreError::Contended("a client-made id was taken during the batch")
                    }
                    _ => StoreError::of_write(err),
                }
            })?;
            owner.take_versions(db, created.len() as i64).await?;
        }
        Ok(answers)
    })
    .await
}

/// Applies the merge patches in order, each as `update_task` would alone: a task that is not the
/// owner's is 404, then one whose version `condition` refuses 412, then a patch whose result
/// breaks a rule 400; a patch that changes nothing answers the task as it is and takes no
/// version; one that puts the task in a list that is not the owner's is a 400 naming `list_id`.
/// Each patch sees the ones before it; the tasks changed are written together as they end (or,
/// before the end of a list is read for a task moved there, as they are then).
pub async fn update_tasks(
    db: &Database,
    user_id: Uuid,
    updates: Vec<TaskUpdate>,
) -> StoreResult<RunAnswers> {
    db.in_transaction(user_id, async |db: &Database| {
        let Some(mut owner) = Owner::locked(db, user_id).await? else {
            return Ok(no_owner(user_id, updates.len()));
        };
        let ids: Vec<Uuid> = updates.iter().map(|update| update.task_id).collect();
        let mut tasks: HashMap<Uuid, Task> = tasks_with_ids(db, Some(user_id), &ids)
            .await?
            .into_iter()
            .map(|task| (task.id, task))
            .collect();
        let destinations = updates
            .iter()
            .filter_map(|update| update.patch.list_id.flatten());
        let lists = owned_lists(db, user_id, destinations).await?;
        let mut ends = ListEnds::default();
        let now = domain::now();
        let mut answers = Vec::with_capacity(updates.len());
        // The tasks changed since the run last wrote.
        let mut unwritten = Vec::new();
        for update in updates {
            let TaskUpdate {
                task_id,
                patch,
                condition,
            } = update;
            let Some(stored) = tasks.get(&task_id) else {
                answers.push(Err(StoreError::TaskNotFound(task_id)));
                continue;
            };
            if !condition.allows(stored.version) {
                answers.push(Err(StoreError::PreconditionFailed(task_id)));
                continue;
            }
            let settled = match patch.merge(stored) {
                Ok(fields) => fields.settle(Some(stored)),
                Err(invalid) => {
                    answers.push(Err(StoreError::Invalid(invalid)));
                    continue;
                }
            };
            if !changes_anything(&TaskChanges::from(settled.clone()), stored) {
                answers.push(Ok(stored.clone()));
                continue;
            }
            // A task's own list is the owner's; one it moves to must be.
            let list_id = settled.fields.list_id;
            let moves = list_id != stored.list_id;
            if let Some(list_id) = list_id.filter(|id| moves && !lists.contains(id)) {
                answers.push(Err(not_a_users_list(list_id)));
                continue;
            }
            let mut task = written_task(task_id, user_id, settled, now, Some(stored));
            if moves {
                // The end of the list it leaves may move back; the end of the one it goes to is
                // read with the run's changes so far written.
                ends.forget(stored.list_id);
                if !ends.knows(list_id) {
                    write_tasks(db, user_id, &tasks, &mut unwritten).await?;
                }
                task.position = ends.after_the_last(db, user_id, list_id).await?;
            }
            task.version = owner.next_version();
            if !unwritten.contains(&task_id) {
                unwritten.push(task_id);
            }
            tasks.insert(task_id, task.clone());
            answers.push(Ok(task));
        }
        write_tasks(db, user_id, &tasks, &mut unwritten).await?;
        if owner.last_version > owner.change_seq {
            owner.take_versions(db, 0).await?;
        }
        Ok(answers)
    })
    .await
}

/// Writes the `unwritten` of `tasks` as they are now, in one statement; none are left unwritten.
async fn write_tasks(
    db: &Database,
    user_id: Uuid,
    tasks: &HashMap<Uuid, Task>,
    unwritten: &mut Vec<Uuid>,
) -> StoreResult<()> {
    if unwritten.is_empty() {
        return Ok(());
    }
    let rows: Vec<Task> = unwritten.drain(..).map(|id| tasks[&id].clone()).collect();
    let rewrite = RewriteTasks {
        user_id,
        tasks: &rows,
    };
    db.execute(rewrite.statement(db.get_database_backend()))
        .await
        .map_err(StoreError::of_write)?;
    Ok(())
}

/// A run's answers when its owner does not exist: 404 for each operation.
fn no_owner(user_id: Uuid, count: usize) -> RunAnswers {
    (0..count)
        .map(|_| Err(StoreError::UserNotFound(user_id)))
        .collect()
}

/// The owner's counts as a run holding its lock sees them, and the versions the run took.
struct Owner {
    user_id: Uuid,
    /// The counter before the run.
    change_seq: i64,
    /// The last version the run took.
    last_version: i64,
    task_count: i64,
}

impl Owner {
    /// Takes the owner's lock (to the end of the transaction) and reads its counts; `None`: no
    /// such owner.
    async fn locked(db: &Database, user_id: Uuid) -> StoreResult<Option<Self>> {
        let lock = LockOwner(user_id).statement(db.get_database_backend());
        let Some(row) = db.query_one(lock).await.map_err(StoreError::of_write)? else {
            return Ok(None);
        };
        let change_seq: i64 = row.try_get_by_index(0)?;
        Ok(Some(Self {
            user_id,
            change_seq,
            last_version: change_seq,
            task_count: row.try_get_by_index(1)?,
        }))
    }

    /// The next change number, taken.
    fn next_version(&mut self) -> i64 {
        self.last_version += 1;
        self.last_version
    }

    /// Moves the counter past the versions the run took, and the task count by `created`.
    async fn take_versions(&self, db: &Database, created: i64) -> StoreResult<()> {
        let take = TakeVersions {
            user_id: self.user_id,
            versions: self.last_version - self.change_seq,
            created,
        };
        db.execute(take.statement(db.get_database_backend()))
            .await
            .map_err(StoreError::of_write)?;
        Ok(())
    }
}

/// The tasks with these ids (of the owner's, or of any user's): none read when there are none.
async fn tasks_with_ids(
    db: &Database,
    owner: Option<Uuid>,
    ids: &[Uuid],
) -> StoreResult<Vec<Task>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let select = TasksWithIds { owner, ids }.statement(db.get_database_backend());
    db.query_all(select)
        .await?
        .iter()
        .map(|row| task_row(row).map(Task::from))
        .collect::<Result<_, DbErr>>()
        .map_err(StoreError::from)
}

/// Which of `list_ids` are the owner's lists.
async fn owned_lists(
    db: &Database,
    user_id: Uuid,
    list_ids: impl Iterator<Item = Uuid>,
) -> StoreResult<HashSet<Uuid>> {
    let ids: Vec<Uuid> = list_ids.collect::<HashSet<_>>().into_iter().collect();
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    let select = OwnedLists { user_id, ids: &ids }.statement(db.get_database_backend());
    db.query_all(select)
        .await?
        .iter()
        .map(|row| row.try_get_by_index::<Uuid>(0))
        .collect::<Result<_, DbErr>>()
        .map_err(StoreError::from)
}

/// The last key of each list a run puts tasks at the end of, read once per list and moved on by
/// each task put there.
#[derive(Default)]
struct ListEnds(HashMap<Option<Uuid>, Option<String>>);

impl ListEnds {
    /// Whether the list's last key is known.
    fn knows(&self, list_id: Option<Uuid>) -> bool {
        self.0.contains_key(&list_id)
    }

    /// Forgets the list's last key (a task left it: it may be another's now).
    fn forget(&mut self, list_id: Option<Uuid>) {
        self.0.remove(&list_id);
    }

    /// The key after the last of the list's (`None`: the inbox), taken.
    async fn after_the_last(
        &mut self,
        db: &Database,
        user_id: Uuid,
        list_id: Option<Uuid>,
    ) -> StoreResult<String> {
        let last = match self.0.get(&list_id) {
            Some(last) => last.clone(),
            None => {
                let select = LastPosition { user_id, list_id }.statement(db.get_database_backend());
                match db.query_one(select).await? {
                    Some(row) => row.try_get_by_index::<Option<String>>(0)?,
                    None => None,
                }
            }
        };
        let key = domain::key_between(last.as_deref(), None)
            .map_err(|err| StoreError::Database(DbErr::Custom(format!("{err:?}"))))?;
        self.0.insert(list_id, Some(key.clone()));
        Ok(key)
    }
}
