//! Conditional requests (RFC 9110 §13): a task's (or list's) entity tag, and the `If-Match` /
//! `If-None-Match` lists of entity tags they compare it with.

use poem_openapi::registry::MetaSchema;

use crate::api::request::input::{Checked, CollectFields, HeaderParam, HeaderValue, ParamValue};
use crate::domain::WriteCondition;

/// The most entity tags one header may list.
pub const MAX_LISTED_TAGS: usize = 16;

/// A task's (or list's) entity tag: its version in quotes (strong).
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// One entity tag as sent: `"opaque"` or `W/"opaque"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityTag {
    weak: bool,
    opaque: String,
}

impl EntityTag {
    /// The version this tag names, if it is one of this API's (a canonical number; 0 is the
    /// version of a task the previous release created during a roll-out, until it changes).
    fn version(&self) -> Option<i64> {
        self.opaque
            .parse::<i64>()
            .ok()
            .filter(|version| *version >= 0 && version.to_string() == self.opaque)
    }
}

/// An `If-Match` or `If-None-Match` value: `*`, or a list of entity tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntityTags {
    Any,
    Listed(Vec<EntityTag>),
}

impl EntityTags {
    /// The versions this list names: by strong comparison (`W/` tags never match) or weak.
    fn versions(tags: &[EntityTag], strong: bool) -> Vec<i64> {
        let mut versions: Vec<i64> = tags
            .iter()
            .filter(|tag| !(strong && tag.weak))
            .filter_map(EntityTag::version)
            .collect();
        versions.sort_unstable();
        versions.dedup();
        versions
    }

    /// Whether `If-None-Match` names the task at `version`, by weak comparison.
    pub fn names_weakly(&self, version: i64) -> bool {
        match self {
            Self::Any => true,
            Self::Listed(tags) => tags.iter().any(|tag| tag.version() == Some(version)),
        }
    }
}

/// The versions of a task a request's `If-Match` and `If-None-Match` let it act on (RFC 9110
/// §13.2.2): `If-Match` lists them by strong comparison (`W/` tags never match) and
/// `If-None-Match` the ones excluded, by weak comparison (`*`: every version); an absent header
/// lets any version through.
pub fn preconditions(
    if_match: Option<&EntityTags>,
    if_none_match: Option<&EntityTags>,
) -> WriteCondition {
    let matching = match if_match {
        None | Some(EntityTags::Any) => WriteCondition::Always,
        Some(EntityTags::Listed(tags)) => {
            WriteCondition::VersionIn(EntityTags::versions(tags, true))
        }
    };
    match (matching, if_none_match) {
        (matching, None) => matching,
        (_, Some(EntityTags::Any)) => WriteCondition::VersionIn(Vec::new()),
        (WriteCondition::VersionIn(versions), Some(excluded)) => WriteCondition::VersionIn(
            versions
                .into_iter()
                .filter(|version| !excluded.names_weakly(*version))
                .collect(),
        ),
        (_, Some(EntityTags::Listed(tags))) => {
            WriteCondition::VersionNotIn(EntityTags::versions(tags, false))
        }
    }
}

/// What `If-Match` and `If-None-Match` let a write change: anything when both are absent.
pub fn write_condition(
    if_match: HeaderParam<EntityTags>,
    if_none_match: HeaderParam<EntityTags>,
) -> Checked<WriteCondition> {
    let (if_match, if_none_match) =
        (if_match.checked(), if_none_match.checked()).collect_fields()?;
    Ok(preconditions(if_match.as_ref(), if_none_match.as_ref()))
}

const MALFORMED: &str =
    r#"must be * or a comma-separated list of entity tags such as "3" or W/"3""#;

/// An entity tag's characters (RFC 9110 `etagc`): visible ASCII but the double quote.
fn is_etag_char(byte: u8) -> bool {
    byte == 0x21 || (0x23..=0x7e).contains(&byte) || byte >= 0x80
}

impl ParamValue for EntityTags {
    fn schema() -> MetaSchema {
        MetaSchema {
            example: Some("\"3\"".into()),
            pattern: Some(format!(
                r#"^(\*|(W/)?"[!#-~]*"(, ?(W/)?"[!#-~]*"){{0,{}}})$"#,
                MAX_LISTED_TAGS - 1
            )),
            ..MetaSchema::new("string")
        }
    }

