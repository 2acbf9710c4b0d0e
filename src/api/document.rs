//! The OpenAPI documents, as served and as committed in `openapi/`: what poem-openapi generates,
//! plus what it cannot say (that request bodies refuse unknown fields), and the error contract
//! on its own.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use super::error::{ErrorCode, ErrorEnvelope};
use super::TaskApiService;
use poem_openapi::types::Type;

/// The complete document of every operation.
pub fn task_operations(service: &TaskApiService) -> Value {
    let mut document: Value =
        serde_json::from_str(&service.spec()).expect("poem-openapi writes valid JSON");
    close_request_bodies(&mut document);
    document
}

/// Marks each request body schema `additionalProperties: false`: every JSON body the API takes
/// refuses unknown fields (see `input::BodyFields::only`).
fn close_request_bodies(document: &mut Value) {
    let mut body_schemas = BTreeSet::new();
    for operation in document["paths"]
        .as_object()
        .into_iter()
        .flat_map(|paths| paths.values())
        .flat_map(|path| path.as_object().into_iter().flat_map(|ops| ops.values()))
    {
        for media in operation["requestBody"]["content"]
            .as_object()
            .into_iter()
            .flat_map(|content| content.values())
        {
            if let Some(name) = media["schema"]["$ref"].as_str().and_then(schema_name) {
                body_schemas.insert(name.to_owned());
            }
        }
    }
    for name in body_schemas {
        if let Some(schema) = document["components"]["schemas"][&name].as_object_mut() {
            schema.insert("additionalProperties".to_owned(), Value::Bool(false));
        }
    }
}

fn schema_name(reference: &str) -> Option<&str> {
    reference.strip_prefix("#/components/schemas/")
}

/// The error contract alone: the envelope schema, the code enum, and one standard response per
/// error status, each listing the codes it carries.
pub fn error_responses(task_operations: &Value) -> Value {
    let all_schemas = &task_operations["components"]["schemas"];
    let mut schemas = Map::new();
    let mut pending = vec![ErrorEnvelope::name().into_owned()];
    while let Some(name) = pending.pop() {
        if schemas.contains_key(&name) {
            continue;
        }
        let schema = all_schemas[&name].clone();
        collect_references(&schema, &mut pending);
        schemas.insert(name, schema);
    }
    let mut responses = Map::new();
    let statuses: BTreeSet<u16> = ErrorCode::ALL
        .iter()
        .map(|code| code.status().as_u16())
        .collect();
    for status in statuses {
        let status_code = poem::http::StatusCode::from_u16(status).expect("a known status");
        let reason = status_code.canonical_reason().unwrap_or("Error");
        let codes: Vec<String> = ErrorCode::ALL
            .iter()
            .filter(|code| code.status() == status_code)
            .map(|code| format!("`{}`", code.as_str()))
            .collect();
        responses.insert(
            reason.replace(' ', ""),
            json!({
                "description": format!("{status} {reason}: {}", codes.join(", ")),
                "content": {
                    "application/json; charset=utf-8": {
                        "schema": { "$ref": format!("#/components/schemas/{}", ErrorEnvelope::name()) }
                    }
                }
            }),
        );
    }
    json!({
        "openapi": task_operations["openapi"],
        "info": {
            "title": "Task API errors",
            "description": "The error contract of Task API: every response with status 400 or above has this envelope, with a code from the closed list.",
            "version": task_operations["info"]["version"],
        },
        "servers": task_operations["servers"],
        "paths": {},
        "components": { "schemas": schemas, "responses": responses },
    })
}

fn collect_references(value: &Value, names: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(name) = map
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(schema_name)
            {
                names.push(name.to_owned());
            }
            map.values().for_each(|v| collect_references(v, names));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_references(v, names)),
        _ => {}
    }
}

/// A document as YAML.
pub fn to_yaml(document: &Value) -> String {
    serde_yaml::to_string(document).expect("JSON values are YAML")
}
