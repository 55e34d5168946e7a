//! The Spin application manifest (`spin.toml`, manifest version 2): the subset that
//! boxoffice reads, parsed and checked once at startup.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Why a manifest could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("cannot read manifest {path}: {source}")]
    Read {
        /// The manifest path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not have the manifest's shape.
    #[error("invalid manifest {path}: {message}")]
    Parse {
        /// The manifest path.
        path: PathBuf,
        /// What the TOML parser reported, on one line.
        message: String,
    },
    /// The manifest is well-formed but says something boxoffice cannot run.
    #[error("invalid manifest {path}: {message}")]
    Invalid {
        /// The manifest path.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// A parsed and checked application manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The directory holding the manifest; relative paths in it start here.
    pub dir: PathBuf,
    /// The application name from `[application]`.
    pub name: String,
    /// Application variables from `[variables]`, by name.
    pub variables: BTreeMap<String, VariableDecl>,
    /// The HTTP triggers in manifest order.
    pub triggers: Vec<HttpTrigger>,
    /// The components, by id.
    pub components: BTreeMap<String, Component>,
}

/// One `[variables]` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariableDecl {
    /// The value used when nothing else provides one.
    pub default: Option<String>,
    /// Whether startup fails when no value is provided.
    #[serde(default)]
    pub required: bool,
    /// Whether the value must not be logged.
    #[serde(default)]
    pub secret: bool,
}

/// One `[[trigger.http]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTrigger {
    /// The route pattern (`/exact` or `/prefix/...`), or `None` for a private route that
    /// is reachable only through service chaining.
    pub route: Option<String>,
    /// The id of the component that serves the route.
    pub component: String,
}

/// One `[component.<id>]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    /// The component id (the table key).
    pub id: String,
    /// The `.wasm` file, resolved against the manifest directory.
    pub source: PathBuf,
    /// Variable templates by name (`[component.<id>.variables]`).
    pub variables: BTreeMap<String, String>,
    /// Key-value store labels the component may open.
    pub key_value_stores: Vec<String>,
    /// SQLite database labels the component may open.
    pub sqlite_databases: Vec<String>,
    /// Outbound host patterns, still holding their `{{ var }}` templates.
    pub allowed_outbound_hosts: Vec<String>,
    /// How to build the component, if it can be built.
    pub build: Option<BuildConfig>,
}

/// A component's `build` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildConfig {
    /// The shell command to run.
    pub command: String,
    /// The directory the command runs in, resolved against the manifest directory.
    pub workdir: PathBuf,
    /// Globs (relative to `workdir`) whose files, when newer than the `.wasm`, call for a
    /// rebuild.
    pub watch: Vec<String>,
}

#[derive(Deserialize)]
struct RawManifest {
    spin_manifest_version: toml::Value,
    #[serde(default)]
    application: RawApplication,
    #[serde(default)]
    variables: BTreeMap<String, VariableDecl>,
    #[serde(default)]
    trigger: RawTriggers,
    #[serde(default)]
    component: BTreeMap<String, RawComponent>,
}

#[derive(Deserialize, Default)]
struct RawApplication {
    #[serde(default)]
    name: String,
}

#[derive(Deserialize, Default)]
struct RawTriggers {
    #[serde(default)]
    http: Vec<RawHttpTrigger>,
}

#[derive(Deserialize)]
struct RawHttpTrigger {
    route: RawRoute,
    component: toml::Value,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawRoute {
    Path(String),
    Private { private: bool },
}

#[derive(Deserialize)]
struct RawComponent {
    source: toml::Value,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    #[serde(default)]
    key_value_stores: Vec<String>,
    #[serde(default)]
    sqlite_databases: Vec<String>,
    #[serde(default)]
    allowed_outbound_hosts: Vec<String>,
    build: Option<RawBuild>,
}

#[derive(Deserialize)]
struct RawBuild {
    command: String,
    workdir: Option<String>,
    #[serde(default)]
    watch: Vec<String>,
}

/// Whether `name` is a valid Spin variable name: lower snake case starting with a letter.
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.ends_with('_')
        && !name.contains("__")
}

