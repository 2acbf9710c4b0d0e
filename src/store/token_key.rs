//! The keys that seal list cursors and sync tokens, settled once: `CURSOR_SECRET`'s, or the secret
//! the database keeps (made by the first server to start, and read by every later one).

use std::sync::Arc;

use sea_orm::sea_query::OnConflict;
use sea_orm::{DbErr, EntityTrait, Set};
use tokio::sync::OnceCell;

use super::{StoreError, StoreResult};
use crate::db::Database;
use crate::domain;
use crate::entity::token_key::{self, ROW_ID};
use crate::tokens::{TokenKey, TokenKeys};

/// Where the current key comes from, with the previous keys; the keys are settled the first time
/// they are asked for (at start, or, when the database did not answer then, at the first request
/// that needs them) and kept for the life of the process.
#[derive(Clone)]
pub struct TokenKeySource {
    /// `CURSOR_SECRET`'s key; `None`: the database's.
    configured: Option<TokenKey>,
    previous: Vec<TokenKey>,
    settled: Arc<OnceCell<TokenKeys>>,
}

impl TokenKeySource {
    pub fn new(configured: Option<TokenKey>, previous: Vec<TokenKey>) -> Self {
        Self {
            configured,
            previous,
            settled: Arc::new(OnceCell::new()),
        }
    }

    /// The keys, reading (or making) the database's secret when it is the current one and was not
    /// read yet.
    pub async fn keys(&self, db: &Database) -> StoreResult<&TokenKeys> {
        self.settled
            .get_or_try_init(|| async {
                let (current, source) = match &self.configured {
                    Some(key) => (key.clone(), "CURSOR_SECRET"),
                    None => {
                        let secret = kept_secret(db, TokenKey::new_secret()).await?;
                        let key = TokenKey::from_secret(&secret).map_err(|reason| {
                            StoreError::Database(DbErr::Custom(format!(
                                "the token key in the database {reason}"
                            )))
                        })?;
                        (key, "the database")
                    }
                };
                tracing::info!(
                    key = current.id(),
                    from = source,
                    previous = ?self.previous,
                    "tokens are sealed with this key"
                );
                Ok(TokenKeys::new(current, self.previous.clone()))
            })
            .await
    }
}

/// The secret the database keeps: `candidate` when none was kept yet, else the one kept. Servers
/// starting together all end with the same one: each inserts its candidate unless a row is there
/// (the first insert wins, the others wait for it and insert nothing), then reads the row.
async fn kept_secret(db: &Database, candidate: String) -> StoreResult<String> {
    token_key::Entity::insert(token_key::ActiveModel {
        id: Set(ROW_ID),
        secret: Set(candidate),
        created_at: Set(domain::now()),
    })
    .on_conflict(
        OnConflict::column(token_key::Column::Id)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await
    .map_err(StoreError::of_write)?;
    let kept = token_key::Entity::find_by_id(ROW_ID)
        .one(db)
        .await?
        .ok_or_else(|| {
            StoreError::Database(DbErr::RecordNotFound(
                "the token key row, just inserted".to_owned(),
            ))
        })?;
    Ok(kept.secret)
}
