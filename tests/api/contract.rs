//! The contract: `openapi/` equals what the code generates, the server serves exactly that, and
//! the document is complete enough for generators. Rewrite the files with
//! `EXPECTORATE=overwrite cargo test --test api contract`.

use serde_json::Value;
use task_api::api::{error_responses, openapi_document, to_yaml, ErrorCode};

use crate::helpers::each_database;

#[tokio::test]
async fn committed_documents_equal_the_generated_ones() {
    let document = openapi_document();
    expectorate::assert_contents("openapi/task-operations.yaml", &to_yaml(&document));
    expectorate::assert_contents(
        "openapi/error-responses.yaml",
        &to_yaml(&error_responses(&document)),
    );
}

#[tokio::test]
async fn the_server_serves_the_committed_document() {
    let committed: Value =
        serde_yaml::from_str(&std::fs::read_to_string("openapi/task-operations.yaml").unwrap())
            .unwrap();
    each_database(|app| {
        let committed = committed.clone();
        async move {
            let served = app.get_ok("/openapi.json").await;
            assert!(
                served == committed,
                "/openapi.json differs from the committed document"
            );
            let yaml = app.get("/openapi.yaml").await.text().await.unwrap();
            let served: Value = serde_yaml::from_str(&yaml).unwrap();
            assert!(
                served == committed,
                "/openapi.yaml differs from the committed document"
            );
            let docs = app.get("/docs").await.text().await.unwrap();
            assert!(
                docs.contains(r#""additionalProperties": false"#),
                "Swagger UI shows the served document"
            );
        }
    })
    .await;
}

fn operations(document: &Value) -> Vec<(String, String, &Value)> {
    document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .iter()
                .map(move |(method, operation)| (method.to_uppercase(), path.clone(), operation))
        })
        .collect()
}

#[tokio::test]
async fn every_operation_is_documented_for_generators() {
    let document = openapi_document();
    let envelope = serde_json::json!({ "$ref": "#/components/schemas/ErrorEnvelope" });
    for (method, path, operation) in operations(&document) {
        let name = format!("{method} {path}");
        for key in ["operationId", "summary", "description"] {
            assert!(
                operation[key].as_str().is_some_and(|v| !v.is_empty()),
                "{name}: {key}"
            );
        }
        assert_eq!(
            operation["tags"].as_array().map(Vec::len),
            Some(1),
            "{name}: one tag"
        );
        for parameter in operation["parameters"].as_array().into_iter().flatten() {
            assert!(parameter["description"].is_string(), "{name}: {parameter}");
            // A cursor, sync token or ticket is valid only as this server made it: no example
            // could be.
            assert_eq!(
                parameter["schema"]["example"] != Value::Null,
                !["cursor", "since", "ticket"]
                    .contains(&parameter["name"].as_str().unwrap_or_default()),
                "{name}: example of {parameter}"
            );
        }
        let responses = operation["responses"].as_object().unwrap();
        assert!(
            !responses.contains_key("default"),
            "{name}: no default response"
        );
        let successes: Vec<&String> = responses.keys().filter(|s| s.starts_with('2')).collect();
        assert_eq!(successes.len(), 1, "{name}: one success response");
        let mut errors: Vec<u16> = Vec::new();
        for (status, response) in responses {
            assert!(
                response["description"]
                    .as_str()
                    .is_some_and(|d| !d.is_empty()),
                "{name} {status}"
            );
            if status.as_str() >= "400" {
                errors.push(status.parse().unwrap());
                let content = response["content"].as_object().unwrap();
                for media in content.values() {
                    assert_eq!(media["schema"], envelope, "{name} {status}");
                }
            }
        }
        assert!(
            errors.contains(&500) && errors.contains(&503),
            "{name}: 500 and 503"
        );
        if operation.get("requestBody").is_some() {
            assert!(
                errors.contains(&413) && errors.contains(&415),
                "{name}: 413 and 415"
            );
        }
        if path.contains("{user_id}") {
            assert!(
                errors.contains(&400) && errors.contains(&404),
                "{name}: 400 and 404"
            );
        }
    }
}

