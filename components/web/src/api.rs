//! The API, as the pages read it: requests to the services through Spin service chaining
//! (`http://<component>.spin.internal`, in-process on every host that chains), carrying
//! the shopper's cookie, so that each rule stays in its service.

use serde::Deserialize;
use spin_sdk::http::{Method, Request, Response};

/// A ticket on sale, as `GET /api/tickets` lists it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Ticket {
    /// Its id.
    pub id: String,
    /// What is sold.
    pub title: String,
    /// In dollars.
    pub price: f64,
}

/// The signed-in shopper, as `GET /api/users/currentuser` answers.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct User {
    /// The shopper's email.
    pub email: String,
}

async fn get(url: &str, cookie: Option<&str>) -> Result<Vec<u8>, String> {
    let mut builder = Request::builder();
    builder.method(Method::Get).uri(url);
    if let Some(cookie) = cookie {
        builder.header("cookie", cookie);
    }
    let response: Response = spin_sdk::http::send(builder.build())
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    match *response.status() {
        200 => Ok(response.into_body()),
        status => Err(format!("GET {url}: {status}")),
    }
}

/// The tickets on sale.
pub async fn tickets() -> Result<Vec<Ticket>, String> {
    let body = get("http://tickets.spin.internal/api/tickets", None).await?;
    serde_json::from_slice(&body).map_err(|e| format!("the ticket list: {e}"))
}

/// The shopper whose session `cookie` carries, if any (and none when auth cannot say).
pub async fn current_user(cookie: Option<&str>) -> Option<User> {
    #[derive(Deserialize)]
    struct Answer {
        #[serde(rename = "currentUser")]
        current_user: Option<User>,
    }
    let body = get("http://auth.spin.internal/api/users/currentuser", cookie)
        .await
        .map_err(|e| eprintln!("web: the current user: {e}"))
        .ok()?;
    serde_json::from_slice::<Answer>(&body).ok()?.current_user
}
