//! Lexical tools shared by the offline engine: word tokens, stems, stopwords, sentences,
//! numbers and negation. Deterministic by design: the offline engine must give the same report
//! for the same corpus and question.

use rust_stemmers::{Algorithm, Stemmer};
use std::sync::OnceLock;
use unicode_segmentation::UnicodeSegmentation;

/// A word token of `text` with its byte span.
#[derive(Debug, Clone, PartialEq)]
pub struct Token<'a> {
    pub text: &'a str,
    pub start: usize,
}

/// Words: runs of alphanumerics, `_`, and inner `.`/`-` between alphanumerics (so `4.0`,
/// `seq_page_cost`, `UTF-8` and `3.11` stay whole).
pub fn tokens(text: &str) -> Vec<Token<'_>> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let mut iter = text.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        let word_char = c.is_alphanumeric() || c == '_';
        let joiner = (c == '.' || c == '-' || c == '\'')
            && start.is_some()
            && iter.peek().is_some_and(|&(_, n)| n.is_alphanumeric());
        // A thousands separator inside a number: "1,000" and "10,000,000" stay whole.
        let thousands = c == ','
            && start.is_some_and(|s| text[s..i].bytes().all(|b| b.is_ascii_digit() || b == b','))
            && is_digit_group(&bytes[i + 1..]);
        if word_char || joiner || thousands {
            if start.is_none() {
                start = Some(i);
            }
        } else if let Some(s) = start.take() {
            push_token(text, s, i, &mut out);
        }
    }
    if let Some(s) = start {
        push_token(text, s, bytes.len(), &mut out);
    }
    out
}

/// Exactly three ASCII digits, then no further digit.
fn is_digit_group(rest: &[u8]) -> bool {
    rest.len() >= 3
        && rest[..3].iter().all(u8::is_ascii_digit)
        && !rest.get(3).is_some_and(u8::is_ascii_digit)
}

/// Push `text[s..e]`; a compiler define flag (`-DSQLITE_ENABLE_JSON1`) is the macro it defines
/// (`SQLITE_ENABLE_JSON1`), so a flag and the option's name match.
fn push_token<'a>(text: &'a str, mut s: usize, e: usize, out: &mut Vec<Token<'a>>) {
    let word = &text[s..e];
    let mut back = text[..s].chars().rev();
    let before = back.next();
    let before_dash = back.next();
    if before == Some('-')
        && before_dash.is_none_or(|c| c.is_whitespace() || "`'\"([".contains(c))
        && word.len() > 2
        && word.starts_with('D')
        && word[1..].starts_with(|c: char| c.is_ascii_uppercase())
        && word[1..].contains('_')
        && word[1..]
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    {
        s += 1;
    }
    out.push(Token {
        text: &text[s..e],
        start: s,
    });
}

fn stemmer() -> &'static Stemmer {
    static STEMMER: OnceLock<Stemmer> = OnceLock::new();
    STEMMER.get_or_init(|| Stemmer::create(Algorithm::English))
}

/// Lower-cased stem of one word (numbers and identifiers are kept as they are).
pub fn stem(word: &str) -> String {
    let lower = word.to_lowercase();
    if lower.chars().any(|c| c.is_ascii_digit() || c == '_') {
        return lower;
    }
    stemmer().stem(&lower).into_owned()
}

const STOPWORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "all",
    "also",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "between",
    "both",
    "but",
    "by",
    "can",
    "could",
    "did",
    "do",
    "does",
    "doing",
    "done",
    "during",
    "each",
    "either",
    "else",
    "etc",
    "even",
    "ever",
    "every",
    "for",
    "from",
    "further",
    "get",
    "gets",
    "give",
    "given",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "him",
    "his",
    "how",
    "however",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "itself",
    "just",
    "let",
    "like",
    "may",
    "me",
    "might",
    "more",
    "most",
    "must",
    "my",
    "need",
    "needs",
    "of",
    "off",
    "on",
    "once",
    "one",
    "only",
    "or",
    "other",
    "our",
    "out",
    "over",
    "own",
    "per",
    "same",
    "shall",
    "she",
    "should",
    "so",
    "some",
    "such",
    "than",
    "that",
    "the",
    "their",
    "them",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "thus",
    "to",
    "too",
    "under",
    "until",
    "up",
    "upon",
    "us",
    "use",
    "used",
    "uses",
    "using",
    "very",
    "via",
    "was",
    "way",
    "we",
    "were",
    "what",
    "when",
    "where",
    "whether",
    "which",
    "while",
    "who",
    "whom",
    "whose",
    "why",
    "will",
    "with",
    "within",
    "would",
    "yet",
    "you",
    "your",
    "s",
    "t",
    "e.g",
    "i.e",
    "eg",
    "ie",
    "still",
    "much",
    "many",
    "well",
    "say",
    "says",
    "said",
    "make",
    "makes",
    "made",
    "want",
    "way",
    "ways",
    "thing",
    "things",
    "really",
    "often",
    "usually",
    "typically",
    "typical",
    "instead",
    "rather",
    "example",
    "instance",
    "explain",
    "describe",
    "tell",
    "know",
    "happen",
    "happens",
    "work",
    "works",
    "there's",
    "it's",
    "don't",
    "doesn't",
    "isn't",
    "aren't",
];

/// Negation words: they carry meaning for judging, so they are not stopwords there.
const NEGATIONS: &[&str] = &[
    "not",
    "no",
    "never",
    "none",
    "nor",
    "neither",
    "cannot",
    "can't",
    "don't",
    "doesn't",
    "didn't",
    "isn't",
    "aren't",
    "wasn't",
    "weren't",
    "won't",
    "shouldn't",
    "mustn't",
    "without",
    "nothing",
    "nobody",
    "unable",
    "lacks",
    "lack",
];

