//! Event timing, in one place: where an event's `schedule_offset` is read from, how its `repeat_schedule` is
//! read (array, single object, bare number, missing), and which send offsets they make. Dispatch plays these
//! offsets, the validator repairs files into the form that plays the same offsets, and diagnostics orders
//! alerts by them.
//!
//! It only reads JSON values; it must not know about files, speeds or sending.

use serde_json::Value;

/// Largest offset accepted (a week); larger values are typos, and they would overflow timers.
pub const MAX_OFFSET_S: f64 = 7.0 * 24.0 * 3600.0;
/// `repeat_offset` used when `repeat_schedule` is a bare count and the event gives no top-level `repeat_offset`.
pub const DEFAULT_REPEAT_OFFSET_S: f64 = 60.0;
/// Largest `repeat_count` of one entry.
pub const MAX_REPEAT_COUNT: usize = 10_000;

/// Where `schedule_offset` is looked for, first match wins: the old tool wrote it at the top level or under
/// `payload`, the current format under `timing_metadata`.
const SCHEDULE_OFFSET_POINTERS: [&str; 3] =
    ["/schedule_offset", "/timing_metadata/schedule_offset", "/payload/schedule_offset"];

/// One `repeat_schedule` entry: `count` more sends, `offset_s` apart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RepeatEntry {
    pub count: usize,
    pub offset_s: f64,
}

/// The event's `schedule_offset` field as written: its dotted name and value, `None` when the event has none.
pub fn find_schedule_offset(event: &Value) -> Option<(&'static str, &Value)> {
    SCHEDULE_OFFSET_POINTERS.into_iter().find_map(|pointer| {
        let field = match pointer {
            "/schedule_offset" => "schedule_offset",
            "/timing_metadata/schedule_offset" => "timing_metadata.schedule_offset",
            _ => "payload.schedule_offset",
        };
        event.pointer(pointer).map(|value| (field, value))
    })
}

/// The initial send offset in seconds (before speed): `None` when the event has no `schedule_offset`
/// (it is then sent at 0), else the value read, or what is wrong with it.
pub fn schedule_offset(event: &Value) -> Option<Result<f64, String>> {
    find_schedule_offset(event).map(|(field, value)| seconds(value, field))
}

/// Reads seconds from a number, a numeric string or `null` (0), within `0..=MAX_OFFSET_S`.
pub fn seconds(value: &Value, field: &str) -> Result<f64, String> {
    let number = match value {
        Value::Number(number) => number.as_f64(),
        Value::String(text) => text.trim().parse::<f64>().ok(),
        Value::Null => Some(0.0),
        _ => None,
    };
    match number {
        Some(s) if s.is_finite() && (0.0..=MAX_OFFSET_S).contains(&s) => Ok(s),
        Some(s) if s.is_finite() && s < 0.0 => {
            Err(format!("{field} is {s}; offsets are seconds from the start, 0 or more"))
        }
        Some(s) if s.is_finite() => Err(format!("{field} is {s} s; at most {MAX_OFFSET_S} s (a week) is accepted")),
        _ => Err(format!("{field} must be a number of seconds, found {value}")),
    }
}

