//! The web component: the pages shoppers open (docs/web.md), their assets, and this
//! document with its page. Pages answer HTML, posts redirect (303) or show the form again
//! with the API's errors; every post is checked against cross-site forgery first (403).
//! A `HEAD` is answered as the `GET` of the same path.

use serde::Serialize;
use utoipa::ToSchema;

use crate::route::operations;

operations!("web":
    /// `GET /`
    Listing in "pages",
    /// `GET /signup`
    SignUpForm in "pages",
    /// `POST /signup`
    SignUp in "pages",
    /// `GET /signin`
    SignInForm in "pages",
    /// `POST /signin`
    SignIn in "pages",
    /// `POST /signout`
    SignOut in "pages",
    /// `GET /sell`
    SellForm in "pages",
    /// `POST /sell`
    Sell in "pages",
    /// `GET /tickets/{id}`
    Ticket in "pages",
    /// `POST /tickets/{id}/order`
    Buy in "pages",
    /// `GET /tickets/{id}/edit`
    EditForm in "pages",
    /// `POST /tickets/{id}/edit`
    Edit in "pages",
    /// `GET /orders`
    MyOrders in "pages",
    /// `GET /orders/{id}`
    Order in "pages",
    /// `GET /orders/{id}/paid`
    Paid in "pages",
    /// `POST /orders/{id}/pay`
    Pay in "pages",
    /// `POST /orders/{id}/cancel`
    Cancel in "pages",
    /// `GET /shop`
    Shop in "pages",
    /// `GET /shop/sell`
    SellProductForm in "pages",
    /// `POST /shop/sell`
    SellProduct in "pages",
    /// `GET /shop/products/{sku}`
    Product in "pages",
    /// `GET /shop/products/{sku}/edit`
    EditProductForm in "pages",
    /// `POST /shop/products/{sku}/edit`
    EditProduct in "pages",
    /// `POST /shop/products/{sku}/cart`
    AddToCart in "pages",
    /// `POST /shop/products/{sku}/rating`
    Rate in "pages",
    /// `GET /cart`
    Cart in "pages",
    /// `POST /cart/items/{sku}`
    SetQuantity in "pages",
    /// `POST /cart/items/{sku}/remove`
    RemoveItem in "pages",
    /// `POST /cart/shipping`
    Ship in "pages",
    /// `POST /cart/checkout`
    Checkout in "pages",
    /// `GET /purchases`
    MyPurchases in "pages",
    /// `GET /purchases/{id}`
    Purchase in "pages",
    /// `GET /purchases/{id}/paid`
    PurchasePaid in "pages",
    /// `POST /purchases/{id}/pay`
    PayPurchase in "pages",
    /// `POST /purchases/{id}/cancel`
    CancelPurchase in "pages",
    /// `GET /assets/{file}`
    Asset in "pages",
    /// `GET /api/openapi.json`
    OpenApi in "documentation",
    /// `GET /api/docs`
    Docs in "documentation",
);

/// The form field carrying the session's token against cross-site forgery.
pub const CSRF_FIELD: &str = "csrf";

/// The sign-up and sign-in form.
#[derive(Serialize, ToSchema)]
pub struct CredentialsForm {
    /// Email.
    pub email: String,
    /// Password.
    pub password: String,
    /// Where to go afterwards: a path of this shop.
    pub next: Option<String>,
}

/// A form with nothing but the session's token.
#[derive(Serialize, ToSchema)]
pub struct TokenForm {
    /// The session's token against cross-site forgery.
    pub csrf: Option<String>,
}

/// The selling and editing form.
#[derive(Serialize, ToSchema)]
pub struct TicketForm {
    /// Title.
    pub title: String,
    /// Price, as typed.
    pub price: String,
    /// The session's token against cross-site forgery.
    pub csrf: Option<String>,
}

/// The payment form.
#[derive(Serialize, ToSchema)]
pub struct PayForm {
    /// A Stripe token (`tok_visa` without a publishable key).
    pub token: String,
    /// The session's token against cross-site forgery.
    pub csrf: Option<String>,
}

/// The cancellation form.
#[derive(Serialize, ToSchema)]
pub struct CancelForm {
    /// `orders` to come back to my orders afterwards.
    pub back: Option<String>,
    /// The session's token against cross-site forgery.
    pub csrf: Option<String>,
}

/// The form that lists a product for sale or edits one.
#[derive(Serialize, ToSchema)]
pub struct ProductForm {
    /// The SKU, on the selling form only (it names the product for good).
    pub sku: Option<String>,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Price, as typed.
    pub price: String,
    /// Units in stock, as typed.
    pub stock: String,
    /// Categories, separated by commas.
    pub categories: String,
    /// The session's token against cross-site forgery.
    pub csrf: Option<String>,
}

/// A quantity: how many to add to the cart, or a cart line's new quantity (0 removes it).
#[derive(Serialize, ToSchema)]
pub struct QuantityForm {
    /// How many, as typed.
    pub quantity: String,
    /// The session's token against cross-site forgery.
    pub csrf: Option<String>,
}

