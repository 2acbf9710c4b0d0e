//! Conditional requests (RFC 9110 §13): a task's (or list's) entity tag, the `If-Match` /
//! `If-None-Match` lists of entity tags they compare it with, and the two headers read (and
//! documented) as one argument of an operation.

use std::marker::PhantomData;

use poem::{Request, RequestBody};
use poem_openapi::registry::{MetaParamIn, MetaSchema, MetaSchemaRef};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};

use crate::api::request::input::{read_header, Checked, CollectFields, HeaderValue, ParamValue};
use crate::domain::{List, Task, WriteCondition};

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

/// What a read's `If-Match` and `If-None-Match` make of the version it finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadOutcome {
    /// Neither header stops it: the resource is answered.
    Answer,
    /// `If-None-Match` names the version: the client's copy is current (304).
    NotModified,
    /// `If-Match` names none of it (412).
    PreconditionFailed,
}

/// A read's `If-Match` and `If-None-Match`.
pub struct ReadCondition {
    if_match: Option<EntityTags>,
    if_none_match: Option<EntityTags>,
}

impl ReadCondition {
    /// What the headers make of the resource at `version`: `If-Match` is compared first.
    pub fn outcome(&self, version: i64) -> ReadOutcome {
        if !preconditions(self.if_match.as_ref(), None).allows(version) {
            ReadOutcome::PreconditionFailed
        } else if self
            .if_none_match
            .as_ref()
            .is_some_and(|tags| tags.names_weakly(version))
        {
            ReadOutcome::NotModified
        } else {
            ReadOutcome::Answer
        }
    }
}

/// What a request does to the resource its conditional headers name, and so what they make and
/// mean.
pub trait Access: Send {
    /// What the two headers make.
    type Condition: Send;
    /// The headers' descriptions (`If-Match`'s, then `If-None-Match`'s) among a resource's.
    fn descriptions(headers: &HeaderDescriptions) -> [&'static str; 2];
    /// What the two headers, as given, make.
    fn condition(
        if_match: Option<EntityTags>,
        if_none_match: Option<EntityTags>,
    ) -> Self::Condition;
}

/// A read (GET): `If-Match` may refuse it, `If-None-Match` answer 304.
pub struct Read;

/// A change of the resource: it happens only at a version the headers let through.
pub trait Change: Send {
    /// The headers' descriptions (`If-Match`'s, then `If-None-Match`'s) among a resource's.
    fn descriptions(headers: &HeaderDescriptions) -> [&'static str; 2];
}

/// A write (PUT, PATCH, a move).
pub struct Write;

/// A delete.
pub struct Delete;

impl Change for Write {
    fn descriptions(headers: &HeaderDescriptions) -> [&'static str; 2] {
        headers.write
    }
}

impl Change for Delete {
    fn descriptions(headers: &HeaderDescriptions) -> [&'static str; 2] {
        headers.delete
    }
}

impl Access for Read {
    type Condition = ReadCondition;

    fn descriptions(headers: &HeaderDescriptions) -> [&'static str; 2] {
        headers.read
    }

    fn condition(if_match: Option<EntityTags>, if_none_match: Option<EntityTags>) -> ReadCondition {
        ReadCondition {
            if_match,
            if_none_match,
        }
    }
}

impl<C: Change> Access for C {
    type Condition = WriteCondition;

    fn descriptions(headers: &HeaderDescriptions) -> [&'static str; 2] {
        C::descriptions(headers)
    }

