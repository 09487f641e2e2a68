//! The answer a report opens with, composed extractively: for each part of the question, the
//! kept claims that speak to it most directly, best supported first; then the key facts
//! (numbers, defaults, versions, limits). No word is added to a claim: each sentence is a kept
//! claim's own text, so it never states more than its citations.

use super::planner::Sought;
use crate::artifact::{Answer, AnswerPart, Reviewed, Sentence};
use crate::text;
use crate::verifier::{cosine, Verifier};

/// Sentences a part's answer holds at most.
const PER_PART: usize = 3;
/// Cosine of sentence embeddings below which a claim is on another topic than a part of the
/// question (read off the three reports EVAL.md judges by hand: huge pages and large-object
/// privileges score 0.26 to 0.40 against autovacuum tuning, the answers 0.45 and above).
const ON_TOPIC: f32 = 0.45;
/// Key facts listed at most.
const KEY_FACTS: usize = 5;
/// Claims this alike (stem Jaccard) say the same thing: only the first is used.
const SAME: f32 = 0.6;
/// Words that mark a fact a reader looks for: a default, a limit, a version.
const FACT_WORDS: &[&str] = &[
    "default",
    "defaults",
    "maximum",
    "minimum",
    "limit",
    "limits",
    "version",
    "since",
    "percent",
    "threshold",
    "formula",
];

pub fn compose(question: &str, kept: &[Reviewed]) -> Answer {
    compose_with(question, kept, None)
}

/// As `compose`; with the verifier, each claim goes to the part closest to it in meaning, and a
/// part's sentences are ordered by that closeness as well as by its words.
pub fn compose_with(question: &str, kept: &[Reviewed], verifier: Option<&Verifier>) -> Answer {
    let ranking = rank(question, kept, verifier);
    let claims = &ranking.claims;
    let mut used: Vec<usize> = Vec::new();
    let mut out = Answer::default();
    for (part, ranked) in ranking.parts.iter().zip(&ranking.by_part) {
        let mut chosen = Vec::new();
        for &n in ranked {
            if chosen.len() == PER_PART {
                break;
            }
            if take(&mut used, claims, n) {
                chosen.push(claims[n].0);
            }
        }
        out.parts.push(AnswerPart {
            part: part.clone(),
            sentences: lines(&chosen),
        });
    }
    // Key facts are the answer's too: only claims that speak to a part of the question, the
    // most direct first, taking each part's in turn.
    let deepest = ranking.by_part.iter().map(Vec::len).max().unwrap_or(0);
    let facts: Vec<usize> = (0..deepest)
        .flat_map(|k| {
            ranking
                .by_part
                .iter()
                .filter_map(move |ranked| ranked.get(k))
        })
        .copied()
        .filter(|n| !used.contains(n))
        .filter(|&n| is_key_fact(&claims[n].0.claim.text))
        .collect();
    for n in facts {
        if out.key_facts.len() == KEY_FACTS {
            break;
        }
        if take(&mut used, claims, n) {
            out.key_facts.push(sentence(claims[n].0));
        }
    }
    out
}

/// The kept claims that may answer each part of the question, most direct first (a claim is
/// offered to one part only, and a paraphrase of one offered already is left out), at most `n`
/// per part: what a writer that composes its own prose chooses from.
pub fn candidates<'a>(
    question: &str,
    kept: &'a [Reviewed],
    n: usize,
) -> Vec<(String, Vec<&'a Reviewed>)> {
    let ranking = rank(question, kept, None);
    let mut used: Vec<usize> = Vec::new();
    ranking
        .parts
        .iter()
        .zip(&ranking.by_part)
        .map(|(part, ranked)| {
            let mut chosen = Vec::new();
            for &c in ranked {
                if chosen.len() == n {
                    break;
                }
                if take(&mut used, &ranking.claims, c) {
                    chosen.push(ranking.claims[c].0);
                }
            }
            (part.clone(), chosen)
        })
        .collect()
}

/// Every kept claim under the part of the question it answers, most direct first: the
/// findings' sections. Parts nothing answers are left out, and so are claims that answer no
/// part in particular: on the subject or not, they are no answer to this question, and the
/// report lists them apart with the rest it kept.
pub fn groups<'a>(
    question: &str,
    kept: &'a [Reviewed],
    verifier: Option<&Verifier>,
) -> Vec<(String, Vec<&'a Reviewed>)> {
    let ranking = rank(question, kept, verifier);
    ranking
        .parts
        .iter()
        .zip(&ranking.by_part)
        .filter(|(_, ranked)| !ranked.is_empty())
        .map(|(part, ranked)| {
            (
                heading(part),
                ranked.iter().map(|&n| ranking.claims[n].0).collect(),
            )
        })
        .collect()
}

