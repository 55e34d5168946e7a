//! Application variables (`[variables]`) and the per-component view of them that
//! `fermyon:spin/variables@2.0.0` serves.
//!
//! As in Spin: a value comes from `SPIN_VARIABLE_<UPPER_NAME>` in the environment, else the
//! manifest default; a component sees only the names in its own `variables` table, whose
//! values are templates that may reference application variables as `{{ name }}`.

use std::collections::{BTreeMap, HashMap};

use wasmtime::component::HasData;

use crate::bindings::fermyon::spin::variables;
use crate::manifest::{is_valid_name, VariableDecl};

/// The environment prefix that overrides an application variable.
pub const ENV_PREFIX: &str = "SPIN_VARIABLE_";

/// The environment variable that overrides the application variable `name`.
pub fn env_name(name: &str) -> String {
    format!("{ENV_PREFIX}{}", name.to_uppercase())
}

/// Why variables could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VariablesError {
    /// A required variable has no value.
    #[error("required variable `{0}` has no value: set SPIN_VARIABLE_{upper}", upper = .0.to_uppercase())]
    MissingRequired(String),
    /// A template references a variable that `[variables]` does not declare.
    #[error("template `{template}` references undeclared variable `{name}`")]
    Undeclared {
        /// The template text.
        template: String,
        /// The unknown name.
        name: String,
    },
    /// A template is not well-formed.
    #[error("malformed template `{0}`")]
    Malformed(String),
}

/// The resolved values of the application's variables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppVariables {
    values: BTreeMap<String, String>,
}

impl AppVariables {
    /// Resolves every declared variable: the environment (looked up through `env` by
    /// `SPIN_VARIABLE_<UPPER_NAME>`) wins over the manifest default; `fallbacks` supplies a
    /// value for a required variable that has none (the CLI's development defaults).
    pub fn resolve(
        decls: &BTreeMap<String, VariableDecl>,
        env: impl Fn(&str) -> Option<String>,
        fallbacks: &HashMap<String, String>,
    ) -> Result<AppVariables, VariablesError> {
        let mut values = BTreeMap::new();
        for (name, decl) in decls {
            let value = env(&env_name(name))
                .or_else(|| decl.default.clone())
                .or_else(|| fallbacks.get(name).cloned())
                .ok_or_else(|| VariablesError::MissingRequired(name.clone()))?;
            values.insert(name.clone(), value);
        }
        Ok(AppVariables { values })
    }

    /// These variables and one more, `name` = `value` (deployment settings that templates
    /// may name beside the app's variables).
    pub fn with(mut self, name: &str, value: &str) -> AppVariables {
        self.values.insert(name.to_owned(), value.to_owned());
        self
    }

    /// The value of one application variable.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Expands every `{{ name }}` in `template` with application variables.
    pub fn expand(&self, template: &str) -> Result<String, VariablesError> {
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| VariablesError::Malformed(template.to_owned()))?;
            let name = after[..end].trim();
            if !is_valid_name(name) {
                return Err(VariablesError::Malformed(template.to_owned()));
            }
            let value = self.get(name).ok_or_else(|| VariablesError::Undeclared {
                template: template.to_owned(),
                name: name.to_owned(),
            })?;
            out.push_str(value);
            rest = &after[end + 2..];
        }
        if rest.contains("}}") {
            return Err(VariablesError::Malformed(template.to_owned()));
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Expands a component's `variables` table into the values it may read.
    pub fn component_view(
        &self,
        templates: &BTreeMap<String, String>,
    ) -> Result<ComponentVariables, VariablesError> {
        let values = templates
            .iter()
            .map(|(name, template)| Ok((name.clone(), self.expand(template)?)))
            .collect::<Result<_, VariablesError>>()?;
        Ok(ComponentVariables { values })
    }
}

/// The variables one component may read, already expanded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComponentVariables {
    values: BTreeMap<String, String>,
}

impl ComponentVariables {
    /// The `fermyon:spin/variables` semantics of `get`.
    pub fn lookup(&self, name: &str) -> Result<String, variables::Error> {
        if !is_valid_name(name) {
            return Err(variables::Error::InvalidName(name.to_owned()));
        }
        self.values
            .get(name)
            .cloned()
            .ok_or_else(|| variables::Error::Undefined(name.to_owned()))
    }
}

