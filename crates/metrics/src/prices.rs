//! What calls cost: a price table per model, kept as data in the
//! repository (`data/prices.toml`, with its date and sources) and
//! overridable. A model the table does not name is unpriced: its calls are
//! counted as such, never priced by a guess.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use llm_layers_core::Usage;
use serde::{Deserialize, Serialize};

/// Prices of one model in US dollars per million tokens.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ModelPrice {
    /// Uncached prompt tokens.
    pub input: f64,
    /// Generated tokens (reasoning included).
    pub output: f64,
    /// Prompt tokens read from the provider's cache; `None`: the input price.
    #[serde(default)]
    pub cache_read: Option<f64>,
    /// Prompt tokens written to a 5-minute cache (Anthropic); `None`: the input price.
    #[serde(default)]
    pub cache_write_5m: Option<f64>,
    /// Prompt tokens written to a 1-hour cache (Anthropic).
    #[serde(default)]
    pub cache_write_1h: Option<f64>,
    /// The share the provider's Batch API takes off (0.5 is half price).
    #[serde(default)]
    pub batch_discount: Option<f64>,
}

llm_layers_core::config_setters!(ModelPrice {
    input: f64,
    output: f64,
    cache_read: Option<f64>,
    cache_write_5m: Option<f64>,
    cache_write_1h: Option<f64>,
    batch_discount: Option<f64>,
});

/// What one call cost, and what the provider's prompt cache took off it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Cost {
    /// Dollars the call cost.
    pub spent: f64,
    /// Dollars its cached prompt tokens saved against the input price.
    pub prompt_cache_saved: f64,
}

impl ModelPrice {
    /// The cost of a call with this usage. Cache writes are priced at the
    /// 5-minute rate (usage does not tell the two apart).
    pub fn cost(&self, usage: &Usage) -> Cost {
        let per_token = |price: f64| price / 1_000_000.0;
        let read = self.cache_read.unwrap_or(self.input);
        let write = self.cache_write_5m.unwrap_or(self.input);
        let plain = usage
            .input_tokens
            .saturating_sub(usage.cache_read_tokens + usage.cache_write_tokens);
        let spent = plain as f64 * per_token(self.input)
            + usage.cache_read_tokens as f64 * per_token(read)
            + usage.cache_write_tokens as f64 * per_token(write)
            + usage.output_tokens as f64 * per_token(self.output);
        Cost {
            spent,
            prompt_cache_saved: usage.cache_read_tokens as f64 * per_token(self.input - read),
        }
    }
}

#[derive(Deserialize)]
struct File {
    meta: Meta,
    models: BTreeMap<String, ModelPrice>,
}

/// Where a table's figures come from.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Serialize)]
pub struct Meta {
    /// The day the figures were taken from the sources.
    pub date: String,
    /// The pricing pages.
    pub sources: Vec<String>,
}

/// Prices by model.
#[derive(Clone, Debug, PartialEq)]
pub struct PriceTable {
    models: Arc<BTreeMap<String, ModelPrice>>,
    meta: Meta,
}

/// The table shipped in the repository.
static SHIPPED: LazyLock<PriceTable> = LazyLock::new(|| {
    PriceTable::from_toml(include_str!("../data/prices.toml"))
        .unwrap_or_else(|error| panic!("data/prices.toml does not parse: {error}"))
});

impl Default for PriceTable {
    /// The shipped table (`data/prices.toml`).
    fn default() -> Self {
        SHIPPED.clone()
    }
}

impl PriceTable {
    /// A table from TOML in the shipped file's format.
    pub fn from_toml(text: &str) -> Result<PriceTable, toml::de::Error> {
        let file: File = toml::from_str(text)?;
        Ok(PriceTable {
            models: Arc::new(file.models),
            meta: file.meta,
        })
    }

    /// No prices at all: every call unpriced.
    pub fn empty() -> PriceTable {
        PriceTable {
            models: Arc::default(),
            meta: Meta::default(),
        }
    }

