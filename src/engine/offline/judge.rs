//! Lexical judging of a claim against one evidence sentence: does the sentence state the claim
//! (its content terms, its numbers, its polarity), contradict it (same subject, a different
//! number for the same quantity, or the opposite polarity), say it held only in the past (an
//! outdated statement: "Prior to version 3.38.0, ..."), or neither?
//!
//! A sentence is judged with its context: the words of its heading and of the sentences that
//! introduce it in its passage (a manual's "max_connections (integer)" before "The default is
//! typically 100 connections") count towards the subject, a little less than its own words.

use crate::text;

#[derive(Debug, Clone, PartialEq)]
pub enum Judgement {
    Supports {
        confidence: f32,
    },
    Contradicts {
        confidence: f32,
        why: String,
    },
    /// The sentence states the claim as something that held only before a change ("Prior to
    /// version 3.38.0, ...", "no longer"): the claim is outdated.
    Outdated {
        confidence: f32,
    },
    Unrelated,
}

/// The claim's side of the comparison, computed once per claim.
pub struct ClaimTerms {
    /// (stem, idf) of the claim's content words, numbers excluded.
    pub words: Vec<(String, f32)>,
    pub numbers: Vec<text::Number>,
    pub negated: Vec<String>,
    /// The words its negations deny (see [`text::negation_heads`]).
    pub denied: Vec<String>,
    /// Of those, what a main clause denies (not a condition's or a relative clause's).
    pub asserted_denied: Vec<String>,
    /// The stems of all its words.
    pub said: Vec<String>,
    /// The state it gives a feature (see [`state`]).
    pub state: Option<bool>,
    /// What its first negation is said of (see [`text::negated_subject`]).
    pub subject: Vec<String>,
    pub quantities: Vec<text::Quantity>,
    /// The claim states something as required ("needs", "requires", "must").
    pub requires: bool,
    /// The claim denies a requirement ("is not required", "does not need").
    pub requirement_denied: bool,
    /// The claim itself speaks of the past ("before version 3", "no longer").
    pub past: bool,
    /// Value words the claim uses ("default", "maximum"...).
    pub value_words: Vec<String>,
    /// (stem, idf) of what the claim asserts when it also draws a consequence ("the default is
    /// 0.2, so tables are vacuumed late": the default is 0.2); empty when it draws none. A
    /// sentence that gives another value for what it asserts contradicts the claim.
    pub core: Vec<(String, f32)>,
    /// The version whose change the claim states ("Changed in version 3.11: ...").
    pub dated: Option<Vec<u32>>,
    /// The releases the claim names ("in Python 3.11", "PostgreSQL 15"), as written.
    pub versions: Vec<String>,
    /// The condition the claim opens with ("If the locking mode is NORMAL ..."), as stems.
    pub condition: Option<Vec<String>>,
}

pub(crate) use crate::text::plain_phrases as normalise;

const REQUIREMENT: &[&str] = &[
    "need",
    "needs",
    "needed",
    "require",
    "requires",
    "required",
    "necessary",
    "mandatory",
    "must",
];

/// (states a requirement, denies one): "needs X" / "X is not required", "no longer necessary".
fn requirement(text: &str) -> (bool, bool) {
    let toks = text::tokens(text);
    let subordinate = text::subordinate_tokens(text);
    let mut states = false;
    let mut denies = false;
    for (i, t) in toks.iter().enumerate() {
        let w = t.text.to_lowercase();
        // "should be charged for 12 hours" is advice that something is needed; "should not"
        // forbids, which denies no requirement.
        let advice = w == "should";
        if !REQUIREMENT.contains(&w.as_str()) && !advice {
            continue;
        }
        let negation = |p: &text::Token| {
            let p = p.text.to_lowercase();
            text::is_negation(&p) || p == "never"
        };
        let negated = toks[i.saturating_sub(3)..i].iter().any(negation);
        if advice && (negated || toks.get(i + 1).is_some_and(negation)) {
            continue;
        }
        // A condition ("if the VFS does not support the necessary primitives") neither
        // states nor denies a requirement.
        if subordinate.get(i).copied().unwrap_or(false) {
            continue;
        }
        if negated {
            denies = true;
        } else {
            states = true;
        }
    }
    (states, denies)
}

/// Whether a sentence presents what it says as past: "Prior to version 3.38.0, ...", "Before
/// release 2.0 ...", "Until 2021 ...", "... no longer ...", "formerly", "used to".
pub fn is_past(sentence: &str) -> bool {
    let lower = sentence.to_lowercase();
    if lower.contains("no longer")
        || lower.contains(" and earlier")
        || lower.contains(" or earlier")
        || lower.contains("formerly")
        || used_to(&lower)
        || lower.contains("not anymore")
        || lower.contains("any more")
    {
        return true;
    }
    let toks = text::tokens(&lower);
    for (i, t) in toks.iter().take(12).enumerate() {
        let marker = match t.text {
            "prior" => toks.get(i + 1).is_some_and(|n| n.text == "to"),
            "before" | "until" | "till" | "pre" => true,
            _ => false,
        };
        if !marker {
            continue;
        }
        let dated = toks.iter().skip(i + 1).take(4).any(|n| {
            n.text.starts_with(|c: char| c.is_ascii_digit())
                || matches!(n.text, "version" | "versions" | "release" | "releases")
        });
        if dated {
            return true;
        }
    }
    false
}

/// "used to" of a past habit ("it used to default to 0.2"), not of a purpose ("it can be used to
/// enrich exceptions", "is used to store").
fn used_to(lower: &str) -> bool {
    lower.match_indices(" used to ").any(|(at, _)| {
        let before = lower[..at].split_whitespace().next_back().unwrap_or("");
        !matches!(
            before,
            "be" | "is" | "are" | "was" | "were" | "been" | "being" | "get" | "gets" | "got"
        )
    })
}

/// Whether a sentence states the current state after a change: "as of version 3.38.0",
/// "since 3.38.0", "beginning with", "starting with", "now", "by default".
pub fn is_current(sentence: &str) -> bool {
    let lower = sentence.to_lowercase();
    [
        "as of ",
        "since ",
        "beginning with",
        "starting with",
        "from version",
        " now ",
        " are now",
        " is now",
    ]
    .iter()
    .any(|m| lower.contains(m))
}

/// Words that mark a change in a sentence: a dated one ("Changed in version 3.8:", "beginning
/// with version 3.12.0", "as of 3.38.0", "since version 10") or a change of value ("increased
/// from 1024 to 4096", "is now").
const CHANGE_MARKERS: &[&str] = &[
    "changed in version",
    "new in version",
    "beginning with",
    "starting with",
    "as of",
    "since",
    "from version",
    "in version",
    "increased",
    "decreased",
    "reduced",
    "raised",
    "changed",
    "changes",
    "is now",
    "are now",
    "now defaults",
];

/// The values a sentence says held before a change and those that hold since.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// Values before the change marker, or after "from".
    pub old: Vec<f64>,
    /// Values after the change marker (not after "from").
    pub new: Vec<f64>,
    /// The sentence says when: a version or a year.
    pub when: bool,
}

