//! The API, as the pages use it: requests to the services through Spin service chaining
//! (`http://<component>.spin.internal`, in-process on every host that chains), carrying
//! the shopper's session cookie (and a signed-out visitor's `cart` cookie), so that each
//! rule stays in its service and the pages only show what the API answers.

use boxoffice_api::cart::CART_COOKIE;
use boxoffice_shared::chain::{self, set_cookie};
pub use boxoffice_shared::chain::{Failure, FieldError};
use boxoffice_shared::events::OrderStatus;
use boxoffice_shared::http::Origin;
use boxoffice_shared::session::cookie_name;
use boxoffice_shared::{time, ApiRequest};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use spin_sdk::http::{Method, Response};

const AUTH: &str = "http://auth.spin.internal/api/users";
const TICKETS: &str = "http://tickets.spin.internal/api/tickets";
const ORDERS: &str = "http://orders.spin.internal/api/orders";
const PAYMENTS: &str = "http://payments.spin.internal/api/payments";
const PRODUCTS: &str = "http://catalog.spin.internal/api/products";
const CATEGORIES: &str = "http://catalog.spin.internal/api/categories";
/// The cart service, the only one the visitor's `cart` cookie is for.
const CART_SERVICE: &str = "http://cart.spin.internal/";
const CART: &str = "http://cart.spin.internal/api/cart";
const PURCHASES: &str = "http://cart.spin.internal/api/purchases";
const RATINGS: &str = "http://ratings.spin.internal/api/ratings";
const CITIES: &str = "http://shipping.spin.internal/api/shipping/cities";

/// What paying came to, when Stripe did not refuse it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payment {
    /// Paid and recorded.
    Paid,
    /// The buyer's bank asks them to authenticate (3-D Secure): Stripe.js does it in the
    /// page with this client secret, then the form is sent again.
    Authenticate(String),
    /// Stripe is still working on it; the order completes when it is done.
    Processing,
}

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

impl Order {
    /// How it is held for its buyer.
    pub fn hold(&self) -> Hold {
        Hold {
            status: self.status,
            expires_at_ms: self.expires_at_ms,
            updated_at_ms: self.updated_at_ms,
        }
    }
}

/// How an order or a purchase is held for its buyer while it is paid: what the countdown,
/// the payment form and the cancel button go by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hold {
    /// Where it is in its life.
    pub status: OrderStatus,
    /// When the hold lapses, unix milliseconds.
    pub expires_at_ms: i64,
    /// When its status last changed, unix milliseconds.
    pub updated_at_ms: i64,
}

/// A product of the catalog.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    /// Its stock-keeping unit: its id.
    pub sku: String,
    /// Name.
    pub name: String,
    /// What it is.
    pub description: String,
    /// In dollars.
    pub price: f64,
    /// Units in stock.
    pub stock: i64,
    /// Where it is filed.
    #[serde(default)]
    pub categories: Vec<String>,
    /// The seller.
    pub user_id: String,
}

/// A category of the catalog, with how many products it holds.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Category {
    /// Its name.
    pub name: String,
    /// How many products.
    pub count: i64,
}

/// What buyers think of a product.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Rating {
    /// The average of its stars, once rated.
    pub average: Option<f64>,
    /// How many ratings.
    pub count: i64,
    /// The visitor's own stars, if they rated it.
    #[serde(default)]
    pub mine: Option<u8>,
}

/// A product's rating in a batch of them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RatingOf {
    /// The product.
    pub sku: String,
    /// Its rating.
    #[serde(flatten)]
    pub rating: Rating,
}

/// A city the shop ships to.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct City {
    /// Its code, what the cart is told.
    pub code: String,
    /// Its name.
    pub name: String,
    /// Its country.
    pub country: String,
}

/// Where a cart or a purchase ships, and what that costs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Shipping {
    /// The city's code.
    pub city: String,
    /// The city's name.
    pub name: String,
    /// Its country.
    pub country: String,
    /// In dollars.
    pub cost: f64,
}