pub fn is_stopword(lower: &str) -> bool {
    STOPWORDS.contains(&lower) || NEGATIONS.contains(&lower)
}

pub fn is_negation(lower: &str) -> bool {
    NEGATIONS.contains(&lower)
}

/// Where the consequence a sentence draws ("..., so every worker keeps its own connection") or
/// the reason it gives ("..., because the cold slows ...") begins: what it asserts is what comes
/// before, and a source that denies that much contradicts it.
pub const CONSEQUENCE: &[&str] = &[
    ", because ",
    " because ",
    ", so ",
    "; so ",
    ", so that ",
    " so that ",
    ", which means ",
    ", therefore ",
    "; therefore ",
    ", and so ",
    " — so ",
    " - so ",
];

/// What a sentence asserts, without the consequence it draws or the reason it gives (the whole
/// sentence when it has neither).
pub fn asserted(sentence: &str) -> &str {
    let lower = sentence.to_lowercase();
    let cut = CONSEQUENCE
        .iter()
        .filter_map(|m| lower.find(m))
        .min()
        .filter(|&c| sentence.is_char_boundary(c))
        .unwrap_or(sentence.len());
    &sentence[..cut]
}

/// Where a sentence joins two statements: each side asserts something of its own.
const JOINS: &[&str] = &[
    "; ",
    ": ",
    ", so ",
    ", and so ",
    ", therefore ",
    ", but ",
    ", and ",
    ", because ",
    " because ",
    ", even though ",
    " even though ",
    ", although ",
];

/// Words that open a clause after a bare " and " ("... is not intended for production use and
/// only performs basic security checks"): a verb's auxiliary, a pronoun, an adverb. After any
/// other word, "and" joins two names ("FOR EACH ROW and FOR EACH STATEMENT triggers").
const CLAUSE_AFTER_AND: &[&str] = &[
    "is", "are", "was", "were", "has", "have", "had", "can", "cannot", "could", "does", "do",
    "did", "will", "would", "must", "may", "might", "should", "only", "also", "then", "it", "its",
    "they", "this", "that", "so", "not", "never", "always",
];

/// Least words a part needs to say something on its own.
const PART_WORDS: usize = 3;

/// The statements a compound sentence joins ("X is not intended for production use and only
/// performs basic security checks": two), outside brackets and quotes; the whole sentence when
/// it joins none, or when a side would be too short to state anything.
pub fn conjuncts(sentence: &str) -> Vec<&str> {
    // ASCII lowercasing keeps every byte offset, so cuts found in it cut the sentence.
    let lower = sentence.to_ascii_lowercase();
    let mut depth = 0i32;
    let mut quoted = false;
    let mut cuts: Vec<(usize, usize)> = Vec::new();
    let bytes = lower.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'(' | b'[' => depth += 1,
            b')' | b']' => depth -= 1,
            b'"' => quoted = !quoted,
            _ => {}
        }
        if depth == 0 && !quoted && sentence.is_char_boundary(i) {
            let rest = &lower[i..];
            let join = JOINS.iter().find(|j| rest.starts_with(*j)).map(|j| j.len());
            let and = rest
                .strip_prefix(" and ")
                .and_then(|r| r.split(|c: char| !c.is_alphanumeric()).next())
                .filter(|w| CLAUSE_AFTER_AND.contains(w))
                .map(|_| " and ".len());
            if let Some(len) = join.or(and) {
                cuts.push((i, i + len));
                i += len;
                continue;
            }
        }
        i += 1;
    }
    let mut parts = Vec::new();
    let mut from = 0;
    for (a, b) in cuts.into_iter().chain([(sentence.len(), sentence.len())]) {
        let part = sentence[from..a].trim().trim_end_matches('.').trim();
        if tokens(part).len() < PART_WORDS {
            return vec![sentence];
        }
        parts.push(part);
        from = b;
    }
    if parts.len() < 2 {
        return vec![sentence];
    }
    parts
}

/// Names in a sentence: runs of capitalised words ("Shirley Temple", "Kiss and Tell" is two),
/// with a number that follows one ("PEP 654"), and identifiers (`add_note`, `wal_autocheckpoint`).
/// A lone capitalised word opening a sentence is only the sentence's first word.
pub fn names(sentence: &str) -> Vec<String> {
    let tokens = tokens(sentence);
    let mut out: Vec<String> = Vec::new();
    let mut run: Vec<&str> = Vec::new();
    let mut run_start = 0;
    let flush = |run: &mut Vec<&str>, start: usize, out: &mut Vec<String>| {
        // "Before Merlinio", "The Apprentice": a capitalised common word opens the run, not the name.
        let lead = run
            .iter()
            .take_while(|w| {
                is_stopword(&w.to_lowercase()) || OPENING_WORDS.contains(&w.to_lowercase().as_str())
            })
            .count();
        if lead > 0 && lead < run.len() {
            run.drain(..lead);
        }
        // A sentence may open anywhere in the text ("... are always vacuumed. Otherwise, ...").
        let opens_sentence = start == 0
            || tokens.get(start).is_some_and(|t| {
                sentence[..t.start]
                    .trim_end()
                    .ends_with(['.', '!', '?', ':', ';'])
            });
        let lone_opener = run.len() == 1 && opens_sentence;
        let all_stop = run.iter().all(|w| is_stopword(&w.to_lowercase()));
        if !run.is_empty() && !lone_opener && !all_stop {
            let name = run.join(" ");
            if !out.contains(&name) {
                out.push(name);
            }
        }
        run.clear();
    };
    for (i, t) in tokens.iter().enumerate() {
        let w = t.text;
        let identifier = w.contains('_') && w.chars().any(char::is_alphabetic);
        let capitalised = w.chars().next().is_some_and(char::is_uppercase);
        let number_after_name = !run.is_empty() && w.chars().all(|c| c.is_ascii_digit());
        // Words of a run must be adjacent in the text (a comma or a full stop ends it).
        let adjacent = i > 0 && {
            let prev = &tokens[i - 1];
            sentence[prev.start + prev.text.len()..t.start]
                .trim()
                .is_empty()
        };
        // "Disk I/O": one word written with a slash, not a name cut at "I".
        let slashed = i > 0 && !run.is_empty() && {
            let prev = &tokens[i - 1];
            run.last() == Some(&prev.text)
                && &sentence[prev.start + prev.text.len()..t.start] == "/"
        };
        if slashed {
            let prev = &tokens[i - 1];
            if let Some(last) = run.last_mut() {
                *last = &sentence[prev.start..t.start + w.len()];
            }
        } else if identifier {
            flush(&mut run, run_start, &mut out);
            if !out.iter().any(|n| n == w) {
                out.push(w.to_string());
            }
        } else if (capitalised || number_after_name) && (run.is_empty() || adjacent) {
            if run.is_empty() {
                run_start = i;
            }
            run.push(w);
        } else {
            flush(&mut run, run_start, &mut out);
            if capitalised {
                run_start = i;
                run.push(w);
            }
        }
    }
    flush(&mut run, run_start, &mut out);
    out
}

