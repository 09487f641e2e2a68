//! What a later round searches, by rule, from what the earlier rounds kept and split on:
//! parts of the question no kept claim answers (gaps), names and terms a kept claim introduced
//! that the question does not name (bridges: the second hop of a multi-hop question), and claims
//! the panel split on (disputes). Every engine's planner can use these rules; a model-backed one
//! may propose its own.

use super::planner::key_terms;
use crate::artifact::{Angle, FollowUp, Lead, Plan, Reviewed, Status};
use crate::text;
use crate::text::names;
use std::collections::HashSet;

/// Follow-up searches for the next round, at most `breadth`, none already `asked`. Leads of
/// each kind take turns (a gap, a bridge, a dispute, then the next of each), so one kind cannot
/// crowd out the others.
pub fn follow_ups(
    plan: &Plan,
    reviewed: &[Reviewed],
    asked: &[String],
    breadth: usize,
) -> Vec<FollowUp> {
    let mut seen: HashSet<String> = asked.iter().map(|q| normalise(q)).collect();
    let kinds = [
        gaps(plan, reviewed, &seen),
        bridges(&plan.question, reviewed),
        disputes(reviewed),
    ];
    let mut out = Vec::new();
    let longest = kinds.iter().map(Vec::len).max().unwrap_or(0);
    for i in 0..longest {
        for kind in &kinds {
            if out.len() >= breadth {
                return out;
            }
            if let Some(f) = kind.get(i) {
                if !f.query.trim().is_empty() && seen.insert(normalise(&f.query)) {
                    out.push(f.clone());
                }
            }
        }
    }
    out
}

fn normalise(query: &str) -> String {
    let mut stems = text::content_stems(query);
    stems.sort();
    stems.dedup();
    stems.join(" ")
}

/// The parts of the question as planned: its parts when it asks several things, else itself.
fn parts(plan: &Plan) -> Vec<&str> {
    let parts: Vec<&str> = plan
        .sub_queries
        .iter()
        .filter(|s| s.angle == Angle::Part)
        .map(|s| s.query.as_str())
        .collect();
    if parts.is_empty() {
        vec![plan.question.as_str()]
    } else {
        parts
    }
}

/// A part no kept claim answers: searched again by its key terms alone, which the question's
/// own wording (and the first round) may have buried.
fn gaps(plan: &Plan, reviewed: &[Reviewed], asked: &HashSet<String>) -> Vec<FollowUp> {
    let kept: Vec<&Reviewed> = reviewed
        .iter()
        .filter(|r| r.verdict.status == Status::Kept)
        .collect();
    let mut out = Vec::new();
    for part in parts(plan) {
        let wanted = text::content_stems(part);
        // Answered when a kept claim holds the part's most specific term (an identifier, a
        // number, a name) and half of its words: a claim found by the part's own search, or
        // one sharing a common word ("hail" in "hailstorm"), may be about something else.
        let terms = key_terms(part);
        let specific = terms
            .first()
            .map(|t| text::content_stems(t))
            .unwrap_or_default();
        let answered = kept.iter().any(|r| {
            let have: HashSet<String> = text::content_stems(&r.claim.text).into_iter().collect();
            let shared = wanted.iter().filter(|w| have.contains(*w)).count();
            !wanted.is_empty()
                && shared * 2 >= wanted.len()
                && specific.iter().all(|s| have.contains(s))
        });
        if answered {
            continue;
        }
        // Its key terms; when that is what was already searched, fewer of them (the rarest
        // kind first: identifiers, numbers, names), which ranks the page about them first.
        let Some(query) = [5, 2, 1]
            .iter()
            .map(|n| terms.iter().take(*n).cloned().collect::<Vec<_>>().join(" "))
            .find(|q| !q.is_empty() && !asked.contains(&normalise(q)))
        else {
            continue;
        };
        out.push(FollowUp {
            lead: Lead::Gap,
            query,
            reason: format!("no kept claim answers \"{part}\""),
            claim_id: None,
        });
    }
    out
}