/// A rating of a product one has bought.
#[derive(Serialize, ToSchema)]
pub struct RatingForm {
    /// 1 to 5.
    pub stars: String,
    /// The session's token against cross-site forgery.
    pub csrf: Option<String>,
}

/// Where the cart ships.
#[derive(Serialize, ToSchema)]
pub struct ShippingForm {
    /// A city's code, as the shipping service lists them.
    pub city: String,
    /// The session's token against cross-site forgery.
    pub csrf: Option<String>,
}

/// Declares a page (`GET`, HTML) with its marker, path and the statuses it may answer
/// besides 200.
macro_rules! page {
    ($fn:ident, $marker:ident, $path:literal, $summary:literal, params($($params:tt)*)) => {
        #[doc = $summary]
        #[utoipa::path(
            get,
            path = $path,
            impl_for = $marker,
            params($($params)*),
            responses(
                (status = 200, description = "The page.", content_type = "text/html", body = String),
                (status = 303, description = "Sign in first: to `/signin?next=<this page>`.",
                    headers(("location" = String, description = "Where to go."))),
                (status = 404, description = "Nothing here (or not the visitor's to see).", content_type = "text/html", body = String),
                (status = 503, description = "The shop cannot answer right now.", content_type = "text/html", body = String),
            ),
            security((), ("session" = [])),
        )]
        #[allow(dead_code)]
        fn $fn() {}
    };
}

/// Declares a form post with its marker, path and form.
macro_rules! post {
    ($fn:ident, $marker:ident, $path:literal, $summary:literal, $form:ty, params($($params:tt)*)) => {
        #[doc = $summary]
        #[utoipa::path(
            post,
            path = $path,
            impl_for = $marker,
            params($($params)*),
            request_body(content = $form, content_type = "application/x-www-form-urlencoded"),
            responses(
                (status = 303, description = "Done: on to the next page.",
                    headers(("location" = String, description = "Where to go."))),
                (status = 400, description = "Refused: the form again, with the API's reasons.", content_type = "text/html", body = String),
                (status = 403, description = "Not posted from this shop's pages, or not with this session's token: nothing done.", content_type = "text/html", body = String),
                (status = 404, description = "Nothing here (or not the visitor's).", content_type = "text/html", body = String),
                (status = 429, description = "Too many attempts (sign-ins, sign-ups, payments): try later.", content_type = "text/html", body = String),
                (status = 503, description = "The shop cannot answer right now.", content_type = "text/html", body = String),
            ),
            security((), ("session" = [])),
        )]
        #[allow(dead_code)]
        fn $fn() {}
    };
}

page!(listing, Listing, "/", "The tickets on sale", params());
page!(sign_up_form, SignUpForm, "/signup", "The sign-up form",
    params(("next" = Option<String>, Query, description = "Where to go afterwards.")));
post!(
    sign_up,
    SignUp,
    "/signup",
    "Sign up",
    CredentialsForm,
    params()
);
page!(sign_in_form, SignInForm, "/signin", "The sign-in form",
    params(("next" = Option<String>, Query, description = "Where to go afterwards.")));
post!(
    sign_in,
    SignIn,
    "/signin",
    "Sign in",
    CredentialsForm,
    params()
);
post!(
    sign_out,
    SignOut,
    "/signout",
    "Sign out",
    TokenForm,
    params()
);
page!(sell_form, SellForm, "/sell", "The selling form", params());
post!(
    sell,
    Sell,
    "/sell",
    "Put a ticket on sale",
    TicketForm,
    params()
);
page!(
    ticket,
    Ticket,
    "/tickets/{id}",
    "A ticket, with a buy button or why not",
    params(("id" = String, Path, description = "The ticket's id."))
);
post!(
    buy,
    Buy,
    "/tickets/{id}/order",
    "Reserve a ticket",
    TokenForm,
    params(("id" = String, Path, description = "The ticket's id."))
);
page!(
    edit_form,
    EditForm,
    "/tickets/{id}/edit",
    "The editing form",
    params(("id" = String, Path, description = "The ticket's id."))
);
post!(
    edit,
    Edit,
    "/tickets/{id}/edit",
    "Edit a ticket",
    TicketForm,
    params(("id" = String, Path, description = "The ticket's id."))
);
page!(my_orders, MyOrders, "/orders", "My orders", params());
page!(
    order,
    Order,
    "/orders/{id}",
    "An order: countdown, payment form, cancel",
    params(("id" = String, Path, description = "The order's id."))
);
page!(
    paid,
    Paid,
    "/orders/{id}/paid",
    "An order just paid, until its payment is confirmed",
    params(("id" = String, Path, description = "The order's id."))
);
post!(
    pay,
    Pay,
    "/orders/{id}/pay",
    "Pay for an order",
    PayForm,
    params(("id" = String, Path, description = "The order's id."))
);
post!(
    cancel,
    Cancel,
    "/orders/{id}/cancel",
    "Cancel an order",
    CancelForm,
    params(("id" = String, Path, description = "The order's id."))
);

