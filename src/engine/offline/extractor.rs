//! Offline claim extraction: sentences of the gathered passages that read as claims (declarative,
//! not code, not a question, not a fragment), scored for relevance to the question and its
//! sub-query, each pinned to its verbatim span.

use crate::artifact::{Angle, Citation, Claim, Evidence, Plan};
use crate::engine::{Extractor, RoleError};
use crate::text;
use crate::verifier::{cosine, ModelError, Verifier};
use async_trait::async_trait;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

pub struct OfflineExtractor {
    /// Claims kept in all.
    pub max_claims: usize,
    /// Claims kept per sub-query, so one angle cannot crowd out the others.
    pub max_per_sub_query: usize,
    /// With the verifier installed: sentence meaning weighs what the words found (see
    /// `by_meaning`).
    pub verifier: Option<Arc<Verifier>>,
}

impl Default for OfflineExtractor {
    fn default() -> Self {
        OfflineExtractor {
            max_claims: 40,
            max_per_sub_query: 8,
            verifier: None,
        }
    }
}

/// A sentence this close in meaning (cosine of sentence embeddings) to the question, or to the
/// follow-up search that found it, is on the question. MiniLM puts sentences on one topic above
/// about 0.5 and sentences that merely share a word ("large objects" for "a large table") near
/// 0.3.
const ON_QUESTION: f32 = 0.4;

/// A reference entry's description quoted whole (see the extractor) when it has at most this
/// many sentences and bytes.
const ENTRY_SENTENCES: usize = 3;
const ENTRY_CHARS: usize = 400;
/// ...or this share of the closest sentence's closeness, for a question whose best sentences
/// all read further from it.
const NEAR_BEST: f32 = 0.7;
/// Two sentences this close in meaning, with the same numbers and the same negation, say the
/// same thing in other words: one finding, every source.
const SAME_MEANING: f32 = 0.9;

/// Words that say something changed, or that a page lists changes.
const CHANGE_WORDS: &[&str] = &[
    "changed",
    "change",
    "changes",
    "new",
    "added",
    "adds",
    "now",
    "introduced",
    "introduces",
    "removed",
    "deprecated",
    "longer",
    "renamed",
    "replaced",
    "improved",
];

/// A question after what changed ("What changed in Python 3.11 exception handling?", "what's
/// new in ..."): only a sentence that speaks of a change answers it, and when the question
/// names a version, only one of that version (in the sentence, or the page or section it sits
/// in: a "What's New In Python 3.11" page).
struct ChangeQuestion {
    version: Option<String>,
}

impl ChangeQuestion {
    fn of(question: &str) -> Option<ChangeQuestion> {
        let asks = super::planner::asks_what_changed(question);
        asks.then(|| ChangeQuestion {
            version: text::tokens(question)
                .iter()
                .map(|t| t.text)
                .find(|t| is_version(t))
                .map(str::to_string),
        })
    }

    fn names_version(&self, text: &str) -> bool {
        text::tokens(text).iter().any(|w| match &self.version {
            Some(v) => w.text == v || w.text.starts_with(&format!("{v}.")),
            None => is_version(w.text),
        })
    }

    /// Whether a page (its title and a passage's headings) lists changes of that version: a
    /// "What's New In Python 3.11" page, a changelog's "Python 3.11.0" section. The title is
    /// read without its site suffix ("... — Python 3.11.7 documentation"), which would name the
    /// version on every page.
    fn lists_changes(&self, title: &str, headings: &[String]) -> bool {
        let own_title = title
            .split(" \u{2014} ")
            .next()
            .and_then(|t| t.split(" | ").next())
            .unwrap_or(title);
        let page: Vec<&str> = std::iter::once(own_title)
            .chain(headings.iter().map(String::as_str))
            .collect();
        let listing = page.iter().any(|p| {
            let p = p.to_lowercase().replace('\u{2019}', "'");
            CHANGE_PAGES.iter().any(|c| p.contains(c))
        });
        listing && page.iter().any(|p| self.names_version(p))
    }

    /// Whether the sentence itself dates a change of that version ("Changed in version 3.11:
    /// ...").
    fn dates_change(&self, sentence: &str) -> bool {
        text::tokens(sentence)
            .iter()
            .any(|t| CHANGE_WORDS.contains(&t.text.to_lowercase().as_str()))
            && self.names_version(sentence)
    }
}

/// What a page or section listing changes is called.
const CHANGE_PAGES: &[&str] = &[
    "what's new",
    "whats new",
    "changelog",
    "change log",
    "release notes",
    "changes in",
    "new in",
    "new features",
];

/// "3.11", "15.2": digits with an inner dot.
fn is_version(token: &str) -> bool {
    token.contains('.')
        && token.chars().next().is_some_and(|c| c.is_ascii_digit())
        && token.chars().all(|c| c.is_ascii_digit() || c == '.')
}

struct Candidate {
    claim: Claim,
    stems: Vec<String>,
    /// The sentence embedding, with the verifier.
    meaning: Option<Arc<[f32]>>,
}

impl Candidate {
    /// Whether `other` says what this one says: nearly the same words, or (with the verifier)
    /// nearly the same meaning, and either way the same numbers and the same polarity ("does
    /// not work" shares every content word with "works").
    fn same_as(&self, other: &Candidate) -> bool {
        let alike = text::jaccard(&self.stems, &other.stems) >= 0.8
            || matches!((&self.meaning, &other.meaning), (Some(a), Some(b)) if cosine(a, b) >= SAME_MEANING);
        if !alike {
            return false;
        }
        // Within one document, a word one sentence has and the other lacks is another fact:
        // "vacuum insert threshold = ..." beside "vacuum threshold = ..." in the same section.
        let same_doc = self.claim.citations.iter().any(|a| {
            other
                .claim
                .citations
                .iter()
                .any(|b| a.doc_id == b.doc_id && a.start != b.start)
        });
        if same_doc && {
            let (mut a, mut b) = (self.stems.clone(), other.stems.clone());
            a.sort();
            b.sort();
            a != b
        } {
            return false;
        }
        let numbers = |t: &str| {
            let mut v: Vec<String> = text::numbers(t)
                .iter()
                .map(|n| n.value.to_string())
                .collect();
            v.sort();
            v
        };
        let negated = |t: &str| {
            text::tokens(t)
                .iter()
                .any(|w| text::is_negation(&w.text.to_lowercase()))
        };
        let (x, y) = (&self.claim.text, &other.claim.text);
        numbers(x) == numbers(y) && negated(x) == negated(y)
    }
}