/// Capitalised words that open a sentence or a clause without being part of a name.
const OPENING_WORDS: &[&str] = &[
    "before",
    "after",
    "during",
    "since",
    "although",
    "however",
    "in",
    "on",
    "at",
    "as",
    "by",
    "from",
    "with",
    "while",
    "when",
    "unlike",
    "like",
    "according",
];

/// Content stems of a text: stopwords and negations removed, order kept, duplicates removed.
pub fn content_stems(text: &str) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for t in tokens(text) {
        let lower = t.text.to_lowercase();
        if lower.len() < 2 && !lower.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        if is_stopword(&lower) {
            continue;
        }
        let s = stem(&lower);
        if seen.insert(s.clone()) {
            out.push(s);
        }
    }
    out
}

/// An entry's heading shown whole up to this length ("autovacuum_vacuum_scale_factor (floating
/// point)"); a longer one (a signature) by its term alone.
const ENTRY_HEADING_CHARS: usize = 48;

/// A sentence as a report prints it, quoted under `heading`. A reference entry's description is
/// read under the entry's name ("add_note(note): Add the string note to the exception's notes
/// ..."), as its page prints it: without it "the string note" names nothing. Nothing else is
/// added.
pub fn under_entry(sentence: &str, heading: Option<&str>) -> String {
    let entry = heading
        .and_then(|h| Some((h.trim(), entry_term(h)?)))
        // The heading is the entry ("add_note(note)"), not a section that mentions one ("9.
        // Sometimes Queries Return SQLITE_BUSY In WAL Mode").
        .filter(|(heading, term)| heading.starts_with(term))
        .filter(|(_, term)| !sentence.to_lowercase().contains(&term.to_lowercase()));
    match entry {
        Some((heading, _)) if heading.chars().count() <= ENTRY_HEADING_CHARS => {
            format!("{heading}: {sentence}")
        }
        Some((_, term)) => format!("{term}: {sentence}"),
        None => sentence.to_string(),
    }
}

/// Words that open a subordinate clause.
const CLAUSE_OPENERS: &[&str] = &[
    "when", "where", "which", "who", "whom", "whose", "that", "because", "if", "unless", "while",
    "whereas", "although", "though", "after", "before", "until", "since",
];

/// Content stems that fall under a negation: the next three content words after "not",
/// "never", "no"... Two sentences disagree in polarity only when a word they share is negated
/// in one and not in the other ("do not have a memory effect" vs "suffer from a memory effect"),
/// not when a negation sits in an unrelated clause ("when the device will not be used").
pub fn negated_stems(text: &str) -> Vec<String> {
    negation_scopes(text)
        .into_iter()
        .flat_map(|scope| {
            scope
                .into_iter()
                .filter(|w| !is_stopword(w) && w.len() >= 2)
                .take(3)
                .map(|w| stem(&w))
        })
        .collect()
}

/// The lower-case words after each negation, up to the end of its scope: punctuation closes
/// it ("(..., not X), will prevent" negates X only), and so does a clause of its own ("not
/// available at the time when the exception is raised" denies nothing of the exception).
fn negation_scopes(text: &str) -> Vec<Vec<String>> {
    clause_negations(text)
        .into_iter()
        .map(|(_, scope)| scope)
        .collect()
}

/// [`negation_scopes`], each marked when its negation sits in a subordinate clause: a
/// condition ("If ONLY is not specified", "unless ONLY is specified") or a relative or
/// adverbial clause ("objects that do not support", "as readers do not block writers"). Such
/// a negation restricts what the sentence says; it asserts nothing on its own.
fn clause_negations(text: &str) -> Vec<(bool, Vec<String>)> {
    let text = &unquoted(text);
    let mut scopes: Vec<(bool, Vec<String>)> = Vec::new();
    let mut open = false;
    let mut prev_end = 0;
    for (t, subordinate) in tokens(text).into_iter().zip(subordinate_tokens(text)) {
        if text[prev_end..t.start].contains([',', ';', ':', '(', ')', '.']) {
            open = false;
        }
        prev_end = t.start + t.text.len();
        let lower = t.text.to_lowercase();
        if is_negation(&lower) {
            scopes.push((subordinate || lower == "unless", Vec::new()));
            open = true;
        } else if CLAUSE_OPENERS.contains(&lower.as_str())
            || SUBORDINATORS.contains(&lower.as_str())
        {
            open = false;
        } else if open {
            if let Some((_, scope)) = scopes.last_mut() {
                scope.push(lower);
            }
        }
    }
    scopes
}