/// A line of a cart.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CartLine {
    /// The product.
    pub sku: String,
    /// Its name.
    pub name: String,
    /// Its price now, dollars.
    pub price: f64,
    /// How many.
    pub quantity: i64,
    /// Price × quantity.
    pub line_total: f64,
    /// How many can still be bought.
    pub available: i64,
}

/// A cart with its totals.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cart {
    /// Its lines.
    pub items: Vec<CartLine>,
    /// The goods.
    pub subtotal: f64,
    /// Where it ships, once chosen.
    pub shipping: Option<Shipping>,
    /// The sales tax rate, percent.
    pub tax_rate: f64,
    /// The tax on the goods.
    pub tax: f64,
    /// Goods, tax and shipping.
    pub total: f64,
}

/// A line of a purchase, at the price it was bought.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PurchaseLine {
    /// The product.
    pub sku: String,
    /// Its name.
    pub name: String,
    /// Its price, dollars.
    pub price: f64,
    /// How many.
    pub quantity: i64,
    /// Price × quantity.
    pub line_total: f64,
}

/// The dispatch of a paid purchase.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Shipment {
    /// Its id.
    pub id: String,
    /// When it left, unix milliseconds.
    #[serde(rename = "dispatchedAt", deserialize_with = "unix_ms")]
    pub dispatched_at_ms: i64,
}

/// A checked-out cart, as the cart service shows it to its buyer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Purchase {
    /// Its id (paid with it as the `orderId`).
    pub id: String,
    /// Where it is in its life.
    pub status: OrderStatus,
    /// When the hold lapses, unix milliseconds.
    #[serde(rename = "expiresAt", deserialize_with = "unix_ms")]
    pub expires_at_ms: i64,
    /// When its status last changed, unix milliseconds.
    #[serde(rename = "updatedAt", deserialize_with = "unix_ms")]
    pub updated_at_ms: i64,
    /// What was bought.
    pub lines: Vec<PurchaseLine>,
    /// The goods.
    pub subtotal: f64,
    /// Where it ships.
    pub shipping: Shipping,
    /// The tax on the goods.
    pub tax: f64,
    /// What the buyer pays.
    pub total: f64,
    /// Its dispatch, once sent.
    pub shipment: Option<Shipment>,
}

impl Purchase {
    /// How it is held for its buyer.
    pub fn hold(&self) -> Hold {
        Hold {
            status: self.status,
            expires_at_ms: self.expires_at_ms,
            updated_at_ms: self.updated_at_ms,
        }
    }
}

/// What a page asks the catalog for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Search<'a> {
    /// Words to look for.
    pub q: Option<&'a str>,
    /// Only this category.
    pub category: Option<&'a str>,
    /// How many, as the page's query says.
    pub limit: &'a str,
    /// How many to skip, as the page's query says.
    pub offset: &'a str,
}

/// A product as its form posts it (`sku` on the selling form only).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProductInput<'a> {
    /// The SKU.
    pub sku: Option<&'a str>,
    /// Name.
    pub name: &'a str,
    /// Description.
    pub description: &'a str,
    /// Price, as typed.
    pub price: &'a str,
    /// Stock, as typed.
    pub stock: &'a str,
    /// Categories, separated by commas.
    pub categories: &'a str,
}

impl ProductInput<'_> {
    fn json(&self) -> Value {
        let categories: Vec<&str> = self
            .categories
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        let mut body = json!({
            "name": self.name,
            "description": self.description,
            "price": number_json(self.price),
            "stock": number_json(self.stock),
            "categories": categories,
        });
        if let Some(sku) = self.sku {
            body["sku"] = json!(sku);
        }
        body
    }
}

