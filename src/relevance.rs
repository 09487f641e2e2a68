//! Which kept claims are findings: those about what the question is about. The panel keeps
//! what the sources support; a supported sentence on another subject (GEQO's "large join
//! queries" for a question about tuning autovacuum for a large table, shared-cache mode's
//! restrictions for a question about WAL mode) answers nothing. The report lists such claims
//! apart, after the findings, rather than as answers.

use crate::artifact::{Claim, Reviewed};
use crate::text;

/// The question's subject, weighed by rarity in the searched corpora.
#[derive(Debug, Clone)]
pub struct Subject {
    /// (stem, weight) of the subject's words.
    words: Vec<(String, f32)>,
    /// The rarest word of each name the question gives ("Annie Morton", "Terry Richardson"):
    /// a question comparing two things is about each of them.
    named: Vec<String>,
}

impl Subject {
    /// `words`: the plan's subject ("WAL", "SQLite", "mode"); `idf`: a stem's rarity.
    pub fn new(question: &str, words: &[String], idf: impl Fn(&str) -> f32) -> Subject {
        let mut out: Vec<(String, f32)> = Vec::new();
        for stem in words.iter().flat_map(|w| text::content_stems(w)) {
            if !out.iter().any(|(s, _)| *s == stem) {
                let weight = idf(&stem).max(0.0);
                out.push((stem, weight));
            }
        }
        let named = proper_names(question)
            .iter()
            .filter_map(|n| {
                text::content_stems(n)
                    .into_iter()
                    .map(|s| (idf(&s), s))
                    .max_by(|a, b| a.0.total_cmp(&b.0))
                    .map(|(_, s)| s)
            })
            .collect();
        Subject { words: out, named }
    }

    /// Whether a claim is about the subject: the claim, or a heading or title of the section
    /// it is quoted from, holds the subject's rarest word in the searched corpora, or the
    /// rarest word of a name the question gives. A question's commoner words say little
    /// ("SQLite" in SQLite's manual, "mode" in "WAL mode" beside shared-cache mode); a version
    /// number scopes the subject without naming it ("Python 3.11 exception handling" is about
    /// exceptions). Always so for a subject of no weight (no plan subject, an empty corpus).
    pub fn holds(&self, claim: &Claim) -> bool {
        let rarest = self
            .words
            .iter()
            .filter(|(s, w)| *w > 0.0 && !s.chars().any(|c| c.is_ascii_digit()))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        let Some((stem, _)) = rarest else {
            return true;
        };
        let held = held(claim);
        held.contains(stem) || self.named.iter().any(|n| held.contains(n))
    }

    /// Kept claims split into findings (about the subject) and the rest, each in the order
    /// given. A claim naming someone or something a finding names is a finding too, one hop
    /// on: "the woman who portrayed Corliss Archer" is answered by what Shirley Temple did.
    pub fn split(&self, kept: &[Reviewed]) -> (Vec<Reviewed>, Vec<Reviewed>) {
        let about: Vec<bool> = kept.iter().map(|r| self.holds(&r.claim)).collect();
        let named: Vec<String> = kept
            .iter()
            .zip(&about)
            .filter(|(_, &a)| a)
            .flat_map(|(r, _)| proper_names(&r.claim.text))
            .collect();
        let (mut findings, mut aside) = (Vec::new(), Vec::new());
        for (r, a) in kept.iter().zip(about) {
            // The sentence, or the title or heading it is quoted under ("Shirley Temple" over
            // "As an adult, she ... served as Chief of Protocol").
            let mut places = std::iter::once(&r.claim.text).chain(
                r.claim
                    .citations
                    .iter()
                    .flat_map(|c| c.heading_path.iter().chain(std::iter::once(&c.title))),
            );
            if a || places.any(|t| named.iter().any(|n| names_one(t, n))) {
                findings.push(r.clone());
            } else {
                aside.push(r.clone());
            }
        }
        (findings, aside)
    }
}

/// Whether a sentence names someone a name stands for: the name itself, a longer form of it
/// ("Shirley Temple Black"), or its last word alone ("Temple"), as written.
fn names_one(sentence: &str, name: &str) -> bool {
    let words: Vec<&str> = text::tokens(sentence).iter().map(|t| t.text).collect();
    let name: Vec<&str> = name.split(' ').collect();
    words.windows(name.len()).any(|w| w == name.as_slice())
        || name.last().is_some_and(|last| words.contains(last))
}