/// The text with what it quotes blanked out: "it will report an error along the lines of
/// \"file is encrypted or is not a database\"" quotes a message, and the "not" in it denies
/// nothing the sentence says. A quotation mark left open blanks nothing.
fn unquoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let open = rest.find(['"', '\u{201c}']);
        let Some(at) = open else { break };
        let mark = rest[at..].chars().next().unwrap_or('"');
        let close = if mark == '"' { '"' } else { '\u{201d}' };
        let after = at + mark.len_utf8();
        let Some(len) = rest[after..].find(close) else {
            break;
        };
        out.push_str(&rest[..at]);
        // The quotation reads as one blank word: the clause around it goes on.
        out.push_str(" quoted ");
        rest = &rest[after + len + close.len_utf8()..];
    }
    out.push_str(rest);
    out
}

/// For each of [`tokens`]'s tokens, whether it sits in a subordinate clause (the clauses
/// [`clause_negations`] reads negations in): "if the VFS does not support the necessary
/// primitives" conditions what the sentence says and asserts nothing on its own.
pub fn subordinate_tokens(text: &str) -> Vec<bool> {
    let mut out = Vec::new();
    let mut subordinate = false;
    let mut prev_end = 0;
    for t in tokens(text) {
        if text[prev_end..t.start].contains([',', ';', ':', '(', ')', '.']) {
            subordinate = false;
        }
        prev_end = t.start + t.text.len();
        if SUBORDINATORS.contains(&t.text.to_lowercase().as_str()) {
            subordinate = true;
        }
        out.push(subordinate);
    }
    out
}

/// Words opening a clause that restricts or conditions the main one.
const SUBORDINATORS: &[&str] = &[
    "if", "unless", "when", "whenever", "whether", "that", "which", "who", "whose", "where", "as",
    "because", "since", "although", "though", "while", "until", "once",
];

/// [`negation_heads`] of the negations a sentence asserts: those of its main clauses, not
/// those of a condition or a relative clause ("This will be an empty string if locale support
/// was not configured" asserts nothing about configuring).
pub fn asserted_negation_heads(text: &str) -> Vec<String> {
    heads_of(
        clause_negations(text)
            .into_iter()
            .filter(|(sub, _)| !sub)
            .map(|(_, scope)| scope),
    )
}

/// Words between a negation and what it denies: "is not always required" denies "required".
const NEGATION_FILLERS: &[&str] = &[
    "a",
    "an",
    "the",
    "be",
    "been",
    "being",
    "is",
    "are",
    "was",
    "were",
    "have",
    "has",
    "had",
    "do",
    "does",
    "did",
    "to",
    "longer",
    "yet",
    "always",
    "necessarily",
    "even",
    "ever",
    "also",
    "only",
    "really",
    "currently",
    "automatically",
];

/// Verbs whose denial passes to what they govern: "does not support writing TOML" denies
/// writing it.
const CAPABILITY_VERBS: &[&str] = &[
    "support",
    "supports",
    "allow",
    "allows",
    "permit",
    "permits",
    "provide",
    "provides",
    "implement",
    "implements",
    "enable",
    "enables",
    "offer",
    "offers",
    "let",
    "lets",
];

/// The words each negation denies, stemmed: its first word past auxiliaries ("does not work
/// over a network filesystem" denies "work", not "network"), and after a verb of capability
/// the word it governs too, within the scope [`negated_stems`] reads.
pub fn negation_heads(text: &str) -> Vec<String> {
    heads_of(negation_scopes(text).into_iter())
}

fn heads_of(scopes: impl Iterator<Item = Vec<String>>) -> Vec<String> {
    let mut out = Vec::new();
    for scope in scopes {
        let mut words = scope
            .into_iter()
            .filter(|w| !NEGATION_FILLERS.contains(&w.as_str()) && w.len() >= 2);
        if let Some(first) = words.next() {
            out.push(stem(&first));
            // "does not support writing TOML" denies writing it too.
            if CAPABILITY_VERBS.contains(&first.as_str()) {
                out.extend(words.next().map(|w| stem(&w)));
            }
        }
    }
    out
}

/// What a text's first negation is said of: the content stems of its clause before the
/// negation ("WAL" in "...; WAL does not work over a network filesystem"). Empty when the
/// text has no negation or opens with it.
pub fn negated_subject(text: &str) -> Vec<String> {
    let text = &unquoted(text);
    let Some(at) = tokens(text)
        .iter()
        .find(|t| is_negation(&t.text.to_lowercase()))
        .map(|t| t.start)
    else {
        return Vec::new();
    };
    let clause = text[..at]
        .rfind([';', ':', ','])
        .map_or(&text[..at], |i| &text[i + 1..at]);
    content_stems(clause)
}

/// The stems of every word of a text, function words too ("work", "use").
pub fn all_stems(text: &str) -> Vec<String> {
    tokens(text)
        .iter()
        .map(|t| stem(&t.text.to_lowercase()))
        .collect()
}

/// A number mentioned in a text, with the content stem just after it (its unit or what it
/// counts) and just before it (what it is the value of), to tell "4.0" of one setting from
/// "4.0" of another.
#[derive(Debug, Clone, PartialEq)]
pub struct Number {
    pub value: f64,
    pub raw: String,
    pub after: Option<String>,
    pub before: Option<String>,
}

