//! [`ConfigError`]: where a service configuration is wrong, and what is,
//! on one line.

use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};

/// A configuration that cannot be used: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigError {
    /// The file the configuration came from, when it came from one.
    pub file: Option<PathBuf>,
    /// The 1-based line and column in the file, when known.
    pub position: Option<(usize, usize)>,
    /// The path of the value at fault, such as `quota.limits[0].metric`;
    /// empty for the document as a whole.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl ConfigError {
    pub(crate) fn at(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            file: None,
            position: None,
            path: path.into(),
            message: message.into(),
        }
    }

    pub(super) fn in_file(mut self, file: &Path) -> Self {
        self.file = Some(file.to_owned());
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One line, whatever the file name, a key in the path or the message
        // quotes.
        let mut out = OneLine(f);
        if let Some(file) = &self.file {
            write!(out, "{}:", file.display())?;
            if let Some((line, column)) = self.position {
                write!(out, "{line}:{column}:")?;
            }
            out.write_str(" ")?;
        } else if let Some((line, column)) = self.position {
            write!(out, "line {line}, column {column}: ")?;
        }
        if !self.path.is_empty() {
            write!(out, "{}: ", self.path)?;
        }
        out.write_str(&self.message)
    }
}

/// Whether a character breaks a line (`\n`, `\r`, U+0085, U+2028, U+2029):
/// what an error message written on one line must not hold.
fn is_line_break(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// `text` with each line break as a space: one line for an error message,
/// whatever it quotes.
#[cfg_attr(not(feature = "emulator"), allow(dead_code))]
pub(crate) fn one_line(text: &str) -> String {
    text.replace(is_line_break, " ")
}

/// Writes text with each line break as a space ([`one_line`], streamed).
struct OneLine<'a, 'b>(&'a mut fmt::Formatter<'b>);

impl fmt::Write for OneLine<'_, '_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let is_break = is_line_break;
        let mut rest = text;
        while let Some(at) = rest.find(is_break) {
            self.0.write_str(&rest[..at])?;
            self.0.write_str(" ")?;
            let width = rest[at..].chars().next().map_or(1, char::len_utf8);
            rest = &rest[at + width..];
        }
        self.0.write_str(rest)
    }
}

impl std::error::Error for ConfigError {}
