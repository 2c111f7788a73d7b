//! What only the crate's types are: [`ReadJson`](super::ReadJson) and
//! [`WriteJson`](super::WriteJson) are the crate's JSON engine, their
//! methods hidden and taking its internal types, so no other type can
//! implement them.

/// A type of the crate's own, which the JSON engine reads and writes.
pub trait Sealed {}

impl<T: Sealed> Sealed for Vec<T> {}
impl<T: Sealed> Sealed for Option<T> {}
impl<T: Sealed + ?Sized> Sealed for Box<T> {}
impl<T: Sealed> Sealed for [T] {}
impl<T: Sealed + ?Sized> Sealed for &T {}