/// The stems a claim holds with where it was quoted from: its words, its sources' headings and
/// titles, the parts of its identifiers (`autovacuum_vacuum_scale_factor` is autovacuum's
/// setting), and the initials of capitalised headings ("Write-Ahead Logging" is WAL).
fn held(claim: &Claim) -> Vec<String> {
    let mut out = Vec::new();
    let with = |t: &str, out: &mut Vec<String>| {
        out.extend(text::content_stems(t));
        for token in text::tokens(t) {
            if token.text.contains('_') {
                out.extend(
                    token
                        .text
                        .split('_')
                        .filter(|p| p.len() > 1)
                        .map(|p| text::stem(&p.to_lowercase())),
                );
            }
        }
    };
    with(&claim.text, &mut out);
    for c in &claim.citations {
        for h in c.heading_path.iter().chain(std::iter::once(&c.title)) {
            with(h, &mut out);
            out.extend(initials(h));
        }
    }
    out
}

/// Initials of each run of two or more capitalised words (hyphenated parts count apart):
/// "Write-Ahead Logging" gives "wal".
fn initials(heading: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut run = String::new();
    let words = heading
        .split(|c: char| c.is_whitespace() || c == '-')
        .filter(|w| !w.is_empty());
    for w in words.chain(std::iter::once("")) {
        match w.chars().next() {
            Some(c) if c.is_uppercase() && w.chars().any(char::is_lowercase) => {
                run.extend(c.to_lowercase())
            }
            _ => {
                if run.chars().count() >= 2 {
                    out.push(text::stem(&run));
                }
                run.clear();
            }
        }
    }
    out
}

