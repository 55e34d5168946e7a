//! Request parsing and validation, as every service's routes use them: any body is read
//! as a JSON object or refused with a 4xx (JSON depth bounded before parsing), and every
//! field helper answers a clean value or a field error, never a panic; a value it accepts
//! is within its bounds.

#![no_main]

use boxoffice_shared::money::MAX_DOLLARS;
use boxoffice_shared::validate::{self, MAX_EMAIL_CHARS, MAX_STRING_CHARS, MAX_TITLE_CHARS};
use boxoffice_shared::{ids, ApiRequest};
use libfuzzer_sys::fuzz_target;
use spin_sdk::http::Method;

fuzz_target!(|data: &[u8]| {
    let mut request = ApiRequest::new(Method::Post, "/api/tickets")
        .with_header("content-type", "application/json");
    request.body = data.to_vec();
    let _ = request.segments();
    let body = match request.json_object() {
        Ok(body) => body,
        Err(refused) => {
            assert!((400..500).contains(&refused.status()), "{refused:?}");
            return;
        }
    };
    for field in [
        "email", "password", "title", "price", "ticketId", "token", "orderId",
    ] {
        let value = body.get(field);
        if let Ok(email) = validate::email(value) {
            assert!(email.chars().count() <= MAX_EMAIL_CHARS && email.contains('@'));
        }
        if let Ok(password) = validate::new_password(value) {
            assert!((4..=20).contains(&password.chars().count()));
        }
        let _ = validate::password(value);
        if let Ok(title) = validate::title(value) {
            let n = title.chars().count();
            assert!(n > 0 && n <= MAX_TITLE_CHARS);
        }
        if let Ok(price) = validate::price(value) {
            assert!(price.cents() > 0 && price.cents() <= MAX_DOLLARS * 100);
        }
        if let Ok(text) = validate::required_string(field, value) {
            assert!(!text.is_empty() && text.chars().count() <= MAX_STRING_CHARS);
            let _ = ids::is_well_formed(&text);
        }
    }
});
