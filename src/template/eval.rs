//! Evaluation of parsed expressions: the fixed table of functions the old tool's files use, drawing random
//! values from the context's seeded generator and times from its clock.

use chrono::SecondsFormat;
use fake::rand::RngExt;
use fake::Fake;

use super::parser::Expr;
use super::RenderContext;

/// A value during evaluation.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    Number(f64),
    List(Vec<Value>),
    Options(Vec<(String, Value)>),
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::Text(_) => "text",
            Value::Number(_) => "a number",
            Value::List(_) => "a list",
            Value::Options(_) => "an options object",
        }
    }

    /// Text as JavaScript would print it, so `'host-' + 7` gives `host-7`, not `host-7.0`.
    pub fn into_text(self) -> Result<String, String> {
        match self {
            Value::Text(text) => Ok(text),
            Value::Number(number) => Ok(format_number(number)),
            other => Err(format!("the expression gives {}, not text", other.kind())),
        }
    }
}

pub fn format_number(number: f64) -> String {
    if number.fract() == 0.0 && number.abs() < 1e15 {
        format!("{}", number as i64)
    } else {
        format!("{number}")
    }
}

/// The functions a placeholder may call, for error messages and documentation.
pub const FUNCTIONS: &[&str] = &[
    "timestamp()",
    "timestamp(n)",
    "timestamp(min, max)",
    "faker.datatype.uuid()",
    "faker.string.uuid()",
    "faker.internet.domainName()",
    "faker.internet.ip()",
    "faker.internet.url()",
    "faker.commerce.department()",
    "faker.datatype.number({ min, max })",
    "faker.number.int({ min, max })",
    "faker.helpers.arrayElement([...])",
];

/// Lets a caller replace a call by fixed text instead of evaluating it (used by the Postman export).
pub type Substitute<'a> = &'a dyn Fn(&str, &[Expr]) -> Option<String>;

pub fn evaluate(expr: &Expr, context: &mut RenderContext, substitute: Option<Substitute<'_>>) -> Result<Value, String> {
    match expr {
        Expr::Text(text) => Ok(Value::Text(text.clone())),
        Expr::Number(number) => Ok(Value::Number(*number)),
        Expr::List(items) => {
            Ok(Value::List(items.iter().map(|item| evaluate(item, context, substitute)).collect::<Result<_, _>>()?))
        }
        Expr::Options(entries) => Ok(Value::Options(
            entries
                .iter()
                .map(|(key, value)| Ok((key.clone(), evaluate(value, context, substitute)?)))
                .collect::<Result<_, String>>()?,
        )),
        Expr::Negate(inner) => match evaluate(inner, context, substitute)? {
            Value::Number(number) => Ok(Value::Number(-number)),
            other => Err(format!("`-` needs a number, found {}", other.kind())),
        },
        Expr::Add(left, right) => {
            let left = evaluate(left, context, substitute)?;
            let right = evaluate(right, context, substitute)?;
            match (left, right) {
                (Value::Number(a), Value::Number(b)) => Ok(Value::Number(a + b)),
                (a @ (Value::Text(_) | Value::Number(_)), b @ (Value::Text(_) | Value::Number(_))) => {
                    Ok(Value::Text(a.into_text()? + &b.into_text()?))
                }
                (a, b) => Err(format!("cannot add {} and {}", a.kind(), b.kind())),
            }
        }
        Expr::Call { name, args } => {
            if let Some(text) = substitute.and_then(|substitute| substitute(name, args)) {
                return Ok(Value::Text(text));
            }
            let args = args.iter().map(|arg| evaluate(arg, context, substitute)).collect::<Result<Vec<_>, _>>()?;
            call(name, &args, context)
        }
    }
}

fn call(name: &str, args: &[Value], context: &mut RenderContext) -> Result<Value, String> {
    let no_args = |value: Value| {
        if args.is_empty() {
            Ok(value)
        } else {
            Err(format!("{name}() takes no arguments"))
        }
    };
    match name {
        "timestamp" => timestamp(args, context),
        "faker.datatype.uuid" | "faker.string.uuid" => {
            let uuid: uuid::Uuid = fake::uuid::UUIDv4.fake_with_rng(&mut context.rng);
            no_args(Value::Text(uuid.hyphenated().to_string()))
        }
        "faker.internet.ip" | "faker.internet.ipv4" => {
            let octets: [u8; 4] = [
                context.rng.random_range(1..=223),
                context.rng.random_range(0..=255),
                context.rng.random_range(0..=255),
                context.rng.random_range(1..=254),
            ];
            no_args(Value::Text(std::net::Ipv4Addr::from(octets).to_string()))
        }
        "faker.internet.domainName" => {
            let domain = domain_name(context);
            no_args(Value::Text(domain))
        }
        "faker.internet.url" => {
            let domain = domain_name(context);
            no_args(Value::Text(format!("https://{domain}/")))
        }
        "faker.commerce.department" => {
            let department = pick(DEPARTMENTS, context);
            no_args(Value::Text(department.into()))
        }
        "faker.datatype.number" | "faker.number.int" => random_number(name, args, context),
        "faker.helpers.arrayElement" => match args {
            [Value::List(items)] if !items.is_empty() => {
                let index = context.rng.random_range(0..items.len());
                Ok(items[index].clone())
            }
            [Value::List(_)] => Err(format!("{name}() needs a non-empty list")),
            _ => Err(format!("{name}() takes one list, e.g. {name}(['a', 'b'])")),
        },
        _ => Err(format!("unknown function `{name}`; supported: {}", FUNCTIONS.join(", "))),
    }
}