/// The change a sentence states, if it states one.
pub fn change(sentence: &str) -> Option<Change> {
    let lower = sentence.to_ascii_lowercase();
    let at = CHANGE_MARKERS
        .iter()
        .filter_map(|m| {
            lower.match_indices(m).map(|(i, _)| i).find(|&i| {
                let before = lower[..i].chars().next_back();
                let after = lower[i + m.len()..].chars().next();
                !before.is_some_and(char::is_alphanumeric)
                    && !after.is_some_and(char::is_alphanumeric)
                    && (*m != "since" || since_a_date(&lower[i + m.len()..]))
            })
        })
        .min()?;
    let quantities = text::quantities(sentence);
    let mut old = Vec::new();
    let mut new = Vec::new();
    for q in quantities
        .iter()
        .filter(|q| !q.version && !q.bound && !q.denied)
    {
        let after_from = lower[..q.at].trim_end().ends_with(" from");
        if after_from || q.at < at {
            old.push(q.value);
        } else {
            new.push(q.value);
        }
    }
    let when = quantities.iter().any(|q| q.version)
        || text::tokens(sentence).iter().any(|t| {
            t.text.starts_with(|c: char| c.is_ascii_digit()) && t.text.matches('.').count() >= 2
        });
    Some(Change { old, new, when })
}

/// Words that say a feature is on, and words that say it is off.
const STATE_ON: &[&str] = &[
    "enabled",
    "enforced",
    "active",
    "activated",
    "supported",
    "allowed",
    "permitted",
];
const STATE_OFF: &[&str] = &[
    "disabled",
    "off",
    "inactive",
    "deactivated",
    "unsupported",
    "forbidden",
    "prohibited",
];
/// Words that may follow "on" when it is a state ("on by default", "on and ...").
const AFTER_ON: &[&str] = &["by", "and", "or", "when", "if", "unless", "for", "in"];
/// Words after which "on" is a state ("turned on", "is on", "defaults to on").
const BEFORE_ON: &[&str] = &["turned", "switched", "is", "are", "to", "set", "defaults"];

/// The state a text gives a feature, when it gives one: on (`true`) or off. "Enforcement is
/// turned off by default" and "the default setting ... is OFF" say off; "not enforced" says
/// off too. `None` when it says neither, or both.
pub fn state(text: &str) -> Option<bool> {
    let tokens = text::tokens(text);
    let toks: Vec<String> = tokens.iter().map(|t| t.text.to_lowercase()).collect();
    // "on" ends what it says ("is on", "turned on by default", "set to on, ..."); followed by
    // a noun it is a preposition ("are on the same machine").
    let ends_there = |i: usize| match tokens.get(i + 1) {
        None => true,
        Some(next) => {
            text[tokens[i].start + tokens[i].text.len()..next.start]
                .contains([',', ';', ':', '.', ')'])
                || AFTER_ON.contains(&toks[i + 1].as_str())
        }
    };
    let mut found: Option<bool> = None;
    for (i, w) in toks.iter().enumerate() {
        let on = if STATE_ON.contains(&w.as_str()) {
            true
        } else if STATE_OFF.contains(&w.as_str()) {
            false
        } else if w == "on"
            && ends_there(i)
            && (i > 0 && BEFORE_ON.contains(&toks[i - 1].as_str())
                || toks
                    .get(i + 1..i + 3)
                    .is_some_and(|n| n == ["by", "default"]))
        {
            true
        } else {
            continue;
        };
        let negated = toks[i.saturating_sub(3)..i]
            .iter()
            .any(|p| text::is_negation(p));
        let said = on != negated;
        match found {
            Some(f) if f != said => return None,
            _ => found = Some(said),
        }
    }
    found
}

/// "Since" dates a change when a version or a date follows it ("Since version 3.12.0", "since
/// SQLite 3.12", "Since 2016"); "Since the file format was designed (in 2003) the default has
/// been 1024 bytes" tells how long a state has held, not what changed.
fn since_a_date(rest: &str) -> bool {
    text::tokens(rest).iter().take(3).any(|t| {
        t.text.starts_with(|c: char| c.is_ascii_digit())
            || matches!(
                t.text.to_ascii_lowercase().as_str(),
                "version" | "release" | "v"
            )
    })
}

/// A sentence that dates a change and gives the value since: the quote that says since when.
/// The condition a sentence opens with ("If the locking mode is EXCLUSIVE when first entering
/// WAL journal mode, then ..."), as content stems: up to its first comma or "then".
pub fn condition(sentence: &str) -> Option<Vec<String>> {
    let lower = sentence.trim_start().to_lowercase();
    let rest = ["if ", "when ", "unless "]
        .iter()
        .find_map(|w| lower.strip_prefix(w))?;
    let end = [rest.find(','), rest.find(" then ")]
        .into_iter()
        .flatten()
        .min()?;
    Some(text::content_stems(&rest[..end]))
}

/// The version a sentence dates a change to: "Changed in version 3.11:" is `[3, 11]`, which
/// comes after `[3, 9]` (as a decimal 3.11 would not).
pub fn dated_version(sentence: &str) -> Option<Vec<u32>> {
    let lower = sentence.to_ascii_lowercase();
    [
        "changed in version ",
        "new in version ",
        "deprecated since version ",
        "removed in version ",
        "since version ",
        "beginning with version ",
        "starting with version ",
        "as of version ",
    ]
    .iter()
    .filter_map(|m| lower.find(m).map(|i| &lower[i + m.len()..]))
    .find_map(|rest| {
        let v: String = rest
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let parts: Vec<u32> = v
            .trim_end_matches('.')
            .split('.')
            .map_while(|p| p.parse().ok())
            .collect();
        (!parts.is_empty()).then_some(parts)
    })
}

pub fn dates_a_change(sentence: &str) -> bool {
    change(sentence).is_some_and(|c| c.when && !c.new.is_empty())
}

impl ClaimTerms {
    pub fn new(claim: &str, idf: &dyn Fn(&str) -> f32) -> ClaimTerms {
        let claim = normalise(claim);
        let claim = claim.as_ref();
        let numbers = text::numbers(claim);
        let words = text::content_stems(claim)
            .into_iter()
            .filter(|s| !numbers.iter().any(|n| text::stem(&n.raw) == *s))
            .map(|s| {
                let w = idf(&s);
                (s, w)
            })
            .collect();
        let (requires, requirement_denied) = requirement(claim);
        let asserted = text::asserted(claim);
        let core = if asserted.len() < claim.len() {
            text::content_stems(asserted)
                .into_iter()
                .filter(|s| !numbers.iter().any(|n| text::stem(&n.raw) == *s))
                .map(|s| {
                    let w = idf(&s);
                    (s, w)
                })
                .collect()
        } else {
            Vec::new()
        };
        let value_words = text::tokens(claim)
            .iter()
            .map(|t| t.text.to_lowercase())
            .filter(|w| text::VALUE_WORDS.contains(&w.as_str()))
            .map(|w| text::stem(&w))
            .collect();
        ClaimTerms {
            words,
            numbers,
            negated: text::negated_stems(claim),
            denied: text::negation_heads(claim),
            asserted_denied: text::asserted_negation_heads(claim),
            said: text::all_stems(claim),
            state: state(claim),
            subject: text::negated_subject(claim),
            // A value the claim denies, a version or a year is not a value it gives.
            quantities: text::quantities(claim)
                .into_iter()
                .filter(|q| !q.denied && !q.version)
                .collect(),
            requires,
            requirement_denied,
            past: is_past(claim),
            value_words,
            core,
            dated: dated_version(claim),
            versions: text::quantities(claim)
                .into_iter()
                .filter(|q| q.version)
                .map(|q| q.raw)
                .collect(),
            condition: condition(claim),
        }
    }