/// The event's repeat entries. Accepts an array of `{repeat_count, repeat_offset}`, a single such object, a
/// bare count (every top-level `repeat_offset` seconds, else [`DEFAULT_REPEAT_OFFSET_S`]), and
/// missing/null/empty (no repeats).
pub fn repeat_entries(event: &Value) -> Result<Vec<RepeatEntry>, String> {
    let count = |value: &Value, field: &str| -> Result<usize, String> {
        match value {
            Value::Null => Ok(0),
            other => {
                let n = seconds(other, field)?;
                if n.fract() != 0.0 || n > MAX_REPEAT_COUNT as f64 {
                    return Err(format!("{field} must be a whole number up to {MAX_REPEAT_COUNT}, found {other}"));
                }
                Ok(n as usize)
            }
        }
    };
    let entry = |value: &Value, position: String| -> Result<RepeatEntry, String> {
        let object = value.as_object().ok_or_else(|| {
            format!("repeat_schedule{position} must be an object {{\"repeat_count\": n, \"repeat_offset\": s}}, found {value}")
        })?;
        let repeat_count = count(
            object.get("repeat_count").unwrap_or(&Value::Null),
            &format!("repeat_schedule{position}.repeat_count"),
        )?;
        let repeat_offset = match object.get("repeat_offset") {
            Some(value) => seconds(value, &format!("repeat_schedule{position}.repeat_offset"))?,
            None if repeat_count == 0 => 0.0,
            None => return Err(format!("repeat_schedule{position} has repeat_count but no repeat_offset")),
        };
        Ok(RepeatEntry { count: repeat_count, offset_s: repeat_offset })
    };
    match event.get("repeat_schedule") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items.iter().enumerate().map(|(i, item)| entry(item, format!("[{i}]"))).collect(),
        Some(object @ Value::Object(_)) => Ok(vec![entry(object, String::new())?]),
        Some(bare) => {
            let repeat_count = count(bare, "repeat_schedule")?;
            let repeat_offset = match event.get("repeat_offset") {
                Some(value) => seconds(value, "repeat_offset")?,
                None => DEFAULT_REPEAT_OFFSET_S,
            };
            Ok(vec![RepeatEntry { count: repeat_count, offset_s: repeat_offset }])
        }
    }
}

/// Offsets (before speed) of every repeat after an initial send at `initial_s`: for each entry and
/// i = 1..count, `initial_s + i × offset_s`. Refuses more than `max_repeats` repeats and offsets past a week.
pub fn repeat_offsets(initial_s: f64, entries: &[RepeatEntry], max_repeats: usize) -> Result<Vec<f64>, String> {
    let mut offsets = Vec::new();
    for entry in entries {
        if offsets.len() + entry.count > max_repeats {
            return Err(format!("repeat_schedule asks for more than {max_repeats} repeats"));
        }
        for i in 1..=entry.count {
            let offset = initial_s + i as f64 * entry.offset_s;
            if offset > MAX_OFFSET_S {
                return Err(format!("repeat {i} would be sent at {offset} s; at most {MAX_OFFSET_S} s is accepted"));
            }
            offsets.push(offset);
        }
    }
    Ok(offsets)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn schedule_offset_is_found_in_every_place_the_files_put_it() {
        let offset = |event: Value| schedule_offset(&event).map(Result::unwrap);
        assert_eq!(offset(json!({ "timing_metadata": { "schedule_offset": 30 } })), Some(30.0));
        assert_eq!(offset(json!({ "schedule_offset": "12" })), Some(12.0));
        assert_eq!(offset(json!({ "payload": { "schedule_offset": 7 } })), Some(7.0));
        assert_eq!(offset(json!({ "payload": {} })), None);
        let error = schedule_offset(&json!({ "payload": { "schedule_offset": -1 } })).unwrap().unwrap_err();
        assert!(error.starts_with("payload.schedule_offset is -1"), "{error}");
    }

    #[test]
    fn every_repeat_schedule_form_reads_the_same_way() {
        let entries = |event: Value| repeat_entries(&event).unwrap();
        let one = |count, offset_s| vec![RepeatEntry { count, offset_s }];
        assert_eq!(entries(json!({})), vec![]);
        assert_eq!(entries(json!({ "repeat_schedule": null })), vec![]);
        assert_eq!(entries(json!({ "repeat_schedule": [] })), vec![]);
        assert_eq!(entries(json!({ "repeat_schedule": { "repeat_count": 2, "repeat_offset": 15 } })), one(2, 15.0));
        assert_eq!(entries(json!({ "repeat_schedule": [{ "repeat_count": 2, "repeat_offset": 15 }] })), one(2, 15.0));
        assert_eq!(entries(json!({ "repeat_schedule": 3 })), one(3, DEFAULT_REPEAT_OFFSET_S));
        assert_eq!(entries(json!({ "repeat_schedule": "3", "repeat_offset": 20 })), one(3, 20.0));
        let offsets = repeat_offsets(10.0, &one(3, 20.0), 100).unwrap();
        assert_eq!(offsets, vec![30.0, 50.0, 70.0]);
        assert!(repeat_offsets(0.0, &one(3, 1.0), 2).unwrap_err().contains("more than 2 repeats"));
    }
}