fn whole_number(value: &Value, what: &str) -> Result<i64, String> {
    match value {
        Value::Number(number) if number.is_finite() && number.abs() < 1e15 => Ok(number.round() as i64),
        other => Err(format!("{what} must be a number, found {}", other.kind())),
    }
}

fn timestamp(args: &[Value], context: &mut RenderContext) -> Result<Value, String> {
    let offset_s = match args {
        [] => 0,
        [offset] => whole_number(offset, "timestamp(n): n")?,
        [min, max] => {
            let min = whole_number(min, "timestamp(min, max): min")?;
            let max = whole_number(max, "timestamp(min, max): max")?;
            if min > max {
                return Err(format!("timestamp(min, max): min {min} is greater than max {max}"));
            }
            context.rng.random_range(min..=max)
        }
        _ => return Err("timestamp takes at most two numbers: timestamp(), timestamp(n) or timestamp(min, max)".into()),
    };
    // Bounded to ±100 years so the addition cannot overflow.
    let offset_s = offset_s.clamp(-3_155_760_000, 3_155_760_000);
    let instant = (context.clock)() + chrono::TimeDelta::seconds(offset_s);
    Ok(Value::Text(instant.to_rfc3339_opts(SecondsFormat::Millis, true)))
}

fn random_number(name: &str, args: &[Value], context: &mut RenderContext) -> Result<Value, String> {
    let (min, max) = match args {
        [] => (0, 99_999),
        [Value::Number(_)] => (0, whole_number(&args[0], &format!("{name}(max): max"))?),
        [Value::Options(options)] => {
            let option = |key: &str, default: i64| -> Result<i64, String> {
                match options.iter().find(|(k, _)| k == key) {
                    Some((_, value)) => whole_number(value, &format!("{name}: {key}")),
                    None => Ok(default),
                }
            };
            if let Some((unknown, _)) = options.iter().find(|(k, _)| k != "min" && k != "max" && k != "precision") {
                return Err(format!("{name}: unknown option `{unknown}`; use min and max"));
            }
            (option("min", 0)?, option("max", 99_999)?)
        }
        _ => return Err(format!("{name} takes {{ min: A, max: B }}, e.g. {name}({{ min: 10, max: 99 }})")),
    };
    if min > max {
        return Err(format!("{name}: min {min} is greater than max {max}"));
    }
    Ok(Value::Number(context.rng.random_range(min..=max) as f64))
}

fn pick<'a>(words: &[&'a str], context: &mut RenderContext) -> &'a str {
    words[context.rng.random_range(0..words.len())]
}

fn domain_name(context: &mut RenderContext) -> String {
    let first = pick(DOMAIN_WORDS, context);
    let second = pick(DOMAIN_WORDS, context);
    let suffix = pick(DOMAIN_SUFFIXES, context);
    format!("{first}-{second}.{suffix}")
}

const DOMAIN_WORDS: &[&str] = &[
    "acme", "apex", "atlas", "beacon", "bright", "cedar", "cobalt", "delta", "ember", "falcon", "harbor", "helix",
    "summit", "lumen", "maple", "nimbus", "orbit", "pioneer", "quartz", "river", "sierra", "terra", "vector", "willow",
];

const DOMAIN_SUFFIXES: &[&str] = &["com", "net", "org", "io", "biz", "info"];

const DEPARTMENTS: &[&str] = &[
    "Automotive",
    "Baby",
    "Beauty",
    "Books",
    "Clothing",
    "Computers",
    "Electronics",
    "Games",
    "Garden",
    "Grocery",
    "Health",
    "Home",
    "Industrial",
    "Jewelery",
    "Kids",
    "Movies",
    "Music",
    "Outdoors",
    "Shoes",
    "Sports",
    "Tools",
    "Toys",
];