/// A part as a heading: its first letter upper case, no closing question mark.
fn heading(part: &str) -> String {
    let part = part.trim().trim_end_matches('?').trim_end();
    let mut chars = part.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The question's parts, and for each the indices of the claims that answer it, best first.
struct Ranking<'a> {
    parts: Vec<String>,
    claims: Vec<(&'a Reviewed, Vec<String>)>,
    by_part: Vec<Vec<usize>>,
}

fn rank<'a>(question: &str, kept: &'a [Reviewed], verifier: Option<&Verifier>) -> Ranking<'a> {
    let parts = parts(question);
    // closeness[n][i]: claim n to part i, in meaning (empty without the verifier). A part that
    // says "it" is read with the question's first part, which names the subject.
    let closeness: Vec<Vec<f32>> = verifier
        .and_then(|v| {
            let mut texts: Vec<String> = parts
                .iter()
                .enumerate()
                .map(|(i, p)| match i {
                    0 => p.clone(),
                    _ => format!("{} {p}", parts[0]),
                })
                .collect();
            texts.extend(kept.iter().map(|r| r.claim.text.clone()));
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let emb = v.embed(&refs).ok()?;
            let (part_emb, claim_emb) = emb.split_at(parts.len());
            Some(
                claim_emb
                    .iter()
                    .map(|c| part_emb.iter().map(|p| cosine(p, c)).collect())
                    .collect(),
            )
        })
        .unwrap_or_default();
    let part_stems: Vec<Vec<String>> = parts.iter().map(|p| text::content_stems(p)).collect();
    // "When should I use WAL mode in SQLite and what are its limitations": "its" is WAL mode,
    // so the subject is every part's; what a part asks of it is its own.
    let refers_back = parts.iter().skip(1).any(|p| {
        text::tokens(p)
            .iter()
            .any(|t| super::planner::PRONOUNS.contains(&t.text.to_lowercase().as_str()))
    });
    let subject: Vec<String> = if refers_back {
        super::planner::subject_of(question)
            .iter()
            .flat_map(|w| text::content_stems(w))
            .collect()
    } else {
        Vec::new()
    };
    // The words sources use for the kind of answer a part asks for: "WAL is significantly
    // faster in most scenarios" answers "when should I use it" without its words.
    let sought: Vec<Option<Sought>> = parts.iter().map(|p| super::planner::sought(p)).collect();
    let (kinds, asking): (Vec<&[&str]>, Vec<&[&str]>) =
        sought.iter().map(|k| kind_words(*k)).unzip();
    let kinds: Vec<Vec<String>> = kinds
        .iter()
        .map(|k| k.iter().map(|w| text::stem(w)).collect())
        .collect();
    // The words that asked for the kind ("use" in "when should I use", "limitations") are
    // framing, not a topic: "SQLITE_DEFAULT_JOURNAL_SIZE_LIMIT" answers no limitation.
    let part_stems: Vec<Vec<String>> = part_stems
        .into_iter()
        .zip(&asking)
        .map(|(stems, asking)| {
            stems
                .into_iter()
                .filter(|s| !asking.iter().any(|a| s.starts_with(a)))
                .collect()
        })
        .collect();
    let claims: Vec<(&Reviewed, Vec<String>)> = kept
        .iter()
        .map(|r| (r, text::content_stems(&r.claim.text)))
        .collect();
    // "How do I tune it": a setting answers when it is the subject's setting. A claim about
    // `vacuum_freeze_min_age` (a VACUUM setting) does not say how to tune autovacuum, one
    // about `autovacuum_vacuum_scale_factor` does.
    let (anothers_setting, own_setting): (Vec<bool>, Vec<bool>) = kept
        .iter()
        .map(|r| {
            // The setting a reference entry describes is its heading's term; a sentence of
            // prose that names settings is about what it says, not about them.
            let entry = entry_heading(r)
                .and_then(text::entry_term)
                .map(str::to_lowercase);
            let subjects = |e: &String| subject.iter().any(|s| e.contains(s.as_str()));
            (
                !subject.is_empty() && entry.as_ref().is_some_and(|e| !subjects(e)),
                !subject.is_empty() && entry.as_ref().is_some_and(subjects),
            )
        })
        .unzip();
    // A list item says what kind of thing it is in its list's lead-in: after "But there are
    // also disadvantages:", "Transactions ... are not atomic across all databases" is one.
    let words: Vec<Vec<String>> = kept
        .iter()
        .map(|r| {
            let lead_in = r.claim.citations.first().and_then(|c| c.lead_in.as_deref());
            let mut words: Vec<String> = text::tokens(&r.claim.text)
                .iter()
                .chain(lead_in.map(text::tokens).iter().flatten())
                .map(|t| text::stem(t.text))
                .collect();
            if cautions(&r.claim.text) {
                words.push(text::stem("caveat"));
            }
            words
        })
        .collect();
    // Every stem a claim holds, the parts of its hyphenated words too ("per-table" speaks of
    // tables).
    let held: Vec<Vec<String>> = kept
        .iter()
        .map(|r| {
            text::tokens(&r.claim.text)
                .iter()
                .flat_map(|t| t.text.split('-'))
                .map(|w| text::stem(&w.to_lowercase()))
                .collect()
        })
        .collect();
    // A part's own words count fully; words several parts share (the subject) count less, so a
    // part is answered by what speaks to it, not by anything on the subject.
    let weight = |i: usize, stem: &String| {
        let shared = subject.contains(stem)
            || part_stems
                .iter()
                .enumerate()
                .any(|(j, other)| j != i && other.contains(stem));
        if shared {
            0.3
        } else {
            1.0
        }
    };
    // Each claim answers the part it speaks to most (of several parts, only one whose own
    // words it shares).
    // The extractor's score weighs the question's rarer words (the subject a part's "its"
    // stands for): it scales what a part's own words found.
    let top = claims
        .iter()
        .map(|(r, _)| r.claim.score)
        .fold(f32::MIN_POSITIVE, f32::max);
    let mut by_part: Vec<Vec<(f32, usize)>> = vec![Vec::new(); parts.len()];
    for (n, (r, stems)) in claims.iter().enumerate() {
        let on_subject = 0.5 + 0.5 * (r.claim.score / top).clamp(0.0, 1.0);
        let near = closeness.get(n);
        let candidates = (0..parts.len())
            // With the model, a part is answered only by what is on its topic at all: "large"
            // in "a large, write-heavy table" shares a word with large objects, not a meaning.
            // A question that asks one thing is its own topic: what is about its subject
            // answers it ("Heat above 35 degrees Celsius accelerates battery ageing", for how
            // batteries should be stored, is far from the question's wording, not its topic).
            .filter(|&i| parts.len() == 1 || near.is_none_or(|c| c[i] >= ON_TOPIC))
            .filter(|&i| {
                // A part asking for a kind of answer (a threshold, settings) is answered in
                // that kind's words; one word of its own is not enough ("vacuum" is in every
                // sentence about autovacuum, "large" in large objects).
                if sought[i] == Some(Sought::Settings) && anothers_setting[n] {
                    return false;
                }
                // Settings for a thing ("tune it for a large, write-heavy table") are those
                // that speak of it, in any of the part's words: a setting sentence about
                // transaction IDs tunes something else.
                let named: Vec<&String> = part_stems[i]
                    .iter()
                    .filter(|s| !subject.contains(s))
                    .collect();
                if sought[i] == Some(Sought::Settings)
                    && !named.is_empty()
                    && !named.iter().any(|s| held[n].contains(*s))
                {
                    return false;
                }
                let own = part_stems[i]
                    .iter()
                    .filter(|s| weight(i, s) == 1.0 && stems.contains(s))
                    .count();
                parts.len() == 1
                    || own >= if kinds[i].is_empty() { 1 } else { 2 }
                    || of_kind(&kinds[i], &words[n])
                    // In meaning, the part it is closest to.
                    || near.is_some_and(|c| c.iter().all(|&x| x <= c[i]))
            })
            .map(|i| {
                // The kind of answer counts as one more word of the part.
                let kind = if kinds[i].is_empty() { 0.0 } else { 1.0 };
                let total: f32 = part_stems[i].iter().map(|s| weight(i, s)).sum::<f32>() + kind;
                let own: f32 = part_stems[i]
                    .iter()
                    .filter(|s| stems.contains(s))
                    .map(|s| weight(i, s))
                    .sum::<f32>()
                    + if of_kind(&kinds[i], &words[n]) {
                        kind
                    } else {
                        0.0
                    };
                let words = own / total.max(1e-3) * on_subject;
                // Meaning counts half beside the words: every sentence on the subject is close
                // to every part in meaning, while the words tell "threshold" from "tune", and
                // benefits from drawbacks.
                let relevance = match near {
                    Some(c) => words + 0.5 * c[i],
                    None => words,
                };
                (relevance, i)
            })
            .collect::<Vec<(f32, usize)>>();
        // The subject's own setting ("autovacuum_vacuum_scale_factor (floating point): ...")
        // is how to tune it: it answers the part asking for settings before one asking when
        // or why, which prose answers ("vacuum threshold = vacuum base threshold + ...").
        let tuning = candidates
            .iter()
            .copied()
            .find(|&(_, i)| own_setting[n] && sought[i] == Some(Sought::Settings))
            // and before the part's prose, which only speaks of what the settings change.
            .map(|(relevance, i)| (relevance + 1.0, i));
        let best = tuning.or_else(|| {
            candidates
                .into_iter()
                .max_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)))
        });
        if let Some((relevance, i)) = best {
            by_part[i].push((relevance, n));
        }
    }
    let by_part = by_part
        .into_iter()
        .map(|mut ranked| {
            ranked.sort_by(|a, b| {
                let (ra, rb) = (claims[a.1].0, claims[b.1].0);
                b.0.total_cmp(&a.0)
                    .then(rb.verdict.support.cmp(&ra.verdict.support))
                    .then(rb.verdict.supporting_docs.cmp(&ra.verdict.supporting_docs))
                    .then(rb.claim.score.total_cmp(&ra.claim.score))
                    .then(a.1.cmp(&b.1))
            });
            ranked.into_iter().map(|(_, n)| n).collect()
        })
        .collect();
    Ranking {
        parts,
        claims,
        by_part,
    }
}

