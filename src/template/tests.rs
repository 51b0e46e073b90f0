use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use serde_json::json;

use super::*;

fn fixed_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 4, 18, 12, 0, 0).unwrap()
}

fn context(seed: u64) -> RenderContext {
    RenderContext::with_clock(Some(seed), Arc::new(fixed_now))
}

fn render(text: &str) -> Result<String, TemplateError> {
    render_text(text, "field", &mut context(7), None)
}

#[test]
fn renders_every_form_of_the_rules() {
    let uuid = render("{{ faker.datatype.uuid() }}").unwrap();
    assert!(uuid::Uuid::parse_str(&uuid).is_ok_and(|u| u.get_version_num() == 4), "{uuid}");
    assert!(uuid::Uuid::parse_str(&render("{{faker.string.uuid()}}").unwrap()).is_ok());
    let ip: std::net::Ipv4Addr = render("{{ faker.internet.ip() }}").unwrap().parse().unwrap();
    assert!(!ip.is_unspecified());
    let domain = render("{{ faker.internet.domainName() }}").unwrap();
    assert!(domain.contains('.') && !domain.contains(' '), "{domain}");
    assert!(render("{{ faker.internet.url() }}").unwrap().starts_with("https://"));
    assert!(!render("{{ faker.commerce.department() }}").unwrap().is_empty());

    let host = render("{{ 'pay-api-' + faker.datatype.number({ min: 10, max: 99 }) }}").unwrap();
    let number: u32 = host.strip_prefix("pay-api-").unwrap().parse().unwrap();
    assert!((10..=99).contains(&number), "{host}");
    let int: i64 = render("{{ faker.number.int({ min: -3, max: -1 }) }}").unwrap().parse().unwrap();
    assert!((-3..=-1).contains(&int));

    let cluster = render("{{ faker.helpers.arrayElement(['prod-east', 'prod-west']) + '-cluster' }}").unwrap();
    assert!(cluster == "prod-east-cluster" || cluster == "prod-west-cluster", "{cluster}");
    let escaped = render(r#"{{ faker.helpers.arrayElement([\"a\", \"a\"]) + \"-cluster\" }}"#).unwrap();
    assert_eq!(escaped, "a-cluster");

    assert_eq!(render("{{ timestamp() }}").unwrap(), "2025-04-18T12:00:00.000Z");
    assert_eq!(render("{{ timestamp(-60) }}").unwrap(), "2025-04-18T11:59:00.000Z");
    let past = render("{{ timestamp(-1800, -60) }}").unwrap();
    let past = DateTime::parse_from_rfc3339(&past).unwrap().with_timezone(&Utc);
    assert!(
        past >= fixed_now() - chrono::TimeDelta::seconds(1800) && past <= fixed_now() - chrono::TimeDelta::seconds(60)
    );

    assert_eq!(render("{{ 1 + 2 }}").unwrap(), "3");
    assert_eq!(render("{{ ('a' + 1) + 2 }}").unwrap(), "a12");
    assert_eq!(render("{{ 'a' + (1 + 2) }}").unwrap(), "a3");
    assert_eq!(render("{{ 1.5 }}").unwrap(), "1.5");
    assert_eq!(render("host {{ 'a' }} and {{ \"b\" }}!").unwrap(), "host a and b!");
    assert_eq!(render("no placeholder").unwrap(), "no placeholder");
}

#[test]
fn seeded_renders_are_reproducible_and_fresh_per_render() {
    let event = json!([{ "payload": { "custom_details": {
        "event_id": "{{ faker.datatype.uuid() }}", "ip_address": "{{ faker.internet.ip() }}" } } }]);
    let mut first = context(42);
    let mut second = context(42);
    let a1 = render_placeholders(&event, &mut first).unwrap();
    let a2 = render_placeholders(&event, &mut first).unwrap();
    let b1 = render_placeholders(&event, &mut second).unwrap();
    assert_eq!(a1, b1, "same seed, same values");
    assert_ne!(a1, a2, "each render draws fresh values");
    assert_ne!(a1, render_placeholders(&event, &mut context(43)).unwrap());
}

#[test]
fn errors_name_the_expression_and_the_json_path() {
    let events =
        json!([{}, {}, {}, { "payload": { "custom_details": { "hostname": "{{ faker.system.exec('rm') }}" } } }]);
    let error = render_placeholders(&events, &mut context(1)).unwrap_err();
    assert_eq!(error.path, "[3].payload.custom_details.hostname");
    assert_eq!(error.expression, "faker.system.exec('rm')");
    assert!(error.reason.contains("unknown function `faker.system.exec`"), "{error}");
    assert!(error.to_string().contains("[3].payload.custom_details.hostname"), "{error}");

    let parse = render_placeholders(&json!({ "a": ["{{ 'x' + }}"] }), &mut context(1)).unwrap_err();
    assert_eq!(parse.path, "a[0]");
    assert!(parse.reason.contains("column"), "{parse}");

    for (text, wanted) in [
        ("{{ constructor.constructor('return process')() }}", "found `(`"),
        ("{{ require('child_process') }}", "unknown function `require`"),
        ("{{ this }}", "not a function call"),
        ("{{ faker.datatype.number({ min: 9, max: 1 }) }}", "greater than max"),
        ("{{ faker.helpers.arrayElement([]) }}", "non-empty"),
        ("{{ faker.internet.ip(1) }}", "takes no arguments"),
        ("{{ ['a'] }}", "not text"),
        ("{{ timestamp('soon') }}", "must be a number"),
        ("{{ faker.internet.ip()", "never closed"),
        ("{{ }}", "empty"),
    ] {
        let error = render(text).unwrap_err();
        assert!(error.reason.contains(wanted), "{text}: {error}");
    }
}

#[test]
fn options_braces_inside_a_placeholder_do_not_end_it() {
    assert_eq!(render("{{faker.datatype.number({min:5,max:5})}}x").unwrap(), "5x");
    assert_eq!(render("{{ '}}' }}").unwrap(), "}}");
}

#[test]
fn substitution_replaces_calls_without_evaluating_them() {
    let substitute = |name: &str, _args: &[Expr]| (name == "faker.datatype.uuid").then(|| "{{$guid}}".to_owned());
    let value =
        json!({ "id": "{{ 'evt-' + faker.datatype.uuid() }}", "n": "{{ faker.datatype.number({min:1,max:1}) }}" });
    let rendered = render_placeholders_with(&value, &mut context(1), &substitute).unwrap();
    assert_eq!(rendered, json!({ "id": "evt-{{$guid}}", "n": "1" }));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn no_input_panics_the_parser(source in "\\PC{0,80}") {
        let _ = parse_expression(&source);
        let _ = render_text(&format!("{{{{{source}}}}}"), "p", &mut context(3), None);
    }

    #[test]
    fn no_expression_made_of_grammar_tokens_panics(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("faker.datatype.number"), Just("timestamp"), Just("faker.helpers.arrayElement"), Just("("),
                Just(")"), Just("["), Just("]"), Just("{"), Just("}"), Just(","), Just(":"), Just("+"), Just("-"),
                Just("'a'"), Just("\\\""), Just("\""), Just("1e309"), Just("99999999999999999999"), Just("min"),
                Just("max"), Just("."), Just("0"),
            ],
            0..40,
        )
    ) {
        let source = parts.concat();
        let _ = render_text(&format!("{{{{ {source} }}}}"), "p", &mut context(5), None);
    }
}
