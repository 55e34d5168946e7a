//! End to end: the GraphQL API (docs/graphql.md) on the real runtime. A purchase driven
//! only through `/api/graphql` against a faithful fake of Stripe; the services' refusals
//! as GraphQL errors with their messages and fields; queries over the limits refused; the
//! nested `myOrders { ticket }` costing one call per service, not one per order; and the
//! ways in that are refused (a mutation by GET, a POST that is not JSON).

use boxoffice_testkit as support;

use serde_json::{json, Value};
use support::stripe::FakeStripe;
use support::{metrics, unique_email, wait_until, Shop, ShopOptions, EVENTUAL};

/// POSTs a GraphQL request as `cookie` (if any).
fn gql(shop: &Shop, cookie: Option<&str>, query: &str, variables: Value) -> support::Resp {
    let resp = shop.post(
        "/api/graphql",
        cookie,
        json!({"query": query, "variables": variables}),
    );
    assert_eq!(resp.status, 200, "{}", resp.text);
    resp
}

/// The data of a GraphQL answer that must have no error.
fn data(resp: &support::Resp) -> &Value {
    assert!(resp.json["errors"].is_null(), "{}", resp.text);
    &resp.json["data"]
}

/// A GraphQL error's `(message, status, field)`.
type GraphQlError = (String, Option<i64>, Option<String>);

