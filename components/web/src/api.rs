//! The API, as the pages use it: requests to the services through Spin service chaining
//! (`http://<component>.spin.internal`, in-process on every host that chains), carrying
//! the shopper's session cookie, so that each rule stays in its service and the pages only
//! show what the API answers.

use boxoffice_shared::events::OrderStatus;
use boxoffice_shared::session::COOKIE_NAME;
use boxoffice_shared::{time, ApiRequest};
use boxoffice_wire::error;
pub use boxoffice_wire::error::FieldError;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use spin_sdk::http::{Method, Request, Response};

const AUTH: &str = "http://auth.spin.internal/api/users";
const TICKETS: &str = "http://tickets.spin.internal/api/tickets";
const ORDERS: &str = "http://orders.spin.internal/api/orders";
const PAYMENTS: &str = "http://payments.spin.internal/api/payments";

/// A ticket, as the tickets service shows it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ticket {
    /// Its id.
    pub id: String,
    /// What is sold.
    pub title: String,
    /// In dollars.
    pub price: f64,
    /// The seller.
    pub user_id: String,
    /// The order holding it, while one does.
    #[serde(default)]
    pub order_id: Option<String>,
}

/// The signed-in shopper, as `GET /api/users/currentuser` answers.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct User {
    /// The shopper's id.
    pub id: String,
    /// The shopper's email.
    pub email: String,
}

/// The ticket inside an order.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct OrderTicket {
    /// Its id.
    pub id: String,
    /// What is sold.
    pub title: String,
    /// In dollars.
    pub price: f64,
}

/// An order, as the orders service shows it to its buyer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    /// Its id.
    pub id: String,
    /// Where it is in its life.
    pub status: OrderStatus,
    /// When the reservation lapses, unix milliseconds.
    #[serde(rename = "expiresAt", deserialize_with = "unix_ms")]
    pub expires_at_ms: i64,
    /// When its status last changed, unix milliseconds.
    #[serde(rename = "updatedAt", deserialize_with = "unix_ms")]
    pub updated_at_ms: i64,
    /// The ticket it holds.
    pub ticket: OrderTicket,
}

fn unix_ms<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    let text = String::deserialize(deserializer)?;
    time::parse_rfc3339(&text)
        .ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 time: {text}")))
}

/// Why a call did not succeed.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// The API said no (a 4xx), with its errors.
    Refused {
        /// The status.
        status: u16,
        /// The API's errors.
        problems: Vec<FieldError>,
    },
    /// The service could not be reached or did not answer sensibly (logged).
    Unavailable,
}

impl Failure {
    /// The status of a refusal (0 when the service was unavailable).
    pub fn status(&self) -> u16 {
        match self {
            Failure::Refused { status, .. } => *status,
            Failure::Unavailable => 0,
        }
    }

    /// The API's errors, if it refused.
    pub fn problems(&self) -> &[FieldError] {
        match self {
            Failure::Refused { problems, .. } => problems,
            Failure::Unavailable => &[],
        }
    }
}

/// The API on behalf of one shopper: their session cookie, and whether their request came
/// over HTTPS (so that auth marks the cookie `Secure` as it would for a direct call).
pub struct Api {
    session: Option<String>,
    https: bool,
}

impl Api {
    /// The API as the sender of `request` may use it.
    pub fn for_request(request: &ApiRequest) -> Self {
        Self {
            session: request.cookie(COOKIE_NAME).map(str::to_owned),
            https: request.is_https(),
        }
    }

    async fn call(
        &self,
        method: Method,
        url: &str,
        body: Option<Value>,
    ) -> Result<Response, Failure> {
        let mut builder = Request::builder();
        builder.method(method.clone()).uri(url);
        if let Some(session) = &self.session {
            builder.header("cookie", format!("{COOKIE_NAME}={session}"));
        }
        if self.https {
            builder.header("x-forwarded-proto", "https");
        }
        let request = match body {
            Some(body) => builder
                .header("content-type", "application/json")
                .body(body.to_string())
                .build(),
            None => builder.build(),
        };
        let response: Response = spin_sdk::http::send(request).await.map_err(|e| {
            eprintln!("web: {method} {url}: {e}");
            Failure::Unavailable
        })?;
        match *response.status() {
            200..=299 => Ok(response),
            status @ 400..=499 => {
                let problems = error::parse(response.body()).unwrap_or_default();
                Err(Failure::Refused { status, problems })
            }
            status => {
                eprintln!("web: {method} {url}: {status}");
                Err(Failure::Unavailable)
            }
        }
    }

    async fn read<T: DeserializeOwned>(
        &self,
        method: Method,
        url: &str,
        body: Option<Value>,
    ) -> Result<T, Failure> {
        let response = self.call(method.clone(), url, body).await?;
        serde_json::from_slice(response.body()).map_err(|e| {
            eprintln!("web: {method} {url}: an answer the pages cannot read: {e}");
            Failure::Unavailable
        })
    }

    /// Posts to auth and returns the `set-cookie` it answered with, to relay to the
    /// browser as it is.
    async fn session_change(&self, url: &str, body: Value) -> Result<Option<String>, Failure> {
        let response = self.call(Method::Post, url, Some(body)).await?;
        Ok(response
            .header("set-cookie")
            .and_then(|value| value.as_str())
            .map(str::to_owned))
    }

    /// The signed-in shopper, if any (none when auth cannot say: pages still render).
    pub async fn current_user(&self) -> Option<User> {
        #[derive(Deserialize)]
        struct Answer {
            #[serde(rename = "currentUser")]
            current_user: Option<User>,
        }
        self.session.as_ref()?;
        let answer: Answer = self
            .read(Method::Get, &format!("{AUTH}/currentuser"), None)
            .await
            .ok()?;
        answer.current_user
    }

