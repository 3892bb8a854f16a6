//! Bodies: a request body buffered once and replayed as it came
//! ([`ReplayBody`], [`collect_limited`]), and a response body watched as
//! it streams past ([`TapBody`], [`BodyObserver`]).

mod replay;
mod tap;

pub use replay::{collect_limited, Collected, ReplayBody};
pub use tap::{BodyEnd, BodyObserver, TapBody};
