//! Entity ids: 24 random lowercase hex characters (96 bits), and the check that an id
//! coming from a client has that shape before it reaches a query.

/// Length of an id in characters.
pub const ID_LEN: usize = 24;

/// Fills `buf` with bytes from the host's secure random source.
pub fn random_bytes(buf: &mut [u8]) {
    // The WASI and OS random sources do not fail in practice; if one did, no id or salt
    // could be made safely, so this is a bug-class failure.
    getrandom::fill(buf).expect("the system random source failed");
}

/// A fresh random id.
pub fn new_id() -> String {
    let mut bytes = [0u8; ID_LEN / 2];
    random_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `id` has the shape of an id made by [`new_id`].
pub fn is_well_formed(id: &str) -> bool {
    id.len() == ID_LEN && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_random_hex() {
        let (a, b) = (new_id(), new_id());
        assert_ne!(a, b);
        assert!(is_well_formed(&a));
        assert!(!is_well_formed("not-an-id"));
        assert!(!is_well_formed(&a.to_uppercase()));
        assert!(!is_well_formed(&format!("{a}0")));
        assert!(!is_well_formed("' OR 1=1 --"));
    }
}