/// Weigh the candidates by meaning: each one's closeness to the question (or to the follow-up
/// search that found it) scales its score, and one far from both is dropped however many of
/// the question's words it holds. Words alone let "large" find large objects and "limitations"
/// find the limits page.
fn by_meaning(
    verifier: &Verifier,
    question: &str,
    plan: &Plan,
    candidates: &mut Vec<Candidate>,
) -> Result<(), ModelError> {
    let follow_ups: Vec<(usize, &str)> = plan
        .sub_queries
        .iter()
        .filter(|s| s.angle == Angle::FollowUp)
        .map(|s| (s.id, s.query.as_str()))
        .collect();
    let mut texts: Vec<&str> = vec![question];
    texts.extend(follow_ups.iter().map(|f| f.1));
    texts.extend(candidates.iter().map(|c| c.claim.text.as_str()));
    let emb = verifier.embed(&texts)?;
    let (question_at, follow_at) = (&emb[0], &emb[1..1 + follow_ups.len()]);
    let closeness: Vec<f32> = candidates
        .iter()
        .zip(&emb[1 + follow_ups.len()..])
        .map(|(c, e)| {
            let to_search = follow_ups
                .iter()
                .zip(follow_at)
                .filter(|((id, _), _)| *id == c.claim.sub_query)
                .map(|(_, f)| cosine(f, e))
                .fold(f32::MIN, f32::max);
            cosine(question_at, e).max(to_search)
        })
        .collect();
    let best = closeness.iter().copied().fold(0.0, f32::max);
    let floor = ON_QUESTION.min(NEAR_BEST * best);
    let mut meanings = emb[1 + follow_ups.len()..].iter();
    let mut close = closeness.iter();
    candidates.retain_mut(|c| {
        let (Some(m), Some(&near)) = (meanings.next(), close.next()) else {
            return false;
        };
        c.meaning = Some(Arc::clone(m));
        c.claim.score *= 0.25 + near.max(0.0);
        near >= floor
    });
    Ok(())
}

#[async_trait]
impl Extractor for OfflineExtractor {
    async fn extract(
        &self,
        question: &str,
        plan: &Plan,
        evidence: &[Evidence],
    ) -> Result<Vec<Claim>, RoleError> {
        Ok(self.extract_sync(question, plan, evidence))
    }
}

/// Whether a sentence reads as a standalone claim. `subject_known` says a leading personal
/// pronoun ("Its county seat is ...", "She served as ...") refers to a subject the reader is
/// told: the page's own, in the opening of a page about the name a later round follows.
fn claim_like(sentence: &str, subject_known: bool) -> bool {
    let s = sentence.trim();
    let words = s.split_whitespace().count();
    if !(5..=90).contains(&words) {
        return false;
    }
    if s.ends_with('?') || s.ends_with(':') || s.ends_with(',') {
        return false;
    }
    let letters = s.chars().filter(|c| c.is_alphabetic()).count();
    let non_space = s.chars().filter(|c| !c.is_whitespace()).count().max(1);
    // Code, tables and signatures are mostly punctuation and digits.
    if (letters as f32) / (non_space as f32) < 0.7 {
        return false;
    }
    if s.contains("{") || s.contains("};") || s.contains("=>") || s.contains(">>>") {
        return false;
    }
    // A statement of code ("ALTER INDEX distributors SET (fillfactor = 75);") or a session at a
    // prompt ("sqlite> PRAGMA foreign_keys = ON;") is an example, not a claim.
    if s.ends_with(';') || s.contains("sqlite>") || s.contains("=#") {
        return false;
    }
    // "CHECK constraints work the same." compares with what the sentences before named.
    let lower_end = s.trim_end_matches(['.', '!']).to_lowercase();
    if ["the same", "as well", "likewise", "similarly"]
        .iter()
        .any(|e| lower_end.ends_with(e))
    {
        return false;
    }
    // A pointer elsewhere ("See PEP 654 for more details."), a credit line or a list of links
    // says nothing itself.
    let lower = s.to_lowercase();
    if ["see ", "refer to ", "(contributed by", "contributed by "]
        .iter()
        .any(|p| lower.starts_with(p))
        || s.contains('→')
        || lower.matches(".html").count() >= 2
    {
        return false;
    }
    let first = s.split_whitespace().next().unwrap_or("");
    // A named formula opens in lower case: "vacuum threshold = vacuum base threshold + vacuum
    // scale factor * number of tuples where ...".
    let formula = is_formula(s);
    let starts_ok = formula
        || first
            .chars()
            .next()
            .is_some_and(|c| c.is_uppercase() || c.is_ascii_digit() || c == '"' || c == '(')
        || first.contains('_');
    if !starts_ok {
        return false;
    }
    // A sentence that leans on the one before it ("This is...", "Otherwise, ...") cannot stand
    // alone as a quoted finding.
    if leans_on_previous(s, subject_known) {
        return false;
    }
    // A table's row ("28 | 4 | Size of the database file in pages.") is no sentence.
    if s.matches(" | ").count() >= 2 {
        return false;
    }
    // A column's description ("Number of times this table has been vacuumed by the autovacuum
    // daemon", "Last time at which this table was analyzed") names a value; it states nothing.
    if describes_a_value(s) {
        return false;
    }
    // A sentence without a verb-like word is usually a title or a label; a formula states
    // with its "=".
    formula || has_verb(s)
}

/// Whether a sentence is a noun phrase naming a value, as a table's column is described: it
/// opens with what the value is ("Number of", "Last time at which") and says no more.
fn describes_a_value(s: &str) -> bool {
    let lower = s.to_lowercase();
    let opens = [
        "number of ",
        "total number of ",
        "estimated number of ",
        "last time ",
        "time at which ",
        "time of ",
        "name of ",
        "oid of ",
        "size of ",
        "amount of ",
    ]
    .iter()
    .any(|p| lower.starts_with(p));
    // One sentence only: "Number of workers is limited by ..." has its own verb, and a second
    // sentence states something.
    opens
        && text::sentences(s).len() == 1
        && !text::tokens(s).iter().any(|t| {
            matches!(
                t.text.to_lowercase().as_str(),
                "is" | "are"
                    | "was"
                    | "were"
                    | "has"
                    | "have"
                    | "must"
                    | "can"
                    | "cannot"
                    | "should"
                    | "will"
            ) && !relative_before(s, t.start)
        })
}

