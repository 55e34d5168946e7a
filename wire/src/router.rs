//! HTTP route matching with Spin's semantics: exact routes, and `/prefix/...` wildcards that
//! also match the prefix itself; the most specific route wins and `/...` catches the rest.

/// A route table could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouterError {
    /// Two triggers declare the same route.
    #[error("route `{route}` is declared twice (components `{first}` and `{second}`)")]
    Duplicate {
        /// The route.
        route: String,
        /// The component of the first declaration.
        first: String,
        /// The component of the second declaration.
        second: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    /// Matches exactly this path.
    Exact(String),
    /// Matches this prefix (without trailing slash; empty for `/...`), the prefix followed
    /// by `/`, and everything under it.
    Wildcard(String),
}

impl Pattern {
    fn parse(route: &str) -> Pattern {
        match route.strip_suffix("/...") {
            Some(prefix) => Pattern::Wildcard(prefix.trim_end_matches('/').to_owned()),
            None if route.len() > 1 => Pattern::Exact(route.trim_end_matches('/').to_owned()),
            None => Pattern::Exact(route.to_owned()),
        }
    }

    /// The path info left over when `path` matches, or `None`.
    fn matches<'p>(&self, path: &'p str) -> Option<&'p str> {
        match self {
            Pattern::Exact(exact) => (path == exact).then_some(""),
            Pattern::Wildcard(prefix) => {
                let rest = path.strip_prefix(prefix.as_str())?;
                (rest.is_empty() || rest.starts_with('/')).then_some(rest)
            }
        }
    }

    /// Higher is more specific: any exact route beats any wildcard; a longer wildcard
    /// prefix beats a shorter one.
    fn specificity(&self) -> (u8, usize) {
        match self {
            Pattern::Exact(p) => (1, p.len()),
            Pattern::Wildcard(p) => (0, p.len()),
        }
    }

    fn component_route(&self) -> &str {
        match self {
            Pattern::Exact(p) | Pattern::Wildcard(p) => p,
        }
    }
}

#[derive(Debug, Clone)]
struct Route {
    raw: String,
    pattern: Pattern,
    component: String,
}

/// The application's routes.
#[derive(Debug, Clone, Default)]
pub struct Router {
    routes: Vec<Route>,
}

/// The result of matching a request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    /// The component that serves the request.
    pub component: String,
    /// The route as written in the manifest (`spin-raw-component-route`,
    /// `spin-matched-route`).
    pub raw_route: String,
    /// The route without its wildcard suffix (`spin-component-route`).
    pub component_route: String,
    /// The part of the path after the component route (`spin-path-info`).
    pub path_info: String,
}

impl Router {
    /// Builds the table from `(route, component)` pairs.
    pub fn new<'a>(
        routes: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Router, RouterError> {
        let mut table: Vec<Route> = Vec::new();
        for (raw, component) in routes {
            let pattern = Pattern::parse(raw);
            if let Some(existing) = table.iter().find(|r| r.pattern == pattern) {
                return Err(RouterError::Duplicate {
                    route: raw.to_owned(),
                    first: existing.component.clone(),
                    second: component.to_owned(),
                });
            }
            table.push(Route {
                raw: raw.to_owned(),
                pattern,
                component: component.to_owned(),
            });
        }
        table.sort_by_key(|r| std::cmp::Reverse(r.pattern.specificity()));
        Ok(Router { routes: table })
    }

    /// The most specific route that matches `path` (the path only, no query).
    pub fn route(&self, path: &str) -> Option<RouteMatch> {
        self.routes.iter().find_map(|r| {
            r.pattern.matches(path).map(|info| RouteMatch {
                component: r.component.clone(),
                raw_route: r.raw.clone(),
                component_route: r.pattern.component_route().to_owned(),
                path_info: info.to_owned(),
            })
        })
    }

    /// The route a component is reachable at, for requests chained to it directly.
    pub fn route_of(&self, component: &str) -> Option<RouteMatch> {
        self.routes
            .iter()
            .find(|r| r.component == component)
            .map(|r| RouteMatch {
                component: r.component.clone(),
                raw_route: r.raw.clone(),
                component_route: r.pattern.component_route().to_owned(),
                path_info: String::new(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> Router {
        Router::new([
            ("/api/users/...", "auth"),
            ("/api/tickets/...", "tickets"),
            ("/api/tickets/special", "special"),
            ("/api/tickets/deep/...", "deep"),
            ("/...", "web"),
            ("/health", "health"),
        ])
        .unwrap()
    }

    fn component(path: &str) -> Option<String> {
        router().route(path).map(|m| m.component)
    }

    #[test]
    fn wildcard_matches_base_path_with_and_without_slash() {
        assert_eq!(component("/api/tickets").as_deref(), Some("tickets"));
        assert_eq!(component("/api/tickets/").as_deref(), Some("tickets"));
        assert_eq!(component("/api/tickets/abc").as_deref(), Some("tickets"));
    }

    #[test]
    fn wildcard_does_not_match_a_longer_segment() {
        assert_eq!(component("/api/ticketsx").as_deref(), Some("web"));
    }

    #[test]
    fn exact_route_matches_only_itself() {
        assert_eq!(component("/health").as_deref(), Some("health"));
        assert_eq!(component("/health/x").as_deref(), Some("web"));
    }

    #[test]
    fn most_specific_route_wins() {
        assert_eq!(
            component("/api/tickets/special").as_deref(),
            Some("special")
        );
        assert_eq!(component("/api/tickets/deep/1").as_deref(), Some("deep"));
        assert_eq!(component("/api/tickets/deep").as_deref(), Some("deep"));
        assert_eq!(component("/api/tickets/deeper").as_deref(), Some("tickets"));
    }

    #[test]
    fn catch_all_takes_the_rest() {
        assert_eq!(component("/").as_deref(), Some("web"));
        assert_eq!(component("/nothing/here").as_deref(), Some("web"));
    }

    #[test]
    fn no_route_without_catch_all() {
        let r = Router::new([("/api/...", "api")]).unwrap();
        assert_eq!(r.route("/other"), None);
        assert_eq!(r.route("/"), None);
    }

    #[test]
    fn match_carries_spin_route_information() {
        let m = router().route("/api/tickets/abc/def").unwrap();
        assert_eq!(m.raw_route, "/api/tickets/...");
        assert_eq!(m.component_route, "/api/tickets");
        assert_eq!(m.path_info, "/abc/def");
        let m = router().route("/api/tickets").unwrap();
        assert_eq!(m.path_info, "");
        let m = router().route("/x").unwrap();
        assert_eq!(
            (m.component_route.as_str(), m.path_info.as_str()),
            ("", "/x")
        );
    }

    #[test]
    fn duplicate_routes_are_rejected() {
        let err = Router::new([("/a/...", "x"), ("/a/...", "y")]).unwrap_err();
        assert!(matches!(err, RouterError::Duplicate { .. }));
    }
}
