//! Live change events under `/users/{user_id}/events`: the user's stream of `changed` pokes
//! (Server-Sent Events), and the tickets that let a browser's `EventSource` open it.

use std::time::Duration;

use bytes::Bytes;
use futures_util::{stream, Stream, StreamExt};
use poem::http::header;
use poem::{Body, IntoResponse, Response};
use poem_openapi::payload::Payload;
use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{Example, ToJSON, Type};
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde::Serialize;
use uuid::Uuid;

use super::ApiTags;
use crate::api::error::{ApiError, ErrorResponse, EventErrors};
use crate::api::request::caller::Caller;
use crate::api::request::input::{
    CollectFields, HeaderParam, HeaderValue, ParamValue, PathParam, QueryParam, SignedToken,
};
use crate::api::request::ticket;
use crate::api::response::resources::{JsonResponse, Timestamp};
use crate::events::{StreamRefusal, Subscription};
use crate::store;
use crate::AppState;

/// What a `changed` event carries: the user's change counter.
#[derive(Object, Debug, Clone, Copy)]
#[oai(rename = "ChangeEvent", example)]
pub struct ChangeEvent {
    /// The user's change counter now (also the event's `id`): pull `GET /changes` with your
    /// `since` to see what changed.
    pub version: i64,
}

impl Example for ChangeEvent {
    fn example() -> Self {
        Self { version: 42 }
    }
}

/// A ticket that opens one user's event stream for a short while.
#[derive(Object, Serialize, Debug, Clone)]
#[oai(rename = "EventTicket", example)]
pub struct EventTicket {
    /// Pass it as `GET /users/{user_id}/events?ticket=…` (opaque; it opens only this user's
    /// stream).
    pub ticket: String,
    /// When it stops opening the stream (60 s after it was made, no leeway; UTC).
    pub expires_at: Timestamp,
}

impl Example for EventTicket {
    fn example() -> Self {
        Self {
            ticket: "VGhpcyBpcyBub3QgYSByZWFsIHRpY2tldA".to_owned(),
            expires_at: Timestamp(
                chrono::DateTime::from_timestamp(1_765_000_060, 0).expect("a valid time"),
            ),
        }
    }
}

/// An event stream's `Last-Event-ID`: the version of the last event the client received.
pub struct LastEventId(i64);

impl ParamValue for LastEventId {
    fn schema() -> MetaSchema {
        MetaSchema {
            minimum: Some(0.0),
            example: Some(42.into()),
            ..MetaSchema::new_with_format("integer", "int64")
        }
    }

    fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim().parse::<i64>() {
            Ok(version) if version >= 0 => Ok(Self(version)),
            _ => Err("must be the id of an event this stream sent (a version)".to_owned()),
        }
    }
}

impl HeaderValue for LastEventId {
    const LIST: bool = false;
}

/// The comment an idle stream sends every heartbeat.
const KEEP_ALIVE: &[u8] = b": keep-alive\n\n";

/// A user's open stream of `changed` events (`text/event-stream`).
pub struct ChangeEvents {
    subscription: Subscription,
    /// The version the client holds (its `Last-Event-ID`), then the one last sent.
    last_sent: Option<i64>,
    heartbeat: Duration,
}

impl ChangeEvents {
    /// The stream's bytes: the current version at once unless the client holds it, then each
    /// version past the one last sent, a keep-alive comment after each heartbeat without one;
    /// it ends when the server shuts down.
    fn into_bytes(self) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send {
        stream::unfold(self, |mut events| async move {
            loop {
                let latest = events.subscription.latest();
                if events.last_sent != Some(latest) {
                    events.last_sent = Some(latest);
                    let data = ChangeEvent { version: latest }.to_json_string();
                    let event = format!("id: {latest}\nevent: changed\ndata: {data}\n\n");
                    return Some((Ok(Bytes::from(event)), events));
                }
                tokio::select! {
                    more = events.subscription.changed() => if !more {
                        return None;
                    },
                    _ = tokio::time::sleep(events.heartbeat) => {
                        return Some((Ok(Bytes::from_static(KEEP_ALIVE)), events));
                    }
                }
            }
        })
    }
}

impl Payload for ChangeEvents {
    const CONTENT_TYPE: &'static str = "text/event-stream";

    fn schema_ref() -> MetaSchemaRef {
        ChangeEvent::schema_ref()
    }

    fn register(registry: &mut Registry) {
        ChangeEvent::register(registry);
    }
}

impl IntoResponse for ChangeEvents {
    fn into_response(self) -> Response {
        Response::builder()
            .content_type(Self::CONTENT_TYPE)
            // Proxies must neither cache, transform nor buffer it (nginx reads the last).
            .header(header::CACHE_CONTROL, "no-cache, no-transform")
            .header("X-Accel-Buffering", "no")
            .body(Body::from_bytes_stream(self.into_bytes().boxed()))
    }
}

