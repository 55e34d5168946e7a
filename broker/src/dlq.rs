//! The operator's commands on the broker's queue: `boxoffice events dlq list|replay` and
//! `boxoffice events stats`. They open the store directly; WAL lets them run beside a
//! broker, which picks replayed deliveries up within its poll interval.

use std::io::Write;

use chrono::{SecondsFormat, TimeZone as _, Utc};

use crate::store::{now_ms, DeadLetter, DeliveryStatus, EventQueue, Millis, Replay, StoreError};

/// Writes the dead-letter queue to `out`: a table, or a JSON array with `--json`.
pub async fn list(store: &dyn EventQueue, json: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    let letters = store.dead_letters().await?;
    if json {
        let rows: Vec<_> = letters
            .iter()
            .map(|l| {
                serde_json::json!({
                    "event_id": l.event_id,
                    "source": l.source,
                    "type": l.ty,
                    "subscription": l.subscription,
                    "attempts": l.attempts,
                    "last_error": l.last_error,
                    "dead_at": timestamp(l.dead_at),
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?;
        return Ok(());
    }
    if letters.is_empty() {
        writeln!(out, "the dead-letter queue is empty")?;
        return Ok(());
    }
    write_table(&letters, out)?;
    Ok(())
}

fn write_table(letters: &[DeadLetter], out: &mut dyn Write) -> std::io::Result<()> {
    let header = [
        "EVENT ID",
        "TYPE",
        "SUBSCRIPTION",
        "ATTEMPTS",
        "LAST ERROR",
        "WHEN",
    ];
    let rows: Vec<[String; 6]> = letters
        .iter()
        .map(|l| {
            [
                printable(&l.event_id),
                printable(&l.ty),
                printable(&l.subscription),
                l.attempts.to_string(),
                printable(&l.last_error),
                timestamp(l.dead_at),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &[&str]| {
        let mut text = String::new();
        for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}  "));
            }
        }
        text
    };
    writeln!(out, "{}", line(&header))?;
    for row in &rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        writeln!(out, "{}", line(&cells))?;
    }
    Ok(())
}

/// `text` as a terminal may show it: every control character (line breaks, escape
/// sequences that would move the cursor or recolour the operator's terminal) written as
/// its escape (`\n`, `\u{1b}`); an event's id and type come from whoever sent it.
pub fn printable(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

/// Re-queues dead deliveries (all of them, or those of `event_ids`); returns how many.
/// Unknown ids fail the whole replay.
pub async fn replay(
    store: &dyn EventQueue,
    all: bool,
    event_ids: Vec<String>,
) -> Result<usize, StoreError> {
    let which = if all {
        Replay::All
    } else {
        Replay::Events(event_ids)
    };
    store.replay(which, now_ms()).await
}

/// Sets the metrics' queue depth and dead letters of every subscription `subscriptions`
/// names (zero when it has none) from the queue's backlog.
pub async fn record_metrics(
    store: &dyn EventQueue,
    subscriptions: &[String],
) -> anyhow::Result<()> {
    let backlog = store.backlog().await?;
    for name in subscriptions {
        let count = |status| {
            backlog
                .iter()
                .filter(|c| &c.subscription == name && c.status == status)
                .map(|c| c.count)
                .sum::<u64>()
        };
        boxoffice_telemetry::metrics::queue(
            name,
            count(DeliveryStatus::Pending),
            count(DeliveryStatus::Dead),
        );
    }
    Ok(())
}

/// Writes the delivery counts per subscription and status to `out`.
pub async fn stats(store: &dyn EventQueue, out: &mut dyn Write) -> anyhow::Result<()> {
    let counts = store.stats().await?;
    if counts.is_empty() {
        writeln!(out, "no deliveries yet")?;
        return Ok(());
    }
    let width = counts
        .iter()
        .map(|c| c.subscription.len())
        .max()
        .unwrap_or(0)
        .max("SUBSCRIPTION".len());
    writeln!(out, "{:<width$}  {:<7}  COUNT", "SUBSCRIPTION", "STATUS")?;
    for c in counts {
        writeln!(
            out,
            "{:<width$}  {:<7}  {}",
            printable(&c.subscription),
            c.status.as_str(),
            c.count
        )?;
    }
    Ok(())
}

fn timestamp(ms: Millis) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|| ms.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_senders_wrote_cannot_drive_the_operators_terminal() {
        let letter = DeadLetter {
            event_id: "evil\u{1b}[2J\u{1b}[31mid".into(),
            source: "/boxoffice/orders".into(),
            ty: "order:created\r\nforged line".into(),
            subscription: "payments".into(),
            attempts: 3,
            last_error: "HTTP 400: bad\nnews".into(),
            dead_at: 0,
        };
        let mut out = Vec::new();
        write_table(&[letter], &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains('\u{1b}') && !text.contains('\r'), "{text:?}");
        assert_eq!(text.lines().count(), 2, "one line per letter: {text}");
        assert!(text.contains(r"evil\u{1b}[2J\u{1b}[31mid"), "{text}");
        assert!(text.contains(r"order:created\r\nforged line"), "{text}");
        assert!(text.contains(r"HTTP 400: bad\nnews"), "{text}");
        assert_eq!(printable("plain é ünïcode"), "plain é ünïcode");
    }
}
