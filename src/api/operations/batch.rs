//! `POST /users/{user_id}/batch`: a front end's queue of writes sent as one request, each
//! operation run by its own endpoint's code, one after another or all in one transaction;
//! consecutive creates and consecutive updates of tasks written together, each still answered
//! as its endpoint answers it.

use std::num::NonZeroU32;

use poem_openapi::payload::Json;
use poem_openapi::registry::{MetaDiscriminatorObject, MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::tasks::TaskResource;
use super::{lists, tasks, ApiTags};
use crate::api::error::{
    ApiError, BatchErrors, ErrorBody, ErrorResponse, FieldError, FieldLocation,
};
use crate::api::request::caller::Caller;
use crate::api::request::conditional::{preconditions, EntityTags};
use crate::api::request::input::{
    json_kind, named, BodyField, Checked, CollectFields, FieldDescription, JsonBody,
    JsonObjectBody, ParamValue, PathParam, Whole,
};
use crate::api::response::resources::{ListResource, Nullable};
use crate::db::Database;
use crate::domain::{
    IdempotencyKey, Invalid, ListChanges, ListFields, NewTask, TaskFields, TaskMove, TaskPatch,
    WriteCondition,
};
use crate::store::{self, TaskUpdate};
use crate::AppState;

/// The most operations one batch holds (Todoist's sync takes 100 commands too).
pub const BATCH_MAX_OPERATIONS: usize = 100;

/// The kinds of operation a batch runs: each its endpoint's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperationKind {
    CreateTask,
    ReplaceTask,
    UpdateTask,
    MoveTask,
    DeleteTask,
    CreateList,
    UpdateList,
    DeleteList,
}

/// What an operation of one kind holds besides `op`, as its endpoint takes it.
struct OperationShape {
    /// The `op` that names it.
    op: &'static str,
    /// The endpoint it runs.
    operation_id: &'static str,
    /// The path's id it takes (`task_id`, `list_id`), if any.
    target: Option<&'static str>,
    /// Whether it takes `if_match` (the endpoint's `If-Match`).
    if_match: bool,
    /// Whether it takes `idempotency_key` (the endpoint's `Idempotency-Key`).
    idempotency_key: bool,
    /// The schema of its `body` (the endpoint's), if it takes one.
    body: Option<fn() -> MetaSchema>,
}

impl OperationKind {
    pub const ALL: [Self; 8] = [
        Self::CreateTask,
        Self::ReplaceTask,
        Self::UpdateTask,
        Self::MoveTask,
        Self::DeleteTask,
        Self::CreateList,
        Self::UpdateList,
        Self::DeleteList,
    ];

    fn shape(self) -> OperationShape {
        let (op, operation_id, target, body) = match self {
            Self::CreateTask => (
                "create_task",
                "createTask",
                None,
                Some(NewTask::schema as _),
            ),
            Self::ReplaceTask => (
                "replace_task",
                "replaceTask",
                Some("task_id"),
                Some(TaskFields::schema as _),
            ),
            Self::UpdateTask => (
                "update_task",
                "updateTask",
                Some("task_id"),
                Some(TaskPatch::schema as _),
            ),
            Self::MoveTask => (
                "move_task",
                "moveTask",
                Some("task_id"),
                Some(TaskMove::schema as _),
            ),
            Self::DeleteTask => ("delete_task", "deleteTask", Some("task_id"), None),
            Self::CreateList => (
                "create_list",
                "createList",
                None,
                Some(ListFields::schema as _),
            ),
            Self::UpdateList => (
                "update_list",
                "updateList",
                Some("list_id"),
                Some(ListChanges::schema as _),
            ),
            Self::DeleteList => ("delete_list", "deleteList", Some("list_id"), None),
        };
        OperationShape {
            op,
            operation_id,
            target,
            if_match: target.is_some(),
            idempotency_key: self == Self::CreateTask,
            body,
        }
    }

