//! Prompt templates: one file per task in the prompts directory, falling back to the copies compiled into the
//! binary, so prompts can be tuned without rebuilding. Variables are written `<<name>>`, which cannot clash
//! with JSON braces or the `{{ … }}` placeholders events must contain.

use std::path::{Path, PathBuf};

/// Why a prompt could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PromptError {
    #[error("unknown prompt {0:?}")]
    Unknown(String),
    #[error("prompt {prompt:?} uses variable <<{variable}>> that was not provided")]
    MissingVariable { prompt: String, variable: String },
    /// A tuned prompt file exists but cannot be read: using the compiled-in copy instead would silently ignore
    /// the tuning.
    #[error("prompt file {path} exists but cannot be read ({reason}); fix it (UTF-8 text) or remove it")]
    Unreadable { path: String, reason: String },
}

/// Compiled-in copies of `prompts/<name>.md`, by name.
const EMBEDDED: &[(&str, &str)] = &[
    ("generation_system", include_str!("../prompts/generation_system.md")),
    ("repair_violations", include_str!("../prompts/repair_violations.md")),
    ("narrative_major", include_str!("../prompts/narrative_major.md")),
    ("narrative_partial", include_str!("../prompts/narrative_partial.md")),
    ("narrative_well", include_str!("../prompts/narrative_well.md")),
    ("narrative_custom", include_str!("../prompts/narrative_custom.md")),
    ("events_major", include_str!("../prompts/events_major.md")),
    ("events_partial", include_str!("../prompts/events_partial.md")),
    ("events_well", include_str!("../prompts/events_well.md")),
    ("events_custom", include_str!("../prompts/events_custom.md")),
    ("change_events_major", include_str!("../prompts/change_events_major.md")),
    ("change_events_partial", include_str!("../prompts/change_events_partial.md")),
    ("change_events_well", include_str!("../prompts/change_events_well.md")),
    ("change_events_custom", include_str!("../prompts/change_events_custom.md")),
    ("diagnostics_select", include_str!("../prompts/diagnostics_select.md")),
    ("diagnostics_job", include_str!("../prompts/diagnostics_job.md")),
];

fn embedded(name: &str) -> Option<&'static str> {
    EMBEDDED.iter().find(|(key, _)| *key == name).map(|(_, text)| *text)
}

/// Loads prompts by name from a directory, with the compiled-in copies as fallback.
#[derive(Debug, Clone)]
pub struct PromptLibrary {
    dir: PathBuf,
}

impl PromptLibrary {
    pub fn new(dir: impl AsRef<Path>) -> Self {
        Self { dir: dir.as_ref().to_path_buf() }
    }

    /// The template text of prompt `name` (file `<dir>/<name>.md`, else the compiled-in copy).
    pub fn template(&self, name: &str) -> Result<String, PromptError> {
        let path = self.dir.join(format!("{name}.md"));
        match std::fs::read_to_string(&path) {
            Ok(text) => return Ok(text),
            // Only a missing file falls back to the compiled-in copy.
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                tracing::warn!(path = %path.display(), error = %error, "tuned prompt file cannot be read");
                return Err(PromptError::Unreadable { path: path.display().to_string(), reason: error.to_string() });
            }
        }
        embedded(name).map(str::to_owned).ok_or_else(|| PromptError::Unknown(name.into()))
    }

    /// Renders prompt `name`, replacing every `<<var>>` with its value; a variable left unset is an error.
    pub fn render(&self, name: &str, variables: &[(&str, &str)]) -> Result<String, PromptError> {
        let template = self.template(name)?;
        render_template(name, &template, variables)
    }
}

fn render_template(name: &str, template: &str, variables: &[(&str, &str)]) -> Result<String, PromptError> {
    let mut output = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(start) = rest.find("<<") {
        output.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find(">>") {
            Some(end) if is_variable_name(&after[..end]) => {
                let variable = &after[..end];
                let value =
                    variables.iter().find(|(key, _)| *key == variable).map(|(_, value)| *value).ok_or_else(|| {
                        PromptError::MissingVariable { prompt: name.into(), variable: variable.into() }
                    })?;
                output.push_str(value);
                rest = &after[end + 2..];
            }
            _ => {
                output.push_str("<<");
                rest = after;
            }
        }
    }
    output.push_str(rest);
    Ok(output)
}

fn is_variable_name(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_variables_and_leaves_placeholders_alone() {
        let text = "Org <<org_name>> {\"x\": \"{{ faker.internet.ip() }}\"} a << b";
        let rendered = render_template("t", text, &[("org_name", "Acme")]).unwrap();
        assert_eq!(rendered, "Org Acme {\"x\": \"{{ faker.internet.ip() }}\"} a << b");
        assert_eq!(
            render_template("t", "<<missing>>", &[]),
            Err(PromptError::MissingVariable { prompt: "t".into(), variable: "missing".into() })
        );
    }

    #[test]
    fn directory_overrides_and_unknown_names() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("custom_tune.md"), "hello <<who>>").unwrap();
        let library = PromptLibrary::new(dir.path());
        assert_eq!(library.render("custom_tune", &[("who", "SC")]).unwrap(), "hello SC");
        assert_eq!(library.template("nope"), Err(PromptError::Unknown("nope".into())));
    }

    #[test]
    fn an_unreadable_tuned_file_is_an_error_not_a_silent_fallback() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("narrative_major.md"), b"tuned \xff\xfe not UTF-8").unwrap();
        let library = PromptLibrary::new(dir.path());
        match library.template("narrative_major") {
            Err(PromptError::Unreadable { path, .. }) => assert!(path.ends_with("narrative_major.md"), "{path}"),
            other => panic!("expected Unreadable, got {other:?}"),
        }
        // A missing file still falls back to the compiled-in copy.
        assert_eq!(library.template("narrative_well").unwrap(), embedded("narrative_well").unwrap());
    }
}