    /// Whether the sentence speaks of another case than the claim's: both open with a
    /// condition, and the conditions differ ("If the locking mode is EXCLUSIVE ..." against
    /// "If the locking mode is NORMAL ...").
    pub fn another_case(&self, sentence: &str) -> bool {
        matches!(
            (&self.condition, condition(sentence)),
            (Some(claimed), Some(said))
                if !(claimed.len() == said.len() && claimed.iter().all(|w| said.contains(w)))
        )
    }

    /// Whether `raw` is a release the claim names and the sentence's context names too: a
    /// sentence under "What's New In Python 3.11" speaks of Python 3.11 without saying so.
    pub fn release_in(&self, raw: &str, context: &[String]) -> bool {
        self.versions.iter().any(|v| v == raw) && context.iter().any(|c| c == raw)
    }

    /// Whether a sentence (read with its context) holds every number of the claim: one that
    /// lacks one cannot state it, whatever the model reads ("5 times faster" is not "ten times
    /// faster"). A release its headings name counts.
    pub fn numbers_stated(&self, sentence: &str, context: &[String]) -> bool {
        let given = text::numbers(sentence);
        self.numbers.iter().all(|n| {
            given.iter().any(|g| same_value(g.value, n.value)) || self.release_in(&n.raw, context)
        })
    }

    /// Whether the sentence dates an earlier change than the claim's own ("Changed in version
    /// 3.9: ..." beside the claim's "Changed in version 3.11: ..."): the history the claim's
    /// change ends.
    pub fn ends_history_of(&self, sentence: &str) -> bool {
        matches!((&self.dated, dated_version(sentence)), (Some(claimed), Some(said)) if said < *claimed)
    }

    /// Whether a sentence dating a change to another value of the claim's quantity says the
    /// claim held, if ever, only before it: not when the claim itself speaks of the past or of
    /// a dated change, nor when it gives several values ("the 2-byte integer at an offset of
    /// 16 bytes"), any of which the change may be about.
    pub fn outdated_by(&self, sentence: &str) -> bool {
        dates_a_change(sentence) && !self.past && self.dated.is_none() && self.quantities.len() == 1
    }

    /// Share of the claim's (idf-weighted) content words that the sentence contains.
    pub fn coverage(&self, sentence_stems: &[String]) -> f32 {
        self.coverage_in(sentence_stems, &[])
    }

    /// Coverage of what the claim asserts (its [`Self::core`]), or of the whole claim when it
    /// draws no consequence; whichever is higher.
    pub fn core_coverage_in(&self, sentence_stems: &[String], context: &[String]) -> f32 {
        let whole = self.coverage_in(sentence_stems, context);
        match share_found(&self.core, sentence_stems, context) {
            Some(core) if !self.core.is_empty() => whole.max(core),
            _ => whole,
        }
    }

    /// [`Self::coverage`] where words found only in the sentence's context count
    /// [`CONTEXT_WEIGHT`] as much as words of the sentence itself.
    pub fn coverage_in(&self, sentence_stems: &[String], context: &[String]) -> f32 {
        share_found(&self.words, sentence_stems, context).unwrap_or(0.0)
    }
}

/// The weighted share of `words` found in the sentence (or, at [`CONTEXT_WEIGHT`], only in its
/// context); `None` when the words weigh nothing.
fn share_found(
    words: &[(String, f32)],
    sentence_stems: &[String],
    context: &[String],
) -> Option<f32> {
    let total: f32 = words.iter().map(|(_, w)| w).sum();
    if total <= 0.0 {
        return None;
    }
    let found: f32 = words
        .iter()
        .map(|(s, w)| {
            if sentence_stems.contains(s) {
                *w
            } else if context.contains(s) {
                w * CONTEXT_WEIGHT
            } else {
                0.0
            }
        })
        .sum();
    Some(found / total)
}

/// Coverage needed to say a sentence states the claim.
pub const SUPPORT_COVERAGE: f32 = 0.7;
/// A claim with this many content words or fewer is stated only by a sentence holding them all.
pub const SHORT_CLAIM_WORDS: usize = 3;
/// Coverage needed to say a sentence speaks of the same subject (for contradictions).
pub const SUBJECT_COVERAGE: f32 = 0.5;
/// How much a claim word found only in the sentence's context (its heading, the sentences that
/// introduce it) counts, against 1 for a word of the sentence itself.
pub const CONTEXT_WEIGHT: f32 = 0.9;
/// Share of the claim that a supporting (or outdating) sentence must hold itself, whatever its
/// context holds.
pub const OWN_SUPPORT: f32 = 0.4;
/// Share of the claim that a contradicting sentence must hold itself.
pub const OWN_CONFLICT: f32 = 0.2;

pub fn judge_sentence(claim: &ClaimTerms, sentence: &str) -> Judgement {
    judge_in_context(claim, sentence, &[])
}