/// Names and identifiers kept claims introduce and the question does not name, those of the
/// most relevant claims first; each searched with the question's words its claim does not already hold (what the
/// question still asks about it).
fn bridges(question: &str, reviewed: &[Reviewed]) -> Vec<FollowUp> {
    let asked: HashSet<String> = text::content_stems(question).into_iter().collect();
    let question_terms = key_terms(question);
    let framed = super::planner::framing(question);
    let mut kept: Vec<&Reviewed> = reviewed
        .iter()
        .filter(|r| r.verdict.status == Status::Kept)
        .collect();
    // Claims that answer a part of the question first: the names they bring are what the
    // question leads to (the settings a formula is made of), not what a claim on the side names.
    let answering: HashSet<String> = {
        let owned: Vec<Reviewed> = kept.iter().map(|r| (*r).clone()).collect();
        super::answer::groups(question, &owned, None)
            .into_iter()
            .flat_map(|(_, rs)| rs.into_iter().map(|r| r.claim.id.clone()))
            .collect()
    };
    kept.sort_by(|a, b| {
        answering
            .contains(&b.claim.id)
            .cmp(&answering.contains(&a.claim.id))
            .then(b.claim.score.total_cmp(&a.claim.score))
            .then_with(|| a.claim.id.cmp(&b.claim.id))
    });
    // Names of the most relevant claims first; in a claim, names of several words (a person, a
    // title) before single capitalised words, which are often only adjectives ("American").
    let mut found: Vec<(bool, usize, String, &Reviewed)> = Vec::new();
    for (rank, r) in kept.iter().enumerate() {
        // The identifier a reference page's entry describes ("add_note(note)" heading "Add
        // the string note to the exception's notes") is named by the claim through its term.
        let defined = r
            .claim
            .citations
            .iter()
            .filter_map(|c| c.heading_path.last())
            .flat_map(|h| names(h))
            .filter(|n| n.contains('_'));
        for term in names(&r.claim.text).into_iter().chain(defined) {
            let stems = text::content_stems(&term);
            if stems.is_empty() || stems.iter().all(|s| asked.contains(s)) {
                continue;
            }
            if found.iter().any(|(_, _, t, _)| same_name(t, &term)) {
                continue;
            }
            let single = !term.contains(' ') && !term.contains('_');
            if is_date(&term) || (single && is_demonym(&term)) {
                continue;
            }
            found.push((single, rank, term, r));
        }
    }
    found.sort_by_key(|(single, rank, _, _)| (*rank, *single));
    found
        .into_iter()
        .map(|(_, _, term, r)| {
            let have: HashSet<String> = text::content_stems(&r.claim.text).into_iter().collect();
            // "limitations" or "tune" names the kind of answer, not a word to search: beside a
            // name it finds pages on limits.
            let still_asked: Vec<&str> = question_terms
                .iter()
                .filter(|w| !text::content_stems(w).iter().all(|s| framed.contains(s)))
                .filter(|w| {
                    text::content_stems(w)
                        .iter()
                        .all(|s| !have.contains(s) && !term.to_lowercase().contains(s.as_str()))
                })
                .map(String::as_str)
                // An identifier names one entry of the sources: the question's other words
                // beside it find their namesakes ("large" finds large objects) instead.
                .take(if term.contains('_') { 0 } else { 4 })
                .collect();
            FollowUp {
                lead: Lead::Bridge,
                query: format!("{term} {}", still_asked.join(" "))
                    .trim()
                    .to_string(),
                reason: format!(
                    "\"{term}\" comes up in a kept claim and the question does not name it"
                ),
                claim_id: Some(r.claim.id.clone()),
            }
        })
        .collect()
}

/// Two spellings of one name: the same letters, or one the other's plural ("VFS", "VFSes"),
/// which a stemmer reads as two words.
fn same_name(a: &str, b: &str) -> bool {
    let (a, b) = (a.to_lowercase(), b.to_lowercase());
    let plural = |one: &str, many: &str| {
        many.strip_prefix(one)
            .is_some_and(|end| end == "s" || end == "es")
    };
    a == b || plural(&a, &b) || plural(&b, &a)
}

