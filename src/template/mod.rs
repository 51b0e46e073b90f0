//! The safe placeholder engine. It finds `{{ expression }}` inside JSON string values and evaluates a small
//! expression language (quoted text, numbers, `+`, parentheses, `timestamp(...)` and a fixed table of
//! `faker.*` calls). It never executes code: the old tool ran file content through JavaScript's
//! `new Function`, so an edited file could run commands on the server. Random values come from a seeded
//! ChaCha8 generator and times from an injectable clock, so a seeded render is reproducible.
//!
//! It owns nothing else: no files, no HTTP, no gRPC.

mod eval;
mod parser;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use fake::rand::rngs::ChaCha8Rng;
use fake::rand::SeedableRng;
use serde_json::Value;

pub use eval::{Substitute, FUNCTIONS};
pub use parser::{parse_expression, Expr, ParseError};

/// A source of "now" for `timestamp(...)`.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// Random generator and clock used while rendering; one per send run, so a seeded run is reproducible.
pub struct RenderContext {
    rng: ChaCha8Rng,
    clock: Clock,
}

impl RenderContext {
    /// A context with the system clock; `seed` None draws a random seed.
    pub fn new(seed: Option<u64>) -> Self {
        Self::with_clock(seed, Arc::new(Utc::now))
    }

    pub fn with_clock(seed: Option<u64>, clock: Clock) -> Self {
        let seed = seed.unwrap_or_else(fake::rand::random);
        Self { rng: ChaCha8Rng::seed_from_u64(seed), clock }
    }

    /// A value drawn from the context's generator (for keys that must follow the seed too).
    pub fn next_u64(&mut self) -> u64 {
        fake::rand::RngExt::random(&mut self.rng)
    }
}

/// A placeholder that cannot be rendered: the expression, where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("placeholder {{{{ {expression} }}}} at {path}: {reason}")]
pub struct TemplateError {
    /// The expression between the braces, trimmed.
    pub expression: String,
    /// JSON path of the string holding it, e.g. `[3].payload.custom_details.hostname`.
    pub path: String,
    pub reason: String,
}

/// Renders every placeholder in every string value of `value` (keys are left alone).
pub fn render_placeholders(value: &Value, context: &mut RenderContext) -> Result<Value, TemplateError> {
    render_value(value, context, &mut String::new(), None)
}

/// Like [`render_placeholders`], but calls for which `substitute` answers `Some(text)` become that text
/// instead of being evaluated.
pub fn render_placeholders_with(
    value: &Value,
    context: &mut RenderContext,
    substitute: Substitute<'_>,
) -> Result<Value, TemplateError> {
    render_value(value, context, &mut String::new(), Some(substitute))
}

/// Renders the placeholders of one string; `path` is used in errors.
pub fn render_text(
    text: &str,
    path: &str,
    context: &mut RenderContext,
    substitute: Option<Substitute<'_>>,
) -> Result<String, TemplateError> {
    let mut output = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        output.push_str(&rest[..open]);
        let after_open = &rest[open + 2..];
        let Some(close) = find_close(after_open) else {
            return Err(TemplateError {
                expression: after_open.trim().chars().take(80).collect(),
                path: path.to_owned(),
                reason: "`{{` is never closed by `}}`".into(),
            });
        };
        let source = after_open[..close].trim();
        let error = |reason: String| TemplateError { expression: source.to_owned(), path: path.to_owned(), reason };
        let expr = parse_expression(source).map_err(|e| error(e.to_string()))?;
        let rendered = eval::evaluate(&expr, context, substitute).and_then(eval::Value::into_text).map_err(error)?;
        output.push_str(&rendered);
        rest = &after_open[close + 2..];
    }
    output.push_str(rest);
    Ok(output)
}

/// Position of the `}}` closing a placeholder: the first one outside quotes and outside `{ ... }` options.
fn find_close(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    // The open quote, and whether it was written JSON-escaped (`\"`), in which case `\"` also closes it.
    let mut quote: Option<(u8, bool)> = None;
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        match quote {
            Some((open, escaped_opening)) => {
                if byte == b'\\' {
                    if escaped_opening && bytes.get(index + 1) == Some(&b'"') {
                        quote = None;
                    }
                    index += 1;
                } else if byte == open {
                    quote = None;
                }
            }
            None => match byte {
                b'\\' if bytes.get(index + 1) == Some(&b'"') => {
                    quote = Some((b'"', true));
                    index += 1;
                }
                b'\'' | b'"' => quote = Some((byte, false)),
                b'{' => depth += 1,
                b'}' if depth > 0 => depth -= 1,
                b'}' if bytes.get(index + 1) == Some(&b'}') => return Some(index),
                _ => {}
            },
        }
        index += 1;
    }
    None
}

fn render_value(
    value: &Value,
    context: &mut RenderContext,
    path: &mut String,
    substitute: Option<Substitute<'_>>,
) -> Result<Value, TemplateError> {
    match value {
        Value::String(text) if text.contains("{{") => {
            Ok(Value::String(render_text(text, path_or_root(path), context, substitute)?))
        }
        Value::Array(items) => {
            let mut rendered = Vec::with_capacity(items.len());
            for (index, item) in items.iter().enumerate() {
                let length = path.len();
                path.push_str(&format!("[{index}]"));
                rendered.push(render_value(item, context, path, substitute)?);
                path.truncate(length);
            }
            Ok(Value::Array(rendered))
        }
        Value::Object(map) => {
            let mut rendered = serde_json::Map::with_capacity(map.len());
            for (key, item) in map {
                let length = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                rendered.insert(key.clone(), render_value(item, context, path, substitute)?);
                path.truncate(length);
            }
            Ok(Value::Object(rendered))
        }
        other => Ok(other.clone()),
    }
}

fn path_or_root(path: &str) -> &str {
    if path.is_empty() {
        "the top level"
    } else {
        path
    }
}

#[cfg(test)]
mod tests;