/// Judge a sentence whose context (heading, introducing sentences) has the stems `context`.
pub fn judge_in_context(claim: &ClaimTerms, sentence: &str, context: &[String]) -> Judgement {
    let sentence = normalise(sentence);
    let sentence = sentence.as_ref();
    let stems = text::content_stems(sentence);
    let coverage = claim.coverage_in(&stems, context);
    // "Its county seat is Newport." under "Sullivan County, New Hampshire": the pronoun is the
    // heading's subject, so the sentence states what its context names.
    let pronoun = text::leads_with_pronoun(sentence);
    let own = if pronoun {
        coverage
    } else {
        claim.coverage(&stems)
    };
    // What the claim asserts, without the consequence it draws, is what a conflict is about.
    let core = claim.core_coverage_in(&stems, context);
    let core_own = if pronoun {
        core
    } else {
        claim.core_coverage_in(&stems, &[])
    };
    if core < SUBJECT_COVERAGE || core_own < OWN_CONFLICT {
        return Judgement::Unrelated;
    }
    // "If the locking mode is EXCLUSIVE ..., then it cannot be changed" says nothing of what
    // holds "If the locking mode is NORMAL ...": another condition, another case.
    if claim.another_case(sentence) {
        return Judgement::Unrelated;
    }
    // "Changed in version 3.9: Class methods can now wrap other descriptors" is what held
    // before "Changed in version 3.11: Class methods can no longer wrap other descriptors":
    // the history the claim's change ends, not a conflict with it.
    if claim.ends_history_of(sentence) {
        return Judgement::Unrelated;
    }
    // A sentence states the claim when it holds enough of it by itself; or, for a claim with
    // a number, when it gives that number and its context names what the number is of ("The
    // default is typically 100 connections" under "max_connections (integer)").
    // A claim of a few words ("WAL works over a network filesystem") is stated only by a
    // sentence holding every one of them: without "WAL", "A similar hazard arises with file
    // locking in network filesystems" is about something else.
    let states_enough = holds_all(claim, &stems, context)
        && (own >= SUPPORT_COVERAGE
            || (!claim.numbers.is_empty() && own >= OWN_SUPPORT && coverage >= SUPPORT_COVERAGE));
    let numbers = text::numbers(sentence);
    // "The other three levels" counts another set than the claim's "four levels".
    let quantities: Vec<text::Quantity> = text::quantities(sentence)
        .into_iter()
        .filter(|q| {
            let before = sentence[..q.at].trim_end().to_lowercase();
            !OTHER_SET.iter().any(|w| {
                before.ends_with(w)
                    && !before[..before.len() - w.len()].ends_with(|c: char| c.is_alphanumeric())
            })
        })
        .collect();
    // A number conflict needs the same subject, not just the same unit: "store at 50 percent"
    // and "charge to 80 percent" are different advice, not a disagreement. A conflict over the
    // same kind of value ("the default is 100 connections" against "1,000 connections by
    // default") needs less of the rest of the claim.
    // A default is not a maximum: when the claim says which kind of value it gives, the
    // evidence must speak of the same kind.
    // The sentence's own kind of value speaks for it ("The maximum size database would be ..."
    // after "The minimum size ... is ..."); without one, its context's does.
    let own_kinds: Vec<String> = text::tokens(sentence)
        .iter()
        .map(|t| t.text.to_lowercase())
        .filter(|w| KINDS.contains(&w.as_str()))
        .map(|w| text::stem(&w))
        .collect();
    let shares_value_word = claim.value_words.iter().any(|v| {
        if own_kinds.is_empty() || !KINDS.iter().any(|k| text::stem(k) == *v) {
            stems.contains(v) || context.contains(v)
        } else {
            own_kinds.contains(v)
        }
    });
    let same_kind = claim.value_words.is_empty() || shares_value_word;
    let conflict = if same_kind {
        // "stored at three temperatures (10, 25 and 40 degrees Celsius)": a list of values
        // names the cases of a set, none of which is the value of one thing.
        let single: Vec<text::Quantity> = quantities
            .iter()
            .zip(enumerated(sentence, &quantities))
            .filter(|(_, listed)| !listed)
            .map(|(q, _)| q.clone())
            .collect();
        number_conflict(&claim.quantities, &single, &stems)
    } else {
        None
    };
    if let Some((why, strict)) = conflict {
        let needed = if strict && shares_value_word {
            SUBJECT_COVERAGE
        } else {
            SUPPORT_COVERAGE
        };
        if core >= needed {
            let confidence = (core * 0.9).max(if strict { 0.6 } else { 0.0 });
            // "Beginning with version 3.12.0 the default page size has been increased to
            // 4096 bytes" against "... has been 1024 bytes": the claim's value held, if ever,
            // only before the change the sentence dates.
            if claim.outdated_by(sentence) {
                return Judgement::Outdated { confidence };
            }
            return Judgement::Contradicts { confidence, why };
        }
    }
    // A value the sentence denies ("0.1, not 0.2"), or names only as a bound ("less than 3")
    // or a version ("Python 3"), is not a value it states.
    let stated: Vec<&text::Quantity> = quantities
        .iter()
        .filter(|n| !n.denied && !n.version)
        .collect();
    let numbers_present = claim.numbers.iter().all(|c| {
        match claim
            .quantities
            .iter()
            .find(|q| same_value(q.value, c.value))
        {
            Some(q) => stated
                .iter()
                .any(|n| same_value(n.value, c.value) && (q.bound || !n.bound)),
            None => {
                numbers.iter().any(|n| same_value(n.value, c.value))
                    || claim.release_in(&c.raw, context)
            }
        }
    });
    let negated = text::negated_stems(sentence);
    // The claim denies a word the evidence states plainly, or the other way round. What a
    // negation denies is its first word: "WAL does not work over a network filesystem" denies
    // that it works, and "network filesystem use" states nothing against it.
    let said = text::all_stems(sentence);
    let denied = text::negation_heads(sentence);
    // ... of the same subject: "SQLite will work over a network filesystem" says nothing
    // against "WAL does not work over a network filesystem".
    let names = |subject: &[String], words: &[String]| {
        subject.is_empty() || subject.iter().any(|w| words.contains(w))
    };
    let claim_stems: Vec<String> = claim.words.iter().map(|(w, _)| w.clone()).collect();
    // Only what a main clause denies is asserted: "If ONLY is not specified, ..." and "for
    // objects that do not support the protocol" deny nothing on their own.
    let denied_by_claim = names(&claim.subject, &stems)
        && claim
            .asserted_denied
            .iter()
            .any(|s| said.contains(s) && !denied.contains(s) && !negated.contains(s));
    let denied_by_evidence = names(&text::negated_subject(sentence), &claim_stems)
        && text::asserted_negation_heads(sentence).iter().any(|s| {
            claim.said.contains(s) && !claim.denied.contains(s) && !claim.negated.contains(s)
        });
    let (requires, requirement_denied) = requirement(sentence);
    let requirement_conflict = (claim.requires && requirement_denied && !claim.requirement_denied)
        || (claim.requirement_denied && requires && !requirement_denied);
    // "The default was 1024, but beginning with version 3.12.0 it increased to 4096": the
    // claim's value is what held before the change the sentence dates.
    if states_enough && !claim.past {
        if let Some(ch) = change(sentence) {
            let values: Vec<f64> = claim
                .quantities
                .iter()
                .filter(|q| !q.bound)
                .map(|q| q.value)
                .collect();
            let held_before = !values.is_empty()
                && values
                    .iter()
                    .all(|v| ch.old.iter().any(|o| same_value(*o, *v)))
                && !values
                    .iter()
                    .any(|v| ch.new.iter().any(|n| same_value(*n, *v)));
            if held_before && !ch.new.is_empty() {
                return Judgement::Outdated {
                    confidence: coverage * 0.85,
                };
            }
        }
    }
    let past = is_past(sentence) && !claim.past;
    if past && states_enough && (numbers_present || requirement_conflict) {
        return Judgement::Outdated {
            confidence: coverage * 0.85,
        };
    }
    // Polarity: the sentence itself must speak of the claim (its context does not count), of
    // what the claim asserts at least: "X does not extend their life" denies "X extends their
    // life, because the cold slows ..." without naming the reason.
    let speaks = own.max(core_own);
    // "Foreign keys are enforced by default" against "enforcement is turned off by default":
    // the opposite state of the same feature, said of the same case (both by default, or
    // neither).
    let said_state = state(sentence);
    let by_default = |stems: &[String]| stems.iter().any(|s| s == "default");
    // "If the locking mode is EXCLUSIVE when first entering WAL journal mode, then the locking
    // mode cannot be changed ...": what a sentence denies in one case does not deny a claim
    // that names no case.
    let another_case = claim.condition.is_none() && condition(sentence).is_some();
    let state_conflict = matches!((claim.state, said_state), (Some(a), Some(b)) if a != b)
        && by_default(&claim_stems) == by_default(&stems)
        && !another_case;
    if state_conflict && speaks >= SUPPORT_COVERAGE {
        return Judgement::Contradicts {
            confidence: speaks * 0.85,
            why: "the evidence gives the opposite state".into(),
        };
    }
    if (denied_by_claim || denied_by_evidence || requirement_conflict)
        && speaks >= SUPPORT_COVERAGE
        && !another_case
    {
        return Judgement::Contradicts {
            confidence: speaks * 0.85,
            why: if denied_by_claim || (requirement_conflict && claim.requirement_denied) {
                "the evidence affirms what the claim denies".into()
            } else {
                "the evidence denies what the claim affirms".into()
            },
        };
    }
    // A claim that denies something is stated only by a sentence that denies too: "network
    // filesystem use" does not say that WAL does not work there.
    if numbers_present && states_enough && keeps_polarity(claim, sentence) {
        return Judgement::Supports {
            confidence: coverage,
        };
    }
    Judgement::Unrelated
}