/// What the cart answered, and the `set-cookie` of its `cart` cookie to relay to the
/// browser (a new visitor's cart, or the one cleared once it moved into a shopper's).
#[derive(Debug, Clone, PartialEq)]
pub struct Carted<T> {
    /// The answer.
    pub value: T,
    /// The `set-cookie` header, as it is.
    pub set_cookie: Option<String>,
}

fn unix_ms<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    let text = String::deserialize(deserializer)?;
    time::parse_rfc3339(&text)
        .ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 time: {text}")))
}

/// The API on behalf of one shopper: their session cookie, a signed-out visitor's cart
/// cookie, and whether their request came over HTTPS (so that auth and the cart mark their
/// cookies `Secure` as they would for a direct call).
pub struct Api {
    session: Option<String>,
    cart: Option<String>,
    https: bool,
    origin: Origin,
}

impl Api {
    /// The API as the sender of `request` may use it.
    pub fn for_request(request: &ApiRequest) -> Self {
        Self {
            session: request
                .cookie(cookie_name(request.is_https()))
                .map(str::to_owned),
            cart: request.cookie(CART_COOKIE).map(str::to_owned),
            https: request.is_https(),
            origin: request.origin(),
        }
    }

    async fn call(
        &self,
        method: Method,
        url: &str,
        body: Option<Value>,
    ) -> Result<Response, Failure> {
        let cart = self.cart.clone().filter(|_| url.starts_with(CART_SERVICE));
        let session = cookie_name(self.https);
        let cookies: Vec<String> = [(session, &self.session), (CART_COOKIE, &cart)]
            .into_iter()
            .filter_map(|(name, value)| value.as_ref().map(|value| format!("{name}={value}")))
            .collect();
        let cookie = (!cookies.is_empty()).then(|| cookies.join("; "));
        chain::send(
            "web",
            method,
            url,
            cookie,
            self.https,
            &self.origin,
            body.as_ref(),
        )
        .await
    }

    async fn read<T: DeserializeOwned>(
        &self,
        method: Method,
        url: &str,
        body: Option<Value>,
    ) -> Result<T, Failure> {
        self.read_carted(method, url, body)
            .await
            .map(|carted| carted.value)
    }

    /// Reads the answer, with the `set-cookie` it came with.
    async fn read_carted<T: DeserializeOwned>(
        &self,
        method: Method,
        url: &str,
        body: Option<Value>,
    ) -> Result<Carted<T>, Failure> {
        let response = self.call(method.clone(), url, body).await?;
        let value = serde_json::from_slice(response.body()).map_err(|e| {
            eprintln!("web: {method} {url}: an answer the pages cannot read: {e}");
            Failure::Unavailable
        })?;
        Ok(Carted {
            value,
            set_cookie: set_cookie(&response),
        })
    }

