//! The OpenAPI documents, as served and as committed in `openapi/`: what poem-openapi generates,
//! plus what it cannot say (that request bodies refuse unknown fields, that the open operations
//! need no security, plain `application/json` answers, title examples, unions whose branches are
//! plain objects, one argument that is several headers), and the error contract on its own.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use crate::api::error::{ErrorCode, ErrorEnvelope};
use crate::api::operations::{TaskApiService, TAG_ORDER};
use poem_openapi::types::Type;
use poem_openapi::Tags;

/// The complete document of every operation.
pub fn task_operations(service: &TaskApiService) -> Value {
    let mut document: Value =
        serde_json::from_str(&service.spec()).expect("poem-openapi writes valid JSON");
    close_request_bodies(&mut document);
    spread_header_groups(&mut document);
    open_unsecured_operations(&mut document);
    exemplify_titles(&mut document);
    flatten_union_branches(&mut document);
    order_tags(&mut document);
    let mut text = document.to_string();
    // JSON has no charset parameter (RFC 8259 §11); orval 7 finds no response schema under one.
    text = text.replace(&format!("\"{JSON_WITH_CHARSET}\""), &format!("\"{JSON}\""));
    serde_json::from_str(&text).expect("still JSON")
}

/// The media type every JSON answer is documented with, and poem-openapi's.
const JSON: &str = "application/json";
const JSON_WITH_CHARSET: &str = "application/json; charset=utf-8";

/// Says `security: []` on the operations that authenticate no one (`/health`, `/ready`), so that
/// linters and generators know they are open on purpose.
fn open_unsecured_operations(document: &mut Value) {
    for operation in operations_mut(document) {
        if let Some(operation) = operation.as_object_mut() {
            operation
                .entry("security")
                .or_insert_with(|| Value::Array(Vec::new()));
        }
    }
}

/// Gives each `title` property the title of its object's example.
fn exemplify_titles(document: &mut Value) {
    let schemas = document
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut);
    for schema in schemas.into_iter().flat_map(|schemas| schemas.values_mut()) {
        let Some(example) = schema.pointer("/example/title").cloned() else {
            continue;
        };
        if let Some(title) = schema
            .pointer_mut("/properties/title")
            .and_then(Value::as_object_mut)
        {
            title.entry("example").or_insert(example);
        }
    }
}

/// Makes each branch of a discriminated union its object itself: poem-openapi wraps each in an
/// `allOf` of the discriminator's property and the object, which generators read poorly. The
/// property (its one value) goes into the object's schema, the union and its mapping name the
/// object, and the wrapper goes.
fn flatten_union_branches(document: &mut Value) {
    let Some(schemas) = document
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let unions: Vec<String> = schemas
        .iter()
        .filter(|(_, schema)| schema["discriminator"].is_object())
        .map(|(name, _)| name.clone())
        .collect();
    for union in unions {
        let mapping = schemas[&union]["discriminator"]["mapping"].clone();
        for (value, wrapper_ref) in mapping.as_object().into_iter().flatten() {
            let Some(wrapper_name) = wrapper_ref.as_str().and_then(schema_name) else {
                continue;
            };
            if !schemas[wrapper_name]["allOf"].is_array() {
                // A branch that is its object already (a batch operation's).
                continue;
            }
            let Some(wrapper) = schemas.remove(wrapper_name) else {
                continue;
            };
            let (Some(tag), Some(object_ref)) = (
                wrapper.pointer("/allOf/0").cloned(),
                wrapper.pointer("/allOf/1/$ref").cloned(),
            ) else {
                continue;
            };
            let Some(object) = object_ref
                .as_str()
                .and_then(schema_name)
                .and_then(|name| schemas.get_mut(name))
            else {
                continue;
            };
            let mut properties = tag["properties"].as_object().cloned().unwrap_or_default();
            for property in properties.values_mut() {
                property["description"] =
                    format!("What the change is of: always `{value}` in this object").into();
            }
            properties.extend(
                object["properties"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            );
            object["properties"] = Value::Object(properties);
            let mut required = tag["required"].as_array().cloned().unwrap_or_default();
            required.extend(object["required"].as_array().cloned().unwrap_or_default());
            object["required"] = Value::Array(required);
            let union = &mut schemas[&union];
            union["discriminator"]["mapping"][value] = object_ref.clone();
            for branch in union["oneOf"].as_array_mut().into_iter().flatten() {
                if branch["$ref"] == *wrapper_ref {
                    branch["$ref"] = object_ref.clone();
                }
            }
        }
    }
}

fn operations_mut(document: &mut Value) -> impl Iterator<Item = &mut Value> {
    document["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .flat_map(|path| {
            path.as_object_mut()
                .into_iter()
                .flat_map(|ops| ops.values_mut())
        })
}

