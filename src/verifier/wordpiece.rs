//! BERT's uncased WordPiece tokenizer, read from a `tokenizer.json`: the normaliser (clean,
//! space out CJK ideographs, strip accents, lowercase), the pre-tokeniser (whitespace, and every
//! punctuation mark alone) and greedy longest-match WordPiece with `##` continuations. Only what
//! MiniLM's tokenizer file declares is implemented; another kind of tokenizer is refused.

use std::collections::HashMap;
use unicode_normalization::UnicodeNormalization;

#[derive(Debug)]
pub struct WordPiece {
    vocab: HashMap<String, u32>,
    unk: u32,
    pub cls: u32,
    pub sep: u32,
    max_chars: usize,
}

impl WordPiece {
    /// Parse a Hugging Face `tokenizer.json` whose model is WordPiece.
    pub fn from_json(bytes: &[u8]) -> Result<WordPiece, String> {
        let v: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
        let model = &v["model"];
        if model["type"] != "WordPiece" {
            return Err(format!("a {} tokenizer, not WordPiece", model["type"]));
        }
        if v["normalizer"]["lowercase"] == false {
            return Err("a cased tokenizer; the verifier needs the uncased one".into());
        }
        let vocab: HashMap<String, u32> = model["vocab"]
            .as_object()
            .ok_or("no vocabulary")?
            .iter()
            .filter_map(|(k, id)| Some((k.clone(), u32::try_from(id.as_u64()?).ok()?)))
            .collect();
        let id = |t: &str| {
            vocab
                .get(t)
                .copied()
                .ok_or_else(|| format!("no {t} in the vocabulary"))
        };
        Ok(WordPiece {
            unk: id(model["unk_token"].as_str().unwrap_or("[UNK]"))?,
            cls: id("[CLS]")?,
            sep: id("[SEP]")?,
            max_chars: model["max_input_chars_per_word"].as_u64().unwrap_or(100) as usize,
            vocab,
        })
    }

    pub fn vocab_size(&self) -> usize {
        self.vocab.len()
    }

    /// Token ids of a text, without special tokens.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::new();
        for word in pre_tokenize(&normalise(text)) {
            self.word_pieces(&word, &mut out);
        }
        out
    }

    fn word_pieces(&self, word: &str, out: &mut Vec<u32>) {
        let chars: Vec<(usize, char)> = word.char_indices().collect();
        if chars.len() > self.max_chars {
            out.push(self.unk);
            return;
        }
        let mut pieces = Vec::new();
        let mut start = 0;
        while start < chars.len() {
            let mut end = chars.len();
            let mut found = None;
            while start < end {
                let a = chars[start].0;
                let b = chars.get(end).map_or(word.len(), |c| c.0);
                let piece = if start > 0 {
                    format!("##{}", &word[a..b])
                } else {
                    word[a..b].to_string()
                };
                if let Some(&id) = self.vocab.get(&piece) {
                    found = Some(id);
                    break;
                }
                end -= 1;
            }
            match found {
                Some(id) => pieces.push(id),
                None => {
                    out.push(self.unk);
                    return;
                }
            }
            start = end;
        }
        out.extend(pieces);
    }
}

/// BertNormalizer: drop control characters, whitespace to spaces, spaces around CJK
/// ideographs, strip accents (NFD, then no combining marks), lowercase.
fn normalise(text: &str) -> String {
    let mut cleaned = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\0' || c == '\u{fffd}' || (is_control(c)) {
            continue;
        }
        if c.is_whitespace() {
            cleaned.push(' ');
        } else if is_cjk(c) {
            cleaned.push(' ');
            cleaned.push(c);
            cleaned.push(' ');
        } else {
            cleaned.push(c);
        }
    }
    cleaned
        .nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

fn is_control(c: char) -> bool {
    // Tabs and newlines are whitespace, not control, as in BERT.
    if matches!(c, '\t' | '\n' | '\r') {
        return false;
    }
    c.is_control() || matches!(c, '\u{200b}'..='\u{200f}' | '\u{feff}' | '\u{00ad}')
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF
        | 0x3400..=0x4DBF
        | 0x20000..=0x2A6DF
        | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F
        | 0x2B820..=0x2CEAF
        | 0xF900..=0xFAFF
        | 0x2F800..=0x2FA1F)
}

