//! Lexical judging of a claim against one evidence sentence: does the sentence state the claim
//! (its content terms, its numbers, its polarity), contradict it (same subject, a different
//! number for the same quantity, or the opposite polarity), or neither?

use crate::text;

#[derive(Debug, Clone, PartialEq)]
pub enum Judgement {
    Supports { confidence: f32 },
    Contradicts { confidence: f32, why: String },
    Unrelated,
}

/// The claim's side of the comparison, computed once per claim.
pub struct ClaimTerms {
    /// (stem, idf) of the claim's content words, numbers excluded.
    pub words: Vec<(String, f32)>,
    pub numbers: Vec<text::Number>,
    pub negated: Vec<String>,
}

impl ClaimTerms {
    pub fn new(claim: &str, idf: &dyn Fn(&str) -> f32) -> ClaimTerms {
        let numbers = text::numbers(claim);
        let words = text::content_stems(claim)
            .into_iter()
            .filter(|s| !numbers.iter().any(|n| text::stem(&n.raw) == *s))
            .map(|s| {
                let w = idf(&s);
                (s, w)
            })
            .collect();
        ClaimTerms {
            words,
            numbers,
            negated: text::negated_stems(claim),
        }
    }

    /// Share of the claim's (idf-weighted) content words that the sentence contains.
    pub fn coverage(&self, sentence_stems: &[String]) -> f32 {
        let total: f32 = self.words.iter().map(|(_, w)| w).sum();
        if total <= 0.0 {
            return 0.0;
        }
        let found: f32 = self
            .words
            .iter()
            .filter(|(s, _)| sentence_stems.contains(s))
            .map(|(_, w)| w)
            .sum();
        found / total
    }
}

/// Coverage needed to say a sentence states the claim.
pub const SUPPORT_COVERAGE: f32 = 0.7;
/// Coverage needed to say a sentence speaks of the same subject (for contradictions).
pub const SUBJECT_COVERAGE: f32 = 0.5;

pub fn judge_sentence(claim: &ClaimTerms, sentence: &str) -> Judgement {
    let stems = text::content_stems(sentence);
    let coverage = claim.coverage(&stems);
    if coverage < SUBJECT_COVERAGE {
        return Judgement::Unrelated;
    }
    let numbers = text::numbers(sentence);
    let negated = text::negated_stems(sentence);
    // A number conflict needs the same subject, not just the same unit: "store at 50 percent"
    // and "charge to 80 percent" are different advice, not a disagreement.
    if coverage >= SUPPORT_COVERAGE {
        if let Some(why) = number_conflict(&claim.numbers, &numbers) {
            return Judgement::Contradicts {
                confidence: coverage * 0.9,
                why,
            };
        }
    }
    let numbers_present = claim
        .numbers
        .iter()
        .all(|c| numbers.iter().any(|n| same_value(n.value, c.value)));
    let shared = |s: &String| stems.contains(s) && claim.words.iter().any(|(w, _)| w == s);
    let denied_by_claim = claim
        .negated
        .iter()
        .any(|s| shared(s) && !negated.contains(s));
    let denied_by_evidence = negated
        .iter()
        .any(|s| shared(s) && !claim.negated.contains(s));
    if (denied_by_claim || denied_by_evidence) && coverage >= SUPPORT_COVERAGE {
        return Judgement::Contradicts {
            confidence: coverage * 0.85,
            why: if denied_by_claim {
                "the evidence affirms what the claim denies".into()
            } else {
                "the evidence denies what the claim affirms".into()
            },
        };
    }
    if coverage >= SUPPORT_COVERAGE && numbers_present {
        return Judgement::Supports {
            confidence: coverage,
        };
    }
    Judgement::Unrelated
}

fn same_value(a: f64, b: f64) -> bool {
    (a - b).abs() <= f64::EPSILON * a.abs().max(b.abs()).max(1.0)
}

/// A claim number whose quantity (the word next to it) the sentence gives a different value,
/// while the claim's value appears nowhere in the sentence.
fn number_conflict(claim: &[text::Number], sentence: &[text::Number]) -> Option<String> {
    let same_quantity = |a: &text::Number, b: &text::Number| {
        (a.after.is_some() && a.after == b.after) || (a.before.is_some() && a.before == b.before)
    };
    // A value inside a range the other side gives ("50" against "40 to 60") is no conflict.
    let within = |v: f64, of: &text::Number, among: &[text::Number]| {
        let values: Vec<f64> = among
            .iter()
            .filter(|n| same_quantity(n, of))
            .map(|n| n.value)
            .collect();
        let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        values.len() >= 2 && lo <= v && v <= hi
    };
    for c in claim {
        if sentence.iter().any(|n| same_value(n.value, c.value)) {
            continue;
        }
        if let Some(n) = sentence.iter().find(|n| same_quantity(c, n)) {
            if within(c.value, c, sentence) || within(n.value, n, claim) {
                continue;
            }
            let quantity = c
                .after
                .clone()
                .or_else(|| c.before.clone())
                .unwrap_or_default();
            return Some(format!(
                "the evidence gives {} where the claim says {} ({quantity})",
                n.raw, c.raw
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(claim: &str) -> ClaimTerms {
        ClaimTerms::new(claim, &|_| 1.0)
    }

    #[test]
    fn restatement_supports() {
        let c = terms("Storing a battery at 50 percent charge slows ageing.");
        assert!(matches!(
            judge_sentence(
                &c,
                "Batteries stored at 50 percent charge show slower ageing."
            ),
            Judgement::Supports { .. }
        ));
    }

    #[test]
    fn different_number_for_same_quantity_contradicts() {
        let c = terms("The default charge limit is 100 percent.");
        let j = judge_sentence(&c, "The default charge limit is now 80 percent.");
        assert!(matches!(j, Judgement::Contradicts { .. }), "{j:?}");
    }

    #[test]
    fn opposite_polarity_contradicts() {
        let c = terms("Lithium-ion batteries suffer from a memory effect.");
        let j = judge_sentence(
            &c,
            "Lithium-ion batteries do not suffer from a memory effect.",
        );
        assert!(matches!(j, Judgement::Contradicts { .. }), "{j:?}");
    }

    #[test]
    fn negation_in_an_unrelated_clause_is_not_a_contradiction() {
        let c = terms("Store the removed battery at about 40 percent charge in a cool place.");
        let j = judge_sentence(
            &c,
            "Store a battery at 40 percent charge in a cool place when the device will not be used for weeks.",
        );
        assert!(matches!(j, Judgement::Supports { .. }), "{j:?}");
    }

    #[test]
    fn values_inside_a_range_agree() {
        let c = terms("The best storage charge for a battery is 50 percent.");
        let j = judge_sentence(
            &c,
            "The best storage charge for a battery is 40 to 60 percent.",
        );
        assert!(!matches!(j, Judgement::Contradicts { .. }), "{j:?}");
    }

    #[test]
    fn other_subjects_are_unrelated() {
        let c = terms("The default charge limit is 100 percent.");
        assert_eq!(
            judge_sentence(&c, "Recycling centres accept swollen packs."),
            Judgement::Unrelated
        );
        // Same words but a missing number is not support.
        let c = terms("random_page_cost defaults to 4.0 in the planner.");
        assert_eq!(
            judge_sentence(
                &c,
                "The planner reads random_page_cost, which defaults sensibly."
            ),
            Judgement::Unrelated
        );
    }
}
