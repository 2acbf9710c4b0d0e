//! Event stream tickets: for browsers' `EventSource`, which cannot send an `Authorization` header,
//! a short-lived credential for one user's stream, passed as `?ticket=`. Sealed with the token
//! keys (encrypted and authenticated, naming its key) as cursors are; it holds the user and when
//! it expires, and opens nothing but that user's event stream.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::tokens::TokenKeys;

/// The query parameter that carries a ticket.
pub const TICKET: &str = "ticket";

/// What a ticket holds. Its field names are its own, so that no other sealed token (a cursor, a
/// sync token) opens as a ticket.
#[derive(Serialize, Deserialize)]
struct StreamTicket {
    events_of: Uuid,
    /// When it expires, in milliseconds since the epoch.
    expires_ms: i64,
}

/// A ticket for `user_id`'s stream, valid `lifetime` from `now`, and when it expires.
pub fn issue(
    keys: &TokenKeys,
    user_id: Uuid,
    lifetime: Duration,
    now: DateTime<Utc>,
) -> (String, DateTime<Utc>) {
    let expires = now + chrono::Duration::from_std(lifetime).unwrap_or_default();
    let ticket = keys.seal(&StreamTicket {
        events_of: user_id,
        expires_ms: expires.timestamp_millis(),
    });
    (ticket, expires)
}

/// The user whose stream `ticket` opens at `now`, or why it opens none (no leeway).
pub fn open(keys: &TokenKeys, ticket: &str, now: DateTime<Utc>) -> Result<Uuid, &'static str> {
    let opened: StreamTicket = keys.open(ticket).map_err(|_| "not one this server made")?;
    if now.timestamp_millis() >= opened.expires_ms {
        return Err("expired");
    }
    Ok(opened.events_of)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::TokenKey;

    #[test]
    fn a_ticket_opens_its_users_stream_until_it_expires() {
        let keys = TokenKeys::new(TokenKey::random(), Vec::new());
        let user = Uuid::new_v4();
        let now = Utc::now();
        let (ticket, expires) = issue(&keys, user, Duration::from_secs(60), now);
        assert_eq!(expires, now + chrono::Duration::seconds(60));
        assert_eq!(open(&keys, &ticket, now), Ok(user));
        assert_eq!(
            open(&keys, &ticket, now + chrono::Duration::milliseconds(59_999)),
            Ok(user)
        );
        assert_eq!(open(&keys, &ticket, expires), Err("expired"));
        let other_keys = TokenKeys::new(TokenKey::random(), Vec::new());
        assert_eq!(
            open(&other_keys, &ticket, now),
            Err("not one this server made")
        );
        assert_eq!(open(&keys, "made-up", now), Err("not one this server made"));
        let cursor_like = keys.seal(&("a cursor", 7));
        assert_eq!(
            open(&keys, &cursor_like, now),
            Err("not one this server made")
        );
    }
}
