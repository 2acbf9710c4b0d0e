//! Position keys of a list's manual order: rocicorp/fractional-indexing's `generateKeyBetween`
//! over the base-62 digits `0-9A-Za-z`, keys compared as byte strings. A key is an integer part
//! (a head letter telling its length, `a` 2 … `z` 27, `Z` 2 … `A` 27, then that many digits less
//! one) and an optional fraction that never ends with `0`.

/// The digits of a key, in byte order.
const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// The key of the first task of an empty list.
const FIRST_POSITION: &str = "a0";
/// The smallest integer part, which no key may be on its own.
const SMALLEST_INTEGER: &str = "A00000000000000000000000000";

/// Why no key could be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PositionError {
    /// A key that is not one of the format's.
    Invalid(String),
    /// The lower key is not below the upper one.
    NotOrdered,
    /// No integer key is left at that end (62^26 keys in).
    Exhausted,
}

fn digit(byte: u8) -> usize {
    DIGITS
        .iter()
        .position(|&d| d == byte)
        .expect("a key's digits are checked first")
}

/// The length of the integer part a head letter begins.
fn integer_length(head: u8) -> Option<usize> {
    match head {
        b'a'..=b'z' => Some(usize::from(head - b'a') + 2),
        b'A'..=b'Z' => Some(usize::from(b'Z' - head) + 2),
        _ => None,
    }
}

/// The integer part of a valid key.
fn integer_part(key: &str) -> &str {
    let length = integer_length(key.as_bytes()[0]).expect("checked by validate");
    &key[..length]
}

fn validate(key: &str) -> Result<(), PositionError> {
    let invalid = || PositionError::Invalid(key.to_owned());
    let bytes = key.as_bytes();
    if key == SMALLEST_INTEGER || bytes.is_empty() || !bytes.iter().all(|b| DIGITS.contains(b)) {
        return Err(invalid());
    }
    let length = integer_length(bytes[0]).ok_or_else(invalid)?;
    if length > bytes.len() || (bytes.len() > length && bytes.last() == Some(&b'0')) {
        return Err(invalid());
    }
    Ok(())
}

/// A fraction strictly between fractions `a` and `b` (`None`: above every fraction), neither
/// ending with `0`, `a < b`.
fn midpoint(a: &[u8], b: Option<&[u8]>) -> Vec<u8> {
    if let Some(b) = b {
        let common = (0..)
            .take_while(|&n| n < b.len() && a.get(n).copied().unwrap_or(DIGITS[0]) == b[n])
            .count();
        if common > 0 {
            let rest = midpoint(a.get(common..).unwrap_or(&[]), Some(&b[common..]));
            return [&b[..common], &rest[..]].concat();
        }
    }
    let digit_a = a.first().map_or(0, |&d| digit(d));
    let digit_b = b.map_or(DIGITS.len(), |b| digit(b[0]));
    if digit_b - digit_a > 1 {
        return vec![DIGITS[(digit_a + digit_b).div_ceil(2)]];
    }
    match b {
        Some(b) if b.len() > 1 => vec![b[0]],
        _ => {
            let rest = midpoint(a.get(1..).unwrap_or(&[]), None);
            [&[DIGITS[digit_a]][..], &rest[..]].concat()
        }
    }
}

/// The integer part after `integer`; `None` past `z` and 26 `z` digits.
fn increment(integer: &str) -> Option<String> {
    let bytes = integer.as_bytes();
    let head = bytes[0];
    let mut digits = bytes[1..].to_vec();
    let mut carry = true;
    for d in digits.iter_mut().rev() {
        let next = digit(*d) + 1;
        if next == DIGITS.len() {
            *d = DIGITS[0];
        } else {
            *d = DIGITS[next];
            carry = false;
            break;
        }
    }
    if carry {
        match head {
            b'Z' => return Some(format!("a{}", char::from(DIGITS[0]))),
            b'z' => return None,
            _ => {}
        }
        let head = head + 1;
        if head > b'a' {
            digits.push(DIGITS[0]);
        } else {
            digits.pop();
        }
        return Some(String::from_utf8([&[head][..], &digits[..]].concat()).expect("ASCII"));
    }
    Some(String::from_utf8([&[head][..], &digits[..]].concat()).expect("ASCII"))
}

/// The integer part before `integer`; `None` below `A` and 26 `0` digits.
fn decrement(integer: &str) -> Option<String> {
    let bytes = integer.as_bytes();
    let head = bytes[0];
    let last = DIGITS[DIGITS.len() - 1];
    let mut digits = bytes[1..].to_vec();
    let mut borrow = true;
    for d in digits.iter_mut().rev() {
        match digit(*d) {
            0 => *d = last,
            n => {
                *d = DIGITS[n - 1];
                borrow = false;
                break;
            }
        }
    }
    if borrow {
        match head {
            b'a' => return Some(format!("Z{}", char::from(last))),
            b'A' => return None,
            _ => {}
        }
        let head = head - 1;
        if head < b'Z' {
            digits.push(last);
        } else {
            digits.pop();
        }
        return Some(String::from_utf8([&[head][..], &digits[..]].concat()).expect("ASCII"));
    }
    Some(String::from_utf8([&[head][..], &digits[..]].concat()).expect("ASCII"))
}

