//! `google.api.http` path templates: parsing and matching.
//!
//! `/v1/{instance=organizations/*/instances/*}:reportStatus` is the literal
//! `v1`, then the variable `instance` bound to `organizations/*/instances/*`,
//! then the custom verb `reportStatus`. `*` matches one path segment, `**` any
//! number of trailing segments; `{field}` is `{field=*}`.

use std::fmt;

/// What one path segment of a template matches.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Matcher {
    Literal(String),
    /// `*`: one segment.
    Any,
    /// `**`: the remaining segments (at least none).
    Rest,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Segment {
    matcher: Matcher,
    /// The index of the variable this segment belongs to.
    variable: Option<usize>,
}

/// A parsed path template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathTemplate {
    text: String,
    segments: Vec<Segment>,
    /// The field path of each variable, such as `["instance"]`.
    variables: Vec<Vec<String>>,
    verb: Option<String>,
}

/// Why a template does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid path template \"{template}\": {reason}")]
pub struct TemplateError {
    template: String,
    reason: &'static str,
}

impl PathTemplate {
    /// Parses a template.
    pub fn parse(template: &str) -> Result<Self, TemplateError> {
        let error = |reason| TemplateError {
            template: template.to_owned(),
            reason,
        };
        let path = template
            .strip_prefix('/')
            .ok_or_else(|| error("must start with /"))?;
        // The verb follows the last ':' that is outside braces.
        let mut depth = 0;
        let mut verb_at = None;
        for (i, c) in path.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ':' if depth == 0 => verb_at = Some(i),
                _ => {}
            }
        }
        let (path, verb) = match verb_at {
            Some(i) => (&path[..i], Some(path[i + 1..].to_owned())),
            None => (path, None),
        };
        let mut segments = Vec::new();
        let mut variables = Vec::new();
        let mut rest = path;
        while !rest.is_empty() {
            if let Some(inner) = rest.strip_prefix('{') {
                let end = inner.find('}').ok_or_else(|| error("unclosed {"))?;
                let (field, pattern) = match inner[..end].split_once('=') {
                    Some((f, p)) => (f, p),
                    None => (&inner[..end], "*"),
                };
                if field.is_empty() {
                    return Err(error("a variable needs a field name"));
                }
                let index = variables.len();
                variables.push(field.split('.').map(str::to_owned).collect());
                for part in pattern.split('/') {
                    segments.push(Segment {
                        matcher: matcher(part).ok_or_else(|| error("empty segment"))?,
                        variable: Some(index),
                    });
                }
                rest = inner[end + 1..]
                    .strip_prefix('/')
                    .unwrap_or(&inner[end + 1..]);
            } else {
                let end = rest.find('/').unwrap_or(rest.len());
                segments.push(Segment {
                    matcher: matcher(&rest[..end]).ok_or_else(|| error("empty segment"))?,
                    variable: None,
                });
                rest = rest.get(end + 1..).unwrap_or("");
            }
        }
        let rest_positions = segments
            .iter()
            .filter(|s| s.matcher == Matcher::Rest)
            .count();
        if rest_positions > 1
            || (rest_positions == 1 && segments.last().map(|s| &s.matcher) != Some(&Matcher::Rest))
        {
            return Err(error("** may only end a template"));
        }
        Ok(Self {
            text: template.to_owned(),
            segments,
            variables,
            verb,
        })
    }

    /// The field paths of the template's variables, in order.
    pub fn variables(&self) -> &[Vec<String>] {
        &self.variables
    }

    /// Whether variable `index` is a single `*` segment (its value is one
    /// segment, fully percent-decoded) rather than several segments (whose
    /// values keep `%2F`).
    fn is_single_segment(&self, index: usize) -> bool {
        let mut own = self.segments.iter().filter(|s| s.variable == Some(index));
        matches!(
            (own.next(), own.next()),
            (
                Some(Segment {
                    matcher: Matcher::Any,
                    ..
                }),
                None
            )
        )
    }

    /// Matches a request path (percent-encoded, as in the URL); the value of
    /// each variable, percent-decoded, in the order of [`Self::variables`].
    /// A variable of several segments keeps `%2F` as it is, as http.proto
    /// specifies; a path whose decoded bytes are not UTF-8 matches nothing.
    pub fn matches(&self, path: &str) -> Option<Vec<String>> {
        let path = path.strip_prefix('/')?;
        let path = match &self.verb {
            Some(verb) => path.strip_suffix(verb.as_str())?.strip_suffix(':')?,
            None => path,
        };
        let parts: Vec<&str> = if path.is_empty() {
            Vec::new()
        } else {
            path.split('/').collect()
        };
        let mut values: Vec<Vec<String>> = vec![Vec::new(); self.variables.len()];
        let mut at = 0;
        for segment in &self.segments {
            let taken: &[&str] = match &segment.matcher {
                Matcher::Literal(literal) => {
                    if parts.get(at).and_then(|p| decode(p, false)).as_ref() != Some(literal) {
                        return None;
                    }
                    &parts[at..=at]
                }
                Matcher::Any => {
                    let part = parts.get(at)?;
                    if part.is_empty() {
                        return None;
                    }
                    &parts[at..=at]
                }
                Matcher::Rest => &parts[at..],
            };
            at += taken.len();
            if let Some(index) = segment.variable {
                // As http.proto specifies, a variable of several segments
                // keeps "%2F" encoded: it is not a separator.
                let keep_slashes = !self.is_single_segment(index);
                for part in taken {
                    values[index].push(decode(part, keep_slashes)?);
                }
            }
        }
        (at == parts.len()).then(|| values.into_iter().map(|v| v.join("/")).collect())
    }
}