/// Whether a relative clause ("at which", "that", "which", or a bare "times this table has")
/// opens before byte `at`: a verb there belongs to it, not to the sentence.
fn relative_before(s: &str, at: usize) -> bool {
    let head = s[..at].to_lowercase();
    [
        " which ", " that ", " who ", " whose ", " where ", " when ", " times ",
    ]
    .iter()
    .any(|m| head.contains(m))
}

/// Whether a sentence holds a verb-like word: a common verb, or a word ending like one ("-es",
/// "-ed", "-s") that is not a keyword in capitals ("VALUES") nor a noun after a preposition,
/// an article or a conjunction ("in pages", "or tables").
fn has_verb(s: &str) -> bool {
    let tokens = text::tokens(s);
    tokens.iter().enumerate().any(|(i, t)| {
        let w = t.text.to_lowercase();
        if VERBS.contains(&w.as_str()) {
            return true;
        }
        let inflected = w.len() > 4 && (w.ends_with("es") || w.ends_with("ed") || w.ends_with('s'));
        let keyword = t.text.len() > 1 && t.text.chars().all(|c| c.is_ascii_uppercase());
        let after_noun_marker = i
            .checked_sub(1)
            .map(|j| tokens[j].text.to_lowercase())
            .is_some_and(|p| NOUN_MARKERS.contains(&p.as_str()));
        inflected && !keyword && !after_noun_marker
    })
}

/// Words after which a word ending in "-s" is a noun, not a verb.
const NOUN_MARKERS: &[&str] = &[
    "a", "an", "the", "of", "in", "on", "at", "for", "with", "by", "from", "to", "into", "and",
    "or", "all", "any", "some", "many", "few", "several", "its", "their", "these", "those",
];

/// Whether a sentence states anything at all, as evidence: not an entry of a keyword list
/// ("network filesystem use"), a cross-reference ("useovernet.html → {how to corrupt a
/// database}") or a list of links.
pub(super) fn states_something(sentence: &str) -> bool {
    let s = sentence.trim();
    if s.split_whitespace().count() < 4
        || s.contains('→')
        || s.to_lowercase().matches(".html").count() >= 2
    {
        return false;
    }
    s.contains(" = ") || has_verb(s)
}

/// Whether a text opens with a word that leans on the sentence before it ("This is...",
/// "Otherwise, ..."), unless it is a pronoun for a subject the reader is told.
pub(super) fn leans_on_previous(text: &str, subject_known: bool) -> bool {
    let s = text.trim_start();
    let first = s.split_whitespace().next().unwrap_or("");
    let first_lower = first
        .trim_matches(|c: char| !c.is_alphanumeric())
        .to_lowercase();
    ANAPHORA.contains(&first_lower.as_str()) && !(subject_known && text::leads_with_pronoun(s))
}

/// Whether `sentence` names the terms of the formula `before` states ("vacuum threshold = ...
/// number of tuples" then "where the vacuum base threshold is autovacuum_vacuum_threshold,
/// ..."): the formula is quoted with it, so the settings it is made of come with it.
fn defines_formula(before: &str, sentence: &str) -> bool {
    sentence.trim_start().starts_with("where ") && is_formula(before.trim())
}

/// A named formula: "vacuum threshold = vacuum base threshold + ...", its name plain words.
fn is_formula(s: &str) -> bool {
    s.find(" = ").is_some_and(|at| {
        at <= 60
            && s[..at]
                .chars()
                .all(|c| c.is_alphanumeric() || c == ' ' || c == '_')
    })
}

/// A passage's heading path and the lead-in of the list it ends in.
type OpenList<'a> = (&'a Vec<String>, &'a str);

/// Whether a sentence's subject points back at what the sentence before named ("The core
/// design of this feature was flawed"): a demonstrative and its noun among its first words.
fn refers_back(sentence: &str) -> bool {
    let tokens = text::tokens(sentence);
    tokens.iter().take(SUBJECT_WORDS).enumerate().any(|(i, t)| {
        if !["this", "these", "those"].contains(&t.text.to_lowercase().as_str()) {
            return false;
        }
        // "this feature" points back with its noun, "To work around this, ..." by itself.
        let noun = tokens
            .get(i + 1)
            .is_some_and(|n| !text::is_stopword(&n.text.to_lowercase()));
        let alone = sentence[t.start + t.text.len()..]
            .trim_start()
            .starts_with([',', ';', ':', '.']);
        noun || alone
    })
}

/// How far into a sentence its subject reaches, for [`refers_back`].
const SUBJECT_WORDS: usize = 6;

const ANAPHORA: &[&str] = &[
    "this",
    "that",
    "these",
    "those",
    "it",
    "its",
    "they",
    "them",
    "their",
    "otherwise",
    "such",
    "here",
    "thus",
    "hence",
    "also",
    "both",
    "he",
    "she",
    "his",
    "her",
    "then",
];

const VERBS: &[&str] = &[
    "is", "are", "was", "were", "be", "been", "has", "have", "had", "can", "cannot", "will",
    "does", "do", "did", "may", "must", "should", "shall", "might", "would", "could", "allows",
    "keeps", "makes", "uses", "needs", "gives", "takes", "sets", "holds", "runs", "means",
];