#[derive(ApiResponse)]
pub enum EventsOpened {
    /// The stream, open until the client leaves or the server shuts down (then the client
    /// reconnects, with `Last-Event-ID`). Each event is
    /// `id: <version>\nevent: changed\ndata: {"version": <version>}\n\n`; a `: keep-alive`
    /// comment line comes after each heartbeat without one.
    #[oai(status = 200)]
    Ok(ChangeEvents),
}

#[derive(ApiResponse)]
pub enum TicketMade {
    /// The ticket, valid for 60 seconds.
    #[oai(status = 201)]
    Created(JsonResponse<EventTicket>),
}

pub struct EventsApi {
    pub state: AppState,
}

#[OpenApi(tag = "ApiTags::Sync")]
impl EventsApi {
    /// Stream a user's change events
    ///
    /// Server-Sent Events (`text/event-stream`), so that an open front end learns within a second
    /// that something changed, on any device, through any instance. Each event is a poke:
    /// `id: <version>`, `event: changed`, `data: {"version": <version>}` — then pull
    /// `GET /users/{user_id}/changes` with your `since`. The first event (the current version, 0
    /// before any change) comes at once, unless `Last-Event-ID` names it already; after that an
    /// event comes whenever the user's counter moves (changes in quick succession may come as one
    /// event with the latest version), and never for a write that did not commit. A comment line
    /// `: keep-alive` comes every `EVENTS_HEARTBEAT_SECS` (15 s). Authenticate with the
    /// `Authorization` header (fetch-based clients) or, for a browser's `EventSource`, with a
    /// `ticket` from `POST /users/{user_id}/events/tickets`. At most
    /// `EVENTS_MAX_STREAMS_PER_USER` (20) streams per user and `EVENTS_MAX_STREAMS` (10,000) per
    /// instance are open at once: past either, 429 `TOO_MANY_STREAMS` with `Retry-After`.
    #[oai(
        path = "/users/:user_id/events",
        method = "get",
        operation_id = "streamEvents"
    )]
    async fn stream_events(
        &self,
        _caller: Caller,
        /// The owner's id.
        user_id: PathParam<Uuid>,
        /// A ticket from `POST /users/{user_id}/events/tickets`, instead of the `Authorization`
        /// header (which `EventSource` cannot send); it opens only this user's stream, for 60 s
        /// after it was made. An expired or forged ticket is 401, another user's 403.
        #[oai(name = "ticket")]
        _ticket: QueryParam<SignedToken>,
        /// The version of the last event received (`EventSource` sends it when it reconnects):
        /// the first event then waits for a version past it.
        #[oai(name = "Last-Event-ID")]
        last_event_id: HeaderParam<LastEventId>,
    ) -> Result<EventsOpened, ErrorResponse<EventErrors>> {
        // The request rules checked the ticket, before anything else.
        let (user_id, last_event_id) =
            (user_id.checked(), last_event_id.checked()).collect_fields()?;
        let events = &self.state.events;
        let subscription = events.subscribe(user_id).map_err(|refusal| match refusal {
            StreamRefusal::UserFull => ApiError::TooManyStreams { per_user: true },
            StreamRefusal::InstanceFull => ApiError::TooManyStreams { per_user: false },
            StreamRefusal::ShuttingDown => ApiError::ServiceUnavailable,
        })?;
        // Read after subscribing: a change committed meanwhile is in this read or published.
        let user = store::get_user(&self.state.db, user_id).await?;
        events.publish(user_id, user.change_seq);
        Ok(EventsOpened::Ok(ChangeEvents {
            subscription,
            last_sent: last_event_id.map(|LastEventId(version)| version),
            heartbeat: events.limits().heartbeat,
        }))
    }

    /// Make a ticket for a user's event stream
    ///
    /// For browsers' `EventSource`, which cannot send an `Authorization` header: the ticket opens
    /// `GET /users/{user_id}/events?ticket=…` for this user only, for 60 seconds (open the stream
    /// at once; `EventSource` keeps it open and reconnects with `Last-Event-ID`, for which make a
    /// new ticket). It is sealed (encrypted and signed) by the server and never logged.
    #[oai(
        path = "/users/:user_id/events/tickets",
        method = "post",
        operation_id = "createEventTicket"
    )]
    async fn create_event_ticket(
        &self,
        _caller: Caller,
        /// The owner's id.
        user_id: PathParam<Uuid>,
    ) -> Result<TicketMade, ErrorResponse<EventErrors>> {
        let (user_id,) = (user_id.checked(),).collect_fields()?;
        store::get_user(&self.state.db, user_id).await?;
        let keys = self.state.token_keys.keys(&self.state.db).await?;
        let lifetime = self.state.events.limits().ticket_lifetime;
        let (ticket, expires_at) = ticket::issue(keys, user_id, lifetime, chrono::Utc::now());
        Ok(TicketMade::Created(JsonResponse(EventTicket {
            ticket,
            expires_at: Timestamp(expires_at),
        })))
    }
}