    /// Signs up; the API checks the email and password.
    pub async fn sign_up(&self, email: &str, password: &str) -> Result<Option<String>, Failure> {
        let body = json!({"email": email, "password": password});
        self.session_change(&format!("{AUTH}/signup"), body).await
    }

    /// Signs in; the API checks the credentials.
    pub async fn sign_in(&self, email: &str, password: &str) -> Result<Option<String>, Failure> {
        let body = json!({"email": email, "password": password});
        self.session_change(&format!("{AUTH}/signin"), body).await
    }

    /// Signs out (the API clears the cookie and revokes the session).
    pub async fn sign_out(&self) -> Result<Option<String>, Failure> {
        self.session_change(&format!("{AUTH}/signout"), json!({}))
            .await
    }

    /// The tickets on sale.
    pub async fn tickets(&self) -> Result<Vec<Ticket>, Failure> {
        self.read(Method::Get, TICKETS, None).await
    }

    /// One ticket.
    pub async fn ticket(&self, id: &str) -> Result<Ticket, Failure> {
        self.read(
            Method::Get,
            &format!("{TICKETS}/{}", path_segment(id)),
            None,
        )
        .await
    }

    /// Puts a ticket on sale; `price` goes as the shopper typed it (see [`price_json`]).
    pub async fn sell(&self, title: &str, price: &str) -> Result<Ticket, Failure> {
        let body = json!({"title": title, "price": price_json(price)});
        self.read(Method::Post, TICKETS, Some(body)).await
    }

    /// Edits a ticket.
    pub async fn edit(&self, id: &str, title: &str, price: &str) -> Result<Ticket, Failure> {
        let body = json!({"title": title, "price": price_json(price)});
        let url = format!("{TICKETS}/{}", path_segment(id));
        self.read(Method::Put, &url, Some(body)).await
    }

    /// The shopper's orders, oldest first.
    pub async fn orders(&self) -> Result<Vec<Order>, Failure> {
        self.read(Method::Get, ORDERS, None).await
    }

    /// One of the shopper's orders.
    pub async fn order(&self, id: &str) -> Result<Order, Failure> {
        self.read(Method::Get, &format!("{ORDERS}/{}", path_segment(id)), None)
            .await
    }

    /// Reserves a ticket.
    pub async fn place_order(&self, ticket_id: &str) -> Result<Order, Failure> {
        let body = json!({"ticketId": ticket_id});
        self.read(Method::Post, ORDERS, Some(body)).await
    }

    /// Cancels an order.
    pub async fn cancel_order(&self, id: &str) -> Result<(), Failure> {
        let url = format!("{ORDERS}/{}", path_segment(id));
        self.call(Method::Delete, &url, None).await.map(drop)
    }

    /// Stripe's publishable key, when payments has one: the payment form then takes cards
    /// through Stripe Elements (none when payments cannot say: test tokens still work).
    pub async fn publishable_key(&self) -> Option<String> {
        #[derive(Deserialize)]
        struct Config {
            #[serde(rename = "publishableKey")]
            publishable_key: Option<String>,
        }
        let url = format!("{PAYMENTS}/config");
        let config: Config = self.read(Method::Get, &url, None).await.ok()?;
        config.publishable_key
    }

    /// Pays for an order with a card token.
    pub async fn pay(&self, order_id: &str, token: &str) -> Result<(), Failure> {
        let body = json!({"orderId": order_id, "token": token});
        self.call(Method::Post, PAYMENTS, Some(body))
            .await
            .map(drop)
    }
}

/// A price as typed into a form, for the API: a JSON number when it reads as one, so that
/// `12.50` is 12.5; otherwise the text itself, so that the API's own rule refuses it with
/// its own message and the pages hold no copy of the rule.
pub fn price_json(typed: &str) -> Value {
    let typed = typed.trim();
    serde_json::from_str::<serde_json::Number>(typed)
        .map(Value::Number)
        .unwrap_or_else(|_| Value::String(typed.to_owned()))
}

/// An id from a page's path, made safe to put in an API path: anything outside the id
/// alphabet is percent-encoded, so it can only ever name one (unknown) resource.
fn path_segment(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' | b'-' | b'_' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_prices_become_numbers_when_they_read_as_numbers() {
        assert_eq!(price_json(" 12.50 "), json!(12.5));
        assert_eq!(price_json("0"), json!(0));
        assert_eq!(price_json("-3"), json!(-3));
        assert_eq!(price_json("ten"), json!("ten"));
        assert_eq!(price_json(""), json!(""));
    }

    #[test]
    fn ids_cannot_reach_another_path() {
        assert_eq!(path_segment("abc123"), "abc123");
        assert_eq!(path_segment("../users"), "%2E%2E%2Fusers");
        assert_eq!(path_segment("a?b#c"), "a%3Fb%23c");
    }

    #[test]
    fn orders_read_with_their_times() {
        let order: Order = serde_json::from_value(json!({
            "id": "o1", "userId": "u1", "status": "awaiting:payment",
            "expiresAt": "2026-11-30T12:15:00.000Z", "updatedAt": "2026-11-30T12:00:00.000Z",
            "version": 0, "ticket": {"id": "t1", "title": "Show", "price": 20, "version": 0}
        }))
        .unwrap();
        assert_eq!(order.status, OrderStatus::AwaitingPayment);
        assert_eq!(order.expires_at_ms - order.updated_at_ms, 15 * 60 * 1000);
    }
}
