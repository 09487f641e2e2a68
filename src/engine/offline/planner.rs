//! Question -> 3 to 8 sub-queries: the question itself, its parts when it asks several things,
//! and the definition / mechanism / limits / numbers angles on its key terms.

use crate::artifact::{Angle, Plan, SubQuery, MAX_SUB_QUERIES};
use crate::engine::{Planner, RoleError};
use crate::text;
use async_trait::async_trait;
use std::collections::HashSet;

pub struct OfflinePlanner;

const MAX_PARTS: usize = 4;

#[async_trait]
impl Planner for OfflinePlanner {
    async fn plan(&self, question: &str) -> Result<Plan, RoleError> {
        Ok(plan(question))
    }
}

/// Words that open a new question inside a compound one ("..., why is ...", "... and can ...").
pub(super) const OPENERS: &[&str] = &[
    "what", "why", "how", "which", "when", "where", "who", "whom", "can", "could", "does", "do",
    "did", "is", "are", "was", "were", "should", "must", "will", "would", "has", "have",
];

/// Split a compound question into its parts.
pub fn parts(question: &str) -> Vec<String> {
    let mut out = Vec::new();
    for sentence in sentences_of(question) {
        let mut current = String::new();
        for clause in split_at_and_opener(sentence) {
            let trimmed = clause.trim_start();
            let first = trimmed
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_lowercase();
            let second = trimmed
                .split_whitespace()
                .nth(1)
                .unwrap_or("")
                .to_lowercase();
            let opens = OPENERS.contains(&first.as_str())
                || ((first == "and" || first == "or" || first == "but")
                    && OPENERS.contains(&second.as_str()));
            if opens
                && text::content_stems(&current).len() >= 2
                && !fragment(trimmed)
                && !qualifier(&current)
            {
                out.push(current.clone());
                current.clear();
            }
            current.push_str(clause);
        }
        if !current.trim().is_empty() {
            out.push(current);
        }
    }
    let cleaned: Vec<String> = out
        .into_iter()
        .map(|p| {
            let p = p.trim().trim_end_matches([',', ';', '?', '.']).trim();
            let p = p
                .strip_prefix("and ")
                .or_else(|| p.strip_prefix("or "))
                .or_else(|| p.strip_prefix("but "))
                .unwrap_or(p);
            text::squash_whitespace(p)
        })
        .filter(|p| !fragment(p))
        .collect();
    cleaned
}

/// A question's sentences: after a question mark or a semicolon, and after a full stop that
/// ends a sentence ("... on a class. Is that a supported pattern ...": the statement before it
/// says what "that" is), not one inside a version ("3.11") or an abbreviation ("e.g. this").
fn sentences_of(question: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let chars: Vec<(usize, char)> = question.char_indices().collect();
    for (k, &(i, c)) in chars.iter().enumerate() {
        let ends = match c {
            '?' | ';' => true,
            '.' => {
                let next = chars.get(k + 1).map(|x| x.1);
                let after = chars.get(k + 2).map(|x| x.1);
                let word = question[start..i].split_whitespace().last().unwrap_or("");
                next.is_some_and(char::is_whitespace)
                    && after.is_some_and(char::is_uppercase)
                    && word.chars().filter(|c| c.is_alphabetic()).count() > 1
                    && !word.contains('.')
            }
            _ => false,
        };
        if ends {
            out.push(&question[start..i + c.len_utf8()]);
            start = i + c.len_utf8();
        }
    }
    if start < question.len() {
        out.push(&question[start..]);
    }
    out
}

/// Too little to be a part of its own: fewer than two content words, unless it asks about the
/// question's subject by a pronoun ("what are its limitations").
/// A leading phrase that sets the scene for the question after it ("In Python 3.11, how can
/// ..."): a preposition and what it governs, asking nothing on its own.
pub(super) fn qualifier(part: &str) -> bool {
    const PREPOSITIONS: &[&str] = &[
        "in", "on", "for", "with", "within", "under", "using", "since", "from", "after", "before",
        "during", "across", "inside",
    ];
    let words: Vec<String> = part
        .split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase()
        })
        .collect();
    words
        .first()
        .is_some_and(|w| PREPOSITIONS.contains(&w.as_str()))
        && !words.iter().any(|w| OPENERS.contains(&w.as_str()))
}

