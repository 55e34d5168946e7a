//! The one piece of URL reading everything here needs: the authority of a URL.

/// The `host[:port]` of `url` (`scheme://user@host:port/path?query`), without scheme, user,
/// path, query or fragment; `None` when there is none. Without a scheme, the whole of
/// `url` up to its path is read as the authority.
pub fn authority(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or_default();
    Some(authority).filter(|a| !a.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_authority_is_host_and_port_only() {
        assert_eq!(
            authority("http://shop.test:3000/a?b#c"),
            Some("shop.test:3000")
        );
        assert_eq!(authority("https://user:pw@shop.test/x"), Some("shop.test"));
        assert_eq!(authority("https://shop.test@evil.test/"), Some("evil.test"));
        assert_eq!(
            authority("postgres://127.0.0.1:5432"),
            Some("127.0.0.1:5432")
        );
        assert_eq!(authority("shop.test/path"), Some("shop.test"));
        assert_eq!(authority("http:///path"), None);
        assert_eq!(authority(""), None);
    }
}