    fn named(op: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.shape().op == op)
    }

    /// The operation's schema: `op`, the members it takes, and their rules.
    fn schema(self) -> MetaSchema {
        let shape = self.shape();
        let inline = |schema: MetaSchema| MetaSchemaRef::Inline(Box::new(schema));
        let mut example = Map::new();
        example.insert("op".to_owned(), shape.op.into());
        let mut schema = MetaSchema {
            title: Some(self.schema_name()),
            description: Some(self.description()),
            ..MetaSchema::new("object")
        };
        schema.properties.push((
            "op",
            inline(MetaSchema {
                description: Some("Which operation this is: its endpoint."),
                enum_items: vec![shape.op.into()],
                ..MetaSchema::new("string")
            }),
        ));
        schema.required.push("op");
        if let Some(target) = shape.target {
            schema.properties.push((
                target,
                inline(MetaSchema {
                    description: Some("The path's id: the task (or list) to write."),
                    ..MetaSchema::new_with_format("string", "uuid")
                }),
            ));
            schema.required.push(target);
            example.insert(target.to_owned(), EXAMPLE_TARGET.into());
        }
        if shape.if_match {
            schema.properties.push((
                IF_MATCH,
                inline(MetaSchema {
                    description: Some(
                        "The `If-Match` header's value: the write happens only if one of these \
                         entity tags is the current one (`*`: any).",
                    ),
                    ..EntityTags::schema()
                }),
            ));
        }
        if shape.idempotency_key {
            schema.properties.push((
                IDEMPOTENCY_KEY,
                inline(MetaSchema {
                    description: Some(
                        "The `Idempotency-Key` header's value: a retry of the batch gets this \
                         create's first answer again.",
                    ),
                    ..IdempotencyKey::schema()
                }),
            ));
        }
        if let Some(body) = shape.body.map(|body| body()) {
            let name = body.title.clone().unwrap_or_default();
            example.insert(BODY.to_owned(), body.example.unwrap_or_default());
            schema
                .properties
                .push((BODY, MetaSchemaRef::Reference(name)));
            schema.required.push(BODY);
        }
        schema.example = Some(Value::Object(example));
        schema
    }

    fn schema_name(self) -> String {
        let op = self.shape().op;
        let words: String = op
            .split('_')
            .map(|word| word[..1].to_uppercase() + &word[1..])
            .collect();
        format!("{words}Operation")
    }

    fn description(self) -> &'static str {
        match self {
            Self::CreateTask => "`createTask`: `body` its body, `idempotency_key` its header's.",
            Self::ReplaceTask => "`replaceTask`: `task_id` its path's, `body` its body.",
            Self::UpdateTask => "`updateTask`: `task_id` its path's, `body` its merge patch.",
            Self::MoveTask => "`moveTask`: `task_id` its path's, `body` its body.",
            Self::DeleteTask => "`deleteTask`: `task_id` its path's.",
            Self::CreateList => "`createList`: `body` its body.",
            Self::UpdateList => "`updateList`: `list_id` its path's, `body` its merge patch.",
            Self::DeleteList => "`deleteList`: `list_id` its path's.",
        }
    }
}

/// The task or list id of the operations' examples.
const EXAMPLE_TARGET: &str = "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a1c";
const IF_MATCH: &str = "if_match";
const IDEMPOTENCY_KEY: &str = "idempotency_key";
const BODY: &str = "body";

/// One operation of a batch as sent: its kind and members read; its headers' values and body
/// parsed (as its endpoint would) only when it runs, so that their errors are its own answer.
pub struct Operation {
    kind: OperationKind,
    /// The path's id (nil for a create).
    target: Uuid,
    if_match: Checked<Option<EntityTags>>,
    idempotency_key: Checked<Option<IdempotencyKey>>,
    body: Map<String, Value>,
}

