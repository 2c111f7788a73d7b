//! `google.protobuf.FieldMask`: its JSON form, `"fooBar,baz.qux"`, and the
//! rule that decides which paths have one.

use super::FieldMask;

/// Why a field mask has no JSON form, or a text is not one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FieldMaskError {
    /// A path holds a character the JSON form cannot carry back: an
    /// upper-case letter, or a `_` not followed by a lower-case letter.
    #[error(
        "field mask path \"{0}\" has no JSON form: paths are lower snake case, each '_' followed by a lower-case letter"
    )]
    Unwritable(String),
    /// A path of the JSON text holds `_`, which lowerCamelCase has no use for.
    #[error("field mask path \"{0}\" is not lowerCamelCase: it must not contain '_'")]
    Unreadable(String),
}

impl FieldMask {
    /// A mask of these paths (proto names, joined by dots).
    ///
    /// ```
    /// use cloud_report_proto::google::protobuf::FieldMask;
    /// let mask: FieldMask = "operationId,checkInfo.consumerInfo".parse()?;
    /// assert_eq!(mask, FieldMask::new(["operation_id", "check_info.consumer_info"]));
    /// assert_eq!(mask.to_string(), "operationId,checkInfo.consumerInfo");
    /// # Ok::<(), cloud_report_proto::google::protobuf::FieldMaskError>(())
    /// ```
    pub fn new<S: Into<String>>(paths: impl IntoIterator<Item = S>) -> Self {
        Self {
            paths: paths.into_iter().map(Into::into).collect(),
            ..Default::default()
        }
    }

    /// `Ok` when every path has a JSON form.
    ///
    /// # Errors
    ///
    /// The first path that has none.
    pub fn check(&self) -> Result<(), FieldMaskError> {
        match self.paths.iter().find(|p| !writable(p)) {
            Some(path) => Err(FieldMaskError::Unwritable(path.clone())),
            None => Ok(()),
        }
    }

    /// The JSON text; [`check`](Self::check) first.
    pub(super) fn canonical_text(&self) -> String {
        let paths: Vec<String> = self.paths.iter().map(|p| lower_camel(p)).collect();
        paths.join(",")
    }

    /// Whether a message field path (proto names joined by dots) falls under
    /// the mask: it is one of its paths, or under one.
    ///
    /// ```
    /// use cloud_report_proto::google::protobuf::FieldMask;
    /// let mask = FieldMask::new(["check_info"]);
    /// assert!(mask.covers("check_info.consumer_info"));
    /// assert!(!mask.covers("check_errors"));
    /// ```
    pub fn covers(&self, path: &str) -> bool {
        self.paths.iter().any(|p| {
            path.strip_prefix(p.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
        })
    }
}

/// The lowerCamelCase form of a proto name, protoc's rule for JSON names and
/// the JSON form of field mask paths: each `_` dropped and the character
/// after it upper-cased.
pub(crate) fn lower_camel(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether a path converts to lowerCamelCase and back unchanged.
fn writable(path: &str) -> bool {
    let mut after_underscore = false;
    for c in path.chars() {
        if c.is_ascii_uppercase() {
            return false;
        }
        if after_underscore && !c.is_ascii_lowercase() {
            return false;
        }
        after_underscore = c == '_';
    }
    !after_underscore
}

impl std::fmt::Display for FieldMask {
    /// The JSON text (without quotes); paths without a JSON form are written
    /// as they are.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.canonical_text())
    }
}

impl std::str::FromStr for FieldMask {
    type Err = FieldMaskError;

    /// Reads the JSON text: comma-separated lowerCamelCase paths, each upper
    /// case letter becoming `_` and its lower case. The empty text is the
    /// empty mask.
    fn from_str(text: &str) -> Result<Self, FieldMaskError> {
        if text.is_empty() {
            return Ok(Self::default());
        }
        text.split(',')
            .map(|path| {
                if path.contains('_') {
                    return Err(FieldMaskError::Unreadable(path.to_owned()));
                }
                let mut snake = String::with_capacity(path.len() + 4);
                for c in path.chars() {
                    if c.is_ascii_uppercase() {
                        snake.push('_');
                        snake.push(c.to_ascii_lowercase());
                    } else {
                        snake.push(c);
                    }
                }
                Ok(snake)
            })
            .collect::<Result<_, _>>()
            .map(|paths| Self {
                paths,
                ..Default::default()
            })
    }
}

json_as_text!(FieldMask, "a field mask such as \"fooBar,baz.qux\"");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_camel_matches_protoc() {
        assert_eq!(lower_camel("service_name"), "serviceName");
        assert_eq!(lower_camel("a_b_c"), "aBC");
        assert_eq!(lower_camel("name"), "name");
    }

    #[test]
    fn paths_convert_both_ways_and_refuse_what_does_not_round_trip() {
        let mask: FieldMask = "fooBar,baz.quxQuux,".parse().unwrap();
        assert_eq!(mask.paths, ["foo_bar", "baz.qux_quux", ""]);
        assert_eq!(mask.to_string(), "fooBar,baz.quxQuux,");
        assert_eq!("".parse::<FieldMask>().unwrap(), FieldMask::default());
        assert!("foo_bar".parse::<FieldMask>().is_err());
        for bad in ["fooBar", "foo_3", "foo__bar", "foo_", "a_.b"] {
            assert!(FieldMask::new([bad]).check().is_err(), "{bad}");
        }
        assert!(FieldMask::new(["foo_bar.baz2", "x"]).check().is_ok());
    }
}
