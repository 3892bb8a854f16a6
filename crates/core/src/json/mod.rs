//! JSON without a tree: the validating scanner every reader of request
//! bodies uses ([`scan`]), the canonical form the key is made of
//! ([`canonical`]), and one top-level member found without parsing the
//! rest ([`member`]).

pub(crate) mod canonical;
pub(crate) mod member;
pub(crate) mod scan;

use std::cell::RefCell;
use std::thread::LocalKey;

/// Runs `work` with this thread's scratch value in `cell`, reused from one
/// call to the next; with a fresh one when the thread's is already in use.
pub(crate) fn with_scratch<T: Default, R>(
    cell: &'static LocalKey<RefCell<T>>,
    work: impl FnOnce(&mut T) -> R,
) -> R {
    cell.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut scratch) => work(&mut scratch),
        Err(_) => work(&mut T::default()),
    })
}

/// The length of the JSON whitespace at the start of `bytes`.
pub(crate) fn whitespace(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .take_while(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .count()
}
