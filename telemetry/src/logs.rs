//! The log: readable text by default, one JSON object per line with `--log-format json`,
//! always on stderr, and never a secret in it.
//!
//! What is logged is chosen so that no password, token, cookie, card or key is ever an
//! argument of a log line (paths without their query, ids, statuses, times). As a second
//! line of defence every line is scrubbed before it is written: credentials in URLs,
//! bearer tokens, JSON web tokens, Stripe keys and tokens, and `name=value` pairs whose
//! name says secret ([`scrub`]).

use std::io::{IsTerminal as _, Write};
use std::sync::OnceLock;

use regex::Regex;
use tracing_subscriber::fmt::MakeWriter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// `2026-12-01T10:00:00Z  INFO GET /api/tickets -> tickets 200 (1.2 ms) ...`
    #[default]
    Text,
    /// `{"timestamp":"...","level":"INFO","message":"...","status":200,...}`
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!(
                "unknown log format `{other}`: use `text` or `json`"
            )),
        }
    }
}

/// The filter when `RUST_LOG` is not set: Postgres notices (such as the pool's ROLLBACK
/// outside a transaction) and NATS chatter are not worth a line each.
const DEFAULT_FILTER: &str = "info,tokio_postgres=warn,async_nats=warn,opentelemetry=warn";

/// Sets up the process's log in `format`, filtered by `RUST_LOG` (default: info).
pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(Scrubbed)
        .with_target(false);
    let installed = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .fmt_fields(tracing_subscriber::fmt::format::debug_fn(text_field))
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
    };
    // A second init (as in tests) keeps the first.
    drop(installed);
}

/// The fields a request or delivery line also says in its message: JSON lines keep them
/// for a log shipper, text lines leave them out, so that they stay readable.
const SAID_IN_THE_MESSAGE: [&str; 14] = [
    "method",
    "path",
    "component",
    "route",
    "status",
    "duration_ms",
    "event_id",
    "event_type",
    "subscription",
    "attempt",
    "outcome",
    "retry_in_ms",
    "error",
    "stream",
];

/// A field of a text line: the message as it is, any other field not in
/// [`SAID_IN_THE_MESSAGE`] as ` name=value`.
fn text_field(
    writer: &mut tracing_subscriber::fmt::format::Writer<'_>,
    field: &tracing::field::Field,
    value: &dyn std::fmt::Debug,
) -> std::fmt::Result {
    match field.name() {
        "message" => write!(writer, "{value:?}"),
        name if SAID_IN_THE_MESSAGE.contains(&name) => Ok(()),
        name => write!(writer, " {name}={value:?}"),
    }
}

/// Writes each formatted line to stderr, scrubbed.
struct Scrubbed;

/// One line being formatted.
struct Line(Vec<u8>);

impl<'a> MakeWriter<'a> for Scrubbed {
    type Writer = Line;

    fn make_writer(&'a self) -> Self::Writer {
        Line(Vec::with_capacity(256))
    }
}

impl Write for Line {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        let line = String::from_utf8_lossy(&self.0);
        let _ = std::io::stderr().lock().write_all(scrub(&line).as_bytes());
    }
}

struct Patterns {
    url_password: Regex,
    bearer: Regex,
    jwt: Regex,
    stripe: Regex,
    named: Regex,
    json: Regex,
    header: Regex,
}

/// What a name that holds a secret ends with.
const SECRET_NAME: &str = "(?:password|passwd|secret|token|session|jwt|api[_-]?key|_key)";

fn patterns() -> &'static Patterns {
    static PATTERNS: OnceLock<Patterns> = OnceLock::new();
    PATTERNS.get_or_init(|| Patterns {
        // scheme://user:password@host
        url_password: Regex::new(r"([A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*:)[^\s@/]+@")
            .expect("pattern"),
        bearer: Regex::new(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+").expect("pattern"),
        jwt: Regex::new(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*").expect("pattern"),
        stripe: Regex::new(r"\b(sk|rk|pk|tok|pm|card|whsec)_[A-Za-z0-9_]+").expect("pattern"),
        // password=..., events_key=...
        // (not `NAME=$(...)` or `NAME=${...}`: a shell's reference to a value, in advice)
        named: Regex::new(&format!(
            r#"(?i)\b([A-Za-z_-]*{SECRET_NAME})\s*=\s*[^"',;&\s}}\\$][^"',;&\s}}\\]*"#
        ))
        .expect("pattern"),
        // "password":"...", also inside a JSON string (escaped quotes)
        json: Regex::new(&format!(
            r#"(?i)("[A-Za-z_-]*{SECRET_NAME}\\?"\s*:\s*\\?")[^"\\]*"#
        ))
        .expect("pattern"),
        // Cookie: ..., Authorization: ... (whole header values)
        header: Regex::new(
            r"(?i)\b((?:set-)?cookie|authorization|proxy-authorization|x-api-key)\s*:\s*[^\r\n]*",
        )
        .expect("pattern"),
    })
}

/// `text` with every secret-looking value replaced by `***`.
pub fn scrub(text: &str) -> String {
    let p = patterns();
    let text = p.url_password.replace_all(text, "${1}***@");
    let text = p.bearer.replace_all(&text, "${1} ***");
    let text = p.jwt.replace_all(&text, "***");
    let text = p.stripe.replace_all(&text, "${1}_***");
    let text = p.named.replace_all(&text, "${1}=***");
    let text = p.json.replace_all(&text, "${1}***");
    p.header.replace_all(&text, "${1}: ***").into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_scrubbed_and_the_rest_kept() {
        let cases = [
            (
                "cannot connect to postgres://boxoffice:hunter2@db:5432/shop",
                "cannot connect to postgres://boxoffice:***@db:5432/shop",
            ),
            (
                "redis://:s3cret@127.0.0.1:6379",
                "redis://:***@127.0.0.1:6379",
            ),
            ("Authorization: Bearer abc.def", "Authorization: ***"),
            ("sent Bearer abc.def", "sent Bearer ***"),
            (
                "cookie eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig-nature here",
                "cookie *** here",
            ),
            ("key sk_test_4eC39HqLyjWDarjtT1zdp7dc", "key sk_***"),
            ("source tok_visa", "source tok_***"),
            (
                r#"{"password":"pa55word","email":"a@b.c"}"#,
                r#"{"password":"***","email":"a@b.c"}"#,
            ),
            ("Cookie: session=abc123; Path=/", "Cookie: ***"),
            ("set-cookie: session=abc123", "set-cookie: ***"),
            (r#"{\"password\":\"pa55\"}"#, r#"{\"password\":\"***\"}"#),
            ("jwt_key=k1 events_key = k2", "jwt_key=*** events_key=***"),
        ];
        for (line, scrubbed) in cases {
            assert_eq!(scrub(line), scrubbed, "{line}");
        }
        for plain in [
            "GET /api/tickets/abc -> tickets 200 (1.2 ms) order:created",
            "jwt_key: using the key kept in .boxoffice/jwt_key.secret",
            "start them with SPIN_VARIABLE_EVENTS_KEY=$(cat state/events_key.secret)",
        ] {
            assert_eq!(scrub(plain), plain);
        }
    }

    #[test]
    fn formats_are_named_text_and_json() {
        assert_eq!("json".parse::<LogFormat>(), Ok(LogFormat::Json));
        assert_eq!("text".parse::<LogFormat>(), Ok(LogFormat::Text));
        assert!("yaml".parse::<LogFormat>().unwrap_err().contains("text"));
    }
}