/// Why a request does not fit a path template.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", describe_binding_error(self))]
pub struct BindingError {
    /// The field path of the variable; empty when the template has a
    /// wildcard outside any variable, which no value can fill.
    pub field: String,
    /// The value the request has there.
    pub value: String,
    /// The template.
    pub template: String,
}

fn describe_binding_error(e: &BindingError) -> String {
    if e.field.is_empty() {
        format!(
            "the path template {} has a wildcard outside any variable, so no values expand it",
            e.template
        )
    } else {
        format!(
            "field {} = \"{}\" does not fit the path template {}",
            e.field, e.value, e.template
        )
    }
}

/// What a path segment keeps unencoded: RFC 3986 unreserved characters.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

impl PathTemplate {
    /// The URL path for the given variable values (in the order of
    /// [`Self::variables`]), each checked against its pattern and
    /// percent-encoded; the inverse of [`Self::matches`].
    ///
    /// ```
    /// use cloud_report_proto::rest::PathTemplate;
    /// let t = PathTemplate::parse("/v1/{instance=organizations/*/instances/*}:reportStatus")?;
    /// assert_eq!(
    ///     t.expand(&["organizations/acme/instances/eu 1"])?,
    ///     "/v1/organizations/acme/instances/eu%201:reportStatus"
    /// );
    /// assert!(t.expand(&["acme"]).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn expand(&self, values: &[&str]) -> Result<String, BindingError> {
        let mismatch = |index: usize| BindingError {
            field: self.variables[index].join("."),
            value: values.get(index).copied().unwrap_or_default().to_owned(),
            template: self.text.clone(),
        };
        if values.len() != self.variables.len() {
            return Err(mismatch(
                values.len().min(self.variables.len().saturating_sub(1)),
            ));
        }
        // A variable of one `*` takes the whole value as one segment (a '/'
        // in it is encoded); longer patterns split it at '/'.
        let mut parts: Vec<Vec<&str>> = values
            .iter()
            .enumerate()
            .map(|(index, value)| {
                if self.is_single_segment(index) {
                    vec![*value]
                } else {
                    value.split('/').collect()
                }
            })
            .collect();
        for part in &mut parts {
            part.reverse();
        }
        let mut out = String::new();
        for segment in &self.segments {
            match (segment.variable, &segment.matcher) {
                (None, Matcher::Literal(literal)) => {
                    out.push('/');
                    out.extend(percent_encoding::utf8_percent_encode(literal, SEGMENT));
                }
                (None, _) => {
                    // A wildcard outside any variable: no value fills it.
                    return Err(BindingError {
                        field: String::new(),
                        value: String::new(),
                        template: self.text.clone(),
                    });
                }
                (Some(index), matcher) => {
                    let taken: Vec<&str> = match matcher {
                        Matcher::Rest => parts[index].drain(..).rev().collect(),
                        _ => vec![parts[index].pop().ok_or_else(|| mismatch(index))?],
                    };
                    for part in taken {
                        let fits = match matcher {
                            Matcher::Literal(literal) => part == literal,
                            Matcher::Any => !part.is_empty(),
                            Matcher::Rest => true,
                        };
                        if !fits {
                            return Err(mismatch(index));
                        }
                        out.push('/');
                        out.extend(percent_encoding::utf8_percent_encode(part, SEGMENT));
                    }
                }
            }
        }
        if let Some(index) = parts.iter().position(|p| !p.is_empty()) {
            return Err(mismatch(index));
        }
        if out.is_empty() {
            // The template "/" (no segments) expands to the root path.
            out.push('/');
        }
        if let Some(verb) = &self.verb {
            out.push(':');
            out.push_str(verb);
        }
        Ok(out)
    }
}

impl fmt::Display for PathTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn matcher(part: &str) -> Option<Matcher> {
    match part {
        "" => None,
        "*" => Some(Matcher::Any),
        "**" => Some(Matcher::Rest),
        literal => Some(Matcher::Literal(literal.to_owned())),
    }
}

