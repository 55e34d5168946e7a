//! The load generator: HTTP/1.1 keep-alive connections on 127.0.0.1, driven either at a fixed
//! concurrency (each connection sends its next request when the last is answered) or at an
//! offered rate (requests are due on a fixed schedule, and a request's latency counts from
//! when it was due, so a slow server cannot hide its queue: no coordinated omission).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// One request to send.
#[derive(Debug, Clone)]
pub struct Call {
    /// `GET`, `POST`, ...
    pub method: http::Method,
    /// The path and query.
    pub path: String,
    /// The session cookie, if any.
    pub cookie: Option<String>,
    /// The client address the call stands for (`boxoffice-client-addr`, believed from
    /// loopback), so that many simulated shoppers are not one address to the throttle.
    pub client: Option<String>,
    /// A JSON body, if any.
    pub body: Option<Vec<u8>>,
}

impl Call {
    /// A GET of `path`.
    pub fn get(path: impl Into<String>) -> Self {
        Self {
            method: http::Method::GET,
            path: path.into(),
            cookie: None,
            client: None,
            body: None,
        }
    }

    /// A POST of `body` (JSON) to `path`.
    pub fn post(path: impl Into<String>, body: &serde_json::Value) -> Self {
        Self {
            method: http::Method::POST,
            path: path.into(),
            cookie: None,
            client: None,
            body: Some(body.to_string().into_bytes()),
        }
    }

    /// The same call standing for the `n`th simulated client.
    pub fn standing_for(mut self, n: u64) -> Self {
        self.client = Some(boxoffice_testkit::simulated_client(n));
        self
    }

    /// The same call with the session `cookie`.
    pub fn with_cookie(mut self, cookie: &str) -> Self {
        self.cookie = Some(cookie.to_owned());
        self
    }
}

/// Makes the `n`th call of a run (so that each order can reserve its own ticket).
pub type Calls = Arc<dyn Fn(u64) -> Call + Send + Sync>;

/// What a run measured.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// The latency of each answered request, sorted.
    pub latencies: Vec<Duration>,
    /// Requests answered with an unexpected status, or not answered.
    pub errors: u64,
    /// From the first request sent to the last answered.
    pub elapsed: Duration,
    /// How many answers had each status.
    pub statuses: BTreeMap<u16, u64>,
}

impl Sample {
    /// Requests answered per second (errors included).
    pub fn rate(&self) -> f64 {
        (self.latencies.len() as f64 + self.errors as f64) / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The latency at quantile `q` (0.5, 0.95, 0.99), or zero with no answer.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank =
            ((self.latencies.len() as f64 * q).ceil() as usize).clamp(1, self.latencies.len());
        self.latencies[rank - 1]
    }
}

/// How much load, for how long.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    /// Connections.
    pub connections: usize,
    /// Requests at most.
    pub requests: u64,
    /// Time at most.
    pub duration: Duration,
    /// Requests per second offered, or `None`: each connection sends as fast as it is answered.
    pub rate: Option<f64>,
}

/// The status every answer of a run must have.
pub type Expect = fn(u16) -> bool;

async fn connect(addr: &str) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

async fn send(
    sender: &mut SendRequest<Full<Bytes>>,
    host: &str,
    call: &Call,
) -> anyhow::Result<u16> {
    Ok(exchange(sender, host, call).await?.status)
}

/// A whole answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Its status.
    pub status: u16,
    /// The `name=value` of its `set-cookie`, if any.
    pub cookie: Option<String>,
    /// Its body.
    pub body: Bytes,
}

/// Sends `call` and reads the whole answer.
async fn exchange(
    sender: &mut SendRequest<Full<Bytes>>,
    host: &str,
    call: &Call,
) -> anyhow::Result<Answer> {
    let mut request = http::Request::builder()
        .method(call.method.clone())
        .uri(&call.path)
        .header("host", host);
    if let Some(cookie) = &call.cookie {
        request = request.header("cookie", cookie);
    }
    if let Some(client) = &call.client {
        request = request.header("boxoffice-client-addr", client);
    }
    let body = match &call.body {
        Some(body) => {
            request = request.header("content-type", "application/json");
            Full::new(Bytes::from(body.clone()))
        }
        None => Full::new(Bytes::new()),
    };
    sender.ready().await?;
    let response = sender.send_request(request.body(body)?).await?;
    let status = response.status().as_u16();
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(str::to_owned);
    let body = response.into_body().collect().await?.to_bytes();
    Ok(Answer {
        status,
        cookie,
        body,
    })
}

/// Sends the `count` calls of `calls` over `connections` connections, as fast as answered,
/// and returns each answer, in call order: how the bench seeds its data through the API.
pub async fn fetch_all(
    addr: &str,
    calls: Calls,
    count: u64,
    connections: usize,
) -> anyhow::Result<Vec<Answer>> {
    let next = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..connections.max(1) {
        let mut sender = connect(addr).await?;
        let (next, calls, addr) = (next.clone(), calls.clone(), addr.to_owned());
        workers.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    break;
                }
                answers.push((n, exchange(&mut sender, &addr, &calls(n)).await?));
            }
            Ok::<_, anyhow::Error>(answers)
        }));
    }
    let mut answers = Vec::with_capacity(count as usize);
    for worker in workers {
        answers.extend(worker.await??);
    }
    answers.sort_by_key(|(n, _)| *n);
    Ok(answers.into_iter().map(|(_, answer)| answer).collect())
}

/// Runs `calls` against `addr` (`127.0.0.1:port`) under `load`; every answer must satisfy
/// `expect`.
pub async fn run(addr: &str, calls: Calls, load: Load, expect: Expect) -> anyhow::Result<Sample> {
    let mut senders = Vec::with_capacity(load.connections);
    for _ in 0..load.connections {
        senders.push(connect(addr).await?);
    }
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + load.duration;
    let workers = senders.into_iter().map(|mut sender| {
        let (next, calls, addr) = (next.clone(), calls.clone(), addr.to_owned());
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let mut statuses = BTreeMap::<u16, u64>::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= load.requests {
                    break;
                }
                // Open loop: request n is due at start + n / rate.
                let due = match load.rate {
                    Some(rate) => start + Duration::from_secs_f64(n as f64 / rate),
                    None => Instant::now(),
                };
                if due > deadline || Instant::now() > deadline {
                    break;
                }
                tokio::time::sleep_until(due.into()).await;
                let call = calls(n);
                let sent = send(&mut sender, &addr, &call).await;
                if let Ok(status) = sent {
                    *statuses.entry(status).or_default() += 1;
                }
                match sent {
                    Ok(status) if expect(status) => latencies.push(due.elapsed()),
                    Ok(_) => errors += 1,
                    Err(_) => {
                        errors += 1;
                        match connect(&addr).await {
                            Ok(fresh) => sender = fresh,
                            Err(_) => break,
                        }
                    }
                }
            }
            (latencies, errors, statuses, Instant::now())
        })
    });
    let mut sample = Sample::default();
    let mut last = start;
    for worker in workers.collect::<Vec<_>>() {
        let (latencies, errors, statuses, finished) = worker.await?;
        sample.latencies.extend(latencies);
        sample.errors += errors;
        for (status, count) in statuses {
            *sample.statuses.entry(status).or_default() += count;
        }
        last = last.max(finished);
    }
    sample.latencies.sort();
    sample.elapsed = last - start;
    Ok(sample)
}
