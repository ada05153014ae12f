//! The one order set values (SS, NS, BS) are kept in: sorted, strings and binaries by
//! their bytes and numbers numerically.
//!
//! DynamoDB leaves the order of a set's elements undefined, but DynamoDB Local returns
//! them sorted, and applications' tests encode that order. A set is put in order once,
//! when it is written (parsed from a request, or changed by ADD or DELETE), so that
//! reads return stored sets as they are. Sets stored before this order existed are
//! sorted as they are decoded: for a set already in order that costs one comparison
//! per element.

/// `elements` in canonical order; `elements` itself when it already is.
pub fn canonical<T: Ord>(mut elements: Vec<T>) -> Vec<T> {
    if !elements.is_sorted() {
        elements.sort_unstable();
    }
    elements
}

/// Whether a set in canonical order holds an element twice.
pub fn has_duplicates<T: Ord>(sorted: &[T]) -> bool {
    sorted.windows(2).any(|pair| pair[0] == pair[1])
}

/// The elements of both sets, once each, in canonical order.
pub fn union<T: Ord>(current: Vec<T>, added: Vec<T>) -> Vec<T> {
    let mut current = canonical(current).into_iter().peekable();
    let mut added = canonical(added).into_iter().peekable();
    let mut merged = Vec::with_capacity(current.len() + added.len());
    loop {
        let next = match (current.peek(), added.peek()) {
            (Some(a), Some(b)) => match a.cmp(b) {
                std::cmp::Ordering::Less => current.next(),
                std::cmp::Ordering::Greater => added.next(),
                std::cmp::Ordering::Equal => {
                    added.next();
                    current.next()
                }
            },
            (Some(_), None) => current.next(),
            (None, Some(_)) => added.next(),
            (None, None) => return merged,
        };
        merged.extend(next);
    }
}

/// `current` without the elements of `removed`, in canonical order, or `None` when
/// nothing is left (DynamoDB has no empty sets).
pub fn difference<T: Ord>(current: Vec<T>, removed: &[T]) -> Option<Vec<T>> {
    let mut current = canonical(current);
    let removed: Vec<&T> = canonical(removed.iter().collect());
    current.retain(|element| removed.binary_search(&element).is_err());
    (!current.is_empty()).then_some(current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::number::Number;

    fn numbers(texts: &[&str]) -> Vec<Number> {
        texts.iter().map(|t| Number::parse(t).unwrap()).collect()
    }

    #[test]
    fn canonical_order_is_bytes_and_numeric() {
        assert_eq!(
            canonical(vec![
                "b".to_owned(),
                "B".into(),
                "a".into(),
                "é".into(),
                "ab".into()
            ]),
            ["B", "a", "ab", "b", "é"]
        );
        assert_eq!(
            canonical(numbers(&["10", "-2", "9", "1.5", "-10", "0"])),
            numbers(&["-10", "-2", "0", "1.5", "9", "10"])
        );
        assert_eq!(
            canonical(vec![vec![0xff], vec![0x01, 0x02], vec![0x01], vec![0x80]]),
            [vec![0x01], vec![0x01, 0x02], vec![0x80], vec![0xff]]
        );
    }

    #[test]
    fn union_merges_without_duplicates() {
        assert_eq!(union(vec![1, 3, 5], vec![4, 3, 2, 6]), [1, 2, 3, 4, 5, 6]);
        assert_eq!(union(vec![5, 1], vec![]), [1, 5]);
        assert_eq!(union(vec![], vec![2, 1]), [1, 2]);
    }

    #[test]
    fn difference_keeps_order_and_empties_to_none() {
        assert_eq!(difference(vec![4, 1, 3, 2], &[3, 9]), Some(vec![1, 2, 4]));
        assert_eq!(difference(vec![1, 2], &[2, 1]), None);
    }

    #[test]
    fn duplicates_are_adjacent_once_sorted() {
        assert!(has_duplicates(&canonical(vec!["x", "y", "x"])));
        assert!(!has_duplicates(&canonical(vec!["x", "y", "z"])));
        assert!(has_duplicates(&canonical(numbers(&["1", "1.0"]))));
    }
}