    /// Sets (or replaces) a model's prices.
    #[must_use]
    pub fn with(mut self, model: impl Into<String>, price: ModelPrice) -> PriceTable {
        Arc::make_mut(&mut self.models).insert(model.into(), price);
        self
    }

    /// This table with every row of `other` added (replacing rows of the
    /// same name), and `other`'s date and sources.
    #[must_use]
    pub fn overridden_by(mut self, other: &PriceTable) -> PriceTable {
        let models = Arc::make_mut(&mut self.models);
        for (name, price) in other.models.iter() {
            models.insert(name.clone(), *price);
        }
        self.meta = other.meta.clone();
        self
    }

    /// The table's date and sources.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// The prices of `model`: its own row, or the row whose name it extends
    /// with a date or `-latest` (`gpt-4o-2024-08-06` → `gpt-4o`).
    pub fn price(&self, model: &str) -> Option<&ModelPrice> {
        if let Some(price) = self.models.get(model) {
            return Some(price);
        }
        self.models
            .iter()
            .filter(|(name, _)| {
                model
                    .strip_prefix(name.as_str())
                    .and_then(|rest| rest.strip_prefix('-'))
                    .is_some_and(is_version_suffix)
            })
            .max_by_key(|(name, _)| name.len())
            .map(|(_, price)| price)
    }
}

/// A date (`2024-08-06`, `20250929`) or `latest`.
fn is_version_suffix(rest: &str) -> bool {
    rest == "latest"
        || rest.chars().next().is_some_and(|c| c.is_ascii_digit())
            && rest.chars().all(|c| c.is_ascii_digit() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_table_parses_and_has_its_date_and_sources() {
        let table = PriceTable::default();
        assert!(!table.meta().date.is_empty());
        assert_eq!(table.meta().sources.len(), 3);
        for model in [
            "gpt-4o",
            "claude-sonnet-4-5",
            "gemini-2.5-flash",
            "text-embedding-3-small",
        ] {
            assert!(table.price(model).is_some(), "{model}");
        }
    }

    #[test]
    fn versions_match_their_family_and_nothing_is_guessed() {
        let table = PriceTable::default();
        assert_eq!(table.price("gpt-4o-2024-08-06"), table.price("gpt-4o"));
        assert_eq!(
            table.price("claude-sonnet-4-5-20250929"),
            table.price("claude-sonnet-4-5")
        );
        assert_eq!(
            table.price("claude-3-5-haiku-latest"),
            table.price("claude-3-5-haiku")
        );
        assert_eq!(
            table.price("gpt-4o-mini"),
            Some(&table.models["gpt-4o-mini"])
        );
        for unknown in [
            "gpt-5.1",
            "gpt-4o-realtime-preview",
            "my-finetune",
            "claude-sonnet-4-5x",
            "gpt",
        ] {
            assert_eq!(table.price(unknown), None, "{unknown}");
        }
    }

    #[test]
    fn a_call_costs_its_tokens_at_their_prices() {
        let price = ModelPrice::default()
            .input(2.0)
            .output(8.0)
            .cache_read(Some(0.5))
            .cache_write_5m(Some(2.5));
        let usage = Usage {
            input_tokens: 1_000_000,
            cache_read_tokens: 400_000,
            cache_write_tokens: 100_000,
            output_tokens: 250_000,
            ..Usage::default()
        };
        let cost = price.cost(&usage);
        // 500k plain × 2 + 400k read × 0.5 + 100k written × 2.5 + 250k out × 8, per million.
        assert!(
            (cost.spent - (1.0 + 0.2 + 0.25 + 2.0)).abs() < 1e-9,
            "{cost:?}"
        );
        assert!((cost.prompt_cache_saved - 0.6).abs() < 1e-9);
        let overridden = PriceTable::empty().with("mine", price);
        assert_eq!(overridden.price("mine"), Some(&price));
        assert_eq!(overridden.price("gpt-4o"), None);
    }
}
