//! Reading a request: parameters, headers and bodies into domain values (`input`), the caller
//! (`caller`), and entity tags with their preconditions (`conditional`).

pub mod caller;
pub mod conditional;
pub mod input;