/// Puts in place of each header parameter whose schema is an object (an argument that reads
/// several headers, as `request::conditional::Conditional`) the headers it lists: each
/// property a header, its description the parameter's.
fn spread_header_groups(document: &mut Value) {
    for operation in operations_mut(document) {
        let Some(parameters) = operation
            .get_mut("parameters")
            .and_then(Value::as_array_mut)
        else {
            continue;
        };
        *parameters = std::mem::take(parameters)
            .into_iter()
            .flat_map(|parameter| {
                let headers = match (&parameter["in"], &parameter["schema"]["properties"]) {
                    (Value::String(place), Value::Object(headers))
                        if place == "header" && parameter["schema"]["type"] == "object" =>
                    {
                        headers.clone()
                    }
                    _ => return vec![parameter],
                };
                headers
                    .into_iter()
                    .map(|(name, mut schema)| {
                        let description = schema
                            .as_object_mut()
                            .and_then(|schema| schema.shift_remove("description"));
                        let mut header = Map::new();
                        header.insert("name".to_owned(), name.into());
                        header.insert("schema".to_owned(), schema);
                        header.insert("in".to_owned(), "header".into());
                        header.extend(description.map(|text| ("description".to_owned(), text)));
                        for (key, value) in parameter.as_object().into_iter().flatten() {
                            if !["name", "schema", "in", "description"].contains(&key.as_str()) {
                                header.insert(key.clone(), value.clone());
                            }
                        }
                        Value::Object(header)
                    })
                    .collect()
            })
            .collect();
    }
}

/// Lists the tags in `TAG_ORDER` (poem-openapi sorts them by name).
fn order_tags(document: &mut Value) {
    if let Some(tags) = document["tags"].as_array_mut() {
        let position = |tag: &Value| {
            TAG_ORDER
                .iter()
                .position(|known| Some(known.name()) == tag["name"].as_str())
        };
        tags.sort_by_key(position);
    }
}

