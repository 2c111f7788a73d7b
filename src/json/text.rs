//! The text form of a scalar value, as a REST path variable or query
//! parameter carries it: what the value's JSON string form holds (int64
//! digits, an enum's name or number, base64, `NaN`), and for a bool its
//! literal `true` or `false`. Read and written by the field's JSON codec, so
//! the text accepts exactly what the JSON mapping accepts in a string.

use super::codec::Codec;
use super::options::{ParseOptions, WriteOptions};
use super::read::{ReadError, Reader, Scalar};
use super::write::{self, WriteError, Writer};

/// Reads a value from its text form; `None` when the codec leaves it out
/// (not under the strict options used here).
pub(crate) fn read_text<C: Codec>(text: &str) -> Result<Option<C::Value>, ReadError> {
    let mut json = Vec::with_capacity(text.len() + 2);
    if C::LITERAL_TEXT {
        // The literal alone: JSON's whitespace around it is no part of it.
        if text.bytes().any(|b| b.is_ascii_whitespace()) {
            return Err(ReadError::new(format_args!(
                "\"{text}\" is not true or false"
            )));
        }
        json.extend_from_slice(text.as_bytes());
    } else {
        write::write_str(&mut json, text);
    }
    let mut reader = Reader::new(&json, &ParseOptions::default());
    let value = C::read_item(&mut reader)?;
    reader.end()?;
    Ok(value)
}

/// A value's text form: its JSON form, without the quotes of a string (enums
/// by name).
pub(crate) fn write_text<C: Codec>(value: &C::Value) -> Result<String, WriteError> {
    let mut json = Vec::new();
    C::write(
        value,
        &mut Writer::with_options(&mut json, &WriteOptions::default()),
    )?;
    if json.first() != Some(&b'"') {
        return String::from_utf8(json).map_err(WriteError::new);
    }
    // The string form's content, unescaped.
    let mut reader = Reader::new(&json, &ParseOptions::default());
    match reader.scalar("a string") {
        Ok(Scalar::Str(text)) => Ok(text.as_str().to_owned()),
        _ => Err(WriteError::new(
            "a value's JSON string form did not read back",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::google::api::servicecontrol::v1::check_error::Code as CheckCode;
    use crate::json::codec::{Bool, Bytes, Enum, F64, I32, I64, Str, U64};

    #[test]
    fn text_is_what_the_json_string_form_holds() {
        assert_eq!(read_text::<I64>("-12").unwrap(), Some(-12));
        assert_eq!(read_text::<I64>("1e3").unwrap(), Some(1000));
        assert_eq!(
            read_text::<U64>("18446744073709551615").unwrap(),
            Some(u64::MAX)
        );
        assert_eq!(read_text::<I32>("7").unwrap(), Some(7));
        assert!(read_text::<I32>("4294967296").is_err());
        assert!(read_text::<I32>(" 7").is_err());
        assert!(read_text::<F64>("NaN").unwrap().unwrap().is_nan());
        assert_eq!(read_text::<F64>("1.5").unwrap(), Some(1.5));
        assert_eq!(read_text::<Bytes>("aGk").unwrap(), Some(b"hi".to_vec()));
        assert_eq!(
            read_text::<Str>("a \"b\" \\ é").unwrap().unwrap(),
            "a \"b\" \\ é"
        );
        assert_eq!(read_text::<Enum<CheckCode>>("NOT_FOUND").unwrap(), Some(5));
        assert_eq!(read_text::<Enum<CheckCode>>("5").unwrap(), Some(5));
        assert!(read_text::<Enum<CheckCode>>("NO_SUCH").is_err());
    }

    #[test]
    fn bools_are_literals() {
        assert_eq!(read_text::<Bool>("true").unwrap(), Some(true));
        assert_eq!(read_text::<Bool>("false").unwrap(), Some(false));
        for bad in [
            "True",
            "1",
            "",
            "true false",
            "null",
            " true",
            "false\n",
            "\ttrue",
        ] {
            assert!(read_text::<Bool>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn written_text_reads_back() {
        assert_eq!(write_text::<I64>(&-12).unwrap(), "-12");
        assert_eq!(
            write_text::<Str>(&"a \"b\"\n".to_owned()).unwrap(),
            "a \"b\"\n"
        );
        assert_eq!(write_text::<Enum<CheckCode>>(&5).unwrap(), "NOT_FOUND");
        assert_eq!(write_text::<Enum<CheckCode>>(&999).unwrap(), "999");
        assert_eq!(write_text::<Bool>(&true).unwrap(), "true");
        assert_eq!(write_text::<F64>(&f64::INFINITY).unwrap(), "Infinity");
        assert_eq!(write_text::<Bytes>(&b"hi".to_vec()).unwrap(), "aGk=");
        for value in ["", "x", "\u{1}\t\"\\/é😀"] {
            let text = write_text::<Str>(&value.to_owned()).unwrap();
            assert_eq!(read_text::<Str>(&text).unwrap().unwrap(), value);
        }
    }
}