/// Numbers in a text. Words for small numbers count too ("ten", "twice" is left alone).
pub fn numbers(text: &str) -> Vec<Number> {
    let toks = tokens(text);
    let mut out = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        let lower = t.text.to_lowercase();
        let Some((value, unit)) = number_with_unit(&lower) else {
            continue;
        };
        let neighbour = |range: &mut dyn Iterator<Item = usize>| {
            range
                .map(|j| toks[j].text.to_lowercase())
                .find(|w| !is_stopword(w) && parse_number(w).is_none())
                .map(|w| stem(&w))
        };
        let after = unit
            .map(stem)
            .or_else(|| neighbour(&mut ((i + 1)..toks.len().min(i + 3))));
        let before = neighbour(&mut (i.saturating_sub(3)..i).rev());
        out.push(Number {
            value,
            raw: t.text.to_string(),
            after,
            before,
        });
    }
    out
}

/// A number with the words that say what it measures: the content stems of the words just
/// after it (its unit or what it counts: "100 *connections*") and just before it (what it is
/// the value of), within its clause. Value words ("default", "maximum", "set to") are left out:
/// they say what kind of value it is, not what it measures.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantity {
    pub value: f64,
    pub raw: String,
    pub after: Vec<String>,
    pub before: Vec<String>,
    /// A bound rather than a value: "two or more", "at least 10", "more than 5", "up to 8".
    pub bound: bool,
    /// A value the text denies: "0.1, not 0.2", "instead of 1024", "rather than 5".
    pub denied: bool,
    /// Names no value of anything: a version ("version 3.8", "Python 3"), a year ("in 2003") or
    /// a term of an expression ("2000*1024 bytes", "111 out of 114").
    pub version: bool,
    /// Written as a setting's assignment ("-DSQLITE_THREADSAFE=0"): a configuration the text
    /// names, which is a case, not a value it states of something.
    pub assigned: bool,
    /// Byte offset of the number in the text.
    pub at: usize,
}

/// Words that qualify a value rather than name what it measures.
pub const VALUE_WORDS: &[&str] = &[
    "default",
    "defaults",
    "maximum",
    "minimum",
    "max",
    "min",
    "limit",
    "limited",
    "total",
    "set",
    "equal",
    "equals",
    "around",
    "approximately",
    "least",
    "exceed",
    "exceeds",
];

/// Numbers of a text with what each measures (see [`Quantity`]).
pub fn quantities(text: &str) -> Vec<Quantity> {
    let toks = tokens(text);
    let mut out = Vec::new();
    let clause_break = |a: usize, b: usize| {
        let (a, b) = (a.min(b), a.max(b));
        text[a..b].contains([',', ';', ':', '(', ')', '.', '!', '?'])
    };
    let describe = |tok: &Token<'_>| -> Option<String> {
        let w = tok.text.to_lowercase();
        if is_stopword(&w) || w.len() < 2 || parse_number(&w).is_some() {
            return None;
        }
        if VALUE_WORDS.contains(&w.as_str()) {
            return None;
        }
        Some(stem(&w))
    };
    for (i, t) in toks.iter().enumerate() {
        let lower = t.text.to_lowercase();
        let Some((value, unit)) = number_with_unit(&lower) else {
            continue;
        };
        let end = t.start + t.text.len();
        let mut after: Vec<String> = unit.map(stem).into_iter().collect();
        for next in toks.iter().skip(i + 1).take(3) {
            if clause_break(end, next.start) {
                break;
            }
            after.extend(describe(next));
        }
        let mut before = Vec::new();
        for prev in toks[i.saturating_sub(3)..i].iter().rev() {
            if clause_break(prev.start + prev.text.len(), t.start) {
                break;
            }
            before.extend(describe(prev));
        }
        let word = |j: usize| {
            toks.get(j)
                .map(|t| t.text.to_lowercase())
                .unwrap_or_default()
        };
        let bound = (word(i + 1) == "or"
            && matches!(
                word(i + 2).as_str(),
                "more" | "fewer" | "less" | "greater" | "higher" | "lower" | "later" | "earlier"
            ))
            || (i >= 2
                && matches!(
                    (word(i - 2).as_str(), word(i - 1).as_str()),
                    ("at", "least")
                        | ("at", "most")
                        | ("more", "than")
                        | ("less", "than")
                        | ("fewer", "than")
                        | ("up", "to")
                ))
            // "below 0 degrees", "colder than 0", "heat above 35", "within 5 percent", "plus or
            // minus 1 degree": a bound or a tolerance, not a value.
            || (i >= 1
                && matches!(
                    word(i - 1).as_str(),
                    "over" | "under" | "each" | "every" | "below" | "above" | "than" | "within"
                ))
            || (i >= 3 && word(i - 3) == "plus" && word(i - 2) == "or" && word(i - 1) == "minus");
        let denied = (i >= 1 && matches!(word(i - 1).as_str(), "not" | "never"))
            || (i >= 2
                && matches!(
                    (word(i - 2).as_str(), word(i - 1).as_str()),
                    ("instead", "of") | ("rather", "than") | ("no", "longer")
                ));
        // "version 3.8", "Python 3", "SQLite 3.12.0": which release, not a value of anything; a
        // year after "in", "since"... says when.
        let named = i >= 1 && {
            let p = toks[i - 1].text;
            p.starts_with(|c: char| c.is_uppercase())
                && p.chars().all(char::is_alphanumeric)
                && !text[toks[i - 1].start + p.len()..t.start].contains([',', ';', ':', '.', '('])
                && !VALUE_WORDS.contains(&p.to_lowercase().as_str())
        };
        let year = unit.is_none()
            && value.fract() == 0.0
            && (1900.0..=2100.0).contains(&value)
            && i >= 1
            && matches!(
                word(i - 1).as_str(),
                "in" | "since" | "until" | "before" | "after" | "of"
            );
        // "2000*1024 bytes": a term of an expression is not the value itself; nor is either
        // side of a share ("111 out of 114 climate models").
        let rest = text[t.start + t.text.len()..].to_lowercase();
        let term = text[..t.start].ends_with(['*', '×', '/', '^'])
            || rest.starts_with(['*', '×', '/', '^'])
            || rest.trim_start().starts_with("out of ")
            || (i >= 2 && word(i - 2) == "out" && word(i - 1) == "of");
        let version = named
            || year
            || term
            || (i >= 1
                && matches!(
                    word(i - 1).as_str(),
                    "version" | "versions" | "release" | "releases"
                ));
        out.push(Quantity {
            value,
            raw: t.text.to_string(),
            after,
            before,
            bound,
            denied,
            version,
            assigned: text[..t.start].ends_with('='),
            at: t.start,
        });
    }
    out
}

