//! The route table of a component, derived from its documented operations: a request's
//! method and path find the operation that answers it, with the values of its path
//! parameters, or nothing (the JSON 404 "Route not found", whatever the method).

use utoipa::openapi::path::{HttpMethod, Operation as Described};

/// The documented operations of one component, as the `operations!` macro declares them.
pub trait Operations: Copy + Sized + std::fmt::Debug + 'static {
    /// The component of `spin.toml` that serves them.
    const COMPONENT: &'static str;
    /// Every operation, in the order of the document.
    const ALL: &'static [Self];
    /// The path template, `/api/tickets/{id}`.
    fn path(self) -> String;
    /// The method it answers.
    fn method(self) -> HttpMethod;
    /// Its description in the document; its id is `<component>.<Variant>`, its tag the
    /// one declared with it.
    fn describe(self) -> Described;
}

/// The values of a matched route's path parameters, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// The value of the path parameter `name` (empty when the template has none: a bug the
    /// component's route tests catch).
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, value)| value.as_str())
    }
}

/// The upper-case name of a method, as it travels in a request.
pub fn method_name(method: &HttpMethod) -> &'static str {
    match method {
        HttpMethod::Get => "GET",
        HttpMethod::Post => "POST",
        HttpMethod::Put => "PUT",
        HttpMethod::Delete => "DELETE",
        HttpMethod::Options => "OPTIONS",
        HttpMethod::Head => "HEAD",
        HttpMethod::Patch => "PATCH",
        HttpMethod::Trace => "TRACE",
    }
}

/// The operation of `O` answering `method` (upper case, as sent) on `path` (no query),
/// with its path parameters. Empty segments do not count: `/api/tickets/` is
/// `/api/tickets`.
pub fn find<O: Operations>(method: &str, path: &str) -> Option<(O, Params)> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    O::ALL.iter().find_map(|&operation| {
        if method_name(&operation.method()) != method {
            return None;
        }
        matches(&operation.path(), &segments).map(|params| (operation, params))
    })
}

/// The parameters of `segments` when they fit `template`.
fn matches(template: &str, segments: &[&str]) -> Option<Params> {
    let parts: Vec<&str> = template.split('/').filter(|s| !s.is_empty()).collect();
    if parts.len() != segments.len() {
        return None;
    }
    let mut params = Params::default();
    for (part, segment) in parts.iter().zip(segments) {
        match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(name) => params.0.push((name.to_owned(), (*segment).to_owned())),
            None if part == segment => {}
            None => return None,
        }
    }
    Some(params)
}

/// Declares the operations of a component, each `Variant in "tag"`: the enum its router
/// matches on (so that a documented operation without a handler does not compile), and a
/// marker type per operation for `#[utoipa::path(impl_for = ...)]`, which ties each
/// variant to its description.
macro_rules! operations {
    ($component:literal: $($(#[$doc:meta])* $variant:ident in $tag:literal),+ $(,)?) => {
        /// The documented operations of this component: what its router dispatches on.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Operation {
            $($(#[$doc])* $variant,)+
        }

        $(
            #[doc(hidden)]
            pub struct $variant;
        )+

        impl $crate::route::Operations for Operation {
            const COMPONENT: &'static str = $component;
            const ALL: &'static [Self] = &[$(Self::$variant),+];

            fn path(self) -> String {
                match self {
                    $(Self::$variant => <$variant as utoipa::Path>::path(),)+
                }
            }

            fn method(self) -> utoipa::openapi::path::HttpMethod {
                let methods = match self {
                    $(Self::$variant => <$variant as utoipa::Path>::methods(),)+
                };
                methods.into_iter().next().expect("an operation has a method")
            }

            fn describe(self) -> utoipa::openapi::path::Operation {
                let (mut operation, id, tag) = match self {
                    $(Self::$variant => (
                        <$variant as utoipa::Path>::operation(),
                        concat!($component, ".", stringify!($variant)),
                        $tag,
                    ),)+
                };
                operation.operation_id = Some(id.to_owned());
                operation.tags = Some(vec![tag.to_owned()]);
                operation
            }
        }

        /// The operation answering `method` on `path`, with its path parameters; `None`
        /// is the JSON 404 "Route not found".
        pub fn route(method: &str, path: &str) -> Option<(Operation, $crate::route::Params)> {
            $crate::route::find(method, path)
        }
    };
}

pub(crate) use operations;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_capture_their_parameters() {
        let params = matches("/api/tickets/{id}", &["api", "tickets", "abc"]).unwrap();
        assert_eq!(params.get("id"), "abc");
        assert_eq!(params.get("other"), "");
        assert!(matches("/api/tickets/{id}", &["api", "tickets"]).is_none());
        assert!(matches("/api/tickets/{id}", &["api", "tickets", "a", "b"]).is_none());
        assert!(matches("/api/tickets", &["api", "orders"]).is_none());
        assert!(matches("/", &[]).is_some());
    }
}
