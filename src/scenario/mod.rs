//! Scenario vocabulary shared by generation, dispatch and diagnostics: the scenario kinds with their rule
//! parameters, and the lenient reader of event files (the old tool's files carry stray `json` tags, code
//! fences and even missing array brackets).

mod lenient_json;
pub mod rules;
pub mod timing;
pub mod validate;

pub use lenient_json::{parse_event_array, EventFileError};
pub use rules::{ScenarioOptions, ScenarioParameters};

/// The kinds of incident story.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScenarioKind {
    Major,
    Partial,
    Well,
    Custom,
}

impl ScenarioKind {
    pub const ALL: [ScenarioKind; 4] = [Self::Major, Self::Partial, Self::Well, Self::Custom];

    /// Short name used in file names and response maps.
    pub fn short_name(self) -> &'static str {
        match self {
            Self::Major => "major",
            Self::Partial => "partial",
            Self::Well => "well",
            Self::Custom => "custom",
        }
    }

    pub fn from_short_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.short_name() == name.trim().to_ascii_lowercase())
    }
}

impl std::fmt::Display for ScenarioKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.short_name())
    }
}
