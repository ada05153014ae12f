//! Applying a ProjectionExpression (or the paths of ReturnValues UPDATED_OLD /
//! UPDATED_NEW) to an item.
//!
//! DynamoDB returns each requested path in the shape it has in the item: `a.b` comes
//! back as `{a: {b: …}}` and `a[1]` as `{a: [element]}`. Paths under the same parent
//! merge into one document; several indexes of one list come back packed into one
//! list in index order (dynalite's `mapPaths`, which mirrors DynamoDB, places them by
//! index and squeezes out the gaps). A path that does not resolve is left out, and so
//! is a parent none of whose requested children exist.

use std::collections::BTreeMap;

use super::ast::{Path, PathElement};
use crate::value::{AttributeMap, AttributeValue, Item};

/// The parts of `item` named by `paths`. Paths that do not resolve (or still hold an
/// unbound `#name`) contribute nothing.
pub fn project(item: &Item, paths: &[Path]) -> Item {
    let mut selection = Selection::default();
    for path in paths {
        selection.insert(path);
    }
    project_map(item, &selection)
}

/// The requested parts of one value: all of it, or some members or some elements.
#[derive(Debug, Default)]
struct Selection<'p> {
    whole: bool,
    members: BTreeMap<&'p str, Selection<'p>>,
    indexes: BTreeMap<u32, Selection<'p>>,
}

impl<'p> Selection<'p> {
    fn insert(&mut self, path: &'p Path) {
        // An item is a map; a path starting with an index, or holding an unbound
        // name, names nothing in it.
        if !matches!(path.0.first(), Some(PathElement::Attribute(_)))
            || path
                .0
                .iter()
                .any(|element| matches!(element, PathElement::Name(_)))
        {
            return;
        }
        let mut selection = self;
        for element in &path.0 {
            selection = match element {
                PathElement::Attribute(name) => selection.members.entry(name).or_default(),
                PathElement::Index(index) => selection.indexes.entry(*index).or_default(),
                PathElement::Name(_) => return,
            };
        }
        selection.whole = true;
    }
}

fn project_map(map: &AttributeMap, selection: &Selection<'_>) -> AttributeMap {
    selection
        .members
        .iter()
        .filter_map(|(name, child)| {
            let value = map.get(*name)?;
            Some(((*name).to_owned(), project_value(value, child)?))
        })
        .collect()
}

