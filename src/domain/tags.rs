//! A task's tags: up to 20 labels, each 1 to 50 characters after trimming, kept in the spelling
//! and order sent; two tags are the same when their Unicode lowercase forms are equal.

use std::collections::HashSet;

/// Most tags on one task.
pub const TAGS_MAX: usize = 20;
/// Longest tag, in characters after trimming.
pub const TAG_MAX_CHARS: usize = 50;
/// White space as `char::is_whitespace` (Unicode's White_Space), as a character class's body.
const WHITE_SPACE: &str = r"\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";

/// A tag as sent, as a pattern: 1 to 50 characters that are neither NUL nor a comma between
/// white space, the first and last of them not white space.
pub fn tag_pattern() -> String {
    let inner = format!(r"[^\u0000,{WHITE_SPACE}]");
    let any = r"[^\u0000,]";
    let middle = TAG_MAX_CHARS - 2;
    format!(r"^[{WHITE_SPACE}]*({inner}|{inner}{any}{{0,{middle}}}{inner})[{WHITE_SPACE}]*$")
}

/// One tag as sent, trimmed; the message says what is wrong with it.
pub fn parse_tag(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim();
    match trimmed.chars().count() {
        _ if raw.contains('\0') => Err("must not contain NUL (U+0000)".to_owned()),
        _ if raw.contains(',') => Err("must not contain a comma".to_owned()),
        0 => Err("must not be empty or only white space".to_owned()),
        n if n > TAG_MAX_CHARS => Err(format!(
            "must be at most {TAG_MAX_CHARS} characters after trimming (got {n})"
        )),
        _ => Ok(trimmed.to_owned()),
    }
}

/// What tells tags apart: the tag's Unicode lowercase form.
pub fn tag_key(tag: &str) -> String {
    tag.to_lowercase()
}

/// A task's tags, trimmed, in the order sent, no two the same.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tags(Vec<String>);

impl Tags {
    /// Checks every tag; the message names the first that fails (by its index) or repeats.
    pub fn parse(raw: &[&str]) -> Result<Self, String> {
        if raw.len() > TAGS_MAX {
            return Err(format!(
                "must hold at most {TAGS_MAX} tags (got {})",
                raw.len()
            ));
        }
        let mut seen = HashSet::new();
        let mut tags = Vec::with_capacity(raw.len());
        for (index, tag) in raw.iter().enumerate() {
            let checked = parse_tag(tag).and_then(|tag| match seen.insert(tag_key(&tag)) {
                true => Ok(tag),
                false => Err(format!(
                    "repeats an earlier tag ({:?}; tags are compared in lowercase)",
                    super::echo(&tag)
                )),
            });
            tags.push(checked.map_err(|problem| format!("tag {index} {problem}"))?);
        }
        Ok(Self(tags))
    }

    /// The tags as stored (a JSON array of strings); anything else reads as no tags.
    pub fn stored(json: &str) -> Self {
        Self(serde_json::from_str(json).unwrap_or_default())
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    pub fn into_inner(self) -> Vec<String> {
        self.0
    }

    /// The stored form: a JSON array of the tags.
    pub fn to_json(&self) -> String {
        serde_json::Value::from(self.0.clone()).to_string()
    }

    /// The tags' lowercase forms, in the same order, as a JSON array: what reads compare.
    pub fn keys_json(&self) -> String {
        let keys: Vec<String> = self.0.iter().map(|tag| tag_key(tag)).collect();
        serde_json::Value::from(keys).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_trimmed_kept_in_order_and_unique_in_lowercase() {
        let tags = Tags::parse(&[" Home ", "errands", "Ärger"]).unwrap();
        assert_eq!(tags.as_slice(), ["Home", "errands", "Ärger"]);
        assert_eq!(tags.to_json(), r#"["Home","errands","Ärger"]"#);
        assert_eq!(tags.keys_json(), r#"["home","errands","ärger"]"#);
        assert_eq!(Tags::stored(&tags.to_json()), tags);
        assert!(Tags::parse(&["Work", "work"])
            .unwrap_err()
            .contains("tag 1"));
        assert!(Tags::parse(&["ÄRGER", "ärger"]).is_err());
        assert!(Tags::parse(&["a,b"]).is_err());
        assert!(Tags::parse(&[" "]).is_err());
        assert!(Tags::parse(&["a\0"]).is_err());
        assert!(Tags::parse(&[&"é".repeat(50)]).is_ok());
        assert!(Tags::parse(&[&format!("  {}  ", "é".repeat(50))]).is_ok());
        assert!(Tags::parse(&[&"é".repeat(51)]).is_err());
        let twenty: Vec<String> = (0..20).map(|n| format!("t{n}")).collect();
        let mut refs: Vec<&str> = twenty.iter().map(String::as_str).collect();
        assert!(Tags::parse(&refs).is_ok());
        refs.push("t20");
        assert!(Tags::parse(&refs).is_err());
    }

    #[test]
    fn the_pattern_takes_exactly_the_tags_that_parse() {
        let pattern = regex::Regex::new(&tag_pattern()).unwrap();
        let long = "é".repeat(50);
        let padded = format!(" {long}\t");
        let too_long = "é".repeat(51);
        for tag in [
            "a", " a ", "a b", "ab", &long, &padded, &too_long, "", " ", "a,b", "a\0",
        ] {
            assert_eq!(
                pattern.is_match(tag),
                Tags::parse(&[tag]).is_ok(),
                "{tag:?}"
            );
        }
    }
}
