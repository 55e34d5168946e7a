//! The answers of `/health` and `/ready`: what each check found, and the status and body
//! (the API's `health` schemas, so that what is documented is what is sent) that say it
//! (docs/health.md).

use boxoffice_api::health as api;

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

    /// The body, as the API documents it: `{"status":"ready"|"not_ready","checks":[{"name",
    /// "status":"ok"|"failed","reason"?}]}`.
    pub fn body(&self) -> api::Readiness {
        let checks = self
            .0
            .iter()
            .map(|c| {
                let (status, reason) = match &c.outcome {
                    Outcome::Ok => ("ok", None),
                    Outcome::Failed(reason) => ("failed", Some(reason.clone())),
                };
                api::Check {
                    name: c.name.to_owned(),
                    status: status.to_owned(),
                    reason,
                }
            })
            .collect();
        let status = if self.ready() { "ready" } else { "not_ready" };
        api::Readiness {
            status: status.to_owned(),
            checks,
        }
    }
}

/// The body of `/health`: the app runs; nothing else was asked.
pub fn alive() -> api::Alive {
    api::Alive {
        status: "ok".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
            serde_json::to_value(r.body()).unwrap(),
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
            serde_json::to_value(r.body()).unwrap(),
            json!({"status": "not_ready", "checks": [
                {"name": "sql", "status": "ok"},
                {"name": "key_value", "status": "failed", "reason": "unreachable"},
                {"name": "broker", "status": "ok"},
            ]})
        );
    }

    #[test]
    fn alive_is_ok() {
        assert_eq!(
            serde_json::to_value(alive()).unwrap(),
            json!({"status": "ok"})
        );
    }
}
