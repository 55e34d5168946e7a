//! What one GraphQL request may ask, besides the schema's own depth and complexity bounds:
//! at most [`MAX_ROOT_FIELDS`] fields at the root of the operation that runs (aliases and
//! fragments counted, so that one request cannot fetch the ticket list a hundred times),
//! and at most one of the mutations an attacker would batch ([`ONE_PER_REQUEST`]: a
//! hundred aliased `signIn`s would be a hundred password guesses in one request, and each
//! `signUp` a password hash).

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Selection, SelectionSet,
};

/// Root fields one operation may select.
pub const MAX_ROOT_FIELDS: usize = 10;
/// The mutations of which one request may hold one.
pub const ONE_PER_REQUEST: [&str; 2] = ["signIn", "signUp"];
/// How deep fragments at the root are followed (a cycle is the schema's to refuse).
const MAX_FRAGMENT_DEPTH: usize = 4;

/// Why the request is refused, if it is: its operation (the one named, or every one when
/// none is) asks for too much. A document that does not parse is the schema's to refuse.
pub fn refusal(query: &str, operation_name: Option<&str>) -> Option<String> {
    let document = async_graphql::parser::parse_query(query).ok()?;
    let operations: Vec<_> = match &document.operations {
        DocumentOperations::Single(operation) => vec![operation],
        DocumentOperations::Multiple(operations) => operations
            .iter()
            .filter(|(name, _)| operation_name.is_none_or(|wanted| name.as_str() == wanted))
            .map(|(_, operation)| operation)
            .collect(),
    };
    for operation in operations {
        let mut fields = Vec::new();
        root_fields(
            &document,
            &operation.node.selection_set.node,
            0,
            &mut fields,
        );
        if fields.len() > MAX_ROOT_FIELDS {
            return Some(format!(
                "At most {MAX_ROOT_FIELDS} fields at the root of a request ({} asked)",
                fields.len()
            ));
        }
        for once in ONE_PER_REQUEST {
            if fields.iter().filter(|name| name.as_str() == once).count() > 1 {
                return Some(format!("At most one {once} per request"));
            }
        }
    }
    None
}

/// The names of the fields `set` selects at its level, through fragments.
fn root_fields(
    document: &ExecutableDocument,
    set: &SelectionSet,
    depth: usize,
    fields: &mut Vec<String>,
) {
    if depth > MAX_FRAGMENT_DEPTH {
        return;
    }
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) => fields.push(field.node.name.node.to_string()),
            Selection::InlineFragment(inline) => {
                root_fields(document, &inline.node.selection_set.node, depth + 1, fields)
            }
            Selection::FragmentSpread(spread) => {
                if let Some(fragment) = document.fragments.get(&spread.node.fragment_name.node) {
                    root_fields(
                        document,
                        &fragment.node.selection_set.node,
                        depth + 1,
                        fields,
                    )
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sign_in_per_request_however_it_is_written() {
        let one = r#"mutation { signIn(email: "a@b.c", password: "x") { id } }"#;
        assert_eq!(refusal(one, None), None);
        let aliased = r#"mutation {
            a: signIn(email: "a@b.c", password: "1") { id }
            b: signIn(email: "a@b.c", password: "2") { id }
            c: signIn(email: "a@b.c", password: "3") { id } }"#;
        assert_eq!(
            refusal(aliased, None).as_deref(),
            Some("At most one signIn per request")
        );
        let fragments = r#"mutation { ...A ...B }
            fragment A on Mutation { signUp(email: "a@b.c", password: "1234") { id } }
            fragment B on Mutation { ... on Mutation { again: signUp(email: "b@b.c", password: "1234") { id } } }"#;
        assert_eq!(
            refusal(fragments, None).as_deref(),
            Some("At most one signUp per request")
        );
        // Only the operation that runs counts.
        let two = r#"mutation One { signIn(email: "a@b.c", password: "x") { id } }
            mutation Two { a: signIn(email: "a@b.c", password: "1") { id } b: signIn(email: "a@b.c", password: "2") { id } }"#;
        assert_eq!(refusal(two, Some("One")), None);
        assert!(refusal(two, Some("Two")).is_some());
        assert_eq!(refusal("not graphql {", None), None);
    }

    #[test]
    fn a_request_selects_at_most_ten_root_fields() {
        let aliases = |n: usize| {
            let fields: Vec<String> = (0..n).map(|i| format!("t{i}: tickets {{ id }}")).collect();
            format!("{{ {} }}", fields.join(" "))
        };
        assert_eq!(refusal(&aliases(MAX_ROOT_FIELDS), None), None);
        assert_eq!(
            refusal(&aliases(MAX_ROOT_FIELDS + 1), None).as_deref(),
            Some("At most 10 fields at the root of a request (11 asked)")
        );
    }
}