fn fragment(part: &str) -> bool {
    let stems = text::content_stems(part).len();
    let refers = text::tokens(part)
        .iter()
        .any(|t| PRONOUNS.contains(&t.text.to_lowercase().as_str()));
    stems == 0 || (stems < 2 && !refers)
}

/// Clauses of a sentence: after each comma, and before an "and"/"or"/"but" that opens a new
/// question ("... in SQLite and what are its limitations").
fn split_at_and_opener(sentence: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for clause in sentence.split_inclusive(',') {
        let mut start = 0;
        let words: Vec<(usize, &str)> = clause
            .split_whitespace()
            .map(|w| (w.as_ptr() as usize - clause.as_ptr() as usize, w))
            .collect();
        for pair in words.windows(2) {
            let ((at, joiner), (_, next)) = (pair[0], pair[1]);
            let joiner = joiner.to_lowercase();
            if at > start
                && matches!(joiner.as_str(), "and" | "or" | "but")
                && OPENERS.contains(&next.to_lowercase().as_str())
            {
                out.push(&clause[start..at]);
                start = at;
            }
        }
        out.push(&clause[start..]);
    }
    out
}

/// The key terms of a question: identifiers and numbers first, then capitalised words, then
/// the rest, in question order within each group.
pub fn key_terms(question: &str) -> Vec<String> {
    let mut ranked: Vec<(u8, usize, String)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, t) in text::tokens(question).iter().enumerate() {
        let lower = t.text.to_lowercase();
        if text::is_stopword(&lower) || lower.len() < 2 {
            continue;
        }
        if !seen.insert(lower.clone()) {
            continue;
        }
        // A decorator ("@classmethod") or a call ("add_note()") is code: an identifier.
        let code = question[..t.start].ends_with('@')
            || question[t.start + t.text.len()..].starts_with("()");
        let rank = if code || t.text.contains('_') || t.text.chars().any(|c| c.is_ascii_digit()) {
            0
        } else if i > 0 && t.text.chars().next().is_some_and(char::is_uppercase) {
            1
        } else {
            2
        };
        ranked.push((rank, i, t.text.to_string()));
    }
    ranked.sort();
    ranked.into_iter().map(|(_, _, w)| w).collect()
}

pub fn plan(question: &str) -> Plan {
    let question = text::squash_whitespace(question);
    let mut subs: Vec<SubQuery> = Vec::new();
    let mut push = |angle: Angle, label: String, query: String| {
        if subs.len() < MAX_SUB_QUERIES && !subs.iter().any(|s| s.query == query) {
            subs.push(SubQuery {
                id: subs.len(),
                angle,
                label,
                query,
            });
        }
    };
    push(Angle::Question, "Overview".into(), question.clone());
    let parts = parts(&question);
    // What a part asks for, searched the way a researcher would put it ("WAL SQLite:
    // disadvantages", "what's new in Python 3.11 exception handling"), else as asked.
    let subject = subject_of(&question);
    if parts.len() > 1 {
        for (i, p) in parts.iter().take(MAX_PARTS).enumerate() {
            let before = i.checked_sub(1).map(|j| parts[j].as_str());
            let query = focused(p, &subject, before)
                .or_else(|| resolved(p, &subject, before))
                .unwrap_or_else(|| p.clone());
            push(Angle::Part, capitalise(p), query);
        }
    } else if let Some(query) = parts.first().and_then(|p| focused(p, &subject, None)) {
        push(Angle::Part, capitalise(&parts[0]), query);
    }
    let keys = key_terms(&question);
    // What the question asks about, not what kind of answer it wants: "limitations" shares
    // its stem with "limits", and would pull every page of limits into every search; "decide"
    // finds "VACUUM should use to decide whether to freeze".
    let framed = framing(&question);
    let focus = keys
        .iter()
        .filter(|k| {
            let stems = text::content_stems(k);
            let asks = stems.len() == 1 && framed.contains(&stems[0]);
            !is_intent_word(k) && !asks
        })
        .take(4)
        .cloned()
        .collect::<Vec<_>>()
        .join(" ");
    if !focus.is_empty() {
        if parts.len() <= 1 {
            push(
                Angle::Definition,
                "Definitions and background".into(),
                format!("{focus} overview"),
            );
            push(
                Angle::Mechanism,
                "How it works".into(),
                format!("how {focus} works"),
            );
        }
        push(
            Angle::Limits,
            "Limits and caveats".into(),
            format!("{focus} caveats, restrictions and disadvantages"),
        );
        push(
            Angle::Numbers,
            "Numbers and defaults".into(),
            format!("{focus} defaults and values"),
        );
    }
    // A question too short for angles still gets three sub-queries.
    while subs.len() < 3 {
        let n = subs.len();
        subs.push(SubQuery {
            id: n,
            angle: Angle::Question,
            label: format!("Overview ({})", n + 1),
            query: format!("{question} {}", keys.join(" ")),
        });
    }
    Plan {
        subject: subject_of(&question),
        question,
        sub_queries: subs,
    }
}

