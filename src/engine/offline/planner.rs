//! Question -> 3 to 8 sub-queries: the question itself, its parts when it asks several things,
//! and the definition / mechanism / limits / numbers angles on its key terms.

use crate::artifact::{Angle, Plan, SubQuery, MAX_SUB_QUERIES};
use crate::engine::{Planner, RoleError};
use crate::text;
use async_trait::async_trait;

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
    for sentence in question.split_inclusive(['?', ';']) {
        let mut current = String::new();
        for clause in sentence.split_inclusive(',') {
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
            if opens && text::content_stems(&current).len() >= 2 {
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
            let p = p.trim().trim_end_matches([',', ';', '?']).trim();
            let p = p
                .strip_prefix("and ")
                .or_else(|| p.strip_prefix("or "))
                .or_else(|| p.strip_prefix("but "))
                .unwrap_or(p);
            text::squash_whitespace(p)
        })
        .filter(|p| text::content_stems(p).len() >= 2)
        .collect();
    cleaned
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
        let rank = if t.text.contains('_') || t.text.chars().any(|c| c.is_ascii_digit()) {
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
    if parts.len() > 1 {
        for p in parts.iter().take(MAX_PARTS) {
            push(Angle::Part, capitalise(p), p.clone());
        }
    }
    let keys = key_terms(&question);
    let focus = keys.iter().take(4).cloned().collect::<Vec<_>>().join(" ");
    if !focus.is_empty() {
        if parts.len() <= 1 {
            push(
                Angle::Definition,
                "Definitions and background".into(),
                format!("what {focus} is defined as and refers to"),
            );
            push(
                Angle::Mechanism,
                "How it works".into(),
                format!("how {focus} works: the process and mechanism"),
            );
        }
        push(
            Angle::Limits,
            "Limits and caveats".into(),
            format!("{focus} limits and maximums, what cannot be done, warnings and caveats"),
        );
        push(
            Angle::Numbers,
            "Numbers and defaults".into(),
            format!("{focus} default values, numbers, percentages and sizes"),
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
        question,
        sub_queries: subs,
    }
}

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