impl OfflineExtractor {
    pub fn extract_sync(&self, question: &str, plan: &Plan, evidence: &[Evidence]) -> Vec<Claim> {
        // Words naming the kind of answer wanted ("limitations", "benefits") are not its
        // subject: matched as words they find SQLite's "Limits" page for a question on WAL's
        // limitations. A part's own search says them in the words sources use.
        let intent: HashSet<String> = super::planner::framing(question);
        let change = ChangeQuestion::of(question);
        // In "what changed in 3.11 ...", "changed" frames the question: matched as a word it
        // finds every "Changed in version" note.
        let framing: HashSet<String> = if change.is_some() {
            CHANGE_WORDS.iter().map(|w| text::stem(w)).collect()
        } else {
            HashSet::new()
        };
        let question_stems: HashSet<String> = text::content_stems(question)
            .into_iter()
            .filter(|s| !intent.contains(s) && !framing.contains(s))
            .collect();
        let sub_stems: HashMap<usize, HashSet<String>> = plan
            .sub_queries
            .iter()
            .map(|s| (s.id, text::content_stems(&s.query).into_iter().collect()))
            .collect();
        // A part's own search (see the planner) names what the part wants.
        let part_searches: HashSet<usize> = plan
            .sub_queries
            .iter()
            .filter(|s| s.angle == Angle::Part)
            .map(|s| s.id)
            .collect();
        // Rarer words count more: weight question words by how few gathered passages hold them.
        let mut passage_freq: HashMap<String, usize> = HashMap::new();
        let mut seen_passages = HashSet::new();
        for ev in evidence {
            if seen_passages.insert(ev.hit.passage.key()) {
                for s in text::content_stems(&ev.hit.passage.text) {
                    *passage_freq.entry(s).or_default() += 1;
                }
            }
        }
        let n = seen_passages.len().max(1) as f32;
        let weight = |s: &str| {
            let df = *passage_freq.get(s).unwrap_or(&0) as f32;
            ((n + 1.0) / (df + 0.5)).ln().max(0.1)
        };
        // Sums over sets are taken in a fixed order: a set's order changes from run to run,
        // and a float sum with it, which would reorder claims of equal score between runs.
        let sum_of = |stems: &HashSet<String>| {
            let mut ws: Vec<f32> = stems.iter().map(|s| weight(s)).collect();
            ws.sort_by(f32::total_cmp);
            ws.iter().sum::<f32>()
        };
        let question_weight: f32 = sum_of(&question_stems).max(1e-3);
        // A later round's search asks its own question (a bridge: the new name with what the
        // question still asks about it): its passages are scored against that.
        let follow_ups: HashMap<usize, (HashSet<String>, f32)> = plan
            .sub_queries
            .iter()
            .filter(|s| s.angle == Angle::FollowUp)
            .map(|s| {
                let stems: HashSet<String> = text::content_stems(&s.query)
                    .into_iter()
                    .filter(|s| !intent.contains(s))
                    .collect();
                let w = sum_of(&stems).max(1e-3);
                (s.id, (stems, w))
            })
            .collect();

        // Gathered passages ending in a list, by (document, ordinal): their heading path and
        // the list's lead-in.
        let lists_open: HashMap<(&str, u32), OpenList> = evidence
            .iter()
            .filter_map(|ev| {
                let p = &ev.hit.passage;
                let lead = text::last_lead_in(&p.text)?;
                Some(((p.doc_id.as_str(), p.ordinal), (&p.heading_path, lead)))
            })
            .collect();
        let mut candidates: Vec<Candidate> = Vec::new();
        let mut seen_spans = HashSet::new();
        for ev in evidence {
            let hit = &ev.hit;
            // A search for one part of the question names what that part wants in the words
            // sources use ("WAL SQLite: disadvantages"): a sentence it found may answer in
            // those words instead of the question's.
            let widened: HashSet<String>;
            let (question_stems, question_weight) = match follow_ups.get(&ev.sub_query) {
                Some((stems, w)) => (stems, *w),
                None => match sub_stems.get(&ev.sub_query) {
                    Some(sub)
                        if part_searches.contains(&ev.sub_query)
                            && !sub.is_subset(&question_stems) =>
                    {
                        widened = question_stems.union(sub).cloned().collect();
                        (&widened, question_weight)
                    }
                    _ => (&question_stems, question_weight),
                },
            };
            // On a page about the name a round follows ("Shirley Temple"), a sentence is about
            // it even when it says "she": the page's title and headings speak for the sentence.
            let context_of_follow_up = follow_ups.contains_key(&ev.sub_query);
            let context: Vec<String> = if context_of_follow_up {
                std::iter::once(&hit.title)
                    .chain(&hit.passage.heading_path)
                    .flat_map(|h| text::content_stems(h))
                    .collect()
            } else {
                Vec::new()
            };
            // The opening of a page whose title is the name followed: a leading "it" or "she"
            // there is the page's subject, and the claim says so ("Sullivan County, New
            // Hampshire: Its county seat is Newport.") while its quote stays verbatim.
            let page_subject = (context_of_follow_up
                && hit.passage.ordinal == 0
                && names_follow_up(&hit.title, question_stems))
            .then(|| text::squash_whitespace(&hit.title));
            // The items of a list read under their lead-in: after "Advantages include:", "WAL
            // is significantly faster in most scenarios." is an advantage.
            // A list a passage boundary cut continues here: its items read under the lead-in
            // of the passage before.
            let mut lead_in: Option<&str> = hit
                .passage
                .ordinal
                .checked_sub(1)
                .and_then(|o| lists_open.get(&(hit.passage.doc_id.as_str(), o)))
                .filter(|(path, _)| **path == hit.passage.heading_path)
                // The lead-in is the line's last sentence: "There are advantages and
                // disadvantages ... Advantages include:" leads in advantages.
                .map(|(_, lead)| {
                    text::sentences(lead)
                        .last()
                        .map_or(*lead, |&(s, e)| &lead[s..e])
                });
            let mut lead_stems: Vec<String> = lead_in.map(text::content_stems).unwrap_or_default();
            // A question after what changed: does this passage sit in a list of its changes?
            let lists_changes = change
                .as_ref()
                .is_some_and(|c| c.lists_changes(&hit.title, &hit.passage.heading_path));
            let spans = text::sentences(&hit.passage.text);
            // A short reference entry's description is one statement about its entry: "Add the
            // string note to the exception's notes ... A TypeError is raised if note is not a
            // string." under `add_note(note)`. Its first sentence is quoted with the rest, so
            // the conditions and errors of the entry come with what it does.
            let whole_entry =
                spans.len() >= 2
                    && spans.len() <= ENTRY_SENTENCES
                    && hit.passage.text.len() <= ENTRY_CHARS
                    && hit.passage.heading_path.last().is_some_and(|h| {
                        text::entry_term(h).is_some_and(|t| h.trim().starts_with(t))
                    });
            let mut covered = 0;
            for (k, &(mut s, mut e)) in spans.iter().enumerate() {
                if s < covered {
                    continue;
                }
                if k == 0 && whole_entry {
                    e = spans[spans.len() - 1].1;
                }
                if hit.passage.text[s..e].trim_end().ends_with(':') {
                    lead_in = Some(hit.passage.text[s..e].trim());
                    lead_stems = text::content_stems(&hit.passage.text[s..e]);
                    // "There are advantages and disadvantages to using WAL ... Advantages
                    // include:": the sentence before announces the list; the items say it.
                    if let Some(&(ps, pe)) = k.checked_sub(1).and_then(|j| spans.get(j)) {
                        let text = &hit.passage.text;
                        let announces = !text[pe..s].contains("\n\n")
                            && ["There are ", "There is "]
                                .iter()
                                .any(|p| text[ps..pe].trim_start().starts_with(p));
                        if announces {
                            let (start, end) = (hit.passage.start + ps, hit.passage.start + pe);
                            candidates.retain(|c| {
                                let q = &c.claim.citations[0];
                                !(q.doc_id == hit.passage.doc_id
                                    && q.start == start
                                    && q.end == end)
                            });
                        }
                    }
                    continue;
                }
                // "This changes the default of log_checkpoints to on" says what it changes in
                // the sentence before: the claim quotes both (two at most before it).
                let mut joined = false;
                let mut back = k;
                while back > 0
                    && k - back < 2
                    && (leans_on_previous(
                        &hit.passage.text[spans[back].0..spans[back].1],
                        page_subject.is_some(),
                    ) || (back == k && refers_back(&hit.passage.text[s..e]))
                        || (back == k
                            && defines_formula(
                                &hit.passage.text[spans[back - 1].0..spans[back - 1].1],
                                &hit.passage.text[s..e],
                            )))
                {
                    back -= 1;
                    joined = true;
                    s = spans[back].0;
                }
                let quote = &hit.passage.text[s..e];
                if !claim_like(quote, page_subject.is_some()) {
                    continue;
                }
                if change.as_ref().is_some_and(|c| !c.dates_change(quote)) && !lists_changes {
                    continue;
                }
                let leans_on_subject = page_subject.is_some() && text::leads_with_pronoun(quote);
                let start = hit.passage.start + s;
                let end = hit.passage.start + e;
                if seen_spans.contains(&(hit.passage.doc_id.clone(), start, end)) {
                    continue;
                }
                let stems = text::content_stems(quote);
                let mut about = stems.clone();
                for c in context.iter().chain(&lead_stems) {
                    if !about.contains(c) {
                        about.push(c.clone());
                    }
                }
                let matched: f32 = about
                    .iter()
                    .filter(|s| question_stems.contains(*s))
                    .map(|s| weight(s))
                    .sum();
                let distinct = about.iter().filter(|s| question_stems.contains(*s)).count();
                let angle_bonus = sub_stems
                    .get(&ev.sub_query)
                    .map(|q| {
                        stems
                            .iter()
                            .filter(|s| q.contains(*s) && !question_stems.contains(*s))
                            .count()
                    })
                    .unwrap_or(0) as f32;
                let numbers = if text::numbers(quote).is_empty() {
                    0.0
                } else {
                    0.05
                };
                // Long sentences match more words by chance; damp them gently.
                let length_damp = 1.0 / (1.0 + (stems.len() as f32 / 25.0));
                let score = (matched / question_weight) * (0.75 + 0.25 * length_damp)
                    + 0.03 * angle_bonus.min(3.0)
                    + numbers;
                // A follow-up search is short (a name and what is still asked): its rarest word
                // alone can be enough.
                let enough = if context_of_follow_up { 0.2 } else { 0.3 };
                if distinct < 2 && matched / question_weight < enough {
                    continue;
                }
                // Taken once: a sentence too far from one search may still answer another.
                seen_spans.insert((hit.passage.doc_id.clone(), start, end));
                covered = e;
                // The sentences it leans on, taken without it, say less.
                if joined {
                    candidates.retain(|c| {
                        let q = &c.claim.citations[0];
                        !(q.doc_id == hit.passage.doc_id && q.start == start && q.end < end)
                    });
                }
                let said = text::squash_whitespace(quote);
                candidates.push(Candidate {
                    claim: Claim {
                        id: String::new(),
                        text: match (&page_subject, leans_on_subject) {
                            (Some(subject), true) => format!("{subject}: {said}"),
                            _ => said,
                        },
                        sub_query: ev.sub_query,
                        score,
                        citations: vec![Citation {
                            lead_in: lead_in.map(text::squash_whitespace),
                            ..Citation::from_hit(hit, s, e)
                        }],
                    },
                    stems,
                    meaning: None,
                });
            }
        }
        if let Some(verifier) = &self.verifier {
            // A model that fails here fails the reviewers too, and they say so in the report;
            // the words' judgement then stands, as without the verifier (`by_meaning` changes
            // nothing before the model has answered).
            let _ = by_meaning(verifier, question, plan, &mut candidates);
        }
        candidates.sort_by(|a, b| {
            b.claim
                .score
                .total_cmp(&a.claim.score)
                .then_with(|| {
                    a.claim.citations[0]
                        .doc_id
                        .cmp(&b.claim.citations[0].doc_id)
                })
                .then_with(|| a.claim.citations[0].start.cmp(&b.claim.citations[0].start))
        });
        // Merge near-duplicates into the best-scoring statement, keeping every source.
        let mut kept: Vec<Candidate> = Vec::new();
        for c in candidates {
            if let Some(same) = kept.iter_mut().find(|k| k.same_as(&c)) {
                let cite = c.claim.citations[0].clone();
                if !same.claim.citations.iter().any(|x| x.doc_id == cite.doc_id) {
                    same.claim.citations.push(cite);
                }
                continue;
            }
            kept.push(c);
        }
        let mut per_sub: HashMap<usize, usize> = HashMap::new();
        let mut out = Vec::new();
        for c in kept {
            let count = per_sub.entry(c.claim.sub_query).or_default();
            if *count >= self.max_per_sub_query {
                continue;
            }
            *count += 1;
            out.push(c.claim);
            if out.len() >= self.max_claims {
                break;
            }
        }
        for (i, c) in out.iter_mut().enumerate() {
            c.id = format!("c{}", i + 1);
        }
        out
    }
}

