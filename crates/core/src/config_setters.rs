//! The builder methods of every configuration struct, declared once.
//!
//! Configurations are `#[non_exhaustive]` so that a new option is not a
//! breaking change; outside their crate they are built from `Default` with
//! one method per field, each named after its field:
//!
//! ```
//! #[derive(Clone, Debug, Default)]
//! #[non_exhaustive]
//! pub struct Limits {
//!     /// Largest body.
//!     pub max_bytes: usize,
//!     /// Who to greet.
//!     pub greeting: Option<String>,
//! }
//! llm_layers_core::config_setters!(Limits { max_bytes: usize, greeting: Option<String> });
//!
//! let limits = Limits::default().max_bytes(1024).greeting(Some("hello".into()));
//! assert_eq!(limits.max_bytes, 1024);
//! assert_eq!(limits.greeting.as_deref(), Some("hello"));
//! ```

/// Declares `field(self, value) -> Self` for each listed field of a
/// configuration struct, taking a value of the field's own type (so that
/// `"127.0.0.1:0".parse()` and `.into()` arguments infer it).
#[macro_export]
macro_rules! config_setters {
    ($config:ident { $($field:ident: $ty:ty),* $(,)? }) => {
        impl $config {
            $(
                #[doc = concat!("Sets [`", stringify!($field), "`](", stringify!($config), "::", stringify!($field), ").")]
                #[must_use]
                pub fn $field(mut self, value: $ty) -> Self {
                    self.$field = value;
                    self
                }
            )*
        }
    };
}