/// A number, or a number joined to its unit by a hyphen ("4096-byte", "64-bit"): the value and
/// the unit.
fn number_with_unit(lower: &str) -> Option<(f64, Option<&str>)> {
    if let Some(v) = parse_number(lower) {
        return Some((v, None));
    }
    let (number, unit) = lower.split_once('-')?;
    let v = parse_number(number)?;
    unit.chars()
        .all(char::is_alphabetic)
        .then_some((v, Some(unit)))
}

fn parse_number(lower: &str) -> Option<f64> {
    const WORDS: &[(&str, f64)] = &[
        ("zero", 0.0),
        ("two", 2.0),
        ("three", 3.0),
        ("four", 4.0),
        ("five", 5.0),
        ("six", 6.0),
        ("seven", 7.0),
        ("eight", 8.0),
        ("nine", 9.0),
        ("ten", 10.0),
        ("eleven", 11.0),
        ("twelve", 12.0),
        ("twenty", 20.0),
        ("fifty", 50.0),
        ("hundred", 100.0),
        ("thousand", 1000.0),
    ];
    if let Some((_, v)) = WORDS.iter().find(|(w, _)| *w == lower) {
        return Some(*v);
    }
    let cleaned: String = lower.chars().filter(|c| *c != ',').collect();
    if !cleaned.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    // "3.11" style versions parse as numbers too: a different version is a different value.
    let numeric: String = cleaned
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let rest = &cleaned[numeric.len()..];
    // Units glued to the number ("64mb", "8kb", "10s") are fine; identifiers like "0x1f" are not.
    if !rest.is_empty() && !rest.chars().all(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    numeric.trim_end_matches('.').parse().ok()
}

/// Abbreviations after which a period does not end a sentence.
const ABBREVIATIONS: &[&str] = &[
    "e.g", "i.e", "etc", "vs", "cf", "dr", "mr", "mrs", "ms", "prof", "fig", "no", "approx", "st",
    "jr", "sr", "inc", "ltd", "co", "al", "vol", "ed", "eds", "pp", "p", "ch", "sec", "jan", "feb",
    "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "u.s", "ca", "resp",
    "esp",
];

/// Sentences of `text` as byte spans, trimmed. Unicode sentence boundaries, then merged back
/// where the split followed an abbreviation or an initial, or fell on a single line break inside
/// a hard-wrapped sentence. A blank line always ends a sentence.
pub fn sentences(text: &str) -> Vec<(usize, usize)> {
    let mut pieces: Vec<(usize, usize)> = Vec::new();
    for (i, s) in text.split_sentence_bound_indices() {
        let mut start = i;
        for part in s.split("\n\n") {
            if let Some(span) = trim_span(text, start, start + part.len()) {
                pieces.push(span);
            }
            start += part.len() + 2;
        }
    }
    let mut merged: Vec<(usize, usize)> = Vec::new();
    for (s, e) in pieces {
        if let Some(last) = merged.last_mut() {
            let prev = &text[last.0..last.1];
            let blank_line_between = text[last.1..s].contains("\n\n");
            let unfinished = !prev.ends_with(['.', '!', '?', ';', ':', '"', '\u{201d}', ')']);
            if !blank_line_between && (unfinished || ends_with_abbreviation(prev)) {
                last.1 = e;
                continue;
            }
        }
        merged.push((s, e));
    }
    merged
}

fn ends_with_abbreviation(prev: &str) -> bool {
    let Some(before_dot) = prev.strip_suffix('.') else {
        return false;
    };
    let last_word = before_dot
        .rsplit(|c: char| c.is_whitespace() || c == '(' || c == '[')
        .next()
        .unwrap_or("");
    let lower = last_word.to_lowercase();
    if ABBREVIATIONS.contains(&lower.as_str()) {
        return true;
    }
    // A single capital letter is an initial ("J. Smith").
    let mut chars = last_word.chars();
    matches!((chars.next(), chars.next()), (Some(c), None) if c.is_uppercase())
}

/// Trim whitespace from a span; None when nothing is left.
pub fn trim_span(text: &str, start: usize, end: usize) -> Option<(usize, usize)> {
    let slice = &text[start..end];
    let lead = slice.len() - slice.trim_start().len();
    let trimmed = slice.trim();
    if trimmed.is_empty() {
        return None;
    }
    Some((start + lead, start + lead + trimmed.len()))
}

/// Collapse runs of whitespace into single spaces.
/// Personal pronouns that, opening a sentence, stand for the subject of the page or section the
/// sentence is in ("Its county seat is Newport." under "Sullivan County, New Hampshire").
pub const SUBJECT_PRONOUNS: &[&str] = &["it", "its", "they", "their", "he", "she", "his", "her"];

/// Whether `sentence` opens with one of [`SUBJECT_PRONOUNS`].
pub fn leads_with_pronoun(sentence: &str) -> bool {
    let first = sentence
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_matches(|c: char| !c.is_alphanumeric())
        .to_lowercase();
    SUBJECT_PRONOUNS.contains(&first.as_str())
}

/// The lead-in of the last list a passage opens ("But there are also disadvantages:"), when
/// its items run to the passage's end: a list a passage boundary may have cut.
pub fn last_lead_in(passage: &str) -> Option<&str> {
    let lines: Vec<&str> = passage
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let at = lines
        .iter()
        .rposition(|l| l.ends_with(':') && l.split_whitespace().count() >= 2)?;
    (at + 1 < lines.len()).then_some(lines[at])
}

/// The term a reference page's entry describes, from its heading: "vacuum_freeze_table_age
/// (integer)" and "autovacuum (boolean)" name theirs before the parenthesis, "add_note(note)"
/// too; a heading holding an identifier names that. Other headings name no term.
pub fn entry_term(heading: &str) -> Option<&str> {
    let head = heading.trim();
    let term = match head.find('(') {
        Some(at) if at > 0 => head[..at].split(',').next().unwrap_or("").trim(),
        _ => {
            tokens(head)
                .into_iter()
                .find(|t| t.text.contains('_'))?
                .text
        }
    };
    // A name, not a date or a version ("2011-06-23 (3.7.7)").
    let named = term
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_');
    (named && !term.contains(' ')).then_some(term)
}

pub fn squash_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Jaccard similarity of two stem sets.
pub fn jaccard(a: &[String], b: &[String]) -> f32 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let sa: std::collections::HashSet<&String> = a.iter().collect();
    let sb: std::collections::HashSet<&String> = b.iter().collect();
    let inter = sa.intersection(&sb).count();
    let union = sa.union(&sb).count();
    inter as f32 / union.max(1) as f32
}