/// [`HasData`] marker for the `fermyon:spin/variables` host implementation.
pub struct Variables;

impl HasData for Variables {
    type Data<'a> = &'a ComponentVariables;
}

impl variables::Host for &ComponentVariables {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, variables::Error>> {
        Ok(self.lookup(&name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decls(entries: &[(&str, Option<&str>, bool)]) -> BTreeMap<String, VariableDecl> {
        entries
            .iter()
            .map(|(n, d, r)| {
                (
                    n.to_string(),
                    VariableDecl {
                        default: d.map(str::to_owned),
                        required: *r,
                        secret: false,
                    },
                )
            })
            .collect()
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn defaults_apply_without_environment() {
        let vars = AppVariables::resolve(
            &decls(&[("ttl", Some("60"), false)]),
            no_env,
            &HashMap::new(),
        )
        .unwrap();
        assert_eq!(vars.get("ttl"), Some("60"));
    }

    #[test]
    fn environment_overrides_default() {
        let env = |k: &str| (k == "SPIN_VARIABLE_TTL").then(|| "5".to_string());
        let vars =
            AppVariables::resolve(&decls(&[("ttl", Some("60"), false)]), env, &HashMap::new())
                .unwrap();
        assert_eq!(vars.get("ttl"), Some("5"));
    }

    #[test]
    fn required_without_value_names_the_variable() {
        let err =
            AppVariables::resolve(&decls(&[("jwt_key", None, true)]), no_env, &HashMap::new())
                .unwrap_err();
        assert_eq!(err, VariablesError::MissingRequired("jwt_key".into()));
        assert!(err.to_string().contains("SPIN_VARIABLE_JWT_KEY"));
    }

    #[test]
    fn fallback_fills_a_required_variable_but_environment_wins() {
        let fallbacks = HashMap::from([("jwt_key".to_string(), "dev".to_string())]);
        let d = decls(&[("jwt_key", None, true)]);
        let vars = AppVariables::resolve(&d, no_env, &fallbacks).unwrap();
        assert_eq!(vars.get("jwt_key"), Some("dev"));
        let env = |_: &str| Some("real".to_string());
        let vars = AppVariables::resolve(&d, env, &fallbacks).unwrap();
        assert_eq!(vars.get("jwt_key"), Some("real"));
    }

    #[test]
    fn templates_expand_application_variables() {
        let vars = AppVariables::resolve(
            &decls(&[
                ("host", Some("example.com"), false),
                ("port", Some("80"), false),
            ]),
            no_env,
            &HashMap::new(),
        )
        .unwrap();
        assert_eq!(
            vars.expand("http://{{ host }}:{{port}}/x").unwrap(),
            "http://example.com:80/x"
        );
        assert_eq!(vars.expand("plain").unwrap(), "plain");
        assert!(matches!(
            vars.expand("{{ nope }}"),
            Err(VariablesError::Undeclared { .. })
        ));
        assert!(matches!(
            vars.expand("{{ host"),
            Err(VariablesError::Malformed(_))
        ));
    }

    #[test]
    fn component_sees_only_its_own_table() {
        let vars = AppVariables::resolve(
            &decls(&[("a", Some("1"), false), ("b", Some("2"), false)]),
            no_env,
            &HashMap::new(),
        )
        .unwrap();
        let templates = BTreeMap::from([("mine".to_string(), "v{{ a }}".to_string())]);
        let view = vars.component_view(&templates).unwrap();
        assert_eq!(view.lookup("mine").unwrap(), "v1");
        assert!(matches!(
            view.lookup("b"),
            Err(variables::Error::Undefined(_))
        ));
        assert!(matches!(
            view.lookup("Bad"),
            Err(variables::Error::InvalidName(_))
        ));
    }

    #[test]
    fn names_follow_spin_rules() {
        assert!(is_valid_name("jwt_key"));
        assert!(is_valid_name("a1"));
        assert!(!is_valid_name("1a"));
        assert!(!is_valid_name("JWT"));
        assert!(!is_valid_name("a-b"));
        assert!(!is_valid_name(""));
    }
}