/// The parts a reader expects answered: split after `?` and `;`, and where a clause opens a new
/// question ("..., how do I tune it", "... and what are its limitations"). The whole question
/// when it asks one thing.
fn parts(question: &str) -> Vec<String> {
    let bare = |w: &str| {
        w.trim_matches(|c: char| !c.is_alphanumeric())
            .to_lowercase()
    };
    let opener = |w: &str| super::planner::OPENERS.contains(&bare(w).as_str());
    let joiner = |w: &str| matches!(bare(w).as_str(), "and" | "or" | "but");
    let mut out: Vec<String> = Vec::new();
    for sentence in question.split_inclusive(['?', ';']) {
        let words: Vec<&str> = sentence.split_whitespace().collect();
        let mut current: Vec<&str> = Vec::new();
        for (i, w) in words.iter().enumerate() {
            let after_comma = current.last().is_some_and(|p| p.ends_with(','));
            let next = words.get(i + 1).copied().unwrap_or("");
            let opens = (joiner(w) && opener(next)) || (after_comma && opener(w));
            let so_far = current.join(" ");
            // "In Python 3.11, how can ...": the leading phrase belongs to the question.
            if opens
                && text::content_stems(&so_far).len() >= 2
                && !super::planner::qualifier(&so_far)
            {
                out.push(current.join(" "));
                current.clear();
            }
            current.push(w);
        }
        out.push(current.join(" "));
    }
    let cleaned: Vec<String> = out
        .iter()
        .map(|p| {
            let p = p.trim().trim_end_matches([',', ';', '?']).trim();
            let p = ["and ", "or ", "but "]
                .iter()
                .find_map(|j| p.strip_prefix(j))
                .unwrap_or(p);
            text::squash_whitespace(p)
        })
        .filter(|p| !text::content_stems(p).is_empty())
        .collect();
    if cleaned.len() <= 1 {
        return vec![text::squash_whitespace(question)];
    }
    cleaned
}