/// Names of people, places and works in a sentence: runs of two or more capitalised words
/// ("Shirley Temple"), not keywords in capitals ("VACUUM FULL") or identifiers.
fn proper_names(sentence: &str) -> Vec<String> {
    text::names(sentence)
        .into_iter()
        .filter(|n| {
            let words: Vec<&str> = n.split_whitespace().collect();
            words.len() >= 2
                && words.iter().all(|w| {
                    w.chars().next().is_some_and(char::is_uppercase)
                        && w.chars().skip(1).any(char::is_lowercase)
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::{Citation, Status, Verdict};

    fn kept(id: &str, text: &str, title: &str, headings: &[&str]) -> Reviewed {
        Reviewed {
            claim: Claim {
                id: id.into(),
                text: text.into(),
                sub_query: 0,
                score: 1.0,
                citations: vec![Citation {
                    doc_id: "d".into(),
                    location: "d".into(),
                    title: title.into(),
                    doc_hash: "h".into(),
                    start: 0,
                    end: text.len(),
                    quote: text.into(),
                    heading_path: headings.iter().map(|h| h.to_string()).collect(),
                    passage: 0,
                    page: None,
                    fetched: None,
                    lead_in: None,
                }],
            },
            votes: Vec::new(),
            verdict: Verdict {
                claim_id: id.into(),
                status: Status::Kept,
                support: 4,
                refute: 0,
                abstain: 1,
                errors: 0,
                supporting_docs: 1,
                reason: String::new(),
            },
        }
    }

    /// Rarity as in the searched manuals: every SQLite page says SQLite, fewer say WAL.
    fn manual_idf(stem: &str) -> f32 {
        match stem {
            "sqlite" => 2.0,
            "wal" => 4.3,
            "mode" => 3.8,
            "python" => 2.4,
            "3.11" => 4.8,
            "except" => 3.1,
            _ => 5.0,
        }
    }

    fn ids(claims: &[Reviewed]) -> Vec<&str> {
        claims.iter().map(|r| r.claim.id.as_str()).collect()
    }

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn a_claim_on_another_subject_is_set_apart_even_when_it_shares_common_words() {
        let question = "When should I use WAL mode in SQLite and what are its limitations?";
        let subject = Subject::new(question, &words(&["WAL", "SQLite", "mode"]), manual_idf);
        let claims = [
            kept("network", "WAL does not work over a network filesystem.", "Write-Ahead Logging", &["1. Overview"]),
            // wal.html's title is the subject spelled out.
            kept("readers", "Reading and writing can proceed concurrently.", "Write-Ahead Logging", &["1. Overview"]),
            kept(
                "shared",
                "In older versions of SQLite, shared cache mode could not be used together with virtual tables.",
                "SQLite Shared-Cache Mode",
                &["4. Shared Cache And Virtual Tables"],
            ),
            kept(
                "printf",
                "Some doubles require more than 16 significant digits.",
                "SQLite's Built-in printf()",
                &["1.2. Disadvantages"],
            ),
        ];
        let (findings, aside) = subject.split(&claims);
        assert_eq!(ids(&findings), ["network", "readers"]);
        assert_eq!(ids(&aside), ["shared", "printf"]);
    }

    #[test]
    fn a_version_scopes_the_subject_without_naming_it() {
        let question = "What changed in Python 3.11 exception handling?";
        let subject = Subject::new(
            question,
            &words(&["Python", "3.11", "exception"]),
            manual_idf,
        );
        let whatsnew = "What's New In Python 3.11";
        let claims = [
            kept("groups", "PEP 654 introduces language features that enable a program to raise and handle multiple unrelated exceptions simultaneously.", whatsnew, &["New Features"]),
            kept("fraction", "Changed in version 3.11: Underscores are now permitted when creating a Fraction instance from a string.", "fractions", &[]),
            kept("frames", "In Python 3.11, the frame struct was reorganized to allow performance optimizations.", whatsnew, &["C API Changes"]),
        ];
        let (findings, aside) = subject.split(&claims);
        assert_eq!(ids(&findings), ["groups"]);
        assert_eq!(ids(&aside), ["fraction", "frames"]);
    }

    #[test]
    fn a_question_about_two_things_is_about_each() {
        let question = "Who is older, Annie Morton or Terry Richardson?";
        let subject = Subject::new(
            question,
            &words(&["Annie", "Morton", "Terry", "Richardson", "older"]),
            manual_idf,
        );
        let claims = [
            kept(
                "annie",
                "Annie Morton (born October 8, 1970) is an American model.",
                "Annie Morton",
                &[],
            ),
            kept(
                "terry",
                "Terry Richardson (born August 14, 1965) is an American fashion photographer.",
                "Terry Richardson",
                &[],
            ),
            kept("other", "Vogue is a fashion magazine.", "Vogue", &[]),
        ];
        let (findings, aside) = subject.split(&claims);
        assert_eq!(ids(&findings), ["annie", "terry"]);
        assert_eq!(ids(&aside), ["other"]);
    }

    #[test]
    fn an_identifier_holds_the_subject_it_is_named_after() {
        let subject = Subject::new("", &words(&["autovacuum"]), |_| 2.0);
        let scale = kept(
            "scale",
            "autovacuum_vacuum_scale_factor (floating point): The default is 0.2.",
            "20.10. Automatic Vacuuming",
            &[],
        );
        let geqo = kept(
            "geqo",
            "The GEQO module allows the query optimizer to support large join queries.",
            "62.3. Genetic Query Optimization (GEQO) in PostgreSQL",
            &[],
        );
        assert!(subject.holds(&scale.claim));
        assert!(!subject.holds(&geqo.claim));
    }

    #[test]
    fn the_second_hop_of_a_question_is_a_finding() {
        let question = "What government position was held by the woman who portrayed Corliss Archer in the film Kiss and Tell?";
        let subject = Subject::new(
            question,
            &words(&["Corliss", "Archer", "Kiss", "government"]),
            |s| {
                if s == "corliss" {
                    6.0
                } else {
                    3.0
                }
            },
        );
        let claims = [
            kept(
                "who",
                "Shirley Temple portrayed Corliss Archer in the film Kiss and Tell.",
                "Kiss and Tell",
                &[],
            ),
            kept(
                "then",
                "As an adult, Temple served as Chief of Protocol of the United States.",
                "Shirley Temple",
                &[],
            ),
            kept(
                "off",
                "The Golden Gate Bridge opened in 1937.",
                "Golden Gate Bridge",
                &[],
            ),
        ];
        let (findings, aside) = subject.split(&claims);
        assert_eq!(ids(&findings), ["who", "then"]);
        assert_eq!(ids(&aside), ["off"]);
    }

    #[test]
    fn without_a_subject_every_kept_claim_is_a_finding() {
        let subject = Subject::new("", &[], |_| 2.0);
        let claims = [kept("a", "Anything at all.", "T", &[])];
        assert_eq!(subject.split(&claims).1.len(), 0);
    }
}
