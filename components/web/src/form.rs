//! What a page's form posted (`application/x-www-form-urlencoded`), and what the pages
//! take from a query string.

use boxoffice_shared::ApiRequest;

/// The fields of a posted form (or of a query string), in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Form(Vec<(String, String)>);

impl Form {
    /// The form in the body of `request`.
    pub fn posted(request: &ApiRequest) -> Self {
        Self::parse(&request.body)
    }

    /// The fields of the query string of `request`.
    pub fn query(request: &ApiRequest) -> Self {
        Self::parse(request.query.as_bytes())
    }

    fn parse(encoded: &[u8]) -> Self {
        Self(form_urlencoded::parse(encoded).into_owned().collect())
    }

    /// The first value of `name`, if sent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, or empty when it was not sent (the API then names the
    /// missing field).
    pub fn text(&self, name: &str) -> &str {
        self.get(name).unwrap_or_default()
    }
}

/// Where to go after signing in: `next` when it is a path of this site, else the listing.
/// A path only (`/...`, never `//host` or `/\host`), so that a link cannot send a shopper
/// who signs in to another site.
pub fn local_path(next: Option<&str>) -> &str {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && !path.chars().any(char::is_control) =>
        {
            path
        }
        _ => "/",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spin_sdk::http::Method;

    #[test]
    fn fields_are_decoded_and_missing_ones_are_empty() {
        let mut request = ApiRequest::new(Method::Post, "/signin");
        request.body = b"email=ada%40example.com&password=a+b%26c&csrf=x&csrf=y".to_vec();
        let form = Form::posted(&request);
        assert_eq!(form.text("email"), "ada@example.com");
        assert_eq!(form.text("password"), "a b&c");
        assert_eq!(form.get("csrf"), Some("x"));
        assert_eq!(form.get("price"), None);
        assert_eq!(form.text("price"), "");
    }

    #[test]
    fn only_local_paths_are_followed_after_signing_in() {
        assert_eq!(local_path(Some("/tickets/abc")), "/tickets/abc");
        assert_eq!(local_path(Some("//evil.test/x")), "/");
        assert_eq!(local_path(Some("/\\evil.test")), "/");
        assert_eq!(local_path(Some("https://evil.test")), "/");
        assert_eq!(local_path(Some("/a\nb")), "/");
        assert_eq!(local_path(None), "/");
    }
}
