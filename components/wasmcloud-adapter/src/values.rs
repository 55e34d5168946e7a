//! Spin's `rdbms-types` values to and from `wasmcloud:postgres` values.
//!
//! Parameters keep their Postgres type (Spin's `int64` is `int8`, `str` is `text`, …),
//! so a statement accepts on wasmCloud exactly what it accepts under Spin. Results map
//! the other way; a value of a type Spin 2.0 cannot carry (dates, arrays, geometry, …)
//! reads as Spin's `unsupported`, as it does under Spin. Unsigned 64-bit parameters have
//! no Postgres type: they are sent as `numeric`.

use crate::bindings::exports::fermyon::spin::rdbms_types::{
    Column, DbDataType, DbValue, ParameterValue, RowSet,
};
use crate::bindings::wasmcloud::postgres::types::{PgValue, ResultRow};

/// A float as `wasmcloud:postgres` carries it: (mantissa, exponent, sign), with
/// `value = sign × mantissa × 2^exponent` (the decomposition of `f64::integer_decode`).
pub type Hashable = (u64, i16, i8);

/// `value` decomposed into a [`Hashable`].
pub fn hashable(value: f64) -> Hashable {
    let bits = value.to_bits();
    let sign: i8 = if bits >> 63 == 0 { 1 } else { -1 };
    let biased = ((bits >> 52) & 0x7ff) as i16;
    let fraction = bits & 0x000f_ffff_ffff_ffff;
    let mantissa = if biased == 0 {
        fraction << 1
    } else {
        fraction | 0x0010_0000_0000_0000
    };
    (mantissa, biased - 1075, sign)
}

/// The float a [`Hashable`] stands for.
pub fn float((mantissa, exponent, sign): Hashable) -> f64 {
    // In two steps: 2^-1075 alone underflows to 0, and subnormals need it.
    let exponent = i32::from(exponent);
    let half = exponent / 2;
    f64::from(sign) * (mantissa as f64) * 2f64.powi(half) * 2f64.powi(exponent - half)
}

/// A Spin parameter as a `wasmcloud:postgres` value.
pub fn to_pg(value: &ParameterValue) -> PgValue {
    match value {
        ParameterValue::Boolean(v) => PgValue::Bool(*v),
        ParameterValue::Int8(v) => PgValue::Int2(i16::from(*v)),
        ParameterValue::Int16(v) => PgValue::Int2(*v),
        ParameterValue::Int32(v) => PgValue::Int4(*v),
        ParameterValue::Int64(v) => PgValue::Int8(*v),
        ParameterValue::Uint8(v) => PgValue::Int2(i16::from(*v)),
        ParameterValue::Uint16(v) => PgValue::Int4(i32::from(*v)),
        ParameterValue::Uint32(v) => PgValue::Int8(i64::from(*v)),
        ParameterValue::Uint64(v) => PgValue::Numeric(v.to_string()),
        ParameterValue::Floating32(v) => PgValue::Float4(hashable(f64::from(*v))),
        ParameterValue::Floating64(v) => PgValue::Float8(hashable(*v)),
        ParameterValue::Str(v) => PgValue::Text(v.clone()),
        ParameterValue::Binary(v) => PgValue::Bytea(v.clone()),
        ParameterValue::DbNull => PgValue::Null,
    }
}

fn text(bytes: &[u8]) -> DbValue {
    DbValue::Str(String::from_utf8_lossy(bytes).into_owned())
}

/// A `wasmcloud:postgres` value as Spin reads it.
pub fn from_pg(value: PgValue) -> DbValue {
    match value {
        PgValue::Null => DbValue::DbNull,
        PgValue::Bool(v) | PgValue::Boolean(v) => DbValue::Boolean(v),
        PgValue::SmallInt(v) | PgValue::Int2(v) | PgValue::SmallSerial(v) | PgValue::Serial2(v) => {
            DbValue::Int16(v)
        }
        PgValue::Integer(v) | PgValue::Int(v) | PgValue::Int4(v) => DbValue::Int32(v),
        PgValue::Serial(v) | PgValue::Serial4(v) => DbValue::Uint32(v),
        PgValue::BigInt(v) | PgValue::Int8(v) | PgValue::BigSerial(v) | PgValue::Serial8(v) => {
            DbValue::Int64(v)
        }
        PgValue::Real(v) | PgValue::Float4(v) => DbValue::Floating32(float(v) as f32),
        PgValue::Double(v) | PgValue::Float8(v) => DbValue::Floating64(float(v)),
        PgValue::Bytea(v) => DbValue::Binary(v),
        PgValue::Char((_, bytes)) => text(&bytes),
        PgValue::Varchar((_, bytes)) => text(&bytes),
        PgValue::Numeric(v)
        | PgValue::Decimal(v)
        | PgValue::Money(v)
        | PgValue::Text(v)
        | PgValue::Name(v)
        | PgValue::Json(v)
        | PgValue::Jsonb(v)
        | PgValue::Xml(v)
        | PgValue::Uuid(v)
        | PgValue::Cidr(v)
        | PgValue::Inet(v)
        | PgValue::TsQuery(v) => DbValue::Str(v),
        _ => DbValue::Unsupported,
    }
}

