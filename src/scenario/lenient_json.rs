//! Reads an events or change-events file into a JSON array, applying only safe mechanical repairs.

use serde_json::Value;

/// Why an events file could not be read as an array of event objects.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EventFileError {
    #[error("not valid JSON at line {line}, column {column}: {message}")]
    Syntax { line: usize, column: usize, message: String },
    #[error("expected a JSON array of event objects, found {found}")]
    NotAnArray { found: &'static str },
    #[error("element {index} is {found}, not an event object")]
    NotAnObject { index: usize, found: &'static str },
}

/// Parses an events file, tolerating what the old tool and LLMs wrote: a leading `json` tag, Markdown code
/// fences, surrounding prose-free whitespace, a single object instead of an array, and a comma-separated list
/// of objects without the enclosing brackets.
pub fn parse_event_array(text: &str) -> Result<Vec<Value>, EventFileError> {
    let cleaned = strip_wrappers(text);
    let value = match serde_json::from_str::<Value>(cleaned) {
        Ok(value) => value,
        Err(first_error) => {
            // The old tool sometimes wrote `{...},\n{...}` with no brackets.
            let wrapped = format!("[{}]", cleaned.trim().trim_end_matches(','));
            if cleaned.trim_start().starts_with('{') {
                if let Ok(value @ Value::Array(_)) = serde_json::from_str::<Value>(&wrapped) {
                    value
                } else {
                    return Err(syntax_error(text, cleaned, &first_error));
                }
            } else {
                return Err(syntax_error(text, cleaned, &first_error));
            }
        }
    };
    let items = match value {
        Value::Array(items) => items,
        object @ Value::Object(_) => vec![object],
        other => return Err(EventFileError::NotAnArray { found: json_type(&other) }),
    };
    for (index, item) in items.iter().enumerate() {
        if !item.is_object() {
            return Err(EventFileError::NotAnObject { index, found: json_type(item) });
        }
    }
    Ok(items)
}

/// Strips a leading `json` tag and Markdown fences.
pub(crate) fn strip_wrappers(text: &str) -> &str {
    let mut rest = text.trim().trim_start_matches('\u{feff}').trim();
    if let Some(after_fence) = rest.strip_prefix("```") {
        rest = after_fence;
        if let Some(end) = rest.rfind("```") {
            rest = &rest[..end];
        }
    }
    let rest = rest.trim_start();
    let rest = match rest.get(..4) {
        Some(tag) if tag.eq_ignore_ascii_case("json") => &rest[4..],
        _ => rest,
    };
    rest.trim()
}

/// Reports the error position in the caller's original text, so line numbers match what the user sees.
fn syntax_error(original: &str, cleaned: &str, error: &serde_json::Error) -> EventFileError {
    let offset_lines = original.find(cleaned).map(|start| original[..start].matches('\n').count()).unwrap_or(0);
    let message = error.to_string();
    let message = message.split(" at line").next().unwrap_or(&message).to_owned();
    EventFileError::Syntax { line: error.line() + offset_lines, column: error.column(), message }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_old_tools_wrappers() {
        assert_eq!(parse_event_array("json\n[{\"a\":1}]").unwrap().len(), 1);
        assert_eq!(parse_event_array("```json\n[{\"a\":1},{\"b\":2}]\n```").unwrap().len(), 2);
        assert_eq!(parse_event_array(" {\"a\":1},\n {\"b\":2}\n").unwrap().len(), 2);
        assert_eq!(parse_event_array("{\"a\":1}").unwrap().len(), 1);
    }

    #[test]
    fn reports_position_and_shape_errors() {
        match parse_event_array("[\n{\"a\":1,}\n]") {
            Err(EventFileError::Syntax { line, .. }) => assert_eq!(line, 2),
            other => panic!("expected a syntax error, got {other:?}"),
        }
        assert_eq!(parse_event_array("42"), Err(EventFileError::NotAnArray { found: "a number" }));
        assert_eq!(parse_event_array("[{}, 3]"), Err(EventFileError::NotAnObject { index: 1, found: "a number" }));
    }

    #[test]
    fn every_original_fixture_parses() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/original-outputs");
        let orgs = std::fs::read_dir(&root).expect("fixtures of the old tool are in tests/fixtures");
        let mut parsed = 0;
        for org in orgs.flatten() {
            for file in std::fs::read_dir(org.path()).unwrap().flatten() {
                let path = file.path();
                if path.extension().is_some_and(|e| e == "json") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    let events = parse_event_array(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                    assert!(!events.is_empty(), "{}", path.display());
                    parsed += 1;
                }
            }
        }
        assert!(parsed >= 9, "expected the fixture event files, parsed {parsed}");
    }
}