    fn condition(
        if_match: Option<EntityTags>,
        if_none_match: Option<EntityTags>,
    ) -> WriteCondition {
        preconditions(if_match.as_ref(), if_none_match.as_ref())
    }
}

/// What `If-Match` and `If-None-Match` mean on each kind of request on one resource.
pub struct HeaderDescriptions {
    read: [&'static str; 2],
    write: [&'static str; 2],
    delete: [&'static str; 2],
}

/// A resource with versions the conditional headers name.
pub trait Versioned {
    /// What the headers mean on its requests.
    const CONDITIONAL_HEADERS: HeaderDescriptions;
}

/// The descriptions of a write's (or a delete's: `$change`) headers, of a resource called `$noun`.
macro_rules! change_descriptions {
    ($noun:literal, $change:literal) => {
        [
            concat!(
                "The entity tags the client's copy may have (compared strongly: `W/` tags never\n\
                 match), or `*`: the ",
                $change,
                " happens only if one is the ",
                $noun,
                "'s current tag."
            ),
            concat!(
                "The entity tags of copies the client has (`W/` or not: compared weakly), or `*`: \
                 the\n",
                $change,
                " happens only if none is the ",
                $noun,
                "'s current tag (`*`: never, the ",
                $noun,
                " exists)."
            ),
        ]
    };
}

/// Declares that resource `$resource` (called `$noun`) has versions the headers name.
macro_rules! versioned {
    ($resource:ty, $noun:literal) => {
        impl Versioned for $resource {
            const CONDITIONAL_HEADERS: HeaderDescriptions = HeaderDescriptions {
                read: [
                    concat!(
                        "The entity tags the client expects (compared strongly: `W/` tags never \
                         match), or\n`*`: 412 Precondition Failed when none is the ",
                        $noun,
                        "'s current tag."
                    ),
                    concat!(
                        "The entity tags of copies the client has (`W/` or not: compared weakly), \
                         or `*`: 304\nNot Modified when one is the ",
                        $noun,
                        "'s current tag."
                    ),
                ],
                write: change_descriptions!($noun, "write"),
                delete: change_descriptions!($noun, "delete"),
            };
        }
    };
}

versioned!(Task, "task");
versioned!(List, "list");

/// The two conditional header names, in the order the document lists them.
const HEADER_NAMES: [&str; 2] = ["If-Match", "If-None-Match"];

/// An operation's `If-Match` and `If-None-Match` on a resource `R`, as one argument: what they
/// make for access `A`, or the errors of each that does not parse. poem-openapi documents one
/// parameter an argument: this one is a header parameter whose object schema lists the two
/// headers, each with its schema and description, and the document puts them in its place
/// (`response::document`).
pub struct Conditional<R, A: Access> {
    condition: Checked<A::Condition>,
    resource: PhantomData<R>,
}

/// A read's conditional headers.
pub type ReadConditions<R> = Conditional<R, Read>;
/// A write's conditional headers.
pub type WriteConditions<R> = Conditional<R, Write>;
/// A delete's conditional headers.
pub type DeleteConditions<R> = Conditional<R, Delete>;

impl<R, A: Access> Conditional<R, A> {
    pub fn checked(self) -> Checked<A::Condition> {
        self.condition
    }
}

impl<'a, R: Versioned + Send, A: Access> ApiExtractor<'a> for Conditional<R, A> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::Parameter];
    const PARAM_IS_REQUIRED: bool = false;
    type ParamType = ();
    type ParamRawType = ();

    fn param_in() -> Option<MetaParamIn> {
        Some(MetaParamIn::Header)
    }

    fn param_schema_ref() -> Option<MetaSchemaRef> {
        let descriptions = A::descriptions(&R::CONDITIONAL_HEADERS);
        let headers = HEADER_NAMES
            .into_iter()
            .zip(descriptions)
            .map(|(name, description)| {
                let schema = MetaSchema {
                    description: Some(description),
                    ..EntityTags::schema()
                };
                (name, MetaSchemaRef::Inline(Box::new(schema)))
            });
        Some(MetaSchemaRef::Inline(Box::new(MetaSchema {
            properties: headers.collect(),
            ..MetaSchema::new("object")
        })))
    }

    async fn from_request(
        request: &'a Request,
        _body: &mut RequestBody,
        _options: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let [if_match, if_none_match] = HEADER_NAMES;
        let condition = (
            read_header(request, if_match),
            read_header(request, if_none_match),
        )
            .collect_fields()
            .map(|(if_match, if_none_match)| A::condition(if_match, if_none_match));
        Ok(Self {
            condition,
            resource: PhantomData,
        })
    }
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