/// Unicode punctuation (general category P*), by the blocks that hold it, and ASCII symbols
/// that BERT treats as punctuation.
fn is_punctuation(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_punctuation();
    }
    matches!(c as u32,
        0xA1 | 0xA7 | 0xAB | 0xB6 | 0xB7 | 0xBB | 0xBF | 0x37E | 0x387
        | 0x55A..=0x55F | 0x589..=0x58A | 0x5BE | 0x5C0 | 0x5C3 | 0x5C6 | 0x5F3..=0x5F4
        | 0x609..=0x60A | 0x60C..=0x60D | 0x61B | 0x61E..=0x61F | 0x66A..=0x66D | 0x6D4
        | 0x964..=0x965 | 0x970 | 0xE4F | 0xE5A..=0xE5B
        | 0x2010..=0x2027 | 0x2030..=0x2043 | 0x2045..=0x2051 | 0x2053..=0x205E
        | 0x207D..=0x207E | 0x208D..=0x208E | 0x2308..=0x230B | 0x2329..=0x232A
        | 0x2768..=0x2775 | 0x27C5..=0x27C6 | 0x27E6..=0x27EF | 0x2983..=0x2998
        | 0x29D8..=0x29DB | 0x29FC..=0x29FD | 0x2CF9..=0x2CFC | 0x2CFE..=0x2CFF
        | 0x2E00..=0x2E2E | 0x2E30..=0x2E4F | 0x3001..=0x3003 | 0x3008..=0x3011
        | 0x3014..=0x301F | 0x3030 | 0x303D | 0x30A0 | 0x30FB
        | 0xFE10..=0xFE19 | 0xFE30..=0xFE52 | 0xFE54..=0xFE61 | 0xFE63 | 0xFE68 | 0xFE6A..=0xFE6B
        | 0xFF01..=0xFF03 | 0xFF05..=0xFF0A | 0xFF0C..=0xFF0F | 0xFF1A..=0xFF1B
        | 0xFF1F..=0xFF20 | 0xFF3B..=0xFF3D | 0xFF3F | 0xFF5B | 0xFF5D | 0xFF5F..=0xFF65)
}

/// BertPreTokenizer: split on whitespace; every punctuation mark is a word of its own.
fn pre_tokenize(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        if c.is_whitespace() {
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
        } else if is_punctuation(c) {
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
            words.push(c.to_string());
        } else {
            cur.push(c);
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> WordPiece {
        let vocab = [
            "[PAD]",
            "[UNK]",
            "[CLS]",
            "[SEP]",
            "the",
            "default",
            "is",
            "100",
            "max",
            "_",
            "connections",
            "##s",
            "connect",
            "##ion",
            "cafe",
            ".",
            "(",
            ")",
            "un",
            "##aff",
            "##able",
        ];
        let json = serde_json::json!({
            "normalizer": {"type": "BertNormalizer", "lowercase": true},
            "model": {
                "type": "WordPiece", "unk_token": "[UNK]", "max_input_chars_per_word": 100,
                "vocab": vocab.iter().enumerate().map(|(i, t)| (t.to_string(), serde_json::json!(i))).collect::<serde_json::Map<_, _>>(),
            }
        });
        WordPiece::from_json(json.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn longest_match_first_with_continuations() {
        let t = tiny();
        // "connections" whole; "Connections." lowercased, the stop split off; accents stripped.
        assert_eq!(
            t.encode("The default is 100 Connections."),
            vec![4, 5, 6, 7, 10, 15]
        );
        assert_eq!(t.encode("café"), vec![14]);
        assert_eq!(t.encode("unaffable"), vec![18, 19, 20]);
        // A word with a piece missing from the vocabulary is one [UNK].
        assert_eq!(t.encode("unaffablez max_connections"), vec![1, 8, 9, 10]);
    }

    #[test]
    fn other_tokenizers_are_refused() {
        let json = br#"{"model": {"type": "BPE", "vocab": {}}}"#;
        assert!(WordPiece::from_json(json).unwrap_err().contains("BPE"));
        assert!(WordPiece::from_json(b"{truncated").is_err());
    }
}