impl Manifest {
    /// Reads and checks the manifest at `path`.
    pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: path.to_owned(),
            source,
        })?;
        let dir = path
            .parent()
            .map(|d| {
                if d.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    d
                }
            })
            .unwrap_or(Path::new("."));
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
        Manifest::parse(&text, &dir).map_err(|e| match e {
            ParseError::Toml(message) => ManifestError::Parse {
                path: path.to_owned(),
                message,
            },
            ParseError::Invalid(message) => ManifestError::Invalid {
                path: path.to_owned(),
                message,
            },
        })
    }

    /// Parses manifest text; relative paths are resolved against `dir`.
    fn parse(text: &str, dir: &Path) -> Result<Manifest, ParseError> {
        let raw: RawManifest = toml::from_str(text).map_err(|e| {
            ParseError::Toml(
                e.to_string()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" "),
            )
        })?;
        if raw.spin_manifest_version.as_integer() != Some(2)
            && raw.spin_manifest_version.as_str() != Some("2")
        {
            return Err(ParseError::Invalid(
                "only `spin_manifest_version = 2` is supported".into(),
            ));
        }

        for (name, decl) in &raw.variables {
            if !is_valid_name(name) {
                return Err(ParseError::Invalid(format!(
                    "variable name `{name}` is invalid: use lower snake case starting with a letter"
                )));
            }
            if decl.required && decl.default.is_some() {
                return Err(ParseError::Invalid(format!(
                    "variable `{name}` is both required and has a default"
                )));
            }
        }

        let mut components = BTreeMap::new();
        for (id, raw) in raw.component {
            let source = match &raw.source {
                toml::Value::String(s) => dir.join(s),
                _ => {
                    return Err(ParseError::Invalid(format!(
                        "component `{id}`: only a local file path is supported as `source`"
                    )))
                }
            };
            let build = raw.build.map(|b| BuildConfig {
                command: b.command,
                workdir: b
                    .workdir
                    .map(|w| dir.join(w))
                    .unwrap_or_else(|| dir.to_owned()),
                watch: b.watch,
            });
            components.insert(
                id.clone(),
                Component {
                    id,
                    source,
                    variables: raw.variables,
                    key_value_stores: raw.key_value_stores,
                    sqlite_databases: raw.sqlite_databases,
                    allowed_outbound_hosts: raw.allowed_outbound_hosts,
                    build,
                },
            );
        }

        let mut triggers = Vec::new();
        for t in raw.trigger.http {
            let component =
                match t.component {
                    toml::Value::String(s) => s,
                    _ => return Err(ParseError::Invalid(
                        "inline trigger components are not supported: name a `[component.<id>]`"
                            .into(),
                    )),
                };
            if !components.contains_key(&component) {
                return Err(ParseError::Invalid(format!(
                    "trigger refers to unknown component `{component}`"
                )));
            }
            let route = match t.route {
                RawRoute::Path(route) => {
                    if !route.starts_with('/') {
                        return Err(ParseError::Invalid(format!(
                            "route `{route}` must start with `/`"
                        )));
                    }
                    Some(route)
                }
                RawRoute::Private { private: true } => None,
                RawRoute::Private { private: false } => {
                    return Err(ParseError::Invalid(
                        "`route = { private = false }` is not a route".into(),
                    ))
                }
            };
            triggers.push(HttpTrigger { route, component });
        }

        Ok(Manifest {
            dir: dir.to_owned(),
            name: raw.application.name,
            variables: raw.variables,
            triggers,
            components,
        })
    }
}