impl Operation {
    /// Reads operation `index`: a member that is missing, of the wrong kind or not one its `op`
    /// takes refuses the whole batch (each named `operations[i].<member>`).
    fn read(index: usize, value: &Value) -> Result<Self, Vec<Invalid>> {
        let name = |member: &str| format!("operations[{index}].{member}");
        let Value::Object(members) = value else {
            return Err(vec![Invalid::new(
                format!("operations[{index}]"),
                format!("must be an object, got {}", json_kind(value)),
            )]);
        };
        let kind = match members.get("op") {
            Some(Value::String(op)) => OperationKind::named(op),
            _ => None,
        };
        let Some(kind) = kind else {
            let ops: Vec<&str> = OperationKind::ALL.iter().map(|k| k.shape().op).collect();
            return Err(vec![Invalid::new(
                name("op"),
                format!("must be one of {}", ops.join(", ")),
            )]);
        };
        let shape = kind.shape();
        let mut invalid = Vec::new();
        let takes = |member: &str| match member {
            "op" => true,
            IF_MATCH => shape.if_match,
            IDEMPOTENCY_KEY => shape.idempotency_key,
            BODY => shape.body.is_some(),
            other => shape.target == Some(other),
        };
        for member in members.keys().filter(|member| !takes(member)) {
            invalid.push(Invalid::new(
                name(member),
                format!("is not a member of a {} operation", shape.op),
            ));
        }
        let target = match shape.target.map(|target| (target, members.get(target))) {
            None => Uuid::nil(),
            Some((target, Some(Value::String(id)))) => Uuid::try_parse(id).unwrap_or_else(|_| {
                invalid.push(Invalid::new(name(target), "must be a UUID"));
                Uuid::nil()
            }),
            Some((target, _)) => {
                invalid.push(Invalid::new(name(target), "is required: a UUID string"));
                Uuid::nil()
            }
        };
        let mut header = |member: &str, header: &'static str| match members.get(member) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some((text.clone(), header))),
            Some(other) => {
                invalid.push(Invalid::new(
                    name(member),
                    format!("must be a string, got {}", json_kind(other)),
                ));
                Err(())
            }
        };
        let if_match = header(IF_MATCH, "If-Match").map(parsed_header);
        let idempotency_key = header(IDEMPOTENCY_KEY, "Idempotency-Key").map(parsed_header);
        let body = match (shape.body, members.get(BODY)) {
            (None, _) => Map::new(),
            (Some(_), Some(Value::Object(body))) => body.clone(),
            (Some(_), other) => {
                let got = other.map_or("nothing".to_owned(), |value| json_kind(value).to_owned());
                invalid.push(Invalid::new(
                    name(BODY),
                    format!(
                        "is required: the {} body, an object (got {got})",
                        shape.operation_id
                    ),
                ));
                Map::new()
            }
        };
        match (invalid.is_empty(), if_match, idempotency_key) {
            (true, Ok(if_match), Ok(idempotency_key)) => Ok(Self {
                kind,
                target,
                if_match,
                idempotency_key,
                body,
            }),
            _ => Err(invalid),
        }
    }
}

/// Which consecutive operations a batch runs together: each still answered as its endpoint
/// answers it alone, their writes made by one statement of each kind (`tasks::create_run`,
/// `tasks::update_run`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RunKind {
    /// `create_task`s without an `idempotency_key`.
    Creates,
    UpdateTasks,
}

impl Operation {
    /// The run the operation may be part of, if any.
    fn run_kind(&self) -> Option<RunKind> {
        match self.kind {
            OperationKind::CreateTask if matches!(self.idempotency_key, Ok(None)) => {
                Some(RunKind::Creates)
            }
            OperationKind::UpdateTask => Some(RunKind::UpdateTasks),
            _ => None,
        }
    }

    /// The `if_match` as the endpoint's write condition.
    fn condition(&self) -> Checked<WriteCondition> {
        match &self.if_match {
            Ok(tags) => Ok(preconditions(tags.as_ref(), None)),
            Err(errors) => Err(errors.clone()),
        }
    }

    /// A `create_task`'s request, read as its endpoint reads it.
    fn create(self) -> Result<(Option<IdempotencyKey>, NewTask), ApiError> {
        Ok((self.idempotency_key, NewTask::from_object(self.body)).collect_fields()?)
    }

    /// An `update_task`'s request, read as its endpoint reads it.
    fn update(self) -> Result<TaskUpdate, ApiError> {
        let (condition, patch) =
            (self.condition(), TaskPatch::from_object(self.body)).collect_fields()?;
        Ok(TaskUpdate {
            task_id: self.target,
            patch,
            condition,
        })
    }