/// The goods on sale: search, categories, paging
///
/// An empty parameter counts as absent. A search the catalog refuses (a `limit` that is not
/// 1 to 100, words past 200 characters, a category that cannot be one) is a 400 page saying
/// why.
#[utoipa::path(
    get,
    path = "/shop",
    impl_for = Shop,
    params(
        ("q" = Option<String>, Query, description = "Words to look for."),
        ("category" = Option<String>, Query, description = "Only this category."),
        ("limit" = Option<String>, Query, description = "How many products a page shows (12 unless said)."),
        ("offset" = Option<String>, Query, description = "How many to skip."),
    ),
    responses(
        (status = 200, description = "The page.", content_type = "text/html", body = String),
        (status = 400, description = "The catalog refused the search: the page says why.", content_type = "text/html", body = String),
        (status = 503, description = "The shop cannot answer right now.", content_type = "text/html", body = String),
    ),
    security((), ("session" = [])),
)]
#[allow(dead_code)]
fn shop() {}
page!(
    sell_product_form,
    SellProductForm,
    "/shop/sell",
    "The form that lists a product",
    params()
);
post!(
    sell_product,
    SellProduct,
    "/shop/sell",
    "List a product",
    ProductForm,
    params()
);
page!(
    product,
    Product,
    "/shop/products/{sku}",
    "A product: its rating, the cart form, the rating form for its buyers",
    params(("sku" = String, Path, description = "The product's SKU."))
);
page!(
    edit_product_form,
    EditProductForm,
    "/shop/products/{sku}/edit",
    "The form that edits one's product",
    params(("sku" = String, Path, description = "The product's SKU."))
);
post!(
    edit_product,
    EditProduct,
    "/shop/products/{sku}/edit",
    "Edit a product",
    ProductForm,
    params(("sku" = String, Path, description = "The product's SKU."))
);
post!(
    add_to_cart,
    AddToCart,
    "/shop/products/{sku}/cart",
    "Add a product to the cart, then show the cart",
    QuantityForm,
    params(("sku" = String, Path, description = "The product's SKU."))
);
post!(
    rate,
    Rate,
    "/shop/products/{sku}/rating",
    "Rate a product one has bought",
    RatingForm,
    params(("sku" = String, Path, description = "The product's SKU."))
);
page!(
    cart,
    Cart,
    "/cart",
    "The cart: its lines, where it ships, its totals, checkout",
    params()
);
post!(
    set_quantity,
    SetQuantity,
    "/cart/items/{sku}",
    "Change a cart line's quantity",
    QuantityForm,
    params(("sku" = String, Path, description = "The product's SKU."))
);
post!(
    remove_item,
    RemoveItem,
    "/cart/items/{sku}/remove",
    "Take a product out of the cart",
    TokenForm,
    params(("sku" = String, Path, description = "The product's SKU."))
);
post!(
    ship,
    Ship,
    "/cart/shipping",
    "Choose where the cart ships",
    ShippingForm,
    params()
);
post!(
    checkout,
    Checkout,
    "/cart/checkout",
    "Check out: on to the new purchase (signed-out visitors sign in first)",
    TokenForm,
    params()
);
page!(
    my_purchases,
    MyPurchases,
    "/purchases",
    "My purchases",
    params()
);
page!(
    purchase,
    Purchase,
    "/purchases/{id}",
    "A purchase: its lines and totals, countdown, payment form, cancel, shipment",
    params(("id" = String, Path, description = "The purchase's id."))
);
page!(
    purchase_paid,
    PurchasePaid,
    "/purchases/{id}/paid",
    "A purchase just paid, until its payment is confirmed",
    params(("id" = String, Path, description = "The purchase's id."))
);
post!(
    pay_purchase,
    PayPurchase,
    "/purchases/{id}/pay",
    "Pay for a purchase",
    PayForm,
    params(("id" = String, Path, description = "The purchase's id."))
);
post!(
    cancel_purchase,
    CancelPurchase,
    "/purchases/{id}/cancel",
    "Cancel a purchase",
    TokenForm,
    params(("id" = String, Path, description = "The purchase's id."))
);

/// An asset: the stylesheet, the script or the icon
///
/// Named after its content (`style-<hash>.css`, `app-<hash>.js`, `icon-<hash>.svg`, as
/// the pages link them), so that it may be cached for a year.
#[utoipa::path(
    get,
    path = "/assets/{file}",
    impl_for = Asset,
    params(("file" = String, Path, description = "The asset's name, as the pages link it.")),
    responses(
        (status = 200, description = "The asset.", content(
            (String = "text/css"), (String = "text/javascript"), (String = "image/svg+xml"))),
        (status = 404, description = "No such asset.", body = crate::schemas::Errors),
    ),
)]
#[allow(dead_code)]
fn asset() {}

/// This document
///
/// The OpenAPI 3.1 description of every route the shop serves, made from the code that
/// routes them.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    impl_for = OpenApi,
    responses((status = 200, description = "The document.", body = Object)),
)]
#[allow(dead_code)]
fn openapi() {}

/// This document as a page
#[utoipa::path(
    get,
    path = "/api/docs",
    impl_for = Docs,
    responses((status = 200, description = "Every operation, rendered on the server.", content_type = "text/html", body = String)),
)]
#[allow(dead_code)]
fn docs() {}