#[tokio::test]
async fn every_schema_field_is_described_and_bodies_are_closed() {
    let document = openapi_document();
    for (name, schema) in document["components"]["schemas"].as_object().unwrap() {
        assert!(
            schema["description"].is_string(),
            "{name} has a description"
        );
        for (field, property) in schema["properties"].as_object().into_iter().flatten() {
            // A `$ref` stands alone (OpenAPI 3.0 ignores its siblings): its target is described.
            let described = property["description"].is_string()
                || property["$ref"].as_str().is_some_and(|r| {
                    let target = r.trim_start_matches("#/components/schemas/");
                    document["components"]["schemas"][target]["description"].is_string()
                });
            assert!(described, "{name}.{field} has a description");
            // The one wrapper OpenAPI 3.0 has for a nullable object: `allOf` of its `$ref` alone.
            let nullable_object = property["nullable"] == true
                && property["allOf"]
                    .as_array()
                    .is_some_and(|all| all.len() == 1 && all[0]["$ref"].is_string());
            assert!(
                property.get("allOf").is_none() || nullable_object,
                "{name}.{field}: no allOf wrapper"
            );
        }
        // A union's examples are its branches'.
        if schema["type"] == "object" && schema["oneOf"].is_null() {
            assert!(schema["example"].is_object(), "{name} has an example");
        }
    }
    let schemas = &document["components"]["schemas"];
    for input in ["TaskInput", "TaskPatch", "UserInput"] {
        assert_eq!(schemas[input]["additionalProperties"], false, "{input}");
    }
    for (schema, field) in [
        ("Task", "description"),
        ("TaskPage", "next_cursor"),
        ("TaskInput", "description"),
        ("TaskPatch", "description"),
    ] {
        assert_eq!(
            schemas[schema]["properties"][field]["nullable"], true,
            "{schema}.{field}"
        );
    }
    for field in ["description", "next_cursor"] {
        let owner = if field == "description" {
            "Task"
        } else {
            "TaskPage"
        };
        let required: Vec<&str> = schemas[owner]["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        assert!(
            required.contains(&field),
            "{owner}.{field} is always present"
        );
    }
    for field in ["id", "user_id", "created_at", "updated_at"] {
        assert_eq!(
            schemas["Task"]["properties"][field]["readOnly"], true,
            "Task.{field}"
        );
    }
    let codes: Vec<String> = ErrorCode::ALL.iter().map(|code| code.as_str()).collect();
    let documented: Vec<String> = schemas["ErrorCode"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    let (mut codes, mut documented) = (codes, documented);
    codes.sort();
    documented.sort();
    assert_eq!(codes, documented, "the closed list of codes");
}

/// The schema's pattern, as a regex that must match the whole text.
fn pattern(schema: &Value) -> regex::Regex {
    regex::Regex::new(schema["pattern"].as_str().expect("a pattern")).unwrap()
}

#[tokio::test]
async fn the_documented_text_rules_are_the_rules_the_server_applies() {
    use task_api::api::TASK_WRITABLE_FIELDS;
    use task_api::domain::{
        TaskDescription, TaskTitle, DESCRIPTION_MAX_CHARS, TASK_READ_ONLY_FIELDS, TITLE_MAX_CHARS,
    };
    let document = openapi_document();
    let schemas = &document["components"]["schemas"];
    for body in ["TaskInput", "TaskPatch"] {
        let title = &schemas[body]["properties"]["title"];
        assert_eq!(title["maxLength"], TITLE_MAX_CHARS, "{body}");
        assert_eq!(title["minLength"], 1, "{body}");
        let title_pattern = pattern(title);
        let description = &schemas[body]["properties"]["description"];
        assert_eq!(description["maxLength"], DESCRIPTION_MAX_CHARS, "{body}");
        let description_pattern = pattern(description);
        // Every character alone, and beside a letter: the schema and the server agree on which
        // are white space and which cannot be stored.
        for c in (0..=0x10FFFF_u32).filter_map(char::from_u32) {
            for text in [c.to_string(), format!("a{c}")] {
                assert_eq!(
                    title_pattern.is_match(&text),
                    TaskTitle::parse(&text).is_ok(),
                    "{body} title {:?}",
                    text
                );
                assert_eq!(
                    description_pattern.is_match(&text),
                    TaskDescription::parse(&text).is_ok(),
                    "{body} description {:?}",
                    text
                );
            }
        }
        // Lengths count characters as sent, white space included.
        let padded = format!(" {} ", "a".repeat(TITLE_MAX_CHARS - 2));
        assert!(TaskTitle::parse(&padded).is_ok());
        assert!(TaskTitle::parse(&format!("{padded} ")).is_err());
    }
    // The bodies' fields are the writable ones; a task is those and the read-only ones.
    let names = |schema: &Value| -> Vec<String> {
        let mut names: Vec<String> = schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        names.sort();
        names
    };
    let sorted = |fields: &[&str]| {
        let mut fields: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
        fields.sort();
        fields
    };
    for body in ["TaskInput", "TaskPatch"] {
        assert_eq!(
            names(&schemas[body]),
            sorted(TASK_WRITABLE_FIELDS),
            "{body}"
        );
    }
    let every_field: Vec<&str> = TASK_WRITABLE_FIELDS
        .iter()
        .chain(&TASK_READ_ONLY_FIELDS)
        .copied()
        .collect();
    assert_eq!(names(&schemas["Task"]), sorted(&every_field));
    let search = operations(&document)
        .into_iter()
        .find(|(_, _, operation)| operation["operationId"] == "listTasks")
        .and_then(|(_, _, operation)| {
            operation["parameters"]
                .as_array()?
                .iter()
                .find(|parameter| parameter["name"] == "q")
                .cloned()
        })
        .expect("listTasks has q");
    assert!(!pattern(&search["schema"]).is_match("a\0b"));
    assert!(pattern(&search["schema"]).is_match("milk"));
}

#[tokio::test]
async fn tags_are_listed_in_the_order_a_newcomer_needs_them() {
    let document = openapi_document();
    let tags: Vec<&str> = document["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tag| tag["name"].as_str().unwrap())
        .collect();
    assert_eq!(tags, ["Users", "Tasks", "Lists", "Sync", "Health"]);
}