    /// Runs the operation with its endpoint's code, on `db`.
    async fn run(
        self,
        state: &AppState,
        db: &Database,
        user_id: Uuid,
    ) -> Result<OperationResult, ApiError> {
        let limits = &state.limits;
        let target = self.target;
        Ok(match self.kind {
            OperationKind::CreateTask => {
                let (key, new) = self.create()?;
                tasks::create(state, db, user_id, key, new).await?.into()
            }
            OperationKind::ReplaceTask => {
                let (condition, fields) =
                    (self.condition(), TaskFields::from_object(self.body)).collect_fields()?;
                tasks::replace(db, user_id, target, condition, fields)
                    .await?
                    .into()
            }
            OperationKind::UpdateTask => {
                let TaskUpdate {
                    task_id,
                    patch,
                    condition,
                } = self.update()?;
                tasks::update(db, user_id, task_id, condition, patch)
                    .await?
                    .into()
            }
            OperationKind::MoveTask => {
                let (condition, destination) =
                    (self.condition(), TaskMove::from_object(self.body)).collect_fields()?;
                tasks::move_to(db, user_id, target, condition, destination)
                    .await?
                    .into()
            }
            OperationKind::DeleteTask => {
                let condition = self.condition()?;
                tasks::delete(db, limits, user_id, target, condition)
                    .await?
                    .into()
            }
            OperationKind::CreateList => {
                let fields = ListFields::from_object(self.body)?;
                lists::create(db, limits, user_id, fields).await?.into()
            }
            OperationKind::UpdateList => {
                let (condition, changes) =
                    (self.condition(), ListChanges::from_object(self.body)).collect_fields()?;
                lists::update(db, user_id, target, condition, changes)
                    .await?
                    .into()
            }
            OperationKind::DeleteList => {
                let condition = self.condition()?;
                lists::delete(db, limits, user_id, target, condition)
                    .await?
                    .into()
            }
        })
    }
}

/// Runs a batch's operations in order, consecutive ones of a run together (`run_together`), the
/// others one by one. Not atomic: each answers its own result. Atomic: the first that fails is
/// the batch's failure (`InOperation`), and the caller's transaction is rolled back.
async fn run_in_order(
    operations: Vec<Operation>,
    atomic: bool,
    state: &AppState,
    db: &Database,
    user_id: Uuid,
) -> Result<Vec<OperationResult>, ApiError> {
    let mut results = Vec::with_capacity(operations.len());
    let mut operations = operations.into_iter().peekable();
    while let Some(first) = operations.next() {
        let kind = first.run_kind();
        let mut run = vec![first];
        while let Some(next) = operations.next_if(|next| kind.is_some() && next.run_kind() == kind)
        {
            run.push(next);
        }
        // A run of one is cheaper run by its endpoint's own code: one statement.
        let answers = match (kind, run.len()) {
            (Some(kind), 2..) => run_together(kind, run, state, db, user_id).await,
            _ => {
                let operation = run.pop().expect("a run holds its first operation");
                vec![operation.run(state, db, user_id).await]
            }
        };
        for answer in answers {
            match answer {
                Ok(result) => results.push(result),
                Err(error) if atomic => {
                    let index = results.len();
                    return Err(ApiError::InOperation {
                        index,
                        error: Box::new(error),
                    });
                }
                Err(error) => results.push(OperationResult::failed(error)),
            }
        }
    }
    Ok(results)
}

/// Runs consecutive operations of one kind together: each one's request read as its endpoint
/// reads it (one that fails to read answers its own error), the others written as one run. Each
/// answered as its endpoint answers it alone, in order.
async fn run_together(
    kind: RunKind,
    operations: Vec<Operation>,
    state: &AppState,
    db: &Database,
    user_id: Uuid,
) -> Vec<Result<OperationResult, ApiError>> {
    let mut answers: Answers = Vec::with_capacity(operations.len());
    let written = match kind {
        RunKind::Creates => {
            let news: Vec<NewTask> = operations
                .into_iter()
                .filter_map(|operation| {
                    read_request(&mut answers, operation.create().map(|(_, new)| new))
                })
                .collect();
            let count = news.len();
            as_results(
                tasks::create_run(db, &state.limits, user_id, news).await,
                count,
            )
        }
        RunKind::UpdateTasks => {
            let updates: Vec<TaskUpdate> = operations
                .into_iter()
                .filter_map(|operation| read_request(&mut answers, operation.update()))
                .collect();
            let count = updates.len();
            as_results(tasks::update_run(db, user_id, updates).await, count)
        }
    };
    let mut written = written.into_iter();
    answers
        .into_iter()
        .map(|answer| {
            answer.unwrap_or_else(|| {
                written
                    .next()
                    .expect("one answer for each operation written")
            })
        })
        .collect()
}