/// Pronouns a later part uses for the question's subject ("... and what are its limitations").
pub(super) const PRONOUNS: &[&str] = &["it", "its", "they", "their", "them", "this", "these"];

/// The question's subject: the names and identifiers of its first part, else its first two
/// key terms.
pub(super) fn subject_of(question: &str) -> Vec<String> {
    let first = parts(question)
        .into_iter()
        .next()
        .unwrap_or_else(|| question.to_string());
    let named: Vec<String> = text::tokens(&first)
        .iter()
        .enumerate()
        .filter(|(i, t)| {
            let w = t.text;
            let lower = w.to_lowercase();
            if text::is_stopword(&lower) || FRAMING.contains(&lower.as_str()) {
                return false;
            }
            w.contains('_')
                || w.chars().any(|c| c.is_ascii_digit())
                || (*i > 0 && w.chars().count() > 1 && w.chars().all(|c| c.is_uppercase()))
                || (*i > 0 && w.chars().next().is_some_and(char::is_uppercase))
        })
        .map(|(_, t)| t.text.to_string())
        .collect();
    // The names, and the first plain word that is neither a name nor framing: "WAL SQLite
    // mode", "PostgreSQL's autovacuum".
    let want = if named.is_empty() { 2 } else { 1 };
    let plain: Vec<String> = key_terms(&first)
        .into_iter()
        .filter(|k| {
            let lower = k.to_lowercase();
            !named.iter().any(|n| n.to_lowercase() == lower)
                && !FRAMING.contains(&lower.as_str())
                && !is_intent_word(&lower)
        })
        .take(want)
        .collect();
    named.into_iter().chain(plain).collect()
}

/// The kind of answer a part of a question asks for, where researchers have words for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sought {
    /// "what are its limitations", "drawbacks of ..."
    Drawbacks,
    /// "when should I use ...", "advantages of ..."
    Benefits,
    /// "what changed in ...", "what's new in ..."
    WhatChanged,
    /// "how do I tune / configure / adjust ..."
    Settings,
    /// "how does it decide when to ...", "what triggers ..."
    Threshold,
    /// "how does it decide what to do ..."
    Conditions,
    /// "what is the upper bound ...", "how large can ..."
    Maximum,
    /// "what is the default ..."
    Default,
}

impl Sought {
    /// The word beginnings that asked for this kind ("tune" in "how do I tune it", "decid" in
    /// "decide when"): they frame the question, so matched as words they find namesakes
    /// ("VACUUM should use to decide whether to freeze"), not answers.
    pub(super) fn asking(self) -> &'static [&'static str] {
        match self {
            Sought::Drawbacks => &[
                "limit",
                "drawback",
                "disadvantag",
                "downsid",
                "caveat",
                "pitfal",
            ],
            Sought::Benefits => &["use", "advantag", "benefit"],
            Sought::Settings => &["tune", "tuning", "configur", "adjust"],
            Sought::Threshold => &["decid", "trigger"],
            Sought::Conditions => &["decid"],
            // What changed is read by the extractor's own rules (`ChangeQuestion`).
            Sought::WhatChanged | Sought::Maximum | Sought::Default => &[],
        }
    }
}

/// The stems of a question's words that ask for a kind of answer rather than name its topic:
/// words like "limitations" anywhere, and in a part of a known kind the words that asked for it.
pub(super) fn framing(question: &str) -> HashSet<String> {
    let asking: Vec<&str> = parts(question)
        .iter()
        .filter_map(|p| sought(p))
        .flat_map(|k| k.asking().iter().copied())
        .collect();
    text::tokens(question)
        .iter()
        .filter(|t| {
            let lower = t.text.to_lowercase();
            is_intent_word(&lower) || asking.iter().any(|a| lower.starts_with(a))
        })
        .flat_map(|t| text::content_stems(t.text))
        .collect()
}