    fn parse(raw: &str) -> Result<Self, String> {
        const WHITE_SPACE: [char; 2] = [' ', '\t'];
        if raw.trim_matches(WHITE_SPACE) == "*" {
            return Ok(Self::Any);
        }
        let mut tags = Vec::new();
        let mut rest = raw;
        loop {
            rest = rest.trim_start_matches([' ', '\t', ',']);
            if rest.is_empty() {
                break;
            }
            let (weak, tag) = match rest.strip_prefix("W/") {
                Some(tag) => (true, tag),
                None => (false, rest),
            };
            let quoted = tag.strip_prefix('"').ok_or(MALFORMED)?;
            let end = quoted.find('"').ok_or(MALFORMED)?;
            let opaque = &quoted[..end];
            if !opaque.bytes().all(is_etag_char) {
                return Err(MALFORMED.to_owned());
            }
            tags.push(EntityTag {
                weak,
                opaque: opaque.to_owned(),
            });
            if tags.len() > MAX_LISTED_TAGS {
                return Err(format!("must list at most {MAX_LISTED_TAGS} entity tags"));
            }
            rest = quoted[end + 1..].trim_start_matches(WHITE_SPACE);
            if !rest.is_empty() && !rest.starts_with(',') {
                return Err(MALFORMED.to_owned());
            }
        }
        if tags.is_empty() {
            return Err(MALFORMED.to_owned());
        }
        Ok(Self::Listed(tags))
    }
}

/// A list header: several lines of it are one list (RFC 9110 §5.3).
impl HeaderValue for EntityTags {
    const LIST: bool = true;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(raw: &str) -> EntityTags {
        EntityTags::parse(raw).unwrap()
    }

    fn if_match(raw: &str) -> WriteCondition {
        preconditions(Some(&tags(raw)), None)
    }

    #[test]
    fn if_match_compares_strongly_and_if_none_match_weakly() {
        assert_eq!(if_match("*"), WriteCondition::Always);
        assert_eq!(preconditions(None, None), WriteCondition::Always);
        assert_eq!(
            if_match(r#""3", W/"4", "x", "05", "3" ,"7""#),
            WriteCondition::VersionIn(vec![3, 7])
        );
        assert!(tags(r#"W/"4""#).names_weakly(4));
        assert!(tags(r#""1", "4""#).names_weakly(4));
        assert!(!tags(r#""40""#).names_weakly(4));
        assert!(tags(" * ").names_weakly(9));
        assert_eq!(
            if_match(r#""a,b", "2""#),
            WriteCondition::VersionIn(vec![2])
        );
    }

    #[test]
    fn if_none_match_excludes_what_it_names() {
        let none_match = |raw: &str| preconditions(None, Some(&tags(raw)));
        assert_eq!(none_match("*"), WriteCondition::VersionIn(vec![]));
        assert_eq!(
            none_match(r#"W/"4", "2", "x""#),
            WriteCondition::VersionNotIn(vec![2, 4])
        );
        assert_eq!(
            preconditions(Some(&tags("*")), Some(&tags(r#""4""#))),
            WriteCondition::VersionNotIn(vec![4])
        );
        assert_eq!(
            preconditions(Some(&tags(r#""3", "4""#)), Some(&tags(r#"W/"4""#))),
            WriteCondition::VersionIn(vec![3])
        );
        assert_eq!(
            preconditions(Some(&tags(r#""3""#)), Some(&tags("*"))),
            WriteCondition::VersionIn(vec![])
        );
    }

    #[test]
    fn every_value_the_documented_pattern_allows_parses() {
        let schema = EntityTags::schema();
        let pattern = regex::Regex::new(schema.pattern.as_deref().unwrap()).unwrap();
        let sixteen = vec!["\"1\""; MAX_LISTED_TAGS].join(", ");
        for allowed in [
            "*",
            "\"\"",
            "W/\"\"",
            "\"3\"",
            "\"3\", W/\"4\"",
            "\"a\",\"b!~\"",
            &sixteen,
        ] {
            assert!(pattern.is_match(allowed), "{allowed}");
            assert!(EntityTags::parse(allowed).is_ok(), "{allowed}");
        }
        let seventeen = vec!["\"1\""; MAX_LISTED_TAGS + 1].join(", ");
        assert!(!pattern.is_match(&seventeen));
        assert!(!pattern.is_match("3"));
    }

    #[test]
    fn malformed_lists_are_refused() {
        for raw in [
            "",
            "3",
            r#""3"#,
            r#""3" "4""#,
            r#"w/"3""#,
            r#""3"x"#,
            ",",
            "*, \"3\"",
            r#""a b""#,
        ] {
            assert!(EntityTags::parse(raw).is_err(), "{raw:?}");
        }
        let many = vec!["\"1\""; MAX_LISTED_TAGS + 1].join(", ");
        assert!(EntityTags::parse(&many).is_err());
        assert!(EntityTags::parse(&many[5..]).is_ok());
    }
}