fn project_value(value: &AttributeValue, selection: &Selection<'_>) -> Option<AttributeValue> {
    // Overlapping paths (`a` and `a.b`) are rejected by `bind`; if they get here, the
    // whole value covers the part.
    if selection.whole {
        return Some(value.clone());
    }
    match value {
        AttributeValue::M(map) => {
            let projected = project_map(map, selection);
            (!projected.is_empty()).then_some(AttributeValue::M(projected))
        }
        AttributeValue::L(list) => {
            let projected: Vec<AttributeValue> = selection
                .indexes
                .iter()
                .filter_map(|(index, child)| {
                    let element = list.get(usize::try_from(*index).ok()?)?;
                    project_value(element, child)
                })
                .collect();
            (!projected.is_empty()).then_some(AttributeValue::L(projected))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::eval::test_support::*;
    use super::*;

    fn paths(texts: &[&str]) -> Vec<Path> {
        texts.iter().map(|text| path(text)).collect()
    }

    fn sample() -> Item {
        item(vec![
            ("a", s("top")),
            ("n", n("1")),
            (
                "m",
                m(vec![
                    ("b", n("2")),
                    (
                        "c",
                        m(vec![("d", s("deep")), ("e", l(vec![n("0"), n("1")]))]),
                    ),
                    ("f", l(vec![])),
                ]),
            ),
            (
                "l",
                l(vec![
                    s("zero"),
                    s("one"),
                    m(vec![("x", n("1")), ("y", n("2"))]),
                    l(vec![s("i0"), s("i1")]),
                ]),
            ),
        ])
    }

    #[test]
    fn top_level_names() {
        let item = sample();
        assert_eq!(
            project(&item, &paths(&["a", "n"])),
            self::item(vec![("a", s("top")), ("n", n("1"))])
        );
        assert_eq!(
            project(&item, &paths(&["m"])),
            self::item(vec![("m", item.get("m").cloned().expect("m"))])
        );
        assert_eq!(project(&item, &paths(&["missing"])), Item::new());
        assert_eq!(project(&item, &[]), Item::new());
        assert_eq!(project(&Item::new(), &paths(&["a"])), Item::new());
    }

    #[test]
    fn nested_members_keep_their_shape() {
        let item = sample();
        assert_eq!(
            project(&item, &paths(&["m.b"])),
            self::item(vec![("m", m(vec![("b", n("2"))]))])
        );
        assert_eq!(
            project(&item, &paths(&["m.c.d"])),
            self::item(vec![("m", m(vec![("c", m(vec![("d", s("deep"))]))]))])
        );
        // An empty document at the end of a path is returned as it is.
        assert_eq!(
            project(&item, &paths(&["m.f"])),
            self::item(vec![("m", m(vec![("f", l(vec![]))]))])
        );
    }

    #[test]
    fn paths_under_one_parent_merge() {
        let item = sample();
        assert_eq!(
            project(&item, &paths(&["m.b", "m.c.d", "a"])),
            self::item(vec![
                ("a", s("top")),
                (
                    "m",
                    m(vec![("b", n("2")), ("c", m(vec![("d", s("deep"))]))])
                ),
            ])
        );
        assert_eq!(
            project(&item, &paths(&["l[2].y", "l[2].x"])),
            self::item(vec![("l", l(vec![m(vec![("x", n("1")), ("y", n("2"))])]))])
        );
    }

    #[test]
    fn list_elements_are_packed_in_index_order() {
        let item = sample();
        assert_eq!(
            project(&item, &paths(&["l[1]"])),
            self::item(vec![("l", l(vec![s("one")]))])
        );
        assert_eq!(
            project(&item, &paths(&["l[3]", "l[1]"])),
            self::item(vec![("l", l(vec![s("one"), l(vec![s("i0"), s("i1")])]))])
        );
        assert_eq!(
            project(&item, &paths(&["l[2].x", "l[0]", "l[3][1]"])),
            self::item(vec![(
                "l",
                l(vec![s("zero"), m(vec![("x", n("1"))]), l(vec![s("i1")])])
            )])
        );
        assert_eq!(
            project(&item, &paths(&["m.c.e[1]"])),
            self::item(vec![("m", m(vec![("c", m(vec![("e", l(vec![n("1")]))]))]))])
        );
    }

    #[test]
    fn missing_parts_are_left_out() {
        let item = sample();
        for missing in [
            "m.missing",
            "m.c.missing",
            "l[4]",
            "l[4294967295]",
            "a.b",
            "a[0]",
            "m[0]",
            "l.x",
            "l[0].x",
            "l[3][5]",
            "m.f[0]",
        ] {
            assert_eq!(project(&item, &paths(&[missing])), Item::new(), "{missing}");
        }
        // A missing sibling does not hide a present one.
        assert_eq!(
            project(&item, &paths(&["m.missing", "m.b", "l[9]", "l[0]"])),
            self::item(vec![
                ("l", l(vec![s("zero")])),
                ("m", m(vec![("b", n("2"))]))
            ])
        );
    }

    #[test]
    fn repeated_and_overlapping_paths() {
        let item = sample();
        assert_eq!(
            project(&item, &paths(&["a", "a", "l[1]", "l[1]"])),
            self::item(vec![("a", s("top")), ("l", l(vec![s("one")]))])
        );
        assert_eq!(
            project(&item, &paths(&["m.c", "m.c.d"])),
            self::item(vec![(
                "m",
                m(vec![(
                    "c",
                    item.get("m")
                        .and_then(|m| match m {
                            AttributeValue::M(map) => map.get("c").cloned(),
                            _ => None,
                        })
                        .expect("m.c")
                )])
            )])
        );
    }

    #[test]
    fn invalid_or_unbound_paths_select_nothing() {
        let item = sample();
        let invalid = vec![
            Path(vec![PathElement::Index(0)]),
            Path(vec![PathElement::Name("#a".to_owned())]),
            Path(vec![
                PathElement::Attribute("m".to_owned()),
                PathElement::Name("#b".to_owned()),
            ]),
            Path(Vec::new()),
        ];
        assert_eq!(project(&item, &invalid), Item::new());
    }
}
