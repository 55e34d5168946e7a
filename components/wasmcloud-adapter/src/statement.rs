//! SQL text the adapter reads or rewrites.
//!
//! [`transaction_control`] finds the statements it does not send (see [`crate::postgres`]).
//! `wasmcloud:postgres` returns rows and never the number of rows a statement changed,
//! which Spin's `execute` returns and the services use for optimistic concurrency
//! (`UPDATE … WHERE version = $n` changed 0 rows: someone was first), so [`counting`]
//! turns a statement into one query whose single row is that number.

/// The words of `sql` outside string literals and quoted identifiers, upper-cased.
fn words(sql: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    for c in sql.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                words.extend((!word.is_empty()).then(|| std::mem::take(&mut word)));
            }
            None if c.is_ascii_alphanumeric() || c == '_' => word.push(c.to_ascii_uppercase()),
            None => words.extend((!word.is_empty()).then(|| std::mem::take(&mut word))),
        }
    }
    words.extend((!word.is_empty()).then_some(word));
    words
}

/// A query of one row and one column, `changed`: for an `INSERT`, `UPDATE` or `DELETE`
/// the number of rows it changed (a data-modifying CTE, with `RETURNING 1` added unless
/// the statement returns rows already), for a `SELECT` or `VALUES` the number of rows it
/// returns (what Spin's `execute` answers for them). The rows themselves never cross to
/// the guest, so a column of a type the host cannot read (`void`, as
/// `pg_advisory_xact_lock` returns) does no harm. `None` for any other statement.
pub fn counting(sql: &str) -> Option<String> {
    let body = sql.trim().trim_end_matches(';').trim_end();
    let words = words(body);
    match words.first().map(String::as_str)? {
        "INSERT" | "UPDATE" | "DELETE" => {
            let returning = if words.iter().any(|w| w == "RETURNING") {
                ""
            } else {
                " RETURNING 1"
            };
            Some(format!(
                "WITH boxoffice_changed AS ({body}{returning}) \
                 SELECT count(*) AS changed FROM boxoffice_changed"
            ))
        }
        "SELECT" | "VALUES" => Some(format!(
            "SELECT count(*) AS changed FROM ({body}) AS boxoffice_rows"
        )),
        _ => None,
    }
}

/// A statement that begins or ends a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// `BEGIN`, `START TRANSACTION`.
    Begin,
    /// `COMMIT`, `END`.
    Commit,
    /// `ROLLBACK`, `ABORT`.
    Rollback,
}

/// What `sql` does to a transaction, when that is all it does.
pub fn transaction_control(sql: &str) -> Option<Control> {
    let words = words(sql);
    match words.first().map(String::as_str)? {
        "BEGIN" => Some(Control::Begin),
        "START" if words.get(1).is_some_and(|w| w == "TRANSACTION") => Some(Control::Begin),
        "COMMIT" | "END" => Some(Control::Commit),
        "ROLLBACK" | "ABORT" if !words.iter().any(|w| w == "TO") => Some(Control::Rollback),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{counting, transaction_control, Control};

    #[test]
    fn data_changing_statements_count_their_rows() {
        assert_eq!(
            counting("UPDATE t SET v = $1 WHERE id = $2;").unwrap(),
            "WITH boxoffice_changed AS (UPDATE t SET v = $1 WHERE id = $2 RETURNING 1) \
             SELECT count(*) AS changed FROM boxoffice_changed"
        );
        assert!(
            counting("  insert into t (a) values ($1) on conflict do nothing")
                .unwrap()
                .contains("on conflict do nothing RETURNING 1)")
        );
        assert!(counting("DELETE FROM t RETURNING id")
            .unwrap()
            .contains("(DELETE FROM t RETURNING id)"));
    }

    #[test]
    fn returning_inside_a_literal_is_not_a_returning_clause() {
        let sql = counting("INSERT INTO t (note) VALUES ('returning soon')").unwrap();
        assert!(sql.contains("'returning soon') RETURNING 1)"), "{sql}");
    }

    #[test]
    fn selects_count_their_rows_without_reading_them() {
        assert_eq!(
            counting("SELECT pg_advisory_xact_lock($1)").unwrap(),
            "SELECT count(*) AS changed FROM (SELECT pg_advisory_xact_lock($1)) AS boxoffice_rows"
        );
    }

    #[test]
    fn other_statements_are_left_alone() {
        for sql in [
            "BEGIN",
            "COMMIT",
            "CREATE TABLE IF NOT EXISTS t (a TEXT)",
            "SET search_path TO a",
            "",
        ] {
            assert_eq!(counting(sql), None, "{sql}");
        }
    }

    #[test]
    fn transaction_control_is_recognised() {
        assert_eq!(transaction_control("BEGIN"), Some(Control::Begin));
        assert_eq!(transaction_control("begin immediate"), Some(Control::Begin));
        assert_eq!(
            transaction_control("START TRANSACTION"),
            Some(Control::Begin)
        );
        assert_eq!(transaction_control("COMMIT;"), Some(Control::Commit));
        assert_eq!(transaction_control(" rollback "), Some(Control::Rollback));
        assert_eq!(transaction_control("ROLLBACK TO SAVEPOINT a"), None);
        assert_eq!(transaction_control("SELECT 'BEGIN'"), None);
        assert_eq!(transaction_control("UPDATE t SET a = 1"), None);
    }
}