/// Whether a sentence holds every word of a short claim (see [`SHORT_CLAIM_WORDS`]).
fn holds_all(claim: &ClaimTerms, stems: &[String], context: &[String]) -> bool {
    claim.words.len() > SHORT_CLAIM_WORDS
        || claim
            .words
            .iter()
            .all(|(w, _)| stems.contains(w) || context.contains(w))
}

/// Whether a sentence says things the way the claim does: a claim that denies something is
/// stated only by a sentence that denies too ("network filesystem use" does not say that WAL
/// does not work there), and a state only by a sentence giving it ("the default setting for
/// foreign key enforcement can be specified at compile-time" does not say it is on).
fn keeps_polarity(claim: &ClaimTerms, sentence: &str) -> bool {
    let said_state = state(sentence);
    let heads = text::negation_heads(sentence);
    let denies = !heads.is_empty() || !text::negated_stems(sentence).is_empty();
    // "... WAL does not work over a network filesystem" does not state that it works (a
    // claim that denies something itself was weighed above).
    let denies_what_claim_states = claim.denied.is_empty()
        && heads
            .iter()
            .any(|h| claim.said.contains(h) && !claim.negated.contains(h));
    (claim.denied.is_empty() || denies || (claim.state.is_some() && claim.state == said_state))
        && (claim.state.is_none() || claim.state == said_state)
        && !denies_what_claim_states
}

/// Whether a sentence could state the claim at all, whatever a model reads in it: it holds
/// every word of a short claim and says things the way the claim does.
pub fn can_state(claim: &ClaimTerms, sentence: &str, context: &[String]) -> bool {
    let sentence = normalise(sentence);
    holds_all(claim, &text::content_stems(&sentence), context) && keeps_polarity(claim, &sentence)
}

fn same_value(a: f64, b: f64) -> bool {
    (a - b).abs() <= f64::EPSILON * a.abs().max(b.abs()).max(1.0)
}

fn overlaps(a: &[String], b: &[String]) -> bool {
    a.iter().any(|x| b.contains(x))
}

/// A claim number whose quantity the sentence gives a different value, while the claim's value
/// appears nowhere in the sentence. The same quantity: the words after the numbers (the unit,
/// what is counted) or before them (what it is the value of) overlap; or the sentence's number
/// is a bare value ("is set to 10 by default") in a sentence that names what the claim's number
/// counts, and what it is the value of when the claim says so. The flag says whether the match
/// was by the words around both numbers (strict).
/// Kinds of value that exclude each other: a minimum is not a maximum, nor a default.
const KINDS: &[&str] = &["minimum", "maximum", "min", "max", "default", "defaults"];

/// Stems before a number that say only that it is a value ("The default value is 2.0").
const BARE_VALUE: &[&str] = &["valu", "default", "maximum", "minimum"];

/// Words before a number that count another set than the one named before ("the other three").
const OTHER_SET: &[&str] = &["other", "remaining", "additional", "another", "further"];

/// For each quantity of `sentence` (in order), whether it is one of a list of three or more
/// values ("10, 25 and 40"): only commas, "and" or "or" stand between them.
fn enumerated(sentence: &str, quantities: &[text::Quantity]) -> Vec<bool> {
    let joined = |a: &text::Quantity, b: &text::Quantity| {
        let from = a.at + a.raw.len();
        b.at > from
            && sentence.get(from..b.at).is_some_and(|gap| {
                gap.split(|c: char| c == ',' || c.is_whitespace())
                    .all(|w| w.is_empty() || w == "and" || w == "or")
            })
    };
    let mut listed = vec![false; quantities.len()];
    let mut start = 0;
    for i in 1..=quantities.len() {
        if i == quantities.len() || !joined(&quantities[i - 1], &quantities[i]) {
            if i - start >= 3 {
                listed[start..i].iter_mut().for_each(|l| *l = true);
            }
            start = i;
        }
    }
    listed
}