/// Marks each request body schema, and each object field of one (each of its `anyOf` shapes),
/// `additionalProperties: false`: every JSON body the API takes refuses unknown fields (see
/// `input::BodyFields::read`), and unknown parts of an object field (`due`).
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
    // The objects a body holds a list of (a batch's operations), each branch of their union.
    let schemas = &document["components"]["schemas"];
    let listed: Vec<String> = body_schemas
        .iter()
        .flat_map(|name| {
            schemas[name]["properties"]
                .as_object()
                .into_iter()
                .flat_map(|properties| properties.values())
        })
        .filter_map(|field| field["items"]["$ref"].as_str().and_then(schema_name))
        .flat_map(|item| {
            let branches = schemas[item]["oneOf"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let branches: Vec<String> = branches
                .iter()
                .filter_map(|branch| branch["$ref"].as_str().and_then(schema_name))
                .map(str::to_owned)
                .collect();
            match branches.is_empty() {
                true => vec![item.to_owned()],
                false => branches,
            }
        })
        .collect();
    body_schemas.extend(listed);
    for name in body_schemas {
        if let Some(schema) = document["components"]["schemas"][&name].as_object_mut() {
            schema.insert("additionalProperties".to_owned(), Value::Bool(false));
            for field in schema
                .get_mut("properties")
                .and_then(Value::as_object_mut)
                .into_iter()
                .flat_map(|properties| properties.values_mut())
                .flat_map(|field| match field.get("anyOf").is_some() {
                    true => field["anyOf"]
                        .as_array_mut()
                        .into_iter()
                        .flatten()
                        .collect(),
                    false => vec![field],
                })
                .filter(|field| field["type"] == "object" && field.get("properties").is_some())
                .filter_map(Value::as_object_mut)
            {
                field.insert("additionalProperties".to_owned(), Value::Bool(false));
            }
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
                    JSON: {
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

/// A document as YAML that reads the same in a YAML 1.1 loader (PyYAML, and the generators built
/// on it) as in a 1.2 one: a string a 1.1 loader would take for another type (a timestamp,
/// `yes`/`no`/`on`/`off`, `1_000`, `1:30`, `0b1`) is quoted, as 1.2 strings already are.
pub fn to_yaml(document: &Value) -> String {
    let mut ambiguous = Vec::new();
    let marked = mark_yaml11_ambiguous(document, &mut ambiguous);
    let mut yaml = serde_yaml::to_string(&marked).expect("JSON values are YAML");
    // Last first, so that marker 1 never replaces a part of marker 10.
    for (index, text) in ambiguous.iter().enumerate().rev() {
        let quoted = format!("'{}'", text.replace('\'', "''"));
        yaml = yaml.replace(&format!("'{}'", yaml11_marker(index)), &quoted);
    }
    yaml
}

/// A stand-in YAML must quote (it starts with an indicator), unlike any string of the document.
fn yaml11_marker(index: usize) -> String {
    format!("@yaml11-{index}@")
}

/// `value` with each string (key or value) a YAML 1.1 loader would not read as a string replaced
/// by a marker; the strings, by marker index, in `ambiguous`.
fn mark_yaml11_ambiguous(value: &Value, ambiguous: &mut Vec<String>) -> Value {
    let mark = |text: &str, ambiguous: &mut Vec<String>| {
        if is_yaml11_non_string(text) {
            ambiguous.push(text.to_owned());
            yaml11_marker(ambiguous.len() - 1)
        } else {
            text.to_owned()
        }
    };
    match value {
        Value::String(text) => Value::String(mark(text, ambiguous)),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| mark_yaml11_ambiguous(item, ambiguous))
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, item)| {
                    let key = mark(key, ambiguous);
                    (key, mark_yaml11_ambiguous(item, ambiguous))
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Whether a plain YAML 1.1 scalar with this text resolves to something other than a string:
/// PyYAML's implicit resolvers for booleans, integers, floats, nulls and timestamps.
fn is_yaml11_non_string(text: &str) -> bool {
    static RESOLVERS: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RESOLVERS
        .get_or_init(|| {
            regex::Regex::new(concat!(
                r"^(?:",
                r"yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF",
                r"|[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+",
                r"|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+",
                r"|[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?",
                r"|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)",
                r"|~|null|Null|NULL|",
                r"|[0-9]{4}-[0-9]{2}-[0-9]{2}",
                r"|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}",
                r"(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?",
                r")$"
            ))
            .expect("the resolvers are valid patterns")
        })
        .is_match(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_a_yaml_1_1_loader_would_retype_are_quoted() {
        let document = json!({
            "example": "2026-11-24T06:21:35.123456Z",
            "day": "2026-11-24",
            "answer": "yes",
            "off": ["on", "1_000", "1:30", "0b1", "plain text", "1.5"],
            "count": 255,
            "ratio": 0.5
        });
        let yaml = to_yaml(&document);
        for quoted in [
            "example: '2026-11-24T06:21:35.123456Z'",
            "day: '2026-11-24'",
            "answer: 'yes'",
            "'off':",
            "- 'on'",
            "- '1_000'",
            "- '1:30'",
            "- '0b1'",
            "- plain text",
            "count: 255",
            "ratio: 0.5",
        ] {
            assert!(yaml.contains(quoted), "{quoted} in\n{yaml}");
        }
        let back: Value = serde_yaml::from_str(&yaml).unwrap();
        assert_eq!(back, document);
    }
}