    /// Posts to auth and returns the `set-cookie` it answered with, to relay to the
    /// browser as it is.
    async fn session_change(&self, url: &str, body: Value) -> Result<Option<String>, Failure> {
        let response = self.call(Method::Post, url, Some(body)).await?;
        Ok(set_cookie(&response))
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

    /// Puts a ticket on sale; `price` goes as the shopper typed it (see [`number_json`]).
    pub async fn sell(&self, title: &str, price: &str) -> Result<Ticket, Failure> {
        let body = json!({"title": title, "price": number_json(price)});
        self.read(Method::Post, TICKETS, Some(body)).await
    }

    /// Edits a ticket.
    pub async fn edit(&self, id: &str, title: &str, price: &str) -> Result<Ticket, Failure> {
        let body = json!({"title": title, "price": number_json(price)});
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

    /// Pays for an order, or a purchase, with a payment method (`pm_...`) or a card token.
    pub async fn pay(&self, order_id: &str, token: &str) -> Result<Payment, Failure> {
        #[derive(Deserialize)]
        struct Answer {
            status: Option<String>,
            #[serde(rename = "clientSecret")]
            client_secret: Option<String>,
        }
        let body = json!({"orderId": order_id, "token": token});
        let answer: Answer = self.read(Method::Post, PAYMENTS, Some(body)).await?;
        Ok(match (answer.status.as_deref(), answer.client_secret) {
            (Some("requires_action"), Some(secret)) => Payment::Authenticate(secret),
            (Some("processing"), _) => Payment::Processing,
            _ => Payment::Paid,
        })
    }

    /// A page of the catalog.
    pub async fn products(&self, search: &Search<'_>) -> Result<Vec<Product>, Failure> {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in [("q", search.q), ("category", search.category)] {
            if let Some(value) = value.filter(|v| !v.is_empty()) {
                query.append_pair(name, value);
            }
        }
        query.append_pair("limit", search.limit);
        query.append_pair("offset", search.offset);
        let url = format!("{PRODUCTS}?{}", query.finish());
        self.read(Method::Get, &url, None).await
    }

    /// One product.
    pub async fn product(&self, sku: &str) -> Result<Product, Failure> {
        let url = format!("{PRODUCTS}/{}", path_segment(sku));
        self.read(Method::Get, &url, None).await
    }

    /// The categories, with their counts.
    pub async fn categories(&self) -> Result<Vec<Category>, Failure> {
        self.read(Method::Get, CATEGORIES, None).await
    }

    /// Lists a product; the numbers go as typed (see [`number_json`]).
    pub async fn list_product(&self, input: &ProductInput<'_>) -> Result<Product, Failure> {
        self.read(Method::Post, PRODUCTS, Some(input.json())).await
    }

    /// Edits one's product.
    pub async fn edit_product(
        &self,
        sku: &str,
        input: &ProductInput<'_>,
    ) -> Result<Product, Failure> {
        let url = format!("{PRODUCTS}/{}", path_segment(sku));
        self.read(Method::Put, &url, Some(input.json())).await
    }

    /// What buyers think of a product.
    pub async fn rating(&self, sku: &str) -> Result<Rating, Failure> {
        let url = format!("{RATINGS}/{}", path_segment(sku));
        self.read(Method::Get, &url, None).await
    }

    /// The ratings of the products `skus` (at most 50), in one call.
    pub async fn ratings(&self, skus: &[&str]) -> Result<Vec<RatingOf>, Failure> {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("skus", &skus.join(","))
            .finish();
        self.read(Method::Get, &format!("{RATINGS}?{query}"), None)
            .await
    }

    /// Rates a product one has bought.
    pub async fn rate(&self, sku: &str, stars: &str) -> Result<Rating, Failure> {
        let url = format!("{RATINGS}/{}", path_segment(sku));
        let body = json!({"stars": number_json(stars)});
        self.read(Method::Put, &url, Some(body)).await
    }

    /// The cities the shop ships to.
    pub async fn cities(&self) -> Result<Vec<City>, Failure> {
        self.read(Method::Get, CITIES, None).await
    }

    /// The visitor's cart.
    pub async fn cart(&self) -> Result<Carted<Cart>, Failure> {
        self.read_carted(Method::Get, CART, None).await
    }

    /// Adds `quantity` (as typed) of a product to the cart.
    pub async fn add_to_cart(&self, sku: &str, quantity: &str) -> Result<Carted<Cart>, Failure> {
        let body = json!({"sku": sku, "quantity": number_json(quantity)});
        let url = format!("{CART}/items");
        self.read_carted(Method::Post, &url, Some(body)).await
    }

    /// Changes a cart line's quantity (as typed; 0 removes it).
    pub async fn set_quantity(&self, sku: &str, quantity: &str) -> Result<Carted<Cart>, Failure> {
        let body = json!({"quantity": number_json(quantity)});
        let url = format!("{CART}/items/{}", path_segment(sku));
        self.read_carted(Method::Put, &url, Some(body)).await
    }

    /// Takes a product out of the cart.
    pub async fn remove_item(&self, sku: &str) -> Result<Carted<Cart>, Failure> {
        let url = format!("{CART}/items/{}", path_segment(sku));
        self.read_carted(Method::Delete, &url, None).await
    }

    /// Chooses where the cart ships.
    pub async fn ship(&self, city: &str) -> Result<Carted<Cart>, Failure> {
        let url = format!("{CART}/shipping");
        self.read_carted(Method::Put, &url, Some(json!({"city": city})))
            .await
    }

    /// Turns the cart into a purchase.
    pub async fn checkout(&self) -> Result<Carted<Purchase>, Failure> {
        let url = format!("{CART}/checkout");
        self.read_carted(Method::Post, &url, None).await
    }

    /// The shopper's purchases, oldest first.
    pub async fn purchases(&self) -> Result<Vec<Purchase>, Failure> {
        self.read(Method::Get, PURCHASES, None).await
    }

    /// One of the shopper's purchases.
    pub async fn purchase(&self, id: &str) -> Result<Purchase, Failure> {
        let url = format!("{PURCHASES}/{}", path_segment(id));
        self.read(Method::Get, &url, None).await
    }

    /// Cancels a purchase.
    pub async fn cancel_purchase(&self, id: &str) -> Result<(), Failure> {
        let url = format!("{PURCHASES}/{}", path_segment(id));
        self.call(Method::Delete, &url, None).await.map(drop)
    }
}

/// The `set-cookie` of an answer, to relay to the browser as it is.
/// A number as typed into a form (a price, a stock, a quantity, stars), for the API: a
/// JSON number when it reads as one, so that `12.50` is 12.5; otherwise the text itself, so
/// that the API's own rule refuses it with its own message and the pages hold no copy of
/// the rule.
pub fn number_json(typed: &str) -> Value {
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
    fn typed_numbers_become_numbers_when_they_read_as_numbers() {
        assert_eq!(number_json(" 12.50 "), json!(12.5));
        assert_eq!(number_json("0"), json!(0));
        assert_eq!(number_json("-3"), json!(-3));
        assert_eq!(number_json("2"), json!(2));
        assert_eq!(number_json("ten"), json!("ten"));
        assert_eq!(number_json(""), json!(""));
    }

    #[test]
    fn a_products_form_goes_with_its_categories_as_a_list() {
        let input = ProductInput {
            sku: Some("MUG-01"),
            name: "Mug",
            description: "A mug",
            price: "12.50",
            stock: "2",
            categories: " kitchen, gifts ,, ",
        };
        assert_eq!(
            input.json(),
            json!({"sku": "MUG-01", "name": "Mug", "description": "A mug", "price": 12.5,
                   "stock": 2, "categories": ["kitchen", "gifts"]})
        );
        let edit = ProductInput { sku: None, ..input };
        assert!(edit.json().get("sku").is_none());
    }

    #[test]
    fn purchases_read_with_their_lines_and_shipment() {
        let purchase: Purchase = serde_json::from_value(json!({
            "id": "p1", "userId": "u1", "status": "complete",
            "expiresAt": "2026-11-30T12:15:00.000Z", "updatedAt": "2026-11-30T12:01:00.000Z",
            "version": 2,
            "lines": [{"sku": "MUG-01", "name": "Mug", "price": 12.5, "quantity": 2, "lineTotal": 25}],
            "subtotal": 25, "shipping": {"city": "nyc", "name": "New York", "country": "United States", "cost": 8.99},
            "tax": 2, "total": 35.99,
            "shipment": {"id": "s1", "dispatchedAt": "2026-11-30T12:02:00.000Z"}
        }))
        .unwrap();
        assert_eq!(purchase.hold().status, OrderStatus::Complete);
        assert_eq!(purchase.lines[0].line_total, 25.0);
        let shipment = purchase.shipment.unwrap();
        assert_eq!(shipment.dispatched_at_ms - purchase.updated_at_ms, 60_000);
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