/// Each operation's answer so far: its request's failure, or `None` until its run answers it.
type Answers = Vec<Option<Result<OperationResult, ApiError>>>;

/// An operation's request as read: kept for its run, or its failure kept as its answer.
fn read_request<T>(answers: &mut Answers, request: Result<T, ApiError>) -> Option<T> {
    let (request, answer) = match request {
        Ok(request) => (Some(request), None),
        Err(error) => (None, Some(Err(error))),
    };
    answers.push(answer);
    request
}

/// A run of `count` operations' answers as their results; when the run failed as a whole
/// (nothing of it written), its failure for each.
fn as_results<T: Into<OperationResult>>(
    run: tasks::RunAnswers<T>,
    count: usize,
) -> Vec<Result<OperationResult, ApiError>> {
    match run {
        Ok(answers) => answers
            .into_iter()
            .map(|answer| answer.map(Into::into))
            .collect(),
        Err(error) => vec![Err(error); count],
    }
}

/// A header's value as a batch operation gives it, parsed as its endpoint parses the header.
fn parsed_header<T: ParamValue>(raw: Option<(String, &'static str)>) -> Checked<Option<T>> {
    raw.map(|(text, header)| {
        T::parse(&text)
            .map_err(|message| vec![FieldError::new(FieldLocation::Header, header, message)])
    })
    .transpose()
}

/// A batch's `operations`.
pub struct Operations;

impl BodyField for Operations {
    const NAME: &'static str = "operations";
    type Value = Vec<Operation>;

    const DESCRIPTION: FieldDescription = FieldDescription::same(
        "1 to 100 operations, run in order, each as its own endpoint runs it (its `body` that\n\
         endpoint's body, `task_id`/`list_id` its path's, `if_match` and `idempotency_key` its\n\
         headers'). Later operations may name tasks and lists that earlier ones create with\n\
         client-made ids.",
    );

    fn schema(_merge_patch: bool) -> MetaSchema {
        MetaSchema {
            items: Some(Box::new(MetaSchemaRef::Reference(
                BATCH_OPERATION.to_owned(),
            ))),
            min_items: Some(1),
            max_items: Some(BATCH_MAX_OPERATIONS),
            ..MetaSchema::new("array")
        }
    }

    fn example(_merge_patch: bool) -> Value {
        serde_json::json!([
            { "op": "create_task", "body": { "id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a1c", "title": "Buy milk" } },
            { "op": "update_task", "task_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a1c", "body": { "is_completed": true } },
        ])
    }

    fn default() -> Option<Vec<Operation>> {
        None
    }

    fn parse(value: &Value) -> Result<Vec<Operation>, Vec<Invalid>> {
        let items = match value {
            Value::Array(items) if (1..=BATCH_MAX_OPERATIONS).contains(&items.len()) => items,
            Value::Array(items) => {
                return named(
                    Self::NAME,
                    Err(format!(
                        "must hold 1 to {BATCH_MAX_OPERATIONS} operations, got {}",
                        items.len()
                    )),
                )
            }
            other => {
                return named(
                    Self::NAME,
                    Err(format!("must be an array, got {}", json_kind(other))),
                )
            }
        };
        let mut operations = Vec::with_capacity(items.len());
        let mut invalid = Vec::new();
        for (index, item) in items.iter().enumerate() {
            match Operation::read(index, item) {
                Ok(operation) => operations.push(operation),
                Err(errors) => invalid.extend(errors),
            }
        }
        match invalid.is_empty() {
            true => Ok(operations),
            false => Err(invalid),
        }
    }
}

/// A batch's `atomic`.
pub struct Atomic;

impl BodyField for Atomic {
    const NAME: &'static str = "atomic";
    type Value = bool;

    const DESCRIPTION: FieldDescription = FieldDescription::same(
        "false (the default): each operation on its own, as if sent alone, a failure not stopping\n\
         the ones after it. true: all in one transaction; the first that fails rolls back every\n\
         one, and the batch is answered with its status and error (`details.operation` its\n\
         index).",
    );

    fn schema(_merge_patch: bool) -> MetaSchema {
        MetaSchema::new("boolean")
    }

    fn example(_merge_patch: bool) -> Value {
        false.into()
    }

    fn default() -> Option<bool> {
        Some(false)
    }

    fn parse(value: &Value) -> Result<bool, Vec<Invalid>> {
        named(
            Self::NAME,
            value
                .as_bool()
                .ok_or_else(|| format!("must be a boolean, got {}", json_kind(value))),
        )
    }
}

/// The name of the operations' union in the document.
const BATCH_OPERATION: &str = "BatchOperation";

/// A batch as sent.
pub struct Batch {
    operations: Vec<Operation>,
    atomic: bool,
}

impl JsonObjectBody for Batch {
    const NAME: &'static str = "Batch";
    const DESCRIPTION: &'static str = "Operations to run in order, as their own endpoints run \
        them. A malformed batch\n(not 1 to 100 operations, an unknown `op`, a missing or \
        non-UUID id, a missing or non-object\n`body`, a member its `op` does not take) is a 400 \
        naming `operations[i].<member>`, and nothing\nis done.";
    type Fields = (Operations, Atomic);
    type Presence = Whole;
    const READ_ONLY: &'static [&'static str] = &[];

    fn from_values((operations, atomic): (Vec<Operation>, bool)) -> Result<Self, Vec<Invalid>> {
        Ok(Self { operations, atomic })
    }

    fn register(registry: &mut Registry) {
        let kinds = OperationKind::ALL;
        let reference =
            |kind: OperationKind| format!("#/components/schemas/{}", kind.schema_name());
        registry.schemas.insert(
            BATCH_OPERATION.to_owned(),
            MetaSchema {
                description: Some("One operation of a batch, told apart by `op`."),
                one_of: kinds
                    .iter()
                    .map(|kind| MetaSchemaRef::Reference(kind.schema_name()))
                    .collect(),
                discriminator: Some(MetaDiscriminatorObject {
                    property_name: "op",
                    mapping: kinds
                        .iter()
                        .map(|kind| (kind.shape().op.to_owned(), reference(*kind)))
                        .collect(),
                }),
                ..MetaSchema::ANY
            },
        );
        for kind in kinds {
            registry.schemas.insert(kind.schema_name(), kind.schema());
        }
    }
}

