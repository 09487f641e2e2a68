//! The quote check: a citation is good only when its quote is found verbatim at its byte span in
//! the stored text of its document, and that text still hashes to the citation's hash. Nothing
//! is cited that fails it.

use crate::artifact::{Citation, Reviewed, Status, Vote};
use crate::index::{IndexError, SearchBackend, StoredDoc};
use std::collections::HashMap;

pub struct QuoteChecker<'a> {
    store: &'a dyn SearchBackend,
    docs: HashMap<String, Option<StoredDoc>>,
}

impl<'a> QuoteChecker<'a> {
    pub fn new(store: &'a dyn SearchBackend) -> QuoteChecker<'a> {
        QuoteChecker {
            store,
            docs: HashMap::new(),
        }
    }

    pub fn check(&mut self, c: &Citation) -> Result<bool, IndexError> {
        if !self.docs.contains_key(&c.doc_id) {
            let doc = self.store.document(&c.doc_id)?;
            self.docs.insert(c.doc_id.clone(), doc);
        }
        Ok(match self.docs.get(&c.doc_id) {
            Some(Some(doc)) => quote_matches(doc, c),
            _ => false,
        })
    }
}

impl QuoteChecker<'_> {
    /// Keep only the citations that pass; how many were removed.
    pub fn retain(&mut self, citations: &mut Vec<Citation>) -> Result<usize, IndexError> {
        let before = citations.len();
        let mut good = Vec::with_capacity(before);
        for c in citations.drain(..) {
            if self.check(&c)? {
                good.push(c);
            }
        }
        *citations = good;
        Ok(before - citations.len())
    }

    /// Hide every vote's evidence that fails (the vote stands, its note says why nothing is
    /// quoted); how many were hidden.
    pub fn recheck_votes(&mut self, votes: &mut [Vote]) -> Result<usize, IndexError> {
        let mut hidden = 0;
        for v in votes {
            if let Some(e) = &v.evidence {
                if !self.check(e)? {
                    v.evidence = None;
                    v.note
                        .push_str(" (evidence quote failed the check and is not shown)");
                    hidden += 1;
                }
            }
        }
        Ok(hidden)
    }

    /// The check right before writing, for one reviewed claim: failing citations are removed,
    /// a claim left with none is dropped (true when this drops it), failing vote evidence is
    /// hidden. Every command's report goes through here.
    pub fn recheck_reviewed(&mut self, r: &mut Reviewed) -> Result<bool, IndexError> {
        let before = r.claim.citations.len();
        self.retain(&mut r.claim.citations)?;
        let lost =
            before > 0 && r.claim.citations.is_empty() && r.verdict.status != Status::Dropped;
        if lost {
            r.verdict.status = Status::Dropped;
            r.verdict.reason = "its quote was not found in the stored source".into();
        }
        self.recheck_votes(&mut r.votes)?;
        Ok(lost)
    }
}

/// The pure rule, shared with tests and `research eval`.
pub fn quote_matches(doc: &StoredDoc, c: &Citation) -> bool {
    !c.quote.is_empty()
        && doc.hash == c.doc_hash
        && doc.text.get(c.start..c.end) == Some(c.quote.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cite(start: usize, end: usize, quote: &str, hash: &str) -> Citation {
        Citation {
            doc_id: "d".into(),
            location: "d".into(),
            title: "t".into(),
            doc_hash: hash.into(),
            start,
            end,
            quote: quote.into(),
            heading_path: vec![],
            passage: 0,
            page: None,
            fetched: None,
            lead_in: None,
        }
    }

    #[test]
    fn only_exact_spans_of_the_same_text_pass() {
        let doc = StoredDoc {
            location: "d".into(),
            title: "t".into(),
            hash: "h1".into(),
            text: "Slots retain WAL. Ünïcode here.".into(),
        };
        assert!(quote_matches(&doc, &cite(0, 17, "Slots retain WAL.", "h1")));
        assert!(!quote_matches(
            &doc,
            &cite(0, 17, "Slots retain WAL.", "h2")
        ));
        assert!(!quote_matches(
            &doc,
            &cite(1, 18, "Slots retain WAL.", "h1")
        ));
        assert!(!quote_matches(
            &doc,
            &cite(0, 17, "Slots retain wal.", "h1")
        ));
        // A span that cuts a character in half or runs past the end fails, never panics.
        assert!(!quote_matches(&doc, &cite(19, 20, "Ü", "h1")));
        assert!(!quote_matches(&doc, &cite(30, 99, "x", "h1")));
        assert!(!quote_matches(&doc, &cite(0, 0, "", "h1")));
    }
}