/// What a part asks for, if it is one of the kinds in [`Sought`]. The planner searches with
/// the words sources use for that kind; the Answer ranks the claims that use them.
pub(super) fn sought(part: &str) -> Option<Sought> {
    let lower = part.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric() && c != '_' && c != '.')
        .filter(|w| !w.is_empty())
        .collect();
    let has = |w: &str| words.iter().any(|x| x.starts_with(w));
    let has_phrase = |p: &str| lower.contains(p);
    Some(if DRAWBACKS.iter().any(|w| has(w)) {
        Sought::Drawbacks
    } else if has_phrase("when should")
        || has_phrase("why should")
        || BENEFITS.iter().any(|w| has(w))
    {
        Sought::Benefits
    } else if asks_what_changed(part) {
        Sought::WhatChanged
    } else if has("tune") || has("tuning") || has("configur") || has("adjust") {
        Sought::Settings
    } else if has_phrase("decide when") || has("trigger") {
        Sought::Threshold
    } else if has("decide") {
        Sought::Conditions
    } else if UPPER_BOUND.iter().any(|p| has_phrase(p)) {
        Sought::Maximum
    } else if has("default") {
        Sought::Default
    } else {
        return None;
    })
}

/// A focused search for one part of a question when it asks for something researchers have
/// words for: drawbacks, reasons to use something, what changed in a version, how to tune or
/// configure, how something decides, defaults. The part's own words stay (a pronoun becomes
/// the question's subject); the search adds the words sources use for that kind of answer.
fn focused(part: &str, subject: &[String], before: Option<&str>) -> Option<String> {
    let kind = sought(part)?;
    let adds = match kind {
        Sought::Drawbacks => "disadvantages",
        Sought::Benefits => "advantages",
        Sought::WhatChanged => "what's new",
        Sought::Settings => "settings and parameters",
        Sought::Threshold => "threshold",
        // "How does MERGE decide what to do with each row": the rules it applies.
        Sought::Conditions => "conditions",
        Sought::Maximum => "maximum",
        Sought::Default => "default value",
    };
    let (terms, _) = content_terms(part, subject, before);
    if terms.is_empty() {
        return None;
    }
    Some(if kind == Sought::WhatChanged {
        format!("what's new in {}", terms.join(" "))
    } else {
        format!("{}: {adds}", terms.join(" "))
    })
}

/// A later part that refers back ("what is the absolute upper bound for that number", "where
/// is that text stored") searched as the words it refers to: a researcher does not type "that
/// number" into a search box. None when the part refers to nothing.
fn resolved(part: &str, subject: &[String], before: Option<&str>) -> Option<String> {
    let (terms, refers) = content_terms(part, subject, before);
    (refers && !terms.is_empty()).then(|| terms.join(" "))
}

/// A part's content words, what it refers to named: a pronoun becomes the question's subject,
/// a demonstrative ("that number") the question's subject and the key terms of the part before
/// it, then the noun. Also whether the part referred to anything.
fn content_terms(part: &str, subject: &[String], before: Option<&str>) -> (Vec<String>, bool) {
    let referred: Vec<String> = before
        .map(|b| {
            key_terms(b)
                .into_iter()
                .filter(|k| {
                    let w = k.to_lowercase();
                    !OPENERS.contains(&w.as_str())
                        && !FRAMING.contains(&w.as_str())
                        && !is_intent_word(&w)
                        && !VAGUE.contains(&w.as_str())
                })
                .collect()
        })
        .unwrap_or_default();
    let tokens = text::tokens(part);
    let mut terms: Vec<String> = Vec::new();
    let mut named_subject = false;
    for (i, t) in tokens.iter().enumerate() {
        let w = t.text.to_lowercase();
        let demonstrative = DEMONSTRATIVES.contains(&w.as_str())
            && tokens
                .get(i + 1)
                .is_some_and(|n| !text::is_stopword(&n.text.to_lowercase()));
        if PRONOUNS.contains(&w.as_str()) || demonstrative {
            if !named_subject {
                terms.extend(subject.iter().cloned());
                if demonstrative {
                    terms.extend(referred.iter().cloned());
                }
                named_subject = true;
            }
            continue;
        }
        if text::is_stopword(&w)
            || OPENERS.contains(&w.as_str())
            || FRAMING.contains(&w.as_str())
            || is_intent_word(&w)
        {
            continue;
        }
        terms.push(t.text.to_string());
    }
    let mut seen = std::collections::HashSet::new();
    terms.retain(|t| seen.insert(t.to_lowercase()));
    (terms, named_subject)
}