/// What one operation of a batch answered: what its endpoint would have.
#[derive(Object, Debug, Clone)]
#[oai(example)]
pub struct OperationResult {
    /// The endpoint's status: 201, 200 or 204 when it succeeded, its error's otherwise.
    #[oai(validator(minimum(value = "200"), maximum(value = "599")))]
    pub status: u16,
    /// The endpoint's `ETag` header, quotes included (`"\"7\""`); null when it has none.
    pub etag: Nullable<String>,
    /// The task the endpoint answered with; null for other answers.
    pub task: Nullable<TaskResource>,
    /// The list the endpoint answered with; null for other answers.
    pub list: Nullable<ListResource>,
    /// The endpoint's error (the envelope's `error`, fields named as the endpoint names them);
    /// null when it succeeded.
    pub error: Nullable<ErrorBody>,
}

impl OperationResult {
    fn answered(status: u16) -> Self {
        Self {
            status,
            etag: Nullable(None),
            task: Nullable(None),
            list: Nullable(None),
            error: Nullable(None),
        }
    }

    fn failed(error: ApiError) -> Self {
        Self {
            error: Nullable(Some(error.envelope().error)),
            ..Self::answered(error.status().as_u16())
        }
    }

    fn with_task(status: u16, task: TaskResource, etag: String) -> Self {
        Self {
            etag: Nullable(Some(etag)),
            task: Nullable(Some(task)),
            ..Self::answered(status)
        }
    }

    fn with_list(status: u16, list: ListResource, etag: String) -> Self {
        Self {
            etag: Nullable(Some(etag)),
            list: Nullable(Some(list)),
            ..Self::answered(status)
        }
    }
}

impl Example for OperationResult {
    fn example() -> Self {
        Self::with_task(201, TaskResource::example(), "\"1\"".to_owned())
    }
}

impl From<tasks::TaskCreated> for OperationResult {
    fn from(answer: tasks::TaskCreated) -> Self {
        let tasks::TaskCreated::Created(task, _, etag, _) = answer;
        Self::with_task(201, task.0, etag)
    }
}