/// The words a source answering a part of this kind uses (empty for other parts): benefits for
/// "when should I use", drawbacks for "limitations", settings for "how do I tune", conditions
/// for "decide when"; and the stems in the part that asked for that kind.
fn kind_words(sought: Option<Sought>) -> (&'static [&'static str], &'static [&'static str]) {
    match sought {
        Some(k @ Sought::Drawbacks) => (DRAWBACK_WORDS, k.asking()),
        Some(k @ Sought::Benefits) => (BENEFIT_WORDS, k.asking()),
        Some(k @ Sought::Settings) => (SETTING_WORDS, k.asking()),
        Some(k @ Sought::Threshold) => (CONDITION_WORDS, k.asking()),
        _ => (&[], &[]),
    }
}

const DRAWBACK_WORDS: &[&str] = &[
    "drawback",
    "disadvantage",
    "downside",
    "caveat",
    "restriction",
    "cannot",
    "unable",
    "fails",
    "slower",
    "requires",
    "must",
    "only",
    // What can go wrong is a limitation too.
    "corrupt",
    "corruption",
    "risk",
    "miss",
    "lose",
    "careful",
    "unsafe",
];
const BENEFIT_WORDS: &[&str] = &[
    "advantage",
    "benefit",
    "faster",
    "better",
    "improves",
    "recommended",
    "preferred",
    "efficient",
    "concurrency",
    "allows",
    "permits",
];
const SETTING_WORDS: &[&str] = &[
    "parameter",
    "setting",
    "configure",
    "adjust",
    "increase",
    "decrease",
    "lower",
    "raise",
    "default",
    "per-table",
    "storage",
];
const CONDITION_WORDS: &[&str] = &["threshold", "exceeds", "triggers", "whenever", "condition"];

/// "However, ... older versions of SQLite will not know how to recover ...": a sentence that
/// opens by turning against what came before and denies something is a caveat, whatever its
/// words.
fn cautions(claim: &str) -> bool {
    let tokens = text::tokens(claim);
    let lower = |i: usize| tokens.get(i).map(|t| t.text.to_lowercase());
    matches!(lower(0).as_deref(), Some("however" | "but"))
        && tokens
            .iter()
            .any(|t| text::is_negation(&t.text.to_lowercase()))
}

/// Whether a claim uses a word of a part's kind (`kind`: stemmed; `words`: the stems of all
/// its words, common ones included: "cannot" and "only" say what a limitation is).
fn of_kind(kind: &[String], words: &[String]) -> bool {
    kind.iter().any(|k| words.contains(k))
}

/// Use claim `n` unless it says what a used claim already says; whether it was taken.
fn take(used: &mut Vec<usize>, claims: &[(&Reviewed, Vec<String>)], n: usize) -> bool {
    if used
        .iter()
        .any(|&u| text::jaccard(&claims[u].1, &claims[n].1) >= SAME)
    {
        return false;
    }
    used.push(n);
    true
}

/// A kept claim as a sentence of the report: its words under its entry's name, if any
/// (`text::under_entry`).
pub(super) fn sentence(r: &Reviewed) -> Sentence {
    Sentence {
        text: text::under_entry(&r.claim.text, entry_heading(r)),
        claim_ids: vec![r.claim.id.clone()],
    }
}

/// Words a version note is made of ("New in version 3.8", "Changed in version 3.11"): what an
/// entry says of when, not what.
const VERSION_NOTE: &[&str] = &["new", "version", "chang", "ad", "deprec"];
/// Words two claims must share in one run for one to restate the other.
const RESTATED_RUN: usize = 6;

/// A section's claims as the report's lines, in the section's order, so that no finding is
/// said twice. A claim that continues another of the section's claims in its passage joins
/// that claim's line, in the source's order (a list item's second sentence restates its first:
/// "WAL provides more concurrency as readers do not block writers ... Reading and writing can
/// proceed concurrently."). A claim whose words are another's but for its entry's name and a
/// version note (two opcodes' shared "Changed in version 3.11" note) is cited on that claim's
/// line rather than printed again; its own quote stays in the sources.
pub(super) fn lines(claims: &[&Reviewed]) -> Vec<Sentence> {
    struct Line<'a> {
        said: Vec<&'a Reviewed>,
        cited: Vec<&'a Reviewed>,
    }
    let mut out: Vec<Line> = Vec::new();
    for &r in claims {
        if let Some(line) = out
            .iter_mut()
            .find(|l| l.said.iter().any(|&o| continues(o, r) || continues(r, o)))
        {
            line.said.push(r);
            line.said
                .sort_by_key(|o| o.claim.citations.first().map_or(0, |c| c.start));
        } else if let Some(line) = out
            .iter_mut()
            .find(|l| l.said.iter().any(|&o| restates(r, o)))
        {
            line.cited.push(r);
        } else {
            out.push(Line {
                said: vec![r],
                cited: Vec::new(),
            });
        }
    }
    out.into_iter()
        .map(|l| {
            let mut text = sentence(l.said[0]).text;
            for r in &l.said[1..] {
                text.push(' ');
                text.push_str(&r.claim.text);
            }
            Sentence {
                text,
                claim_ids: l
                    .said
                    .iter()
                    .chain(&l.cited)
                    .map(|r| r.claim.id.clone())
                    .collect(),
            }
        })
        .collect()
}