/// Words pointing back at what the part before named ("that number", "these settings").
const DEMONSTRATIVES: &[&str] = &["that", "this", "these", "those"];
/// Words of a question that name no topic of their own ("many", "time").
const VAGUE: &[&str] = &[
    "many", "much", "time", "way", "ways", "one", "same", "thing",
];
/// Phrases asking for the most something can be: sources say "maximum".
const UPPER_BOUND: &[&str] = &[
    "upper bound",
    "upper limit",
    "maximum",
    "at most",
    "largest",
    "highest",
    "how high",
    "how large can",
];

/// Whether a question (or a part of one) asks what changed or what is new ("What changed in
/// Python 3.11 ...", "what's new in ..."); "can that path be changed?" does not.
pub(super) fn asks_what_changed(question: &str) -> bool {
    let lower = question.to_lowercase().replace('\u{2019}', "'");
    [
        "what changed",
        "what has changed",
        "what have changed",
        "what's new",
        "what is new",
        "whats new",
        "changes in",
        "new in ",
    ]
    .iter()
    .any(|p| lower.contains(p))
}

/// Words that frame a question rather than name what it is about.
const FRAMING: &[&str] = &[
    "i", "we", "my", "our", "use", "using", "tell", "explain", "describe", "changed", "change",
    "decide", "tune", "tuning",
];

/// Words naming the kind of answer wanted (drawbacks, reasons) rather than its subject.
pub(super) fn is_intent_word(word: &str) -> bool {
    let w = word.to_lowercase();
    DRAWBACKS.iter().chain(BENEFITS).any(|i| w.starts_with(i))
}