impl From<tasks::TaskFound> for OperationResult {
    fn from(answer: tasks::TaskFound) -> Self {
        let tasks::TaskFound::Ok(task, etag) = answer;
        Self::with_task(200, task.0, etag)
    }
}

impl From<tasks::TaskDeleted> for OperationResult {
    fn from(tasks::TaskDeleted::NoContent: tasks::TaskDeleted) -> Self {
        Self::answered(204)
    }
}

impl From<lists::ListCreated> for OperationResult {
    fn from(answer: lists::ListCreated) -> Self {
        let lists::ListCreated::Created(list, _, etag) = answer;
        Self::with_list(201, list.0, etag)
    }
}

impl From<lists::ListFound> for OperationResult {
    fn from(answer: lists::ListFound) -> Self {
        let lists::ListFound::Ok(list, etag) = answer;
        Self::with_list(200, list.0, etag)
    }
}

impl From<lists::ListDeleted> for OperationResult {
    fn from(lists::ListDeleted::NoContent: lists::ListDeleted) -> Self {
        Self::answered(204)
    }
}

/// What a batch answered.
#[derive(Object, Debug, Clone)]
#[oai(example)]
pub struct BatchResult {
    /// One result per operation, in order.
    pub results: Vec<OperationResult>,
    /// The user's change counter after the batch: the `since` to follow the change feed from.
    #[oai(validator(minimum(value = "0")))]
    pub version: i64,
}

impl Example for BatchResult {
    fn example() -> Self {
        Self {
            results: vec![OperationResult::example()],
            version: 1,
        }
    }
}

#[derive(ApiResponse)]
pub enum BatchApplied {
    /// Every operation ran (not atomic: each result says how it went; atomic: all succeeded).
    #[oai(status = 200)]
    Ok(Json<BatchResult>),
}

pub struct BatchApi {
    pub state: AppState,
}

#[OpenApi(tag = "ApiTags::Sync")]
impl BatchApi {
    /// Apply a batch of operations
    ///
    /// For a front end flushing a queue of edits made offline: 1 to 100 operations
    /// (`create_task`, `replace_task`, `update_task`, `move_task`, `delete_task`, `create_list`,
    /// `update_list`, `delete_list`), run in order, each with exactly the rules, answers and side
    /// effects of its own endpoint, each taking its own version numbers. Each operation counts
    /// as one write toward the user's rate (`USER_WRITES_PER_MINUTE`) and the quotas. Not
    /// atomic (the default): every operation runs on its own and has its result, whatever the
    /// others did. Atomic (`"atomic": true`): one transaction; the first operation that fails
    /// rolls every one back, and the batch answers with that operation's status and error, its
    /// index in `details.operation`. The answer's `version` is the user's change counter after
    /// the batch.
    #[oai(
        path = "/users/:user_id/batch",
        method = "post",
        operation_id = "applyBatch"
    )]
    async fn apply_batch(
        &self,
        _caller: Caller,
        /// The owner's id.
        user_id: PathParam<Uuid>,
        body: JsonBody<Batch>,
    ) -> Result<BatchApplied, ErrorResponse<BatchErrors>> {
        let (user_id, batch) = (user_id.checked(), body.0).collect_fields()?;
        let state = &self.state;
        // The request was counted as one write; its other operations count too.
        if let Some(more) = NonZeroU32::new(batch.operations.len() as u32 - 1) {
            state
                .write_rate
                .take(user_id, more)
                .map_err(ApiError::rate_limited)?;
        }
        let before = store::get_user(&state.db, user_id).await?.change_seq;
        let result = if batch.atomic {
            state
                .db
                .in_transaction(user_id, async |db: &Database| {
                    let results = run_in_order(batch.operations, true, state, db, user_id).await?;
                    let version = store::get_user(db, user_id).await?.change_seq;
                    Ok::<_, ApiError>(BatchResult { results, version })
                })
                .await?
        } else {
            let db = state.db.unannounced();
            let results = run_in_order(batch.operations, false, state, &db, user_id).await?;
            let version = store::get_user(&db, user_id).await?.change_seq;
            if version > before {
                state.db.announce(user_id);
            }
            BatchResult { results, version }
        };
        Ok(BatchApplied::Ok(Json(result)))
    }
}