/// The Spin type of a value read.
fn data_type(value: &DbValue) -> DbDataType {
    match value {
        DbValue::Boolean(_) => DbDataType::Boolean,
        DbValue::Int8(_) => DbDataType::Int8,
        DbValue::Int16(_) => DbDataType::Int16,
        DbValue::Int32(_) => DbDataType::Int32,
        DbValue::Int64(_) => DbDataType::Int64,
        DbValue::Uint8(_) => DbDataType::Uint8,
        DbValue::Uint16(_) => DbDataType::Uint16,
        DbValue::Uint32(_) => DbDataType::Uint32,
        DbValue::Uint64(_) => DbDataType::Uint64,
        DbValue::Floating32(_) => DbDataType::Floating32,
        DbValue::Floating64(_) => DbDataType::Floating64,
        DbValue::Str(_) => DbDataType::Str,
        DbValue::Binary(_) => DbDataType::Binary,
        DbValue::DbNull | DbValue::Unsupported => DbDataType::Other,
    }
}

/// Rows as Spin's row set. `wasmcloud:postgres` names the columns in every row and not
/// at all when there is none, so an empty result has no columns (Spin would list them);
/// a column's type is that of its first non-null value (`other` if all are null).
pub fn row_set(rows: Vec<ResultRow>) -> RowSet {
    let names: Vec<String> = rows
        .first()
        .map(|row| row.iter().map(|e| e.column_name.clone()).collect())
        .unwrap_or_default();
    let rows: Vec<Vec<DbValue>> = rows
        .into_iter()
        .map(|row| row.into_iter().map(|e| from_pg(e.value)).collect())
        .collect();
    let columns = names
        .into_iter()
        .enumerate()
        .map(|(i, name)| Column {
            name,
            data_type: rows
                .iter()
                .filter_map(|row| row.get(i))
                .map(data_type)
                .find(|t| !matches!(t, DbDataType::Other))
                .unwrap_or(DbDataType::Other),
        })
        .collect();
    RowSet { columns, rows }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_survive_the_hashable_form() {
        for v in [0.0, 1.0, -1.5, 20.25, 1e-310, f64::MAX, -f64::MIN_POSITIVE] {
            assert_eq!(float(hashable(v)), v, "{v}");
        }
        assert_eq!(hashable(1.0), (1 << 52, -52, 1));
    }

    #[test]
    fn parameters_keep_their_postgres_type() {
        assert!(matches!(to_pg(&ParameterValue::Int64(7)), PgValue::Int8(7)));
        assert!(
            matches!(to_pg(&ParameterValue::Str("a".into())), PgValue::Text(ref s) if s == "a")
        );
        assert!(matches!(to_pg(&ParameterValue::DbNull), PgValue::Null));
        assert!(
            matches!(to_pg(&ParameterValue::Uint64(u64::MAX)), PgValue::Numeric(ref s) if s == "18446744073709551615")
        );
    }

    #[test]
    fn results_read_as_spin_reads_them() {
        assert!(matches!(from_pg(PgValue::BigInt(3)), DbValue::Int64(3)));
        assert!(
            matches!(from_pg(PgValue::Varchar((None, b"x".to_vec()))), DbValue::Str(ref s) if s == "x")
        );
        assert!(
            matches!(from_pg(PgValue::Float8(hashable(2.5))), DbValue::Floating64(v) if v == 2.5)
        );
        assert!(matches!(
            from_pg(PgValue::Int4Array(vec![1])),
            DbValue::Unsupported
        ));
    }
}
