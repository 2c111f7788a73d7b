//! The options of a JSON parse, carried by the reader.

/// Options of a JSON parse.
///
/// ```
/// use cloud_report_proto::json::ParseOptions;
/// let options = ParseOptions::default().ignore_unknown_fields(true);
/// assert!(options.ignores_unknown_fields());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParseOptions {
    ignore_unknown_fields: bool,
}

impl ParseOptions {
    /// Skip fields and enum value names the schema does not know instead of
    /// failing (an unknown enum name leaves its field unset, and drops its
    /// list element or map entry). Google's REST front ends reject them, so
    /// the default is to reject too.
    #[must_use]
    pub fn ignore_unknown_fields(mut self, ignore: bool) -> Self {
        self.ignore_unknown_fields = ignore;
        self
    }

    /// Whether unknown fields are skipped.
    pub fn ignores_unknown_fields(&self) -> bool {
        self.ignore_unknown_fields
    }
}
