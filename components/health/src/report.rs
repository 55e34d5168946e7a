//! The answers of `/health` and `/ready`: what each check found, and the status and JSON
//! body that say it (docs/health.md).

use serde::Serialize;

/// What one check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The backend answered within the time allowed.
    Ok,
    /// It did not; the reason is short, fixed text (never a URL, a password or a host's
    /// message), so that a probe's answer can be shown anywhere.
    Failed(String),
}

impl Outcome {
    /// A failure for `reason`.
    pub fn failed(reason: impl Into<String>) -> Self {
        Self::Failed(reason.into())
    }
}

/// One backend's check: its name in the body (`sql`, `key_value`, `broker`) and outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The backend checked.
    pub name: &'static str,
    /// What the check found.
    pub outcome: Outcome,
}

/// The checks of one `/ready` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness(pub Vec<Check>);

#[derive(Serialize)]
struct CheckBody<'a> {
    name: &'a str,
    status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

#[derive(Serialize)]
struct ReadinessBody<'a> {
    status: &'a str,
    checks: Vec<CheckBody<'a>>,
}

impl Readiness {
    /// Whether every check passed.
    pub fn ready(&self) -> bool {
        self.0.iter().all(|c| c.outcome == Outcome::Ok)
    }

    /// 200 when every check passed, else 503.
    pub fn status(&self) -> u16 {
        if self.ready() {
            200
        } else {
            503
        }
    }

    /// `{"status":"ready"|"not_ready","checks":[{"name","status":"ok"|"failed","reason"?}]}`.
    pub fn body(&self) -> String {
        let checks = self
            .0
            .iter()
            .map(|c| match &c.outcome {
                Outcome::Ok => CheckBody {
                    name: c.name,
                    status: "ok",
                    reason: None,
                },
                Outcome::Failed(reason) => CheckBody {
                    name: c.name,
                    status: "failed",
                    reason: Some(reason),
                },
            })
            .collect();
        let status = if self.ready() { "ready" } else { "not_ready" };
        serde_json::to_string(&ReadinessBody { status, checks })
            .expect("a readiness body serializes")
    }
}

/// The body of `/health`: the app runs; nothing else was asked.
pub const ALIVE: &str = r#"{"status":"ok"}"#;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn check(name: &'static str, outcome: Outcome) -> Check {
        Check { name, outcome }
    }

    #[test]
    fn every_check_passing_is_ready() {
        let r = Readiness(vec![
            check("sql", Outcome::Ok),
            check("key_value", Outcome::Ok),
            check("broker", Outcome::Ok),
        ]);
        assert!(r.ready());
        assert_eq!(r.status(), 200);
        assert_eq!(
            serde_json::from_str::<Value>(&r.body()).unwrap(),
            json!({"status": "ready", "checks": [
                {"name": "sql", "status": "ok"},
                {"name": "key_value", "status": "ok"},
                {"name": "broker", "status": "ok"},
            ]})
        );
    }

    #[test]
    fn one_failure_is_a_503_naming_it_and_its_reason() {
        let r = Readiness(vec![
            check("sql", Outcome::Ok),
            check("key_value", Outcome::failed("unreachable")),
            check("broker", Outcome::Ok),
        ]);
        assert!(!r.ready());
        assert_eq!(r.status(), 503);
        assert_eq!(
            serde_json::from_str::<Value>(&r.body()).unwrap(),
            json!({"status": "not_ready", "checks": [
                {"name": "sql", "status": "ok"},
                {"name": "key_value", "status": "failed", "reason": "unreachable"},
                {"name": "broker", "status": "ok"},
            ]})
        );
    }

    #[test]
    fn alive_is_json() {
        assert_eq!(
            serde_json::from_str::<Value>(ALIVE).unwrap(),
            json!({"status": "ok"})
        );
    }
}