/// Whether a page's title names what a follow-up search asks about: its words (at least two,
/// or all of a one-word title) are the search's.
fn names_follow_up(title: &str, search: &HashSet<String>) -> bool {
    let title = text::content_stems(title);
    let shared = title.iter().filter(|s| search.contains(*s)).count();
    !title.is_empty() && shared >= title.len().min(2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::{Angle, Hit, Passage, SubQuery};

    fn claim_like_alone(sentence: &str) -> bool {
        claim_like(sentence, false)
    }

    #[test]
    fn claim_like_filters_headings_code_and_questions() {
        assert!(claim_like_alone(
            "Replication slots keep WAL segments until every consumer has received them."
        ));
        assert!(claim_like_alone(
            "seq_page_cost sets the planner's estimate of a page fetch."
        ));
        assert!(!claim_like_alone("Replication Slots"));
        assert!(!claim_like_alone(
            "How do replication slots work in practice today?"
        ));
        assert!(!claim_like_alone(
            "SELECT * FROM pg_replication_slots WHERE x = 1; -- {}"
        ));
        assert!(!claim_like_alone(
            "and then the rest of a fragment follows here."
        ));
        assert!(!claim_like_alone(
            "This is the earliest location from which streaming can start."
        ));
        assert!(!claim_like_alone("See PEP 654 for more details."));
        assert!(claim_like_alone(
            "vacuum threshold = vacuum base threshold + vacuum scale factor * number of tuples \
             where the vacuum base threshold is autovacuum_vacuum_threshold."
        ));
        assert!(!claim_like_alone(
            "(Contributed by Irit Katriel in bpo-45292 and others.)"
        ));
        assert!(!claim_like_alone(
            "WAL without shared memory → howtocorrupt.html#fakeusb pragma.html#pragma_locking_mode"
        ));
        // Code and a comparison with what came before are no claims.
        assert!(!claim_like_alone(
            "ALTER INDEX distributors SET (fillfactor = 75);"
        ));
        assert!(!claim_like_alone("0 sqlite> PRAGMA foreign_keys = ON;"));
        assert!(!claim_like_alone("CHECK constraints work the same."));
        // A formula states with its "=", verb or not.
        assert!(claim_like_alone(
            "vacuum insert threshold = vacuum base insert threshold + vacuum insert scale factor \
             * number of tuples"
        ));
        // A parameter's description without a verb, and a table's row, state nothing.
        assert!(!claim_like_alone(
            "Any SELECT, INSERT, UPDATE, DELETE, MERGE, or VALUES statement."
        ));
        assert!(!claim_like_alone(
            "28 | 4 | Size of the database file in pages of the main database."
        ));
        assert!(claim_like_alone(
            "The VACUUM command rebuilds the database file, repacking it into a minimal amount \
             of disk space."
        ));
        // A column's description names a value; one with its own verb states something.
        assert!(!claim_like_alone(
            "Number of times this table has been vacuumed by the autovacuum daemon"
        ));
        assert!(!claim_like_alone(
            "Last time at which this table was vacuumed by the autovacuum daemon"
        ));
        assert!(claim_like_alone(
            "Number of background workers is limited by max_worker_processes."
        ));
    }

    fn evidence(doc: &str, text: &str) -> Evidence {
        Evidence::new(
            0,
            Hit {
                passage: Passage {
                    doc_id: doc.into(),
                    ordinal: 0,
                    heading_path: vec![],
                    start: 100,
                    end: 100 + text.len(),
                    text: text.into(),
                    page: None,
                },
                location: doc.into(),
                title: doc.into(),
                doc_hash: "h".into(),
                score: 1.0,
                fetched: None,
            },
        )
    }

    /// A plan of one search: the question itself.
    fn overview_plan(q: &str) -> Plan {
        Plan {
            subject: Vec::new(),
            question: q.into(),
            sub_queries: vec![SubQuery {
                id: 0,
                angle: Angle::Question,
                label: "Overview".into(),
                query: q.into(),
            }],
        }
    }

    #[test]
    fn a_sentence_saying_this_is_quoted_with_the_sentence_it_leans_on() {
        let q = "Does PostgreSQL 15 log checkpoints by default?";
        let plan = overview_plan(q);
        let text = "Enable default logging of checkpoints and slow autovacuum operations. \
                    This changes the default of log_checkpoints to on. \
                    This will cause even an idle server to generate some log output.";
        let claims =
            OfflineExtractor::default().extract_sync(q, &plan, &[evidence("release", text)]);
        assert_eq!(claims.len(), 1, "{claims:?}");
        let c = &claims[0];
        assert_eq!(c.text, text, "the three sentences, verbatim, as one claim");
        assert_eq!(c.citations[0].start, 100);
        assert_eq!(c.citations[0].end, 100 + text.len());
    }

    #[test]
    fn a_sentence_working_around_this_is_quoted_with_what_this_is() {
        let text = "When the INSERT statement to which the UPSERT is attached takes its values \
                    from a SELECT statement, there is a potential parsing ambiguity. To work \
                    around this, the SELECT statement should always include a WHERE clause, \
                    even if that WHERE clause is just \"WHERE true\".";
        let q = "What must I watch for when an UPSERT takes its rows from a SELECT?";
        let claims = OfflineExtractor::default().extract_sync(
            q,
            &overview_plan(q),
            &[evidence("lang_upsert.html", text)],
        );
        let around = claims
            .iter()
            .find(|c| c.text.contains("WHERE true"))
            .unwrap_or_else(|| panic!("{claims:?}"));
        assert!(
            around.text.starts_with("When the INSERT statement"),
            "{}",
            around.text
        );
    }

    #[test]
    fn a_short_reference_entry_is_quoted_whole_a_long_one_by_the_sentence() {
        let q = "How can an except block attach a note to an exception for the traceback?";
        let short = "Add the string note to the exception's notes which appear in the standard \
                     traceback after the exception string. A TypeError is raised if note is not \
                     a string.";
        let mut entry = evidence("exceptions.html", short);
        entry.hit.passage.heading_path = vec!["Base classes".into(), "add_note(note)".into()];
        let claims = OfflineExtractor::default().extract_sync(q, &overview_plan(q), &[entry]);
        // What the entry does comes with its condition, verbatim, as one claim.
        assert_eq!(claims.len(), 1, "{claims:?}");
        assert_eq!(claims[0].text, short);
        assert_eq!(claims[0].citations[0].end, 100 + short.len());
        // Under a section heading that is no entry, the sentences stand apart.
        let mut section = evidence("tutorial.html", short);
        section.hit.passage.heading_path = vec!["8.10. Enriching Exceptions with Notes".into()];
        let claims = OfflineExtractor::default().extract_sync(q, &overview_plan(q), &[section]);
        assert!(!claims.is_empty());
        assert!(
            claims
                .iter()
                .all(|c| !(c.text.starts_with("Add the string") && c.text.contains("TypeError"))),
            "{claims:?}"
        );
    }

    #[test]
    fn a_sentence_about_this_feature_is_quoted_with_what_the_feature_is() {
        let text = "Chaining classmethod descriptors is now deprecated. It can no longer be used \
                    to wrap other descriptors such as property. The core design of this feature \
                    was flawed and caused a number of downstream problems.";
        let ex = OfflineExtractor::default();
        let claims = ex.extract_sync(
            "Is stacking classmethod on property supported, and why?",
            &overview_plan("Is stacking classmethod on property supported, and why?"),
            &[evidence("whatsnew.html", text)],
        );
        let flawed = claims
            .iter()
            .find(|c| c.text.contains("flawed"))
            .unwrap_or_else(|| panic!("{claims:?}"));
        assert!(
            flawed.text.starts_with("Chaining classmethod descriptors"),
            "{}",
            flawed.text
        );
    }

    #[test]
    fn claims_keep_spans_and_merge_duplicates_across_sources() {
        let q = "How long do replication slots keep WAL segments?";
        let plan = overview_plan(q);
        let a =
            "Intro words here. Replication slots keep WAL segments until consumers confirm them.";
        let b = "Replication slots keep WAL segments until the consumers confirm them.";
        let claims = OfflineExtractor::default().extract_sync(
            q,
            &plan,
            &[
                evidence("a", a),
                evidence("b", b),
                evidence("c", "Cats sleep a lot during the day."),
            ],
        );
        assert_eq!(claims.len(), 1, "{claims:?}");
        let c = &claims[0];
        assert_eq!(c.citations.len(), 2);
        let first = &c.citations[0];
        let text = if first.doc_id == "a" { a } else { b };
        assert_eq!(&text[first.start - 100..first.end - 100], first.quote);
    }

    #[test]
    fn two_sentences_of_one_page_that_differ_by_a_word_are_two_claims() {
        let q = "How does autovacuum decide when to vacuum a table?";
        let plan = overview_plan(q);
        let page = "The table is vacuumed when dead tuples exceed the threshold. \
                    vacuum threshold = vacuum base threshold + vacuum scale factor * number of tuples. \
                    The table is also vacuumed when inserted tuples exceed the insert threshold. \
                    vacuum insert threshold = vacuum base insert threshold + vacuum insert scale factor * number of tuples.";
        let claims = OfflineExtractor::default().extract_sync(q, &plan, &[evidence("a", page)]);
        let texts = texts(&claims);
        assert!(
            texts.iter().any(|t| t.contains("vacuum threshold =")),
            "{texts:?}"
        );
        assert!(
            texts
                .iter()
                .any(|t| t.contains("vacuum insert threshold =")),
            "{texts:?}"
        );
    }

    #[test]
    fn a_formula_is_quoted_with_the_sentence_naming_its_terms() {
        let q = "What is the vacuum threshold of autovacuum?";
        // As the manual prints it: the formula in its own block, then "where ...".
        let page = "Otherwise, if the number of tuples obsoleted since the last VACUUM exceeds \
                    the vacuum threshold, the table is vacuumed. The vacuum threshold is defined \
                    as:\n\nvacuum threshold = vacuum base threshold + vacuum scale factor * \
                    number of tuples\n\nwhere the vacuum base threshold is \
                    autovacuum_vacuum_threshold, the vacuum scale factor is \
                    autovacuum_vacuum_scale_factor, and the number of tuples is \
                    pg_class.reltuples.";
        let claims =
            OfflineExtractor::default().extract_sync(q, &overview_plan(q), &[evidence("a", page)]);
        let formula = claims
            .iter()
            .find(|c| c.text.starts_with("vacuum threshold ="))
            .unwrap_or_else(|| panic!("{:?}", texts(&claims)));
        assert!(
            formula
                .text
                .ends_with("the number of tuples is pg_class.reltuples."),
            "{}",
            formula.text
        );
        let cite = &formula.citations[0];
        assert_eq!(&page[cite.start - 100..cite.end - 100], cite.quote);
    }
    fn overview(q: &str) -> Plan {
        Plan {
            subject: Vec::new(),
            question: q.into(),
            sub_queries: vec![SubQuery {
                id: 0,
                angle: Angle::Question,
                label: "Overview".into(),
                query: q.into(),
            }],
        }
    }

    fn with_verifier() -> OfflineExtractor {
        match crate::verifier::Verifier::shared() {
            Ok(v) => OfflineExtractor {
                verifier: Some(v),
                ..OfflineExtractor::default()
            },
            Err(e) => panic!("this test needs the installed verifier: {e}"),
        }
    }

    fn texts(claims: &[Claim]) -> Vec<&str> {
        claims.iter().map(|c| c.text.as_str()).collect()
    }

    #[test]
    fn what_changed_in_a_version_is_answered_by_that_version_s_changes_only() {
        let q = "What changed in Python 3.11 exception handling?";
        let page = |doc: &str, title: &str, text: &str| {
            let mut e = evidence(doc, text);
            e.hit.title = title.into();
            e
        };
        let dated = "Changed in version 3.11: Exception representation on the stack now consist of one, not three, items.";
        let listed = "PEP 654 introduces language features that enable a program to raise and handle multiple unrelated exceptions simultaneously.";
        let older = "Changed in version 3.5: Python now retries system calls when a syscall is interrupted by a signal, except if the signal handler raises an exception.";
        let reference = "When raising a new exception while another exception is already being handled, the new exception's context attribute is set to the handled exception.";
        let elsewhere = "PEP 3134 introduces exception chaining, so that exception handling keeps the original exception.";
        let ev = [
            page("dis", "dis \u{2014} Python 3.11.7 documentation", dated),
            page(
                "new",
                "What's New In Python 3.11 \u{2014} Python 3.11.7 documentation",
                listed,
            ),
            page(
                "signal",
                "signal \u{2014} Python 3.11.7 documentation",
                older,
            ),
            page(
                "exc",
                "Built-in Exceptions \u{2014} Python 3.11.7 documentation",
                reference,
            ),
            page(
                "old",
                "What's New In Python 3.0 \u{2014} Python 3.11.7 documentation",
                elsewhere,
            ),
        ];
        let claims = OfflineExtractor::default().extract_sync(q, &overview(q), &ev);
        let mut got = texts(&claims);
        got.sort();
        assert_eq!(got, [dated, listed], "{claims:?}");
        // "Can that search path be changed?" does not ask what changed.
        let q = "Where does zoneinfo look for time zone data, and can that search path be changed in Python 3.11?";
        let path = "The zoneinfo module looks for time zone data on the search path TZPATH in Python 3.11.";
        let claims =
            OfflineExtractor::default().extract_sync(q, &overview(q), &[evidence("z", path)]);
        assert_eq!(texts(&claims), [path], "{claims:?}");
    }

    #[test]
    fn a_word_naming_the_kind_of_answer_does_not_find_its_namesakes() {
        let q = "When should I use WAL mode in SQLite and what are its limitations?";
        let wal = "WAL mode in SQLite does not work over a network filesystem.";
        let limits = "SQLite was originally designed with a policy of avoiding arbitrary limits.";
        let claims = OfflineExtractor::default().extract_sync(
            q,
            &overview(q),
            &[evidence("wal", wal), evidence("limits", limits)],
        );
        assert_eq!(texts(&claims), [wal], "{claims:?}");
    }

    #[test]
    fn with_the_verifier_a_sentence_sharing_only_words_is_not_taken() {
        let q = "How does PostgreSQL's autovacuum decide when to vacuum a table, and how do I tune it for a large, write-heavy table?";
        let on = "Autovacuum checks for tables that have had a large number of inserted, updated or deleted tuples.";
        let off = "PostgreSQL has a large object facility, which provides stream-style access to user data that is stored in a special large-object structure.";
        let ev = [evidence("a", on), evidence("b", off)];
        // Words alone take both: "large", "PostgreSQL".
        let lexical = OfflineExtractor::default().extract_sync(q, &overview(q), &ev);
        assert_eq!(texts(&lexical).len(), 2, "{lexical:?}");
        let claims = with_verifier().extract_sync(q, &overview(q), &ev);
        assert_eq!(texts(&claims), [on], "{claims:?}");
    }

    #[test]
    fn with_the_verifier_a_paraphrase_is_one_finding_and_a_negation_stays_apart() {
        let q = "Does SQLite WAL mode work over a network filesystem?";
        let said = "WAL does not work over a network filesystem.";
        let again = "WAL mode does not work over network filesystems.";
        let denied = "WAL mode works over a network filesystem.";
        let ev = [
            evidence("a", said),
            evidence("b", again),
            evidence("c", denied),
        ];
        let claims = with_verifier().extract_sync(q, &overview(q), &ev);
        assert_eq!(claims.len(), 2, "{claims:?}");
        let negated = claims.iter().find(|c| c.text.contains("not")).unwrap();
        assert_eq!(negated.citations.len(), 2, "{claims:?}");
        assert!(texts(&claims).contains(&denied), "{claims:?}");
    }

    #[test]
    fn a_followed_page_s_own_pronoun_names_its_subject() {
        let q = "What is the county seat of the county where East Lempster is located?";
        let plan = Plan {
            subject: Vec::new(),
            question: q.into(),
            sub_queries: vec![
                SubQuery {
                    id: 0,
                    angle: Angle::Question,
                    label: "Overview".into(),
                    query: q.into(),
                },
                SubQuery {
                    id: 1,
                    angle: Angle::FollowUp,
                    label: "Following: Sullivan County seat".into(),
                    query: "Sullivan County seat located".into(),
                },
            ],
        };
        let page = "Sullivan County is a county in New Hampshire. Its county seat is Newport.";
        let mut followed = evidence("Sullivan-County.md", page);
        followed.sub_query = 1;
        followed.hit.title = "Sullivan County, New Hampshire".into();
        // The same words on a page the round did not follow, or further down a page: "its"
        // could be anything there.
        let mut elsewhere = evidence("Other.md", "Its county seat is Newport, says the guide.");
        elsewhere.sub_query = 1;
        elsewhere.hit.title = "A travel guide".into();
        let mut later = followed.clone();
        later.hit.passage.ordinal = 3;
        later.hit.passage.doc_id = "Sullivan-later.md".into();
        later.hit.passage.text = "Its largest town is Claremont, the guide adds.".into();
        later.hit.passage.end = later.hit.passage.start + later.hit.passage.text.len();
        let claims =
            OfflineExtractor::default().extract_sync(q, &plan, &[followed, elsewhere, later]);
        let seat = claims
            .iter()
            .find(|c| c.text.contains("Newport"))
            .expect("the county seat is a claim");
        assert_eq!(
            seat.text,
            "Sullivan County, New Hampshire: Its county seat is Newport."
        );
        assert_eq!(seat.citations.len(), 1);
        assert_eq!(seat.citations[0].quote, "Its county seat is Newport.");
        assert_eq!(seat.citations[0].doc_id, "Sullivan-County.md");
        assert!(
            !claims.iter().any(|c| c.text.contains("Claremont")),
            "{claims:?}"
        );
    }

    #[test]
    fn a_list_item_is_cited_with_the_lead_in_of_its_list() {
        let q = "What should I know about WAL?";
        // As wal.html prints it, cut by a passage boundary inside the first list: the last
        // sentence of the lead-in's line leads the next passage's items in.
        let first = "There are advantages and disadvantages to using WAL instead of a rollback \
                     journal. Advantages include:\n\nWAL is significantly faster in most \
                     scenarios.";
        let second = "Disk I/O operations tends to be more sequential using WAL.\n\nBut there \
                      are also disadvantages:\n\nWAL does not work over a network filesystem.";
        let mut next = evidence("wal.html", second);
        next.hit.passage.ordinal = 1;
        let claims = OfflineExtractor::default().extract_sync(
            q,
            &overview_plan(q),
            &[evidence("wal.html", first), next],
        );
        let lead_in = |start: &str| {
            claims
                .iter()
                .find(|c| c.text.starts_with(start))
                .unwrap_or_else(|| panic!("{:?}", texts(&claims)))
                .citations[0]
                .lead_in
                .clone()
        };
        assert_eq!(lead_in("WAL is").as_deref(), Some("Advantages include:"));
        assert_eq!(lead_in("Disk I/O").as_deref(), Some("Advantages include:"));
        assert_eq!(
            lead_in("WAL does not work").as_deref(),
            Some("But there are also disadvantages:")
        );
        // The sentence announcing the list says nothing the items do not.
        assert!(
            !claims.iter().any(|c| c.text.starts_with("There are")),
            "{:?}",
            texts(&claims)
        );
    }
}
