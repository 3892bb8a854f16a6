//! Deterministic answers: the same model and prompt always give the same
//! words, ids and timestamps, so equal requests get byte-identical bodies.

const WORDS: [&str; 48] = [
    "the", "model", "answers", "with", "a", "plan", "that", "keeps", "each", "step", "small",
    "and", "checks", "every", "result", "before", "moving", "on", "to", "next", "node", "in",
    "workflow", "so", "price", "rules", "stay", "clear", "while", "tokens", "flow", "through",
    "cache", "layers", "quickly", "without", "waste", "or", "delay", "for", "users", "who", "need",
    "fast", "honest", "replies", "today", "again",
];

/// A generated answer.
#[derive(Clone, Debug)]
pub struct Answer {
    seed: [u8; 32],
    words: Vec<&'static str>,
}

impl Answer {
    /// The answer to `prompt` from `model`, at most `max_tokens` words.
    pub fn new(model: &str, prompt: &str, max_tokens: Option<u64>) -> Answer {
        let mut hasher = blake3::Hasher::new();
        hasher.update(model.as_bytes());
        hasher.update(&[0]);
        hasher.update(prompt.as_bytes());
        let seed = *hasher.finalize().as_bytes();
        let wanted = 8 + (seed[0] as usize % 24);
        let count = max_tokens.map_or(wanted, |max| wanted.min(max.max(1) as usize));
        let mut stream = blake3::Hasher::new_derive_key("llm-layers mock answer words")
            .update(&seed)
            .finalize_xof();
        let mut picks = vec![0u8; count];
        stream.fill(&mut picks);
        let words = picks
            .iter()
            .map(|&b| WORDS[b as usize % WORDS.len()])
            .collect();
        Answer { seed, words }
    }

    /// The whole text.
    pub fn text(&self) -> String {
        self.words.join(" ")
    }

    /// The text in streamed pieces: one word each, spaces leading.
    pub fn pieces(&self) -> Vec<String> {
        self.words
            .iter()
            .enumerate()
            .map(|(i, word)| {
                if i == 0 {
                    (*word).to_owned()
                } else {
                    format!(" {word}")
                }
            })
            .collect()
    }

    /// Generated tokens: one per word.
    pub fn tokens(&self) -> u64 {
        self.words.len() as u64
    }

    /// An id with the given prefix, derived from the request.
    pub fn id(&self, prefix: &str) -> String {
        let hex = blake3::Hash::from_bytes(self.seed).to_hex();
        format!("{prefix}{}", &hex[..24])
    }

    /// A Unix timestamp derived from the request.
    pub fn created(&self) -> u64 {
        1_700_000_000
            + u64::from(u32::from_le_bytes([
                self.seed[1],
                self.seed[2],
                self.seed[3],
                0,
            ])) % 50_000_000
    }

    /// `count` floats in [-1, 1), derived from the model and the input
    /// alone (embeddings: an input's vector does not depend on where it
    /// sits in a request).
    pub fn vector(&self, count: usize) -> Vec<f32> {
        let mut stream = blake3::Hasher::new_derive_key("llm-layers mock embedding")
            .update(&self.seed)
            .finalize_xof();
        let mut bytes = vec![0u8; count * 2];
        stream.fill(&mut bytes);
        bytes
            .chunks_exact(2)
            .map(|pair| (u16::from_le_bytes([pair[0], pair[1]]) as f32 / 32768.0) - 1.0)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_inputs_give_equal_answers() {
        let a = Answer::new("m", "hello", None);
        let b = Answer::new("m", "hello", None);
        assert_eq!(a.text(), b.text());
        assert_eq!(a.id("x-"), b.id("x-"));
        assert_ne!(a.text(), Answer::new("m", "hello!", None).text());
        assert_eq!(a.pieces().concat(), a.text());
        assert_eq!(Answer::new("m", "hello", Some(3)).tokens(), 3);
    }
}
