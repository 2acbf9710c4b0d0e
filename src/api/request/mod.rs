//! Reading a request: parameters, headers and bodies into domain values (`input`), the caller
//! (`caller`, with event stream tickets: `ticket`), and entity tags with their preconditions and
//! headers (`conditional`).

pub mod caller;
pub mod conditional;
pub mod input;
pub mod ticket;