/// `b`'s quote follows `a`'s in the same paragraph or list item: one space between. (Extracted
/// text parts paragraphs and list items with a blank line, so two sentences one byte apart sit
/// in one of them; two items of a list stay two findings.)
fn continues(a: &Reviewed, b: &Reviewed) -> bool {
    let (Some(ca), Some(cb)) = (a.claim.citations.first(), b.claim.citations.first()) else {
        return false;
    };
    ca.doc_id == cb.doc_id && ca.passage == cb.passage && cb.start == ca.end + 1
}

/// `b` says `a`'s words (a run of at least `RESTATED_RUN`) and nothing more than its entry's
/// name, numbers and a version note.
fn restates(b: &Reviewed, a: &Reviewed) -> bool {
    let words = |t: &str| -> Vec<String> {
        text::tokens(t)
            .iter()
            .map(|t| t.text.to_lowercase())
            .collect()
    };
    let (wb, wa) = (words(&b.claim.text), words(&a.claim.text));
    // The longest run of words `b` shares with `a`, as (start in b, length).
    let mut best = (0, 0);
    for i in 0..wb.len() {
        for j in 0..wa.len() {
            let n = wb[i..]
                .iter()
                .zip(&wa[j..])
                .take_while(|(x, y)| x == y)
                .count();
            if n > best.1 {
                best = (i, n);
            }
        }
    }
    if best.1 < RESTATED_RUN {
        return false;
    }
    let term = entry_heading(b)
        .and_then(text::entry_term)
        .map(str::to_lowercase);
    wb[..best.0]
        .iter()
        .chain(&wb[best.0 + best.1..])
        .filter(|w| Some(w.as_str()) != term.as_deref())
        .filter(|w| !text::is_stopword(w) && !w.chars().any(|c| c.is_ascii_digit()))
        .all(|w| VERSION_NOTE.contains(&text::stem(w).as_str()))
}

/// The heading a claim's first citation is quoted under.
fn entry_heading(r: &Reviewed) -> Option<&str> {
    r.claim
        .citations
        .first()
        .and_then(|c| c.heading_path.last())
        .map(String::as_str)
}