enum ParseError {
    Toml(String),
    Invalid(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Manifest, String> {
        Manifest::parse(text, Path::new("/app")).map_err(|e| match e {
            ParseError::Toml(m) | ParseError::Invalid(m) => m,
        })
    }

    const GOOD: &str = r#"
spin_manifest_version = 2
[application]
name = "demo"
[variables]
jwt_key = { required = true, secret = true }
ttl = { default = "60" }
[[trigger.http]]
route = "/api/users/..."
component = "auth"
[[trigger.http]]
route = { private = true }
component = "worker"
[component.auth]
source = "target/auth.wasm"
key_value_stores = ["default"]
sqlite_databases = ["default"]
allowed_outbound_hosts = ["postgres://*:*"]
[component.auth.variables]
jwt_key = "{{ jwt_key }}"
[component.auth.build]
command = "cargo build -p auth"
workdir = "components/auth"
watch = ["src/**/*.rs"]
[component.worker]
source = "worker.wasm"
"#;

    #[test]
    fn parses_components_triggers_and_variables() {
        let m = parse(GOOD).unwrap();
        assert_eq!(m.name, "demo");
        assert_eq!(m.triggers.len(), 2);
        assert_eq!(m.triggers[0].route.as_deref(), Some("/api/users/..."));
        assert_eq!(m.triggers[1].route, None);
        let auth = &m.components["auth"];
        assert_eq!(auth.source, PathBuf::from("/app/target/auth.wasm"));
        assert_eq!(auth.key_value_stores, vec!["default"]);
        assert_eq!(auth.variables["jwt_key"], "{{ jwt_key }}");
        let build = auth.build.as_ref().unwrap();
        assert_eq!(build.workdir, PathBuf::from("/app/components/auth"));
        assert_eq!(build.watch, vec!["src/**/*.rs"]);
        assert!(m.variables["jwt_key"].required);
        assert_eq!(m.variables["ttl"].default.as_deref(), Some("60"));
        assert_eq!(
            m.components["worker"].build, None,
            "no build table means no build"
        );
    }

    #[test]
    fn rejects_unparseable_toml() {
        let err = parse("spin_manifest_version = 2\n[component.x\n").unwrap_err();
        assert!(!err.contains('\n'), "one line: {err}");
    }

    #[test]
    fn rejects_unknown_component_in_trigger() {
        let err = parse(
            "spin_manifest_version = 2\n[[trigger.http]]\nroute = \"/\"\ncomponent = \"nope\"\n",
        )
        .unwrap_err();
        assert!(err.contains("unknown component `nope`"), "{err}");
    }

    #[test]
    fn rejects_component_without_source() {
        let err =
            parse("spin_manifest_version = 2\n[component.x]\nkey_value_stores = []\n").unwrap_err();
        assert!(err.contains("source"), "{err}");
    }

    #[test]
    fn rejects_other_manifest_versions() {
        let err = parse("spin_manifest_version = 1\n").unwrap_err();
        assert!(err.contains("spin_manifest_version"), "{err}");
    }

    #[test]
    fn rejects_required_variable_with_default() {
        let err = parse(
            "spin_manifest_version = 2\n[variables]\nx = { required = true, default = \"1\" }\n",
        )
        .unwrap_err();
        assert!(err.contains("both required"), "{err}");
    }

    #[test]
    fn rejects_bad_variable_names() {
        let err = parse("spin_manifest_version = 2\n[variables]\nBad-Name = { default = \"1\" }\n")
            .unwrap_err();
        assert!(err.contains("Bad-Name"), "{err}");
    }
}

/// Property tests: whatever text the manifest holds, parsing answers with a manifest or a
/// message, never a panic. `PROPTEST_CASES` sets how many cases each property runs.
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    const SPIN_TOML: &str = include_str!("../../spin.toml");

    /// Where the quoted strings of spin.toml are (the quotes excluded).
    fn quoted_spans(text: &str) -> Vec<(usize, usize)> {
        let mut spans = Vec::new();
        let mut start = None;
        let mut escaped = false;
        for (i, c) in text.char_indices() {
            match (start, c) {
                (Some(_), _) if escaped => escaped = false,
                (Some(_), '\\') => escaped = true,
                (Some(s), '"') => {
                    spans.push((s, i));
                    start = None;
                }
                (None, '"') => start = Some(i + 1),
                _ => {}
            }
        }
        spans
    }

    fn parses_or_explains(text: &str) -> Result<(), TestCaseError> {
        match Manifest::parse(text, Path::new("/app")) {
            Ok(_) => Ok(()),
            Err(ParseError::Toml(message) | ParseError::Invalid(message)) => {
                prop_assert!(!message.trim().is_empty());
                Ok(())
            }
        }
    }

    proptest! {
        #[test]
        fn any_text_is_a_manifest_or_a_message(text in "(?s).{0,300}") {
            parses_or_explains(&text)?;
        }

        #[test]
        fn the_real_manifest_with_any_value_replaced_is_a_manifest_or_a_message(
            index in any::<prop::sample::Index>(),
            value in r#"([ -~]{0,24}|\{\{ ?[a-z_]{0,12} ?\}\}|/\.\.\.|\.\./|\*|[a-z]+://[^ ]{0,20}|\u{0}|é{1,3})"#,
        ) {
            let spans = quoted_spans(SPIN_TOML);
            let (start, end) = spans[index.index(spans.len())];
            let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
            let text = format!("{}{escaped}{}", &SPIN_TOML[..start], &SPIN_TOML[end..]);
            parses_or_explains(&text)?;
        }
    }

    #[test]
    fn the_real_manifest_parses() {
        assert!(Manifest::parse(SPIN_TOML, Path::new("/app")).is_ok());
        assert!(quoted_spans(SPIN_TOML).len() > 50);
    }
}