/// Word beginnings of a question after something's drawbacks, and after its benefits.
const DRAWBACKS: &[&str] = &[
    "limitation",
    "drawback",
    "disadvantage",
    "downside",
    "caveat",
    "pitfall",
];
const BENEFITS: &[&str] = &["advantage", "benefit"];

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compound_questions_split_into_parts() {
        let q = "What are the default values of seq_page_cost and random_page_cost, why is the \
                 default for random fetches smaller than the real penalty, and can the two values \
                 be set differently for a faster disk?";
        let p = parts(q);
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[0].starts_with("What are the default values"));
        assert!(p[1].starts_with("why is the default"));
        assert!(p[2].starts_with("can the two values"));
    }

    #[test]
    fn a_leading_qualifier_stays_with_the_question_it_qualifies() {
        let q = "In Python 3.11, how can an except block attach extra context to an exception \
                 it caught, and where is that text stored on the exception object?";
        let p = parts(q);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].starts_with("In Python 3.11, how can"), "{p:?}");
        assert!(p[1].starts_with("where is that text"), "{p:?}");
    }

    #[test]
    fn plan_has_three_to_eight_unique_sub_queries() {
        for q in [
            "How do replication slots work in PostgreSQL streaming replication?",
            "x",
            "What is A, why is B so, how does C work, can D do it, is E true, and why F?",
        ] {
            let plan = plan(q);
            let n = plan.sub_queries.len();
            assert!((3..=8).contains(&n), "{q}: {n}");
            let ids: Vec<usize> = plan.sub_queries.iter().map(|s| s.id).collect();
            assert_eq!(ids, (0..n).collect::<Vec<_>>());
        }
        let p = plan("How do replication slots work in PostgreSQL streaming replication?");
        let angles: Vec<Angle> = p.sub_queries.iter().map(|s| s.angle).collect();
        assert_eq!(
            angles,
            [
                Angle::Question,
                Angle::Definition,
                Angle::Mechanism,
                Angle::Limits,
                Angle::Numbers
            ]
        );
    }

    #[test]
    fn a_part_is_searched_the_way_a_researcher_would_put_it() {
        let queries =
            |q: &str| -> Vec<String> { plan(q).sub_queries.into_iter().map(|s| s.query).collect() };
        let wal = queries("When should I use WAL mode in SQLite and what are its limitations?");
        assert!(
            wal.contains(&"WAL mode SQLite: advantages".to_string()),
            "{wal:?}"
        );
        // "its" is the question's subject; "limitations" becomes the word manuals use, and no
        // search carries "limitations" (its stem is "limit": every page of limits).
        assert!(
            wal.contains(&"WAL SQLite mode: disadvantages".to_string()),
            "{wal:?}"
        );
        assert!(
            wal.iter()
                .skip(1)
                .all(|q| !q.to_lowercase().contains("limitation")),
            "{wal:?}"
        );
        let py = queries("What changed in Python 3.11 exception handling?");
        assert!(
            py.contains(&"what's new in Python 3.11 exception handling".to_string()),
            "{py:?}"
        );
        let pg = queries(
            "How does PostgreSQL's autovacuum decide when to vacuum a table, and how do I tune \
             it for a large, write-heavy table?",
        );
        assert!(pg.iter().any(|q| q.ends_with(": threshold")), "{pg:?}");
        assert!(
            pg.iter()
                .any(|q| q.contains("autovacuum") && q.ends_with(": settings and parameters")),
            "{pg:?}"
        );
        // No template words glued to the question's terms.
        for q in wal.iter().chain(&py).chain(&pg) {
            assert!(
                !q.contains("is defined as") && !q.contains("what cannot be done"),
                "{q}"
            );
        }
    }

    #[test]
    fn a_part_referring_back_is_searched_for_what_it_refers_to() {
        let queries: Vec<String> = plan(
            "How many database files can one SQLite connection have attached at the same time \
             in a default build, what is the absolute upper bound for that number, and how can \
             an application reduce the limit at run time?",
        )
        .sub_queries
        .into_iter()
        .map(|s| s.query)
        .collect();
        // "that number" is the number of attached database files; the most something can be is
        // its "maximum" in a manual.
        let bound = queries
            .iter()
            .skip(1)
            .find(|q| q.contains("upper"))
            .unwrap_or_else(|| panic!("{queries:?}"));
        assert!(
            bound.contains("attached") && bound.ends_with(": maximum") && !bound.contains("that"),
            "{bound}"
        );
        let notes: Vec<String> = plan(
            "How can an except block attach extra context to an exception, and where is that \
             text stored on the exception object?",
        )
        .sub_queries
        .into_iter()
        .map(|s| s.query)
        .collect();
        assert!(
            notes
                .iter()
                .any(|q| q.contains("context") && q.contains("stored") && !q.contains("that")),
            "{notes:?}"
        );
    }

    #[test]
    fn a_statement_before_a_question_says_what_it_refers_to() {
        let q = "A code snippet stacks @classmethod on top of @property to create a read-only \
                 computed attribute on a class. Is that a supported pattern in Python 3.11, and \
                 what is the history behind it?";
        let p = parts(q);
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(
            p[1].starts_with("Is that a supported pattern in Python 3.11"),
            "{p:?}"
        );
        // The decorators are what the question is about, not "code snippet".
        assert_eq!(key_terms(q)[..2], ["classmethod", "property"]);
        let queries: Vec<String> = plan(q).sub_queries.into_iter().map(|s| s.query).collect();
        assert!(
            queries
                .iter()
                .any(|q| q.contains("classmethod") && q.contains("supported")),
            "{queries:?}"
        );
        assert!(
            queries
                .iter()
                .any(|q| q.contains("classmethod") && q.contains("history")),
            "{queries:?}"
        );
        // A version's dot ends no sentence.
        assert_eq!(
            parts("What changed in Python 3.11. exception handling?").len(),
            1
        );
    }

    #[test]
    fn a_part_joined_by_and_is_split_off() {
        assert_eq!(
            parts("When should I use WAL mode in SQLite and what are its limitations?"),
            [
                "When should I use WAL mode in SQLite",
                "what are its limitations"
            ]
        );
        // "and" inside a part, or before a word that opens nothing, stays.
        assert_eq!(
            parts("How do checkpoints and vacuum interact?"),
            ["How do checkpoints and vacuum interact"]
        );
    }

    #[test]
    fn key_terms_put_identifiers_first() {
        let k = key_terms("Why does PostgreSQL set seq_page_cost to 1.0?");
        assert_eq!(k[0], "seq_page_cost");
        assert_eq!(k[1], "1.0");
        assert_eq!(k[2], "PostgreSQL");
    }

    #[test]
    fn planning_is_deterministic() {
        let q = "How should lithium-ion batteries be stored?";
        assert_eq!(plan(q), plan(q));
    }
}
