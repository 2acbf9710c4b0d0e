//! What the API answers with: the JSON representations of users, tasks, pages and changes
//! (`resources`), and the OpenAPI documents themselves (`document`).

pub mod document;
pub mod resources;
