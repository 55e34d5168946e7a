//! Signing up and signing in.

use maud::{html, Markup};

use super::{field, form_alert, layout, token_field, Field, Head, Visitor};
use crate::api::FieldError;

/// Which of the two account forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    /// A new account.
    SignUp,
    /// An existing one.
    SignIn,
}

/// The sign-up or sign-in form, with what was typed (never the password) and the API's
/// errors; `next` is where to go afterwards.
pub fn form(
    visitor: &Visitor,
    door: Door,
    email: &str,
    next: &str,
    problems: &[FieldError],
) -> Markup {
    let (title, action, button, new_password) = match door {
        Door::SignUp => ("Sign up", "/signup", "Create account", true),
        Door::SignIn => ("Sign in", "/signin", "Sign in", false),
    };
    let email_field = Field {
        kind: "email",
        autocomplete: "email",
        ..Field::text("email", "Email", email)
    };
    let password_field = Field {
        kind: "password",
        autocomplete: if new_password {
            "new-password"
        } else {
            "current-password"
        },
        hint: new_password.then_some("Between 4 and 128 characters."),
        ..Field::text("password", "Password", "")
    };
    layout(
        title,
        visitor,
        Head::default(),
        html! {
            (form_alert(problems, &["email", "password"]))
            form.stack method="post" action=(action) novalidate {
                (token_field(visitor))
                input type="hidden" name="next" value=(next);
                (field(email_field, problems))
                (field(password_field, problems))
                button type="submit" { (button) }
            }
            @match door {
                Door::SignUp => p { "Have an account? " a href="/signin" { "Sign in" } },
                Door::SignIn => p { "New here? " a href="/signup" { "Create an account" } },
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::views::tests::problem;

    #[test]
    fn a_refused_sign_in_keeps_the_email_not_the_password() {
        let problems = [problem(None, "Invalid credentials")];
        let page = form(
            &Visitor::default(),
            Door::SignIn,
            "ada@example.com",
            "/orders",
            &problems,
        )
        .into_string();
        assert!(
            page.contains(r#"role="alert"><p>Invalid credentials</p>"#),
            "{page}"
        );
        assert!(page.contains(r#"value="ada@example.com""#));
        assert!(page.contains(r#"type="password" value="""#), "{page}");
        assert!(page.contains(r#"name="next" value="/orders""#));
        assert!(page.contains("current-password") && !page.contains("hint"));
    }

    #[test]
    fn sign_up_says_what_a_password_must_be() {
        let problems = [problem(
            Some("password"),
            "Password must be between 4 and 128 characters",
        )];
        let page = form(&Visitor::default(), Door::SignUp, "", "/", &problems).into_string();
        assert!(page.contains("Between 4 and 128 characters."));
        assert!(page.contains("new-password"));
        assert!(
            page.contains(r#"aria-describedby="field-password-hint field-password-error""#),
            "{page}"
        );
        assert!(!page.contains("role=\"alert\""));
    }
}
