//! The shortest prefix each provider caches, per model.

use llm_layers_core::Provider;

/// Minimum cacheable prompt lengths in tokens, by model name prefix.
///
/// Defaults (provider documentation, late 2026): OpenAI 1024 for every
/// model; Gemini 4096 for Pro models and 1024 for the others (implicit
/// caching); Anthropic 4096 for Claude Opus 4.5 / 4.6 and Haiku 4.5, 2048 for
/// Sonnet 4.6 and the Haiku 3 family, 1024 for the other Claude models.
/// The longest matching prefix wins; add or replace rows for new models.
#[derive(Clone, Debug)]
pub struct MinimumTable {
    anthropic: Vec<(String, u64)>,
    anthropic_default: u64,
    openai: u64,
}

impl Default for MinimumTable {
    fn default() -> Self {
        let rows = [
            ("claude-opus-4-6", 4096),
            ("claude-opus-4-5", 4096),
            ("claude-haiku-4-5", 4096),
            ("claude-sonnet-4-6", 2048),
            ("claude-3-5-haiku", 2048),
            ("claude-3-haiku", 2048),
        ];
        MinimumTable {
            anthropic: rows.iter().map(|(m, n)| (m.to_string(), *n)).collect(),
            anthropic_default: 1024,
            openai: 1024,
        }
    }
}

impl MinimumTable {
    /// Sets the minimum for Anthropic models whose name starts with `prefix`.
    pub fn with_anthropic(mut self, prefix: impl Into<String>, tokens: u64) -> Self {
        let prefix = prefix.into();
        self.anthropic.retain(|(known, _)| *known != prefix);
        self.anthropic.push((prefix, tokens));
        self
    }

    /// The minimum cacheable prefix of `model`, in tokens.
    pub fn minimum(&self, provider: Provider, model: Option<&str>) -> u64 {
        match provider {
            Provider::Anthropic => model
                .and_then(|model| {
                    self.anthropic
                        .iter()
                        .filter(|(prefix, _)| model.starts_with(prefix.as_str()))
                        .max_by_key(|(prefix, _)| prefix.len())
                })
                .map_or(self.anthropic_default, |(_, tokens)| *tokens),
            Provider::Gemini if model.is_some_and(|model| model.contains("-pro")) => 4096,
            Provider::Gemini => 1024,
            _ => self.openai,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_model_minimums() {
        let table = MinimumTable::default();
        let anthropic = |model| table.minimum(Provider::Anthropic, Some(model));
        assert_eq!(anthropic("claude-opus-4-5-20251101"), 4096);
        assert_eq!(anthropic("claude-haiku-4-5"), 4096);
        assert_eq!(anthropic("claude-3-5-haiku-latest"), 2048);
        assert_eq!(anthropic("claude-sonnet-4-5"), 1024);
        assert_eq!(table.minimum(Provider::OpenAi, Some("gpt-4o")), 1024);
        let table = table.with_anthropic("claude-sonnet-4-5", 3000);
        assert_eq!(
            table.minimum(Provider::Anthropic, Some("claude-sonnet-4-5-x")),
            3000
        );
    }
}