/// A key strictly between `a` and `b` (`None`: the list's start or end), as short as the format
/// allows there: rocicorp's `generateKeyBetween`.
pub fn key_between(a: Option<&str>, b: Option<&str>) -> Result<String, PositionError> {
    for key in [a, b].into_iter().flatten() {
        validate(key)?;
    }
    let fraction = |key: &str, integer: &str| key.as_bytes()[integer.len()..].to_vec();
    let joined = |integer: &str, fraction: Vec<u8>| {
        format!("{integer}{}", String::from_utf8(fraction).expect("ASCII"))
    };
    match (a, b) {
        (Some(a), Some(b)) if a >= b => Err(PositionError::NotOrdered),
        (None, None) => Ok(FIRST_POSITION.to_owned()),
        (None, Some(b)) => {
            let integer = integer_part(b);
            if integer == SMALLEST_INTEGER {
                return Ok(joined(integer, midpoint(&[], Some(&fraction(b, integer)))));
            }
            if integer < b {
                return Ok(integer.to_owned());
            }
            decrement(integer).ok_or(PositionError::Exhausted)
        }
        (Some(a), None) => {
            let integer = integer_part(a);
            Ok(increment(integer)
                .unwrap_or_else(|| joined(integer, midpoint(&fraction(a, integer), None))))
        }
        (Some(a), Some(b)) => {
            let (integer_a, integer_b) = (integer_part(a), integer_part(b));
            if integer_a == integer_b {
                let between = midpoint(&fraction(a, integer_a), Some(&fraction(b, integer_b)));
                return Ok(joined(integer_a, between));
            }
            let next = increment(integer_a).ok_or(PositionError::Exhausted)?;
            if next.as_str() < b {
                return Ok(next);
            }
            Ok(joined(integer_a, midpoint(&fraction(a, integer_a), None)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn between(a: Option<&str>, b: Option<&str>) -> String {
        key_between(a, b).expect("a key between")
    }

    /// rocicorp/fractional-indexing's own examples (its base-62 test table).
    #[test]
    fn answers_as_rocicorp_does() {
        let cases = [
            (None, None, "a0"),
            (None, Some("a0"), "Zz"),
            (None, Some("Zz"), "Zy"),
            (Some("a0"), None, "a1"),
            (Some("a1"), None, "a2"),
            (Some("a0"), Some("a1"), "a0V"),
            (Some("a1"), Some("a2"), "a1V"),
            (Some("a0V"), Some("a1"), "a0l"),
            (Some("Zz"), Some("a0"), "ZzV"),
            (Some("Zz"), Some("a1"), "a0"),
            (None, Some("Y00"), "Xzzz"),
            (Some("bzz"), None, "c000"),
            (Some("a0"), Some("a0V"), "a0G"),
            (Some("a0"), Some("a0G"), "a08"),
            (Some("b125"), Some("b129"), "b127"),
            (Some("a0"), Some("a1V"), "a1"),
            (Some("Zz"), Some("a01"), "a0"),
            (None, Some("a0V"), "a0"),
            (None, Some("b999"), "b99"),
            (
                None,
                Some("A000000000000000000000000001"),
                "A000000000000000000000000000V",
            ),
            (
                Some("zzzzzzzzzzzzzzzzzzzzzzzzzzy"),
                None,
                "zzzzzzzzzzzzzzzzzzzzzzzzzzz",
            ),
            (
                Some("zzzzzzzzzzzzzzzzzzzzzzzzzzz"),
                None,
                "zzzzzzzzzzzzzzzzzzzzzzzzzzzV",
            ),
        ];
        for (a, b, key) in cases {
            assert_eq!(between(a, b), key, "between {a:?} and {b:?}");
        }
    }

    #[test]
    fn refuses_what_rocicorp_refuses() {
        for (a, b) in [
            (Some("a0"), Some("a0")),
            (Some("a1"), Some("a0")),
            (None, Some("A00000000000000000000000000")),
            (Some("a00"), None),
            (Some("a0"), Some("a00")),
            (Some("0"), Some("1")),
            (Some("a1-"), None),
            (Some(""), None),
        ] {
            let answer = key_between(a, b);
            assert!(answer.is_err(), "between {a:?} and {b:?}: {answer:?}");
        }
        assert_eq!(
            key_between(Some("a1"), Some("a0")),
            Err(PositionError::NotOrdered)
        );
    }

    /// Keys made by inserting at scattered places of a growing order (a multiplicative walk
    /// over it) stay strictly between their neighbours, valid, and unique.
    #[test]
    fn scattered_insertions_keep_the_order() {
        let mut keys: Vec<String> = Vec::new();
        for step in 0..3000_usize {
            let place = step.wrapping_mul(2_654_435_761) % (keys.len() + 1);
            let before = place.checked_sub(1).map(|i| keys[i].as_str());
            let after = keys.get(place).map(String::as_str);
            let key = between(before, after);
            assert!(validate(&key).is_ok(), "{key}");
            assert!(
                before.is_none_or(|b| b < key.as_str()),
                "{before:?} < {key}"
            );
            assert!(after.is_none_or(|a| key.as_str() < a), "{key} < {after:?}");
            keys.insert(place, key);
        }
    }

    /// Always inserting at the top, at the end, or into one narrowing gap: each key is ordered
    /// and how long the keys grow is what the format says.
    #[test]
    fn repeated_insertions_at_one_place() {
        let mut top = between(None, None);
        for _ in 0..1000 {
            let next = between(None, Some(&top));
            assert!(next < top);
            top = next;
        }
        assert!(top.len() <= 4, "{top}");
        let (low, mut high) = ("a0".to_owned(), "a1".to_owned());
        for _ in 0..200 {
            let next = between(Some(&low), Some(&high));
            assert!(low < next && next < high);
            high = next;
        }
        assert!(high.len() > 30, "the gap narrowed: {high}");
    }
}