/// A URL-and-filename-safe slug of at most `max` bytes.
pub fn slug(text: &str, max: usize) -> String {
    let mut out = String::new();
    for t in tokens(text) {
        let lower = t.text.to_lowercase();
        if is_stopword(&lower) {
            continue;
        }
        let word: String = lower
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        if word.is_empty() {
            continue;
        }
        if !out.is_empty() {
            if out.len() + 1 + word.len() > max {
                break;
            }
            out.push('-');
        } else if word.len() > max {
            out.push_str(&word[..max]);
            break;
        }
        out.push_str(&word);
    }
    if out.is_empty() {
        out.push_str("report");
    }
    out
}

/// Phrases with a plain equivalent, applied to claims, queries and sentences alike before
/// comparing them.
const PHRASES: &[(&str, &str)] = &[
    ("out of the box", "by default"),
    ("out-of-the-box", "by default"),
    ("by design", "by default"),
    ("compile flag", "compile-time option"),
    ("compile-time flag", "compile-time option"),
    ("build flag", "compile-time option"),
];

pub fn plain_phrases(text: &str) -> std::borrow::Cow<'_, str> {
    let lower = text.to_lowercase();
    if !PHRASES.iter().any(|(p, _)| lower.contains(p)) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = lower;
    for (p, r) in PHRASES {
        out = out.replace(p, r);
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_list_running_to_a_passage_s_end_has_its_lead_in() {
        let cut =
            "WAL is faster.\n\nBut there are also disadvantages:\n\nWAL requires shared memory.";
        assert_eq!(
            super::last_lead_in(cut),
            Some("But there are also disadvantages:")
        );
        // A lead-in with nothing after it, or a label of one word, opens no list here.
        assert_eq!(super::last_lead_in("Intro.\n\nAdvantages include:"), None);
        assert_eq!(super::last_lead_in("Example:\n\nSELECT 1;"), None);
    }

    #[test]
    fn a_compound_statement_is_read_as_its_parts() {
        assert_eq!(
            super::conjuncts(
                "The standard library's http.server is not intended for production use and only \
                 performs basic security checks."
            ),
            [
                "The standard library's http.server is not intended for production use",
                "only performs basic security checks"
            ]
        );
        assert_eq!(
            super::conjuncts("max_connections defaults to 100, but initdb can pick a lower value."),
            [
                "max_connections defaults to 100",
                "initdb can pick a lower value"
            ]
        );
        // "and" between two names, a join inside brackets, or a side too short to state
        // anything: one statement.
        for one in [
            "SQLite supports both FOR EACH ROW and FOR EACH STATEMENT triggers.",
            "Python 3.11 removed the telnetlib and cgi modules under PEP 594.",
            "Frozen modules (their code objects, so to speak) start faster.",
            "It is on, so be it.",
        ] {
            assert_eq!(super::conjuncts(one), [one]);
        }
    }

    #[test]
    fn a_negation_denies_its_first_content_word() {
        assert_eq!(
            super::negation_heads("WAL does not work over a network filesystem."),
            ["work"]
        );
        assert_eq!(
            super::negation_heads("Class methods can no longer wrap other descriptors"),
            [super::stem("wrap")]
        );
        assert!(super::negation_heads("but CREATE INDEX CONCURRENTLY cannot.").is_empty());
        assert_eq!(
            super::negation_heads("This module does not support writing TOML."),
            [super::stem("support"), super::stem("writing")]
        );
    }

    use super::*;

    #[test]
    fn tokens_keep_versions_identifiers_and_units() {
        let words: Vec<&str> = tokens("seq_page_cost is 4.0 (UTF-8), in 3.11.")
            .iter()
            .map(|t| t.text)
            .collect();
        assert_eq!(words, ["seq_page_cost", "is", "4.0", "UTF-8", "in", "3.11"]);
    }

    #[test]
    fn sentences_survive_abbreviations_and_initials() {
        let text = "Use a cache, e.g. the page cache. J. Smith wrote it. Version 3.11 is new.";
        let spans = sentences(text);
        let got: Vec<&str> = spans.iter().map(|&(s, e)| &text[s..e]).collect();
        assert_eq!(
            got,
            [
                "Use a cache, e.g. the page cache.",
                "J. Smith wrote it.",
                "Version 3.11 is new."
            ]
        );
    }

    #[test]
    fn hard_wrapped_lines_join_and_blank_lines_split() {
        let text = "A sentence wrapped\nover two lines. Next one.\n\nA new paragraph.";
        let got: Vec<&str> = sentences(text).iter().map(|&(s, e)| &text[s..e]).collect();
        assert_eq!(
            got,
            [
                "A sentence wrapped\nover two lines.",
                "Next one.",
                "A new paragraph."
            ]
        );
        let text = "Made by group F.\n\nThe next paragraph.";
        assert_eq!(sentences(text).len(), 2);
    }

    #[test]
    fn blank_lines_end_sentences() {
        let text = "Heading without stop\n\nA sentence here.";
        let got: Vec<&str> = sentences(text).iter().map(|&(s, e)| &text[s..e]).collect();
        assert_eq!(got, ["Heading without stop", "A sentence here."]);
    }

    #[test]
    fn numbers_carry_their_neighbours() {
        let n = numbers("The default is 4.0 for random_page_cost and 10 connections.");
        assert_eq!(n.len(), 2);
        assert_eq!(n[0].value, 4.0);
        assert_eq!(n[0].before.as_deref(), Some("default"));
        assert_eq!(n[1].value, 10.0);
        assert_eq!(n[1].after.as_deref(), Some("connect"));
        assert!(numbers("0x1f and abc").is_empty());
        assert_eq!(numbers("64MB of memory")[0].value, 64.0);
    }

    #[test]
    fn negation_and_stems() {
        assert_eq!(
            negated_stems("Lithium batteries do not have a memory effect."),
            ["memori", "effect"]
        );
        assert!(negated_stems("Lithium batteries have a memory effect.").is_empty());
        // A quotation's words are not the sentence's.
        assert!(negated_stems(
            "It will report an error along the lines of \"file is encrypted or is not a database\"."
        )
        .is_empty());
        assert!(negated_stems("It prints \u{201c}no such table\u{201d} and stops.").is_empty());
        assert_eq!(
            negated_stems("It prints \"done\" but does not stop."),
            vec!["stop".to_string()]
        );
        assert_eq!(
            negated_stems("context information that is not available when the exception is raised"),
            vec!["avail".to_string()]
        );
        assert_eq!(
            negated_stems("origins (in status, not origin) will prevent starting"),
            ["origin"]
        );
        assert_eq!(
            content_stems("Batteries are charging quickly"),
            ["batteri", "charg", "quick"]
        );
    }

    #[test]
    fn slug_is_short_and_safe() {
        assert_eq!(
            slug("How do replication slots work in PostgreSQL?", 40),
            "replication-slots-postgresql"
        );
        assert_eq!(slug("???", 40), "report");
        assert!(slug(&"word ".repeat(50), 30).len() <= 30);
    }

    #[test]
    fn thousands_separators_and_define_flags_stay_whole() {
        let t: Vec<&str> =
            tokens("accepts 1,000 or 10,000,000 rows; 1,2,3 -DSQLITE_ENABLE_JSON1 -Wall")
                .iter()
                .map(|t| t.text)
                .collect();
        assert_eq!(
            t,
            vec![
                "accepts",
                "1,000",
                "or",
                "10,000,000",
                "rows",
                "1",
                "2",
                "3",
                "SQLITE_ENABLE_JSON1",
                "Wall"
            ]
        );
        assert_eq!(numbers("1,000 connections")[0].value, 1000.0);
    }

    #[test]
    fn quantities_say_what_they_measure_and_spot_bounds() {
        let q = quantities("PostgreSQL accepts 1,000 concurrent connections by default.");
        assert_eq!(q[0].after, vec!["concurr", "connect"]);
        assert_eq!(q[0].before, vec!["accept", "postgresql"]);
        let q = quantities("It is set to 10 by default.");
        assert!(q[0].after.is_empty() && q[0].before.is_empty());
        assert!(quantities("two or more databases")[0].bound);
        assert!(quantities("at least 3 replicas")[0].bound);
        assert!(!quantities("3 replicas")[0].bound);
        assert!(quantities("charging below 0 degrees Celsius")[0].bound);
        assert!(quantities("colder than 0 degrees Celsius")[0].bound);
        assert!(quantities("heat above 35 degrees Celsius")[0].bound);
        assert!(quantities("stayed within plus or minus 1 degree Celsius")[0].bound);
        assert!(!quantities("store them at 10 degrees Celsius")[0].bound);
    }

    #[test]
    fn a_share_of_a_set_is_no_value_of_what_it_counts() {
        let q = quantities("lower than that predicted by 111 out of 114 climate models");
        assert!(q.iter().all(|q| q.version), "{q:?}");
        assert!(!quantities("seven times as much warming")[0].version);
    }

    #[test]
    fn a_reference_entry_heading_names_its_term() {
        assert_eq!(
            entry_term("vacuum_freeze_table_age (integer)"),
            Some("vacuum_freeze_table_age")
        );
        assert_eq!(entry_term("add_note(note)"), Some("add_note"));
        assert_eq!(entry_term("sys.exc_info()"), Some("sys.exc_info"));
        assert_eq!(entry_term("__notes__"), Some("__notes__"));
        assert_eq!(
            entry_term("SQLITE_DEFAULT_MEMSTATUS=<1 or 0>"),
            Some("SQLITE_DEFAULT_MEMSTATUS")
        );
        assert_eq!(entry_term("8.10. Enriching Exceptions with Notes"), None);
        assert_eq!(entry_term("What’s New In Python 3.11 (summary)"), None);
        assert_eq!(entry_term("2011-06-23 (3.7.7)"), None);
    }
}