/// The GraphQL errors of an answer.
fn errors(resp: &support::Resp) -> Vec<GraphQlError> {
    resp.json["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors: {}", resp.text))
        .iter()
        .map(|e| {
            (
                e["message"].as_str().unwrap_or_default().to_owned(),
                e["extensions"]["status"].as_i64(),
                e["extensions"]["field"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

/// Signs up through GraphQL and returns the session cookie it set.
fn sign_up(shop: &Shop, tag: &str) -> String {
    let resp = gql(
        shop,
        None,
        "mutation($email: String!) { signUp(email: $email, password: \"pass\") { id email } }",
        json!({"email": unique_email(tag)}),
    );
    assert!(data(&resp)["signUp"]["id"].is_string(), "{}", resp.text);
    resp.session_cookie()
        .expect("signUp sets the session cookie")
}

fn create_ticket(shop: &Shop, seller: &str, title: &str) -> String {
    let resp = gql(
        shop,
        Some(seller),
        "mutation($title: String!) { createTicket(title: $title, price: 25) { id title price version } }",
        json!({"title": title}),
    );
    let ticket = &data(&resp)["createTicket"];
    assert_eq!(
        (&ticket["price"], &ticket["version"]),
        (&json!(25.0), &json!(0))
    );
    ticket["id"].as_str().unwrap().to_owned()
}

/// Places an order, retrying while the orders service has not heard of the ticket yet.
fn place_order(shop: &Shop, buyer: &str, ticket_id: &str) -> Value {
    wait_until("the orders replica of the ticket", EVENTUAL, || {
        let resp = gql(
            shop,
            Some(buyer),
            "mutation($id: ID!) { placeOrder(ticketId: $id) { id status ticket { id title userId orderId } } }",
            json!({"id": ticket_id}),
        );
        match errors_or_data(&resp) {
            Err(errors) if errors[0].1 == Some(404) => None,
            Err(errors) => panic!("placeOrder refused: {errors:?}"),
            Ok(data) => Some(data["placeOrder"].clone()),
        }
    })
}

fn errors_or_data(resp: &support::Resp) -> Result<&Value, Vec<GraphQlError>> {
    if resp.json["errors"].is_null() {
        Ok(&resp.json["data"])
    } else {
        Err(errors(resp))
    }
}

#[test]
fn a_purchase_through_graphql_alone() {
    let stripe = FakeStripe::start();
    let shop = Shop::start_with(ShopOptions {
        variables: stripe.variables(),
        ..Default::default()
    });
    let seller = sign_up(&shop, "seller");
    let me = gql(&shop, Some(&seller), "{ me { email } }", json!({}));
    assert!(data(&me)["me"]["email"]
        .as_str()
        .unwrap()
        .starts_with("seller-"));
    let ticket_id = create_ticket(&shop, &seller, "Opera night");

    // The services' rules and messages, as GraphQL errors with the field at fault.
    let refused = gql(
        &shop,
        Some(&seller),
        "mutation { createTicket(title: \"  \", price: -1) { id } }",
        json!({}),
    );
    assert_eq!(
        errors(&refused),
        [
            (
                "Title is required".to_owned(),
                Some(400),
                Some("title".to_owned())
            ),
            (
                "Price must be greater than 0".to_owned(),
                Some(400),
                Some("price".to_owned())
            ),
        ]
    );
    let anonymous = gql(
        &shop,
        None,
        "mutation { createTicket(title: \"x\", price: 5) { id } }",
        json!({}),
    );
    assert_eq!(errors(&anonymous)[0].1, Some(401));

    let listed = gql(
        &shop,
        None,
        "{ tickets(limit: 100) { total items { id title } } }",
        json!({}),
    );
    let items = data(&listed)["tickets"]["items"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        items.iter().any(|t| t["id"] == ticket_id),
        "{}",
        listed.text
    );

    let buyer = sign_up(&shop, "buyer");
    let order = place_order(&shop, &buyer, &ticket_id);
    assert_eq!(order["status"], "CREATED");
    assert_eq!(order["ticket"]["id"], ticket_id);
    let order_id = order["id"].as_str().unwrap().to_owned();
    let again = gql(
        &shop,
        Some(&seller),
        "mutation($id: ID!) { placeOrder(ticketId: $id) { id } }",
        json!({"id": ticket_id}),
    );
    assert_eq!(
        errors(&again),
        [("Ticket is already reserved".to_owned(), Some(400), None)]
    );

    let paid = wait_until("the payments replica of the order", EVENTUAL, || {
        let resp = gql(
            &shop,
            Some(&buyer),
            "mutation($id: ID!) { pay(orderId: $id, token: \"tok_visa\") { id } }",
            json!({"id": order_id}),
        );
        match errors_or_data(&resp) {
            Err(errors) if errors[0].1 == Some(404) => None,
            Err(errors) => panic!("pay refused: {errors:?}"),
            Ok(data) => Some(data["pay"]["id"].clone()),
        }
    });
    assert!(paid.is_string());
    assert_eq!(stripe.charges().len(), 1);
    wait_until("the order complete", EVENTUAL, || {
        let resp = gql(
            &shop,
            Some(&buyer),
            "{ myOrders { id status ticket { id userId } } }",
            json!({}),
        );
        let orders = data(&resp)["myOrders"].as_array().unwrap().clone();
        (orders.len() == 1 && orders[0]["status"] == "COMPLETE").then_some(())
    });
    let cancel = gql(
        &shop,
        Some(&buyer),
        "mutation($id: ID!) { cancelOrder(id: $id) }",
        json!({"id": order_id}),
    );
    assert_eq!(
        errors(&cancel),
        [(
            "Cannot cancel a completed order".to_owned(),
            Some(400),
            None
        )]
    );
    let theirs = gql(
        &shop,
        Some(&seller),
        "query($id: ID!) { order(id: $id) { id } }",
        json!({"id": order_id}),
    );
    assert_eq!(errors(&theirs)[0].1, Some(401), "another shopper's order");

    // Signing out clears the cookie, and later calls of the same request are nobody's.
    let out = gql(&shop, Some(&buyer), "mutation { signOut }", json!({}));
    assert_eq!(data(&out)["signOut"], true);
    assert!(
        out.set_cookies().iter().any(|c| c.starts_with("session=;")),
        "{:?}",
        out.set_cookies()
    );
}

#[test]
fn queries_over_the_limits_and_introspection_are_refused_with_a_clear_error() {
    let shop = Shop::shared();
    let page = "t{n}: tickets(limit: 100) { total items { id title price userId version } }";
    let within = gql(
        shop,
        None,
        &format!("{{ {} }}", page.replace("{n}", "0")),
        json!({}),
    );
    assert!(data(&within)["t0"]["items"].is_array());
    // Forty aliased pages of a hundred tickets: past the root-field limit (and the
    // complexity limit), refused before anything runs.
    let pages: Vec<String> = (0..40)
        .map(|n| page.replace("{n}", &n.to_string()))
        .collect();
    let resp = gql(shop, None, &format!("{{ {} }}", pages.join(" ")), json!({}));
    let refused = errors(&resp);
    assert_eq!(
        refused[0].0, "At most 10 fields at the root of a request (40 asked)",
        "{}",
        resp.text
    );
    assert!(resp.json["data"].is_null(), "nothing ran: {}", resp.text);
    // Introspection is off unless graphql_introspection says "true", as in production.
    let resp = gql(shop, None, "{ __schema { queryType { name } } }", json!({}));
    assert_eq!(
        errors(&resp)[0].0,
        "Introspection is off here (the graphql_introspection variable turns it on)"
    );

    // With introspection on, the schema answers about itself, within the depth limit.
    let open = Shop::start_with(ShopOptions {
        variables: vec![("graphql_introspection".into(), "true".into())],
        ..Default::default()
    });
    let resp = gql(
        &open,
        None,
        "{ __schema { queryType { name } } }",
        json!({}),
    );
    assert_eq!(data(&resp)["__schema"]["queryType"]["name"], "Query");
    let deep =
        "{ __schema { types { fields { type { ofType { ofType { ofType { name } } } } } } } }";
    let resp = gql(&open, None, deep, json!({}));
    assert!(errors(&resp)[0].0.contains("too deep"), "{}", resp.text);
}

#[test]
fn my_orders_with_their_tickets_is_one_call_per_service_not_one_per_order() {
    let shop = Shop::start();
    let seller = sign_up(&shop, "seller");
    let buyer = sign_up(&shop, "buyer");
    for n in 0..4 {
        let id = create_ticket(&shop, &seller, &format!("Show {n}"));
        place_order(&shop, &buyer, &id);
    }
    let hosts = ["orders.spin.internal", "tickets.spin.internal"];
    let before = hosts.map(|host| calls(&shop, host));
    let resp = gql(
        &shop,
        Some(&buyer),
        "{ myOrders { id status ticket { id title userId orderId } } }",
        json!({}),
    );
    let orders = data(&resp)["myOrders"].as_array().unwrap().clone();
    assert_eq!(orders.len(), 4);
    assert!(
        orders.iter().all(|o| o["ticket"]["orderId"] == o["id"]),
        "{}",
        resp.text
    );
    let after = hosts.map(|host| calls(&shop, host));
    assert_eq!(
        [after[0] - before[0], after[1] - before[1]],
        [1.0, 1.0],
        "one call to orders and one to tickets for four orders"
    );
}

/// How many calls the GraphQL component has made to `host` so far, by the runtime's
/// metrics.
fn calls(shop: &Shop, host: &str) -> f64 {
    let scrape = metrics::scrape(&shop.runtime().admin);
    let labels = [("component", "graphql"), ("host", host), ("status", "200")];
    metrics::sample(&scrape, "boxoffice_outbound_requests_total", &labels).unwrap_or(0.0)
}

#[test]
fn a_mutation_by_get_and_a_post_that_is_not_json_are_refused() {
    let shop = Shop::shared();
    let query: String = form_urlencoded::byte_serialize(b"mutation { signOut }").collect();
    let resp = shop.get(&format!("/api/graphql?query={query}"), None);
    assert_eq!(resp.status, 400);
    assert_eq!(resp.error_messages(), ["Mutations must be POSTed"]);
    let query: String = form_urlencoded::byte_serialize(b"{ tickets { total } }").collect();
    let resp = shop.get(&format!("/api/graphql?query={query}"), None);
    assert_eq!(resp.status, 200, "{}", resp.text);
    assert!(resp.json["data"]["tickets"]["total"].is_number());
    let form = shop.request(
        "POST",
        "/api/graphql",
        None,
        support::Body::Form(vec![("query".into(), "mutation { signOut }".into())]),
    );
    assert_eq!(form.status, 400, "a cross-site form cannot post a mutation");
    let empty = shop.post("/api/graphql", None, json!({"variables": null}));
    assert_eq!(empty.status, 400);
    assert_eq!(empty.error_messages(), ["A query is required"]);
    let page = shop.get(&format!("/api/graphql/explorer?query={query}"), None);
    assert_eq!(page.status, 200);
    let policy = page
        .headers
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(policy.starts_with("default-src 'none'"), "{policy}");
    assert!(
        page.text.contains("&quot;total&quot;") || page.text.contains("\"total\""),
        "the result is shown"
    );
    assert!(!page.text.contains("<script"), "no script");
    assert!(
        !page.text.contains("http://") && !page.text.contains("https://"),
        "nothing from elsewhere"
    );
}
