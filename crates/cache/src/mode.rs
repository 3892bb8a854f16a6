//! Cache modes, in configuration and per request.

use std::str::FromStr;

/// Whether the cache is read, written, both or neither.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CacheMode {
    /// Read and write. The default.
    #[default]
    On,
    /// Neither read nor write: every request goes upstream.
    Off,
    /// Answer from the cache when possible; never store.
    ReadOnly,
    /// Always call upstream; store what comes back.
    WriteOnly,
}

impl CacheMode {
    /// Whether lookups are made.
    pub fn read(self) -> bool {
        matches!(self, CacheMode::On | CacheMode::ReadOnly)
    }

    /// Whether answers are stored.
    pub fn write(self) -> bool {
        matches!(self, CacheMode::On | CacheMode::WriteOnly)
    }
}

/// A mode name that is none of `on`, `off`, `read-only`, `write-only`.
#[derive(Debug, thiserror::Error)]
#[error("unknown cache mode {0:?}: expected on, off, read-only or write-only")]
pub struct UnknownMode(String);

impl FromStr for CacheMode {
    type Err = UnknownMode;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "on" => Ok(CacheMode::On),
            "off" => Ok(CacheMode::Off),
            "read-only" | "readonly" => Ok(CacheMode::ReadOnly),
            "write-only" | "writeonly" => Ok(CacheMode::WriteOnly),
            other => Err(UnknownMode(other.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_and_write_by_mode() {
        let table = [
            (CacheMode::On, true, true),
            (CacheMode::Off, false, false),
            (CacheMode::ReadOnly, true, false),
            (CacheMode::WriteOnly, false, true),
        ];
        for (mode, read, write) in table {
            assert_eq!((mode.read(), mode.write()), (read, write), "{mode:?}");
        }
        assert_eq!(
            "Read_Only".parse::<CacheMode>().unwrap(),
            CacheMode::ReadOnly
        );
        assert!("sometimes".parse::<CacheMode>().is_err());
    }
}