/// A number, or a word that marks a default, a limit or a version.
fn is_key_fact(claim: &str) -> bool {
    text::tokens(claim).iter().any(|t| {
        t.text.chars().any(|c| c.is_ascii_digit())
            || FACT_WORDS.contains(&t.text.to_lowercase().as_str())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::{Claim, Status, Verdict};

    fn kept(id: &str, text: &str, support: usize) -> Reviewed {
        Reviewed {
            claim: Claim {
                id: id.into(),
                text: text.into(),
                sub_query: 0,
                score: 1.0,
                citations: Vec::new(),
            },
            votes: Vec::new(),
            verdict: Verdict {
                claim_id: id.into(),
                status: Status::Kept,
                support,
                refute: 0,
                abstain: 0,
                errors: 0,
                supporting_docs: 1,
                reason: String::new(),
            },
        }
    }

    fn under(heading: &str, mut r: Reviewed) -> Reviewed {
        r.claim.citations.push(crate::artifact::Citation {
            doc_id: "d".into(),
            location: "d".into(),
            title: "t".into(),
            doc_hash: "h".into(),
            start: 0,
            end: r.claim.text.len(),
            quote: r.claim.text.clone(),
            heading_path: vec!["Built-in Exceptions".into(), heading.into()],
            passage: 0,
            page: None,
            fetched: None,
            lead_in: None,
        });
        r
    }

    #[test]
    fn a_reference_entry_is_said_under_its_name() {
        let note = "Add the string note to the exception's notes which appear in the standard \
                    traceback after the exception string.";
        let said = sentence(&under("add_note(note)", kept("c1", note, 5)));
        assert_eq!(said.text, format!("add_note(note): {note}"));
        // A signature too long to read as a label gives its name alone.
        let long =
            "traceback.print_exception(exc, /, [value, tb, ]limit=None, file=None, chain=True)";
        let said = sentence(&under(long, kept("c1", "Print exception information.", 5)));
        assert_eq!(
            said.text,
            "traceback.print_exception: Print exception information."
        );
        // A claim naming its entry already, or under an ordinary heading, is said as written.
        let own = "The add_note() method is added to BaseException.";
        assert_eq!(
            sentence(&under("add_note(note)", kept("c1", own, 5))).text,
            own
        );
        let plain = "Exceptions can be enriched with notes.";
        let said = sentence(&under(
            "8.10. Enriching Exceptions with Notes",
            kept("c1", plain, 5),
        ));
        assert_eq!(said.text, plain);
        let busy = "Writers do not block readers.";
        let said = sentence(&under(
            "9. Sometimes Queries Return SQLITE_BUSY In WAL Mode",
            kept("c1", busy, 5),
        ));
        assert_eq!(said.text, busy);
    }

    #[test]
    fn a_part_is_answered_by_what_it_asks_of_the_subject_not_by_the_subject_s_name() {
        // "its" is WAL mode: naming WAL mode answers neither part; what a benefit or a drawback
        // is made of does, without the words "use" or "limitations".
        let claims = [
            kept("c1", "The persistence of WAL mode means that applications can use SQLite in WAL mode unchanged.", 5),
            kept("c2", "WAL is significantly faster in most scenarios.", 5),
            kept("c3", "All processes must be on the same host; WAL does not work over a network filesystem.", 5),
            kept("c4", "SQLITE_DEFAULT_JOURNAL_SIZE_LIMIT sets the size limit of the WAL file.", 5),
        ];
        let a = compose(WAL_QUESTION, &claims);
        assert_eq!(
            texts(&a.parts[0].sentences),
            [claims[1].claim.text.as_str()],
            "{a:?}"
        );
        assert_eq!(
            texts(&a.parts[1].sentences),
            [claims[2].claim.text.as_str()],
            "{a:?}"
        );
        let found = groups(WAL_QUESTION, &claims, None);
        assert_eq!(unplaced(&found, &claims), ["c1", "c4"], "{found:?}");
    }

    #[test]
    fn a_part_asking_for_a_kind_of_answer_is_not_answered_by_one_shared_word() {
        let q = AUTOVACUUM_QUESTION;
        let claims = [
            kept(
                "c1",
                "A table is vacuumed when its dead tuples exceed the vacuum threshold.",
                5,
            ),
            kept(
                "c2",
                "Lower the scale factor of a big table with its storage parameters.",
                5,
            ),
            // "vacuum" and "large" alone: on the subject, answering neither part.
            kept(
                "c3",
                "VACUUM FULL rewrites the whole table into a new disk file.",
                5,
            ),
            kept(
                "c4",
                "PostgreSQL has a large object facility for stream-style access.",
                5,
            ),
        ];
        let found = groups(q, &claims, None);
        assert_eq!(ids_under(&found, "How does"), ["c1"], "{found:?}");
        assert_eq!(ids_under(&found, "How do I tune"), ["c2"], "{found:?}");
        assert_eq!(unplaced(&found, &claims), ["c3", "c4"], "{found:?}");
    }

    #[test]
    fn how_to_tune_the_subject_is_answered_by_the_subject_s_settings() {
        let q = AUTOVACUUM_QUESTION;
        let claims = [
            under(
                "autovacuum_vacuum_scale_factor (floating point)",
                kept("c1", "The default is 0.2; it can be overridden per table with storage parameters.", 5),
            ),
            // A VACUUM setting's entry, naming autovacuum's in passing.
            under(
                "vacuum_freeze_min_age (integer)",
                kept("c2", "The default is 50 million; the effective value is limited by autovacuum_freeze_max_age.", 5),
            ),
        ];
        let found = groups(q, &claims, None);
        assert_eq!(ids_under(&found, "How do I tune"), ["c1"], "{found:?}");
    }

    #[test]
    fn the_subject_s_own_setting_answers_how_to_tune_it_before_prose_does() {
        let q = AUTOVACUUM_QUESTION;
        let claims = [
            // Prose on deciding, with the part's "large" and "tables" in another sense.
            kept(
                "prose",
                "When enabled, autovacuum checks for tables that have had a large number of \
                 inserted, updated or deleted tuples.",
                5,
            ),
            kept(
                "formula",
                "vacuum threshold = vacuum base threshold + vacuum scale factor * number of \
                 tuples",
                5,
            ),
            // The setting speaks of deciding too ("when deciding whether to trigger a
            // VACUUM"), but it is what one tunes.
            under(
                "autovacuum_vacuum_scale_factor (floating point)",
                kept(
                    "setting",
                    "Specifies a fraction of the table size to add to autovacuum_vacuum_threshold \
                     when deciding whether to trigger a VACUUM. The setting can be overridden for \
                     individual tables by changing table storage parameters.",
                    5,
                ),
            ),
        ];
        let found = groups(q, &claims, None);
        let tune = ids_under(&found, "How do I tune");
        assert_eq!(tune.first(), Some(&"setting"), "{found:?}");
        assert!(
            ids_under(&found, "How does").contains(&"formula"),
            "{found:?}"
        );
        let answer = compose(q, &claims);
        assert_eq!(
            answer.parts[1].sentences[0].claim_ids,
            ["setting"],
            "{answer:?}"
        );
    }

    const AUTOVACUUM_QUESTION: &str = "How does PostgreSQL's autovacuum decide when to vacuum a \
                                       table, and how do I tune it for a large, write-heavy table?";

    /// The ids of the claims no part's section holds, in the order given.
    fn unplaced<'a>(found: &[(String, Vec<&Reviewed>)], claims: &'a [Reviewed]) -> Vec<&'a str> {
        claims
            .iter()
            .map(|r| r.claim.id.as_str())
            .filter(|id| {
                !found
                    .iter()
                    .any(|(_, rs)| rs.iter().any(|r| r.claim.id == *id))
            })
            .collect()
    }

    /// The ids of the claims under the findings' section whose heading starts with `heading`.
    fn ids_under<'a>(found: &[(String, Vec<&'a Reviewed>)], heading: &str) -> Vec<&'a str> {
        found
            .iter()
            .find(|(h, _)| h.starts_with(heading))
            .map(|(_, rs)| rs.iter().map(|r| r.claim.id.as_str()).collect())
            .unwrap_or_default()
    }

    const WAL_QUESTION: &str = "When should I use WAL mode in SQLite and what are its limitations?";

    fn texts(s: &[Sentence]) -> Vec<&str> {
        s.iter().map(|s| s.text.as_str()).collect()
    }

    #[test]
    fn each_part_is_answered_by_the_claims_that_speak_to_it() {
        let claims = [
            kept("c1", "WAL mode is faster in most scenarios because readers do not block writers.", 5),
            kept("c2", "WAL does not work over a network filesystem.", 4),
            kept("c3", "All processes using a database must be on the same host computer; WAL has this limitation.", 5),
            kept("c4", "The default page size is 4096 bytes.", 3),
            kept("c5", "WAL mode is faster in most scenarios since readers do not block writers at all.", 3),
            kept("c6", "Use WAL mode for concurrent access by many readers.", 5),
            kept("c7", "By default a WAL checkpoint runs when the WAL file reaches 1000 pages.", 2),
            kept("c8", "WAL allows better concurrency.", 4),
            kept("c9", "With WAL, reads are 10 percent faster.", 2),
        ];
        let a = compose(WAL_QUESTION, &claims);
        assert_eq!(a.parts.len(), 2, "{a:?}");
        assert!(a.parts[0].part.starts_with("When should I use WAL mode"));
        assert_eq!(texts(&a.parts[0].sentences)[0], claims[0].claim.text);
        assert!(texts(&a.parts[0].sentences).contains(&claims[5].claim.text.as_str()));
        // The paraphrase of a sentence already used is not said twice.
        assert!(!texts(&a.parts[0].sentences).contains(&claims[4].claim.text.as_str()));
        assert!(
            texts(&a.parts[1].sentences).contains(&claims[2].claim.text.as_str()),
            "{a:?}"
        );
        // A number that answers a part, past the part's sentences, is a key fact; a default that
        // answers no part ("1000 pages" of checkpointing: neither a benefit nor a drawback) is not.
        assert_eq!(
            texts(&a.key_facts),
            [claims[8].claim.text.as_str()],
            "{a:?}"
        );
        // No sentence rests on anything but one kept claim of its own words.
        for s in a
            .parts
            .iter()
            .flat_map(|p| &p.sentences)
            .chain(&a.key_facts)
        {
            let c = claims
                .iter()
                .find(|c| c.claim.id == s.claim_ids[0])
                .unwrap();
            assert_eq!(c.claim.text, s.text);
        }
    }

    #[test]
    fn with_the_model_a_shared_word_on_another_topic_answers_no_part() {
        let v = crate::verifier::Verifier::shared()
            .unwrap_or_else(|e| panic!("this test needs the installed verifier: {e}"));
        let claims = [
            kept("c1", "Specifies a fraction of the table size to add to autovacuum_vacuum_threshold when deciding whether to trigger a VACUUM.", 5),
            kept("c2", "lo_open will fail if SELECT privilege is not available for the large object.", 5),
        ];
        let q = AUTOVACUUM_QUESTION;
        let groups = groups(q, &claims, Some(&v));
        assert_eq!(unplaced(&groups, &claims), ["c2"], "{groups:?}");
    }

    #[test]
    fn findings_are_grouped_by_the_part_they_answer() {
        let claims = [
            kept(
                "c1",
                "WAL mode is faster in most scenarios because readers do not block writers.",
                5,
            ),
            kept(
                "c2",
                "WAL has limitations: all processes must be on the same host computer.",
                4,
            ),
            kept("c3", "The default page size is 4096 bytes.", 3),
        ];
        let g = groups(WAL_QUESTION, &claims, None);
        let headings: Vec<&str> = g.iter().map(|(h, _)| h.as_str()).collect();
        assert_eq!(
            headings,
            [
                "When should I use WAL mode in SQLite",
                "What are its limitations"
            ]
        );
        let ids: Vec<Vec<&str>> = g
            .iter()
            .map(|(_, c)| c.iter().map(|r| r.claim.id.as_str()).collect())
            .collect();
        assert_eq!(ids, [vec!["c1"], vec!["c2"]]);
        // The page size answers neither part: the report lists it with the rest it kept.
        assert_eq!(unplaced(&g, &claims), ["c3"]);
    }

    #[test]
    fn a_question_is_split_where_it_asks_another_thing() {
        assert_eq!(
            parts(WAL_QUESTION),
            [
                "When should I use WAL mode in SQLite",
                "what are its limitations"
            ]
        );
        assert_eq!(
            parts("How does autovacuum decide when to vacuum a table, and how do I tune it?"),
            [
                "How does autovacuum decide when to vacuum a table",
                "how do I tune it"
            ]
        );
        // "and" between two nouns is not a new question.
        assert_eq!(
            parts("How should batteries be charged and stored?"),
            ["How should batteries be charged and stored?"]
        );
        // A leading phrase that sets the scene is no part of its own.
        assert_eq!(
            parts("In Python 3.11, how can I attach a note to an exception, and where is it kept?"),
            [
                "In Python 3.11, how can I attach a note to an exception",
                "where is it kept"
            ]
        );
    }

    #[test]
    fn a_part_the_sources_do_not_answer_is_left_empty() {
        let claims = [kept(
            "c1",
            "Autovacuum workers reclaim dead tuples in tables.",
            5,
        )];
        let a = compose(
            "How does autovacuum reclaim space, and which extensions ship with the server?",
            &claims,
        );
        assert_eq!(a.parts.len(), 2, "{a:?}");
        assert_eq!(a.parts[0].sentences.len(), 1);
        assert!(a.parts[1].sentences.is_empty(), "{a:?}");
        assert!(compose("Anything?", &[]).parts[0].sentences.is_empty());
    }

    #[test]
    fn a_list_item_answers_the_part_its_lead_in_names() {
        // Neither item says "faster" or "cannot": their list's lead-in says what they are.
        let item = |id: &str, text: &str, lead_in: &str| {
            let mut r = under("1. Overview", kept(id, text, 5));
            r.claim.citations[0].lead_in = Some(lead_in.into());
            r
        };
        let claims = [
            item(
                "c1",
                "Disk I/O operations tends to be more sequential using WAL.",
                "Advantages include:",
            ),
            item(
                "c2",
                "Transactions that involve changes against multiple ATTACHed databases are atomic \
                 for each individual database, but are not atomic across all databases as a set.",
                "But there are also disadvantages:",
            ),
        ];
        let found = groups(WAL_QUESTION, &claims, None);
        assert_eq!(ids_under(&found, "When should I use"), ["c1"], "{found:?}");
        assert_eq!(
            ids_under(&found, "What are its limitations"),
            ["c2"],
            "{found:?}"
        );
    }

    #[test]
    fn a_caveat_answers_the_limitations_without_their_words() {
        let claims = [
            // Turns against what came before and denies: a caveat.
            kept(
                "c1",
                "However, older versions of SQLite will not know how to recover a crashed \
                 database that was operating in WAL mode.",
                5,
            ),
            // What can go wrong is a limitation.
            kept(
                "c2",
                "Switching in and out of WAL mode can cause another process to miss the fact \
                 that the database has changed.",
                5,
            ),
            // A denial alone is no caveat; neither is "However" alone.
            kept(
                "c3",
                "In WAL mode, changes are not written to the original database file.",
                5,
            ),
            kept(
                "c4",
                "However, the WAL file is kept beside the database file.",
                5,
            ),
        ];
        let found = groups(WAL_QUESTION, &claims, None);
        assert_eq!(
            ids_under(&found, "What are its limitations"),
            ["c1", "c2"],
            "{found:?}"
        );
        assert_eq!(unplaced(&found, &claims), ["c3", "c4"], "{found:?}");
    }

    #[test]
    fn settings_for_a_table_are_those_that_speak_of_tables() {
        let claims = [
            kept(
                "c1",
                "Per-table storage parameters override the autovacuum defaults for one table.",
                5,
            ),
            // The subject's setting, but it tunes transaction IDs, not a table.
            kept(
                "c2",
                "Increasing autovacuum_freeze_max_age makes anti-wraparound autovacuums rarer.",
                5,
            ),
        ];
        let found = groups(AUTOVACUUM_QUESTION, &claims, None);
        assert_eq!(ids_under(&found, "How do I tune"), ["c1"], "{found:?}");
        assert_eq!(unplaced(&found, &claims), ["c2"], "{found:?}");
    }

    /// `r` quoted from `doc`'s passage `passage` at byte `start`, under `heading`.
    fn at(doc: &str, passage: u32, start: usize, heading: &str, mut r: Reviewed) -> Reviewed {
        r = under(heading, r);
        let c = &mut r.claim.citations[0];
        c.doc_id = doc.into();
        c.passage = passage;
        c.start = start;
        c.end = start + r.claim.text.len();
        r
    }

    #[test]
    fn a_sentence_that_continues_another_in_its_list_item_is_one_finding_with_it() {
        let (a, b, c) = (
            "WAL provides more concurrency as readers do not block writers and a writer does \
             not block readers.",
            "Reading and writing can proceed concurrently.",
            "Disk I/O operations tends to be more sequential using WAL.",
        );
        let overview = "1. Overview";
        // b follows a after one space, in one list item; c is the next item, a blank line on.
        let claims = [
            at("wal", 2, a.len() + 1, overview, kept("b", b, 5)),
            at("wal", 2, 0, overview, kept("a", a, 5)),
            at("wal", 2, 2 * a.len() + 3, overview, kept("c", c, 5)),
        ];
        let refs: Vec<&Reviewed> = claims.iter().collect();
        let said = lines(&refs);
        assert_eq!(texts(&said), [format!("{a} {b}").as_str(), c], "{said:?}");
        assert_eq!(said[0].claim_ids, ["a", "b"]);
        // The same sentences from two pages are two findings.
        let apart = [
            at("wal", 2, 0, overview, kept("a", a, 5)),
            at("other", 2, a.len() + 1, overview, kept("b", b, 5)),
        ];
        let refs: Vec<&Reviewed> = apart.iter().collect();
        assert_eq!(lines(&refs).len(), 2);
    }

    #[test]
    fn an_entry_that_says_only_another_entry_s_note_is_cited_on_its_line() {
        let note = "Changed in version 3.11: Exception representation on the stack now consist \
                    of one, not three, items.";
        let pop = format!(
            "Pops a value from the stack, which is used to restore the exception state. {note}"
        );
        let end = format!("New in version 3.8: {note}");
        let claims = [
            at("dis", 1, 0, "POP_EXCEPT", kept("pop", &pop, 5)),
            at("dis", 9, 0, "END_ASYNC_FOR", kept("end", &end, 5)),
        ];
        let refs: Vec<&Reviewed> = claims.iter().collect();
        let said = lines(&refs);
        assert_eq!(texts(&said), [format!("POP_EXCEPT: {pop}").as_str()]);
        assert_eq!(said[0].claim_ids, ["pop", "end"]);
        // Two settings that share a closing sentence say different things: both are findings.
        let only = "This parameter can only be set in the postgresql.conf file or on the server \
                    command line.";
        let vacuum = format!(
            "Specifies the minimum number of updated or deleted tuples needed to trigger a \
             VACUUM in any one table. {only}"
        );
        let analyze = format!(
            "Specifies the minimum number of inserted, updated or deleted tuples needed to \
             trigger an ANALYZE in any one table. {only}"
        );
        let settings = [
            at(
                "cfg",
                1,
                0,
                "autovacuum_vacuum_threshold (integer)",
                kept("v", &vacuum, 5),
            ),
            at(
                "cfg",
                2,
                0,
                "autovacuum_analyze_threshold (integer)",
                kept("a", &analyze, 5),
            ),
        ];
        let refs: Vec<&Reviewed> = settings.iter().collect();
        assert_eq!(lines(&refs).len(), 2);
    }
}
