//! The nesting limit of `google.protobuf.Any` values, which the reader and
//! the writer both keep.

/// The deepest `google.protobuf.Any` nesting read or written, as in the
/// reference implementation's default recursion limit.
pub(crate) const MAX_ANY_DEPTH: u32 = 100;

/// How many more `Any` levels may be entered: the limit, for the reader and
/// the writer alike.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AnyDepth(u32);

impl AnyDepth {
    pub(crate) const fn new() -> Self {
        Self(MAX_ANY_DEPTH)
    }

    /// Enters a level; the error's message past [`MAX_ANY_DEPTH`] levels.
    pub(crate) fn enter(&mut self) -> std::result::Result<(), String> {
        if self.0 == 0 {
            return Err(format!(
                "google.protobuf.Any values nest deeper than {MAX_ANY_DEPTH} levels"
            ));
        }
        self.0 -= 1;
        Ok(())
    }

    /// Leaves a level entered.
    pub(crate) fn leave(&mut self) {
        self.0 += 1;
    }
}