const MONTHS: &[&str] = &[
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// "February 12", "March 1974": a date names no thing to look up.
fn is_date(name: &str) -> bool {
    name.split_whitespace().all(|w| {
        MONTHS.contains(&w.to_lowercase().as_str()) || w.chars().all(|c| c.is_ascii_digit())
    })
}

/// "Canadian", "Danish", "Japanese": a single word of nationality describes, it names nothing.
fn is_demonym(word: &str) -> bool {
    let w = word.to_lowercase();
    ["ian", "ish", "ese", "can"]
        .iter()
        .any(|end| w.len() > 5 && w.ends_with(end))
}

/// Claims the panel split on: their key terms, to find passages that settle them.
fn disputes(reviewed: &[Reviewed]) -> Vec<FollowUp> {
    reviewed
        .iter()
        .filter(|r| r.verdict.status == Status::Disputed)
        .map(|r| FollowUp {
            lead: Lead::Dispute,
            query: key_terms(&r.claim.text)
                .into_iter()
                .take(6)
                .collect::<Vec<_>>()
                .join(" "),
            reason: format!(
                "the panel split {}-{} on \"{}\"",
                r.verdict.support, r.verdict.refute, r.claim.text
            ),
            claim_id: Some(r.claim.id.clone()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::{Claim, SubQuery, Verdict};

    fn reviewed(id: &str, text: &str, sub_query: usize, status: Status) -> Reviewed {
        Reviewed {
            claim: Claim {
                id: id.into(),
                text: text.into(),
                sub_query,
                score: 1.0,
                citations: Vec::new(),
            },
            votes: Vec::new(),
            verdict: Verdict {
                claim_id: id.into(),
                status,
                support: 2,
                refute: if status == Status::Disputed { 2 } else { 0 },
                abstain: 0,
                errors: 0,
                supporting_docs: 1,
                reason: String::new(),
            },
        }
    }

    fn plan(question: &str, parts: &[&str]) -> Plan {
        let mut sub_queries = vec![SubQuery {
            id: 0,
            angle: Angle::Question,
            label: "Overview".into(),
            query: question.into(),
        }];
        for p in parts {
            sub_queries.push(SubQuery {
                id: sub_queries.len(),
                angle: Angle::Part,
                label: p.to_string(),
                query: p.to_string(),
            });
        }
        Plan {
            subject: Vec::new(),
            question: question.into(),
            sub_queries,
        }
    }

    #[test]
    fn names_are_runs_of_capitalised_words_numbers_after_them_and_identifiers() {
        assert_eq!(
            names("Shirley Temple portrayed Corliss Archer in the film Kiss and Tell."),
            // "Tell" alone is a common word, no name.
            vec!["Shirley Temple", "Corliss Archer", "Kiss"]
        );
        assert_eq!(
            names("PEP 654 added except* and add_note() in Python 3.11."),
            vec!["PEP 654", "add_note", "Python"]
        );
        // The sentence's first word alone is no name.
        assert!(names("Autovacuum runs in the background.").is_empty());
        // Nor is a later sentence's.
        assert_eq!(
            names("Old tables are always vacuumed. Otherwise, track_counts decides."),
            vec!["track_counts"]
        );
        // A word written with a slash is one word of the name, not its end.
        assert_eq!(
            names("The log makes Disk I/O operations more sequential."),
            vec!["Disk I/O"]
        );
    }

    #[test]
    fn a_name_and_its_plural_are_one_name() {
        assert!(same_name("VFS", "VFSes"));
        assert!(same_name("Python", "python"));
        assert!(!same_name("VFS", "VFSes SQLite"));
        assert!(!same_name("PEP", "PEP 654"));
    }

    #[test]
    fn a_bridge_searches_the_new_name_with_what_the_question_still_asks() {
        let question = "What government position was held by the woman who portrayed Corliss Archer in the film Kiss and Tell?";
        let p = plan(question, &[]);
        let r = vec![reviewed(
            "c1",
            "Shirley Temple portrayed Corliss Archer in the film Kiss and Tell.",
            0,
            Status::Kept,
        )];
        let f = follow_ups(&p, &r, &[question.to_string()], 3);
        let bridge = f.iter().find(|f| f.lead == Lead::Bridge).unwrap();
        assert!(bridge.query.starts_with("Shirley Temple"), "{bridge:?}");
        assert!(bridge.query.contains("government"), "{bridge:?}");
        // Words the claim already answered are not searched again.
        assert!(!bridge.query.contains("Corliss"), "{bridge:?}");
        assert_eq!(bridge.claim_id.as_deref(), Some("c1"));
    }

    #[test]
    fn a_bridge_follows_the_names_of_a_claim_answering_a_part_first() {
        let q = "How does autovacuum decide when to vacuum a table, and how do I tune it for a \
                 large, write-heavy table?";
        let mut side = reviewed(
            "c1",
            "VACUUM uses vacuum_freeze_min_age as the cutoff age of row versions.",
            0,
            Status::Kept,
        );
        side.claim.score = 0.9;
        let mut answer = reviewed(
            "c2",
            "A table is vacuumed when dead tuples exceed the threshold autovacuum_vacuum_scale_factor sets.",
            0,
            Status::Kept,
        );
        answer.claim.score = 0.3;
        let f = follow_ups(&plan(q, &[]), &[side, answer], &[], 6);
        let bridges: Vec<&str> = f
            .iter()
            .filter(|f| f.lead == Lead::Bridge)
            .map(|f| f.query.as_str())
            .collect();
        assert!(
            bridges
                .first()
                .is_some_and(|b| b.starts_with("autovacuum_vacuum_scale_factor")),
            "{bridges:?}"
        );
    }

    #[test]
    fn a_reference_entry_s_identifier_is_a_bridge_of_the_sentence_under_it() {
        let question = "How can an except block attach extra context to an exception it caught?";
        let mut r = reviewed(
            "c1",
            "Add the string note to the exception's notes which appear in the standard traceback.",
            0,
            Status::Kept,
        );
        r.claim.citations.push(crate::artifact::Citation {
            heading_path: vec!["exception BaseException".into(), "add_note(note)".into()],
            ..Default::default()
        });
        let f = follow_ups(&plan(question, &[]), &[r], &[question.to_string()], 3);
        let bridge = f.iter().find(|f| f.lead == Lead::Bridge).unwrap();
        // The identifier alone: the question's other words ("block", "context") beside it
        // would find their own pages.
        assert_eq!(bridge.query, "add_note", "{bridge:?}");
    }

    #[test]
    fn an_unanswered_part_and_a_split_claim_become_searches_and_nothing_is_asked_twice() {
        let question = "When should I use WAL mode in SQLite and what are its limitations?";
        let p = plan(
            question,
            &[
                "When should I use WAL mode in SQLite",
                "what are its limitations",
            ],
        );
        let r = vec![
            reviewed(
                "c1",
                "WAL mode is faster in most scenarios.",
                1,
                Status::Kept,
            ),
            reviewed(
                "c2",
                "WAL does not work over a network filesystem.",
                2,
                Status::Disputed,
            ),
        ];
        let f = follow_ups(&p, &r, &[], 5);
        let gap = f.iter().find(|f| f.lead == Lead::Gap).unwrap();
        assert!(gap.reason.contains("limitations"), "{gap:?}");
        let dispute = f.iter().find(|f| f.lead == Lead::Dispute).unwrap();
        assert_eq!(dispute.claim_id.as_deref(), Some("c2"));
        assert!(dispute.query.contains("network"), "{dispute:?}");
        // Asked before: not asked again.
        let asked: Vec<String> = f.iter().map(|f| f.query.clone()).collect();
        assert!(follow_ups(&p, &r, &asked, 5).is_empty());
        // Breadth caps the round.
        assert_eq!(follow_ups(&p, &r, &[], 1).len(), 1);
    }
}