fn number_conflict(
    claim: &[text::Quantity],
    sentence: &[text::Quantity],
    sentence_stems: &[String],
) -> Option<(String, bool)> {
    // What a value is of (the words before it) names the same quantity only when the units do
    // not differ: "batteries keep 80 percent" and "batteries sold ten years earlier" are not
    // two values of one thing.
    // A setting's name says what its number counts: "max_connections defaults to 1000" is a
    // number of connections, as "100 connections" is.
    let named_unit = |q: &text::Quantity| -> Vec<String> {
        q.before
            .iter()
            .filter(|w| w.contains('_'))
            .flat_map(|w| w.split('_').map(text::stem).collect::<Vec<_>>())
            .collect()
    };
    // One unit, two things: "store batteries at 10 degrees" and "a reference cycle at 25
    // degrees" measure different temperatures. A value measures what the claim's does when
    // the words before it agree, or the sentence names what the claim's measures.
    // The end of a range ("10 to 20 degrees") measures what its start does.
    let claim_before: Vec<String> = claim.iter().flat_map(|q| q.before.clone()).collect();
    let same_thing = |a: &text::Quantity, b: &text::Quantity| {
        let before = if a.before.is_empty() {
            &claim_before
        } else {
            &a.before
        };
        before.is_empty()
            || b.before.is_empty()
            || overlaps(before, &b.before)
            || before.iter().any(|w| sentence_stems.contains(w))
    };
    let strict = |a: &text::Quantity, b: &text::Quantity| {
        (overlaps(&a.after, &b.after) && same_thing(a, b))
            || (overlaps(&a.before, &b.before) && (a.after.is_empty() || b.after.is_empty()))
            || (a.after.is_empty() && overlaps(&named_unit(a), &b.after))
            || (b.after.is_empty() && overlaps(&a.after, &named_unit(b)))
    };
    // A bare value ("The default is three.") is of what the sentence names: the claim's unit,
    // or, for a claim's number without one ("autovacuum_max_workers defaults to 10"), what it
    // is the value of.
    let loose = |c: &text::Quantity, n: &text::Quantity| {
        let of_it = |w: &String| sentence_stems.contains(w);
        // "The default value is 2.0": words naming only the kind of value leave it bare.
        n.after.is_empty()
            && n.before.iter().all(|w| BARE_VALUE.contains(&w.as_str()))
            && if c.after.is_empty() {
                !c.before.is_empty() && c.before.iter().all(of_it)
            } else {
                c.after.iter().any(of_it) && (c.before.is_empty() || c.before.iter().any(of_it))
            }
    };
    // A value inside a range the other side gives ("50" against "40 to 60") is no conflict.
    let within = |v: f64, of: &text::Quantity, among: &[&text::Quantity]| {
        let values: Vec<f64> = among
            .iter()
            .filter(|n| strict(n, of))
            .map(|n| n.value)
            .collect();
        let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        values.len() >= 2 && lo <= v && v <= hi
    };
    let sentence: Vec<&text::Quantity> = sentence
        .iter()
        .filter(|n| !n.bound && !n.denied && !n.version)
        .collect();
    for c in claim.iter().filter(|c| !c.bound) {
        if sentence.iter().any(|n| same_value(n.value, c.value)) {
            continue;
        }
        // The claim names the sentence's value itself ("4096 bytes, instead of the old 1024"):
        // giving that value is no disagreement with it.
        let stated_by_claim =
            |n: &&text::Quantity| claim.iter().any(|o| same_value(o.value, n.value));
        // "With -DSQLITE_THREADSAFE=0 the threading mode is single-thread" and "With
        // -DSQLITE_THREADSAFE=2 ... multi-thread": two configurations are two cases.
        let other = |n: &&text::Quantity| {
            let cases = c.assigned && n.assigned;
            !stated_by_claim(n) && !cases
        };
        let found = sentence
            .iter()
            .copied()
            .filter(other)
            .find(|n| strict(c, n))
            .map(|n| (n, true))
            .or_else(|| {
                sentence
                    .iter()
                    .copied()
                    .filter(other)
                    .find(|n| loose(c, n))
                    .map(|n| (n, false))
            });
        if let Some((n, is_strict)) = found {
            let claim_refs: Vec<&text::Quantity> = claim.iter().collect();
            if within(c.value, c, &sentence) || within(n.value, n, &claim_refs) {
                continue;
            }
            let quantity = c
                .after
                .first()
                .or_else(|| c.before.first())
                .cloned()
                .unwrap_or_default();
            return Some((
                format!(
                    "the evidence gives {} where the claim says {} ({quantity})",
                    n.raw, c.raw
                ),
                is_strict,
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
    fn the_opposite_state_of_the_same_feature_contradicts() {
        assert_eq!(
            state("foreign key constraint enforcement is turned off by default"),
            Some(false)
        );
        assert_eq!(state("Foreign keys are enforced by default."), Some(true));
        assert_eq!(
            state("Foreign keys are not enforced by default."),
            Some(false)
        );
        assert_eq!(state("log_checkpoints is on by default"), Some(true));
        assert_eq!(state("Click on the link."), None);
        assert_eq!(state("All processes are on the same machine."), None);
        let claim = terms("Foreign keys are enforced by default in SQLite.");
        for evidence in [
            "To avoid breaking those legacy databases, foreign key constraint enforcement is turned off by default in SQLite.",
            "As of SQLite version 3.6.19, the default setting for foreign key enforcement is OFF.",
        ] {
            assert!(
                matches!(judge_sentence(&claim, evidence), Judgement::Contradicts { .. }),
                "{evidence}"
            );
        }
        // What the claim says, said with the same state.
        let claim = terms("Foreign key enforcement is off by default in SQLite.");
        assert!(matches!(
            judge_sentence(
                &claim,
                "foreign key constraint enforcement is turned off by default in SQLite."
            ),
            Judgement::Supports { .. }
        ));
    }

    #[test]
    fn a_negation_in_a_condition_or_a_relative_clause_asserts_nothing() {
        let claim = terms(
            "If ONLY is not specified, the table and all its descendant tables are affected.",
        );
        assert!(!matches!(
            judge_sentence(
                &claim,
                "Actions affecting trigger states recurse to partitions of partitioned tables \
                 (unless ONLY is specified) and to the descendant tables."
            ),
            Judgement::Contradicts { .. }
        ));
        let claim =
            terms("Some standard Python objects now support the context management protocol.");
        assert!(!matches!(
            judge_sentence(
                &claim,
                "A TypeError is now raised for standard objects that do not support the context \
                 management protocol."
            ),
            Judgement::Contradicts { .. }
        ));
        // A denial in one case does not deny a claim that names no case.
        let claim = terms(
            "The only way to change out of EXCLUSIVE locking mode is to first change out of WAL \
             journal mode.",
        );
        assert!(!matches!(
            judge_sentence(
                &claim,
                "If the locking mode is EXCLUSIVE when first entering WAL journal mode, then the \
                 locking mode cannot be changed to NORMAL until after exiting WAL journal mode."
            ),
            Judgement::Contradicts { .. }
        ));
        // Nor does a requirement denied in a condition.
        let claim = terms("WAL normally requires that the VFS support shared-memory primitives.");
        assert!(!matches!(
            judge_sentence(
                &claim,
                "If the conversion to WAL could not be completed (for example, if the VFS does \
                 not support the necessary shared-memory primitives) then the journaling mode \
                 will be unchanged."
            ),
            Judgement::Contradicts { .. }
        ));
        // A main clause's negation still contradicts.
        let claim = terms("WAL works over a network filesystem.");
        assert!(matches!(
            judge_sentence(&claim, "WAL does not work over a network filesystem."),
            Judgement::Contradicts { .. }
        ));
    }

    #[test]
    fn a_value_of_another_kind_or_another_set_is_no_conflict() {
        // The sentence before ("The minimum size ...") is the maximum's context: the maximum's
        // own word says what its value is.
        let claim = terms("The minimum size SQLite database is a single 512-byte page.");
        let context =
            text::content_stems("The minimum size SQLite database is a single 512-byte page.");
        assert!(!matches!(
            judge_in_context(
                &claim,
                "The maximum size database would be 2147483646 pages at 65536 bytes per page.",
                &context
            ),
            Judgement::Contradicts { .. }
        ));
        let claim = terms("The SQL standard defines four levels of transaction isolation.");
        assert!(!matches!(
            judge_sentence(
                &claim,
                "The other three levels of transaction isolation are defined in terms of phenomena."
            ),
            Judgement::Contradicts { .. }
        ));
        // The same kind, another value, still conflicts.
        assert!(matches!(
            judge_sentence(
                &claim,
                "The SQL standard defines three levels of transaction isolation."
            ),
            Judgement::Contradicts { .. }
        ));
    }

    #[test]
    fn a_bare_value_under_the_term_conflicts_with_another_value_of_it() {
        let claim = terms("autovacuum_max_workers defaults to 10.");
        assert!(matches!(
            judge_sentence(&claim, "autovacuum_max_workers: The default is three."),
            Judgement::Contradicts { .. }
        ));
        // Another setting's default is no conflict.
        assert!(!matches!(
            judge_sentence(&claim, "maintenance_work_mem: The default is three."),
            Judgement::Contradicts { .. }
        ));
        // "The default value is 2.0": "value" names no other quantity.
        let claim = terms("hash_mem_multiplier defaults to 1.0.");
        let entry = "hash_mem_multiplier: The default value is 2.0, which makes hash-based \
                     operations use twice the usual work_mem base amount.";
        assert!(
            matches!(judge_sentence(&claim, entry), Judgement::Contradicts { .. }),
            "{:?}",
            judge_sentence(&claim, entry)
        );
        // Nor does it make another kind of value the same quantity.
        assert!(!matches!(
            judge_sentence(
                &claim,
                "hash_mem_multiplier: The value 2.0 doubles the budget."
            ),
            Judgement::Contradicts { .. }
        ));
    }

    #[test]
    fn a_claim_is_read_against_what_its_words_are_said_of() {
        // Another subject does not deny WAL's limit.
        let claim = terms("WAL does not work over a network filesystem.");
        assert!(!matches!(
            judge_sentence(
                &claim,
                "SQLite will work over a network filesystem, but because of the latency associated with most network filesystems, performance will not be great."
            ),
            Judgement::Contradicts { .. }
        ));
        // A sentence denying what the claim states does not state it, whatever a model reads.
        assert!(!can_state(
            &terms("WAL works over a network filesystem."),
            "All processes using a database must be on the same host computer; WAL does not work over a network filesystem.",
            &[]
        ));
        assert!(can_state(
            &terms("WAL does not work over a network filesystem."),
            "All processes using a database must be on the same host computer; WAL does not work over a network filesystem.",
            &[]
        ));
        // A short claim is stated only by a sentence holding all its words.
        let claim = terms("WAL works over a network filesystem.");
        assert!(!matches!(
            judge_sentence(
                &claim,
                "A similar hazard arises with file locking in network filesystems."
            ),
            Judgement::Supports { .. }
        ));
        // A state is stated only by a sentence giving it.
        let claim = terms("Foreign keys are enforced by default in SQLite.");
        assert!(!matches!(
            judge_sentence(
                &claim,
                "The default setting for foreign key enforcement can be specified at compile-time using the SQLITE_DEFAULT_FOREIGN_KEYS preprocessor macro."
            ),
            Judgement::Supports { .. }
        ));
        // A setting's name says what its number counts.
        let claim = terms("max_connections defaults to 1000.");
        assert!(matches!(
            judge_sentence(
                &claim,
                "max_connections: The default is typically 100 connections, but might be less if your kernel settings will not support it (as determined during initdb)."
            ),
            Judgement::Contradicts { .. }
        ));
    }

    #[test]
    fn since_a_state_began_is_no_change() {
        assert!(!dates_a_change(
            "Since the SQLite database file format was designed (in 2003) the default page size for new databases has been 1024 bytes."
        ));
        assert!(dates_a_change(
            "Since version 3.12.0 (2016-03-29), the default page size is 4096 bytes."
        ));
    }

    #[test]
    fn a_negation_conflicts_only_with_what_it_denies() {
        let claim = terms("WAL does not work over a network filesystem.");
        // Entries of a keyword list and sentences about network filesystems state nothing
        // about whether WAL works there.
        for evidence in [
            "network filesystem use",
            "useovernet.html → {how to corrupt a database} {network filesystem use}",
            "This is especially true of network filesystems and NFS in particular.",
        ] {
            assert!(
                !matches!(
                    judge_sentence(&claim, evidence),
                    Judgement::Contradicts { .. }
                ),
                "{evidence}"
            );
        }
        assert!(matches!(
            judge_sentence(&claim, "WAL works over a network filesystem."),
            Judgement::Contradicts { .. }
        ));
        // Nor does a keyword list state it.
        assert_eq!(
            judge_sentence(&claim, "network filesystem use"),
            Judgement::Unrelated
        );
    }

    #[test]
    fn an_earlier_version_s_change_is_the_history_of_a_later_one_not_a_conflict() {
        assert_eq!(
            dated_version("Changed in version 3.11: x"),
            Some(vec![3, 11])
        );
        assert!(
            dated_version("Changed in version 3.9: x")
                < dated_version("Changed in version 3.11: x")
        );
        let later = terms(
            "Changed in version 3.11: Class methods can no longer wrap other descriptors such \
             as property().",
        );
        let earlier =
            "Changed in version 3.9: Class methods can now wrap other descriptors such as property().";
        assert!(matches!(
            judge_sentence(&later, earlier),
            Judgement::Unrelated
        ));
        // The other way round, the later change says the claim no longer holds.
        let claim = terms(
            "Changed in version 3.9: Class methods can now wrap other descriptors such as \
             property().",
        );
        let j = judge_sentence(
            &claim,
            "Changed in version 3.11: Class methods can no longer wrap other descriptors such as \
             property().",
        );
        assert!(
            !matches!(j, Judgement::Supports { .. } | Judgement::Unrelated),
            "{j:?}"
        );
    }

    #[test]
    fn another_condition_is_another_case() {
        let c = terms(
            "If the locking mode is NORMAL when first entering WAL journal mode, then the locking \
             mode can be changed between NORMAL and EXCLUSIVE at any time.",
        );
        let j = judge_sentence(
            &c,
            "If the locking mode is EXCLUSIVE when first entering WAL journal mode, then the \
             locking mode cannot be changed to NORMAL until after exiting WAL journal mode.",
        );
        assert!(matches!(j, Judgement::Unrelated), "{j:?}");
        // The same condition denied is still a conflict.
        let j = judge_sentence(
            &c,
            "If the locking mode is NORMAL when first entering WAL journal mode, then the locking \
             mode cannot be changed between NORMAL and EXCLUSIVE.",
        );
        assert!(matches!(j, Judgement::Contradicts { .. }), "{j:?}");
    }

    #[test]
    fn a_dated_change_outdates_a_claim_of_one_value_not_one_of_several() {
        let change = "Beginning with SQLite version 3.12.0 the default page size for new \
                      database files has been increased to 4096 bytes.";
        let one = terms("The default page size for new database files is 1024 bytes.");
        assert!(matches!(
            judge_sentence(&one, change),
            Judgement::Outdated { .. }
        ));
        let several = terms(
            "The default page size for new database files is the 2-byte integer at an offset \
             of 16 bytes.",
        );
        assert!(!matches!(
            judge_sentence(&several, change),
            Judgement::Outdated { .. }
        ));
    }

    #[test]
    fn a_purpose_is_not_a_past_habit() {
        assert!(is_past("The scale factor used to default to 0.2."));
        assert!(!is_past(
            "It can be used to enrich exceptions with context information that is not \
             available at the time when the exception is raised."
        ));
        assert!(!is_past("This attribute is used to store the notes."));
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
    fn a_negation_inside_a_quotation_denies_nothing() {
        // The claim holds the evidence sentence and then quotes an error message.
        let c = terms(
            "To prevent older versions of SQLite from trying to recover a WAL-mode database the \
             file format version numbers are increased from 1 to 2 in WAL mode. Thus, an older \
             version will report an error along the lines of \"file is encrypted or is not a \
             database\".",
        );
        let j = judge_sentence(
            &c,
            "To prevent older versions of SQLite from trying to recover a WAL-mode database the \
             file format version numbers are increased from 1 to 2 in WAL mode.",
        );
        assert!(!matches!(j, Judgement::Contradicts { .. }), "{j:?}");
        // Outside the quotation, the same words deny.
        let c = terms("An older version of SQLite does not open a database in WAL mode.");
        let j = judge_sentence(
            &c,
            "An older version of SQLite opens a database in WAL mode.",
        );
        assert!(matches!(j, Judgement::Contradicts { .. }), "{j:?}");
    }

    #[test]
    fn a_value_the_claim_itself_names_is_no_conflict() {
        let t = terms("New databases get a 4096-byte page size, instead of the old 1024 bytes.");
        let j = judge_sentence(
            &t,
            "The default page size for new databases has been increased to 4096 bytes.",
        );
        assert!(!matches!(j, Judgement::Contradicts { .. }), "{j:?}");
        let t = terms("New databases get a 1024-byte page size by default.");
        let j = judge_sentence(
            &t,
            "The default page size for new databases has been increased to 4096 bytes.",
        );
        assert!(matches!(j, Judgement::Contradicts { .. }), "{j:?}");
    }

    #[test]
    fn a_value_the_evidence_denies_is_not_stated() {
        let c = terms("The default autovacuum scale factor is 0.2, so a table is vacuumed after a fifth of its rows change.");
        let j = judge_in_context(
            &c,
            "The default scale factor is 0.1, not 0.2.",
            &text::content_stems("Autovacuum defaults revisited"),
        );
        assert!(matches!(j, Judgement::Contradicts { .. }), "{j:?}");
        // A version or a bound is not the value either.
        let c = terms("Python's pickle module writes protocol 3 by default.");
        let j = judge_sentence(
            &c,
            "If fix_imports is true and protocol is less than 3, pickle will map the new Python 3 names by default.",
        );
        assert!(!matches!(j, Judgement::Supports { .. }), "{j:?}");
    }

    #[test]
    fn denying_what_a_claim_asserts_contradicts_it_whatever_reason_it_gives() {
        let c = terms("Storing lithium-ion batteries in the freezer extends their life, because the cold slows down the chemical reactions that wear them out.");
        let j = judge_sentence(
            &c,
            "Storing lithium-ion batteries in the freezer does not extend their life.",
        );
        assert!(matches!(j, Judgement::Contradicts { .. }), "{j:?}");
        // The claim's own sentence still states it.
        let j = judge_sentence(&c, "Storing lithium-ion batteries in the freezer extends their life, because the cold slows down the chemical reactions that wear them out.");
        assert!(matches!(j, Judgement::Supports { .. }), "{j:?}");
    }

    #[test]
    fn values_of_different_units_do_not_conflict() {
        let t =
            terms("Newer phone battery cells keep 80 percent of their capacity after 1000 cycles.");
        let j = judge_sentence(
            &t,
            "Phone battery cells sold ten years earlier were rated for roughly half that number of cycles.",
        );
        assert!(!matches!(j, Judgement::Contradicts { .. }), "{j:?}");
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

    #[test]
    fn context_names_what_a_number_is_of() {
        let c = terms("PostgreSQL accepts 1,000 concurrent connections out of the box.");
        let context = text::content_stems(
            "max_connections (integer) Determines the maximum number of concurrent connections.",
        );
        let j = judge_in_context(&c, "The default is typically 100 connections.", &context);
        assert!(matches!(j, Judgement::Contradicts { .. }), "{j:?}");
        // A default is not a per-unit rate, nor a maximum the claim does not speak of.
        let j = judge_sentence(&c, "One extra semaphore for each 16 allowed connections.");
        assert_eq!(j, Judgement::Unrelated);
    }

    #[test]
    fn a_pronoun_states_what_its_heading_names() {
        let c = terms("Sullivan County, New Hampshire: Its county seat is Newport.");
        let heading = text::content_stems("Sullivan County, New Hampshire");
        let j = judge_in_context(&c, "Its county seat is Newport.", &heading);
        assert!(matches!(j, Judgement::Supports { .. }), "{j:?}");
        // Without the pronoun the sentence speaks for itself only: this one holds too little.
        let j = judge_in_context(&c, "The county seat is Newport.", &heading);
        assert!(!matches!(j, Judgement::Supports { .. }), "{j:?}");
    }

    #[test]
    fn a_bare_value_of_the_counted_thing_contradicts() {
        let c = terms("One SQLite connection can attach 50 databases by default.");
        let j = judge_in_context(
            &c,
            "The number of simultaneously attached databases is limited to SQLITE_MAX_ATTACHED which is set to 10 by default.",
            &text::content_stems("The ATTACH statement allows databases on one SQLite connection."),
        );
        assert!(matches!(j, Judgement::Contradicts { .. }), "{j:?}");
        // "two or more" is a bound, not a value.
        let j = judge_sentence(
            &c,
            "ATTACH lets two or more databases share one SQLite connection by default.",
        );
        assert!(!matches!(j, Judgement::Contradicts { .. }), "{j:?}");
    }

    #[test]
    fn what_held_only_before_a_change_is_outdated() {
        let c =
            terms("SQLite's JSON functions need the -DSQLITE_ENABLE_JSON1 compile-time option.");
        let j = judge_sentence(
            &c,
            "Prior to version 3.38.0, the JSON functions were an extension that would only be included in builds if the -DSQLITE_ENABLE_JSON1 compile-time option was included.",
        );
        assert!(matches!(j, Judgement::Outdated { .. }), "{j:?}");
        let j = judge_sentence(
            &c,
            "It is no longer necessary to use the -DSQLITE_ENABLE_JSON1 compile-time option to enable the SQLite JSON functions.",
        );
        assert!(matches!(j, Judgement::Outdated { .. }), "{j:?}");
        assert!(is_current(
            "The JSON functions are built into SQLite by default, as of SQLite version 3.38.0."
        ));
        // A sentence that dates a change from the claim's value to another one.
        let c = terms("New SQLite databases get a page size of 1024 bytes by default.");
        let j = judge_sentence(
            &c,
            "For many years, the default page size was almost always 1024 bytes, but beginning with SQLite version 3.12.0 (2016-03-29), the default page size increased to 4096.",
        );
        assert!(matches!(j, Judgement::Outdated { .. }), "{j:?}");
        assert!(dates_a_change(
            "Changed in version 3.8: The default protocol is 4."
        ));
        assert!(!dates_a_change("The default protocol is 4."));
        // A claim about the past is not outdated by the past.
        let c = terms("Before version 3.38.0 the SQLite JSON functions needed the -DSQLITE_ENABLE_JSON1 compile-time option.");
        assert!(c.past);
    }

    #[test]
    fn two_configurations_are_two_cases_not_two_values() {
        let c = terms("With -DSQLITE_THREADSAFE=0 the threading mode is single-thread.");
        let j = judge_sentence(
            &c,
            "With -DSQLITE_THREADSAFE=2 the threading mode is multi-thread.",
        );
        assert!(!matches!(j, Judgement::Contradicts { .. }), "{j:?}");
        // A value stated of the setting still conflicts with another.
        let c = terms("The default threading mode is 0.");
        let j = judge_sentence(&c, "The default threading mode is 2.");
        assert!(matches!(j, Judgement::Contradicts { .. }), "{j:?}");
    }

    #[test]
    fn advice_that_something_is_needed_conflicts_with_its_denial() {
        let c = terms(
            "A new lithium-ion battery should be charged for 12 hours before its first use so \
             that it reaches full capacity.",
        );
        let j = judge_sentence(
            &c,
            "A new lithium-ion battery does not need a 12-hour first charge.",
        );
        assert!(matches!(j, Judgement::Contradicts { .. }), "{j:?}");
        // "should not" forbids: it denies no requirement.
        assert_eq!(
            requirement("You should not charge it below 0 degrees."),
            (false, false)
        );
        assert_eq!(requirement("It should be stored cool."), (true, false));
    }

    #[test]
    fn a_list_of_values_names_cases_not_one_value() {
        let c = terms("Store lithium-ion batteries at 10 to 20 degrees Celsius.");
        let j = judge_sentence(
            &c,
            "Cells were stored at three temperatures (10, 25 and 40 degrees Celsius) and at three \
             states of charge (10, 50 and 100 percent), with four cells per combination.",
        );
        assert!(!matches!(j, Judgement::Contradicts { .. }), "{j:?}");
        // One value of the same thing still conflicts.
        let j = judge_sentence(&c, "Store lithium-ion batteries at 30 degrees Celsius.");
        assert!(matches!(j, Judgement::Contradicts { .. }), "{j:?}");
    }

    #[test]
    fn one_unit_measuring_two_things_is_no_conflict() {
        let claim = text::quantities("Store lithium-ion batteries at 10 to 20 degrees Celsius.");
        let conflict = |sentence: &str| {
            number_conflict(
                &claim,
                &text::quantities(sentence),
                &text::content_stems(sentence),
            )
        };
        let other = "Capacity was measured every three months with a slow reference cycle at 25 \
                     degrees Celsius.";
        assert_eq!(conflict(other), None);
        assert!(conflict("Store lithium-ion batteries at 25 degrees Celsius.").is_some());
    }
}
