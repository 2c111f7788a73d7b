//! Parse options, in effect for the duration of one parse on one thread.
//!
//! serde gives deserializers no way to pass settings down to nested values,
//! so the options of the current parse live in a thread-local that
//! [`with`] sets and restores (also when the parse panics or fails).

use std::cell::Cell;

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
    /// Skip fields (and enum value names) the schema does not know instead of
    /// failing. Google's REST front ends reject them, so the default is to
    /// reject too.
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

thread_local! {
    static IGNORE_UNKNOWN: Cell<bool> = const { Cell::new(false) };
}

/// Whether the parse running on this thread ignores unknown fields.
pub(crate) fn ignore_unknown_fields() -> bool {
    IGNORE_UNKNOWN.with(Cell::get)
}

/// Runs `f` with `options` in effect on this thread.
pub(crate) fn with<R>(options: &ParseOptions, f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            IGNORE_UNKNOWN.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(IGNORE_UNKNOWN.with(|c| c.replace(options.ignore_unknown_fields)));
    f()
}
