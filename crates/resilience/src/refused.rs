//! The mark of a call a layer of this crate chose not to send (an open
//! breaker, a spent quota): sending it again at once would be refused the
//! same way, so the retry layer passes such an answer on as it is.

/// In the extensions of an answer a layer made instead of sending the call.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NotSent;
