//! JSON without a tree: the validating scanner every reader of request
//! bodies uses ([`scan`]), the canonical form the key is made of
//! ([`canonical`]), and one top-level member found without parsing the
//! rest ([`member`]).

pub(crate) mod canonical;
pub(crate) mod member;
pub(crate) mod scan;
