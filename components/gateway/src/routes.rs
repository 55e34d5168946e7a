//! The gateway's route table: Spin routes, each with the base URL of the service that
//! serves it.
//!
//! Written as whitespace-separated `route=base` pairs, for example
//! `/api/users/...=http://auth.spin.internal /...=http://web.spin.internal`.
//! A request goes to `base` + its path + its query, so a service sees the path it would
//! see under Spin.

use boxoffice_wire::router::Router;

/// The parsed table.
#[derive(Debug, Clone)]
pub struct Routes {
    router: Router,
}

impl Routes {
    /// Parses `table`; an entry without `=`, a base that is not an `http(s)://` URL, a
    /// route that does not start with `/` or a route declared twice is an error.
    pub fn parse(table: &str) -> Result<Routes, String> {
        let mut pairs = Vec::new();
        for entry in table.split_whitespace() {
            let (route, base) = entry
                .split_once('=')
                .ok_or_else(|| format!("`{entry}` is not route=base"))?;
            if !route.starts_with('/') {
                return Err(format!("route `{route}` does not start with /"));
            }
            if !(base.starts_with("http://") || base.starts_with("https://")) {
                return Err(format!("`{base}` (for {route}) is not an http:// URL"));
            }
            pairs.push((route, base.trim_end_matches('/')));
        }
        if pairs.is_empty() {
            return Err("no routes".to_owned());
        }
        Router::new(pairs)
            .map(|router| Routes { router })
            .map_err(|e| e.to_string())
    }

    /// The URL to forward a request for `path` (and `query`) to, if a route matches.
    pub fn upstream(&self, path: &str, query: &str) -> Option<String> {
        let base = self.router.route(path)?.component;
        Some(if query.is_empty() {
            format!("{base}{path}")
        } else {
            format!("{base}{path}?{query}")
        })
    }
}

/// Whether a header travels through the gateway: all but the hop-by-hop ones (RFC 9110
/// §7.6.1) and `host`, which the upstream URL sets.
pub fn forwarded_header(name: &str) -> bool {
    !matches!(
        name.to_ascii_lowercase().as_str(),
        "host"
            | "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "content-length"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "/api/users/...=http://auth.internal \
        /api/tickets/...=http://tickets.internal/ \
        /internal/events/tickets=http://tickets.internal \
        /...=http://web.internal";

    #[test]
    fn requests_go_to_the_most_specific_route() {
        let routes = Routes::parse(TABLE).unwrap();
        assert_eq!(
            routes.upstream("/api/users/signin", "").as_deref(),
            Some("http://auth.internal/api/users/signin")
        );
        assert_eq!(
            routes.upstream("/api/tickets", "page=2").as_deref(),
            Some("http://tickets.internal/api/tickets?page=2")
        );
        assert_eq!(
            routes.upstream("/internal/events/tickets", "").as_deref(),
            Some("http://tickets.internal/internal/events/tickets")
        );
        assert_eq!(
            routes.upstream("/api/usersx", "").as_deref(),
            Some("http://web.internal/api/usersx")
        );
    }

    #[test]
    fn without_a_catch_all_unknown_paths_match_nothing() {
        let routes = Routes::parse("/api/users/...=http://auth.internal").unwrap();
        assert_eq!(routes.upstream("/elsewhere", ""), None);
    }

    #[test]
    fn bad_tables_are_refused_with_the_reason() {
        for (table, reason) in [
            ("", "no routes"),
            ("/a", "not route=base"),
            ("a=http://x", "does not start with /"),
            ("/a=ftp://x", "not an http:// URL"),
            ("/a=http://x /a=http://y", "declared twice"),
        ] {
            let e = Routes::parse(table).unwrap_err();
            assert!(e.contains(reason), "{table}: {e}");
        }
    }

    #[test]
    fn hop_by_hop_headers_stay_behind() {
        assert!(forwarded_header("cookie"));
        assert!(forwarded_header("content-type"));
        assert!(!forwarded_header("Connection"));
        assert!(!forwarded_header("host"));
        assert!(!forwarded_header("transfer-encoding"));
    }
}
