//! HTTP plumbing that never names a task: the connection loop, the request gate, body limits,
//! the per-user write rate, compression, CORS, request observation and the fallback envelope.

pub mod compression;
pub mod connection;
pub mod cors;
pub mod fallback;
pub mod gate;
pub mod limits;
pub mod observe;