/// Percent-decodes a path segment; `None` when the bytes are not UTF-8.
/// With `keep_slashes`, `%2F` (either case) stays encoded.
fn decode(part: &str, keep_slashes: bool) -> Option<String> {
    let plain = |text: &str| {
        percent_encoding::percent_decode_str(text)
            .decode_utf8()
            .ok()
            .map(std::borrow::Cow::into_owned)
    };
    if !keep_slashes {
        return plain(part);
    }
    let mut out = String::new();
    let mut rest = part;
    while let Some(at) = rest
        .as_bytes()
        .windows(3)
        .position(|w| w[0] == b'%' && w[1] == b'2' && (w[2] == b'F' || w[2] == b'f'))
    {
        out.push_str(&plain(&rest[..at])?);
        out.push_str(&rest[at..at + 3]);
        rest = &rest[at + 3..];
    }
    out.push_str(&plain(rest)?);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_bindings_of_the_crate() {
        let t = PathTemplate::parse("/v1/services/{service_name}:report").unwrap();
        assert_eq!(t.variables(), &[vec!["service_name".to_owned()]]);
        assert_eq!(
            t.matches("/v1/services/pubsub.googleapis.com:report"),
            Some(vec!["pubsub.googleapis.com".into()])
        );
        assert_eq!(
            t.matches("/v1/services/a%2Fb:report"),
            Some(vec!["a/b".into()])
        );
        assert_eq!(t.matches("/v1/services/x:check"), None);
        assert_eq!(t.matches("/v1/services/:report"), None);
        assert_eq!(t.matches("/v1/services/a/b:report"), None);

        let t =
            PathTemplate::parse("/v1/{instance=organizations/*/instances/*}:reportStatus").unwrap();
        assert_eq!(
            t.matches("/v1/organizations/o1/instances/i-2:reportStatus"),
            Some(vec!["organizations/o1/instances/i-2".into()])
        );
        assert_eq!(
            t.matches("/v1/organizations/o1/environments/i:reportStatus"),
            None
        );
        assert_eq!(
            t.matches("/v1/organizations/o1/instances:reportStatus"),
            None
        );

        // A variable of several segments keeps "%2F": it is data, not a
        // separator (http.proto's reserved expansion); other escapes are
        // decoded, and bytes that are not UTF-8 match nothing.
        assert_eq!(
            t.matches("/v1/organizations/o%2Fx/instances/i%20j:reportStatus"),
            Some(vec!["organizations/o%2Fx/instances/i j".into()])
        );
        assert_eq!(
            t.matches("/v1/organizations/o/instances/%ff:reportStatus"),
            None
        );

        let t = PathTemplate::parse(
            "/v1/{name=organizations/*/environments/*/apis/*/revisions/*}/deployments:generateDeployChangeReport",
        )
        .unwrap();
        assert_eq!(
            t.matches("/v1/organizations/o/environments/prod/apis/orders/revisions/4/deployments:generateDeployChangeReport"),
            Some(vec!["organizations/o/environments/prod/apis/orders/revisions/4".into()])
        );
    }

    #[test]
    fn expand_is_the_inverse_of_matches() {
        for (template, values) in [
            (
                "/v1/services/{service_name}:report",
                vec!["pubsub.googleapis.com"],
            ),
            ("/v1/services/{service_name}:report", vec!["a b/c%"]),
            (
                "/v1/{instance=organizations/*/instances/*}:reportStatus",
                vec!["organizations/o/instances/i"],
            ),
            ("/v1/{a.b=files/**}", vec!["files/x/y"]),
        ] {
            let t = PathTemplate::parse(template).unwrap();
            let path = t.expand(&values).unwrap();
            let matched = t.matches(&path).unwrap();
            assert_eq!(matched, values, "{template}");
        }
        let t =
            PathTemplate::parse("/v1/{instance=organizations/*/instances/*}:reportStatus").unwrap();
        for bad in [
            "organizations/o",
            "organizations/o/instances/i/x",
            "projects/o/instances/i",
            "organizations//instances/i",
        ] {
            let err = t.expand(&[bad]).unwrap_err();
            assert_eq!(err.field, "instance");
        }
        assert!(t.expand(&[]).is_err());
    }

    #[test]
    fn double_wildcards_and_nested_fields() {
        let t = PathTemplate::parse("/v1/{a.b=files/**}").unwrap();
        assert_eq!(t.variables(), &[vec!["a".to_owned(), "b".to_owned()]]);
        assert_eq!(
            t.matches("/v1/files/x/y/z"),
            Some(vec!["files/x/y/z".into()])
        );
        assert_eq!(t.matches("/v1/files"), Some(vec!["files".into()]));
        assert!(PathTemplate::parse("/v1/{a=**}/x").is_err());
        assert!(PathTemplate::parse("v1/x").is_err());
        assert!(PathTemplate::parse("/v1/{a").is_err());
    }
}
