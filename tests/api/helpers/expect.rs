//! Assertions on answers: JSON with a status, the error envelope, the failing fields.

use reqwest::{Response, StatusCode};
use serde_json::Value;

/// Asserts the status, and that the body is JSON; returns it.
pub async fn expect_json(response: Response, status: StatusCode) -> Value {
    let actual = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = response.text().await.unwrap();
    assert_eq!(actual, status, "unexpected status; body: {text}");
    assert!(
        content_type.starts_with("application/json"),
        "content type {content_type:?} for body {text}"
    );
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

/// Asserts the response is the error envelope with this status and code; returns the error.
pub async fn expect_error(response: Response, status: StatusCode, code: &str) -> Value {
    let body = expect_json(response, status).await;
    let error = &body["error"];
    assert_eq!(error["code"], code, "body: {body}");
    assert!(error["message"].is_string(), "body: {body}");
    assert!(error["details"].is_object(), "body: {body}");
    assert_eq!(
        body.as_object().unwrap().len(),
        1,
        "only `error` at the top: {body}"
    );
    error.clone()
}

/// The `(field, location)` pairs of a validation error, in order.
pub fn failing_fields(error: &Value) -> Vec<(String, String)> {
    error["details"]["fields"]
        .as_array()
        .unwrap_or_else(|| panic!("no details.fields in {error}"))
        .iter()
        .map(|f| {
            assert!(f["message"].as_str().is_some_and(|m| !m.is_empty()), "{f}");
            (
                f["field"].as_str().unwrap().to_owned(),
                f["location"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Asserts a 400 VALIDATION_ERROR naming exactly these fields at these locations.
pub async fn expect_invalid(response: Response, expected: &[(&str, &str)]) -> Value {
    let error = expect_error(response, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
    let mut actual = failing_fields(&error);
    let mut expected: Vec<(String, String)> = expected
        .iter()
        .map(|(f, l)| (f.to_string(), l.to_string()))
        .collect();
    actual.sort();
    expected.sort();
    assert_eq!(actual, expected, "error: {error}");
    error
}

/// Checks that each answer is 503 `SERVICE_UNAVAILABLE` with `Retry-After`: nothing was done, try
/// again.
pub async fn expect_try_again(answers: Vec<Response>) {
    for answer in answers {
        assert!(answer.headers().contains_key("retry-after"));
        expect_error(
            answer,
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
        )
        .await;
    }
}
