//! Checks an audit's quotes against the bundled corpus files themselves, read and extracted
//! afresh (not the index's copy).

#![allow(dead_code)]

use serde_json::Value;
use std::path::Path;

/// Every vote of every reviewed claim in the audit.
pub fn votes(audit: &Value) -> Vec<&Value> {
    audit["reviewed"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["votes"].as_array().unwrap())
        .collect()
}

/// Every citation in the audit (claims' sources and votes' evidence): the bundled file's
/// extracted text hashes to the citation's hash and holds the quote at its span. Returns how
/// many citations were checked.
pub fn assert_quotes_verbatim(audit: &Value) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for r in audit["reviewed"].as_array().expect("reviewed") {
        let mut cites: Vec<&Value> = r["claim"]["citations"]
            .as_array()
            .expect("citations")
            .iter()
            .collect();
        cites.extend(
            r["votes"]
                .as_array()
                .expect("votes")
                .iter()
                .map(|v| &v["evidence"])
                .filter(|e| !e.is_null()),
        );
        for c in cites {
            let id = c["doc_id"].as_str().expect("doc_id");
            let rel = id.strip_prefix("bundled:").expect("a bundled document");
            let bytes = std::fs::read(root.join(rel)).expect("bundled file");
            let doc = research::bundled::document(id, &bytes).expect("extracts");
            assert_eq!(
                Some(doc.hash.as_str()),
                c["doc_hash"].as_str(),
                "{id}: hash"
            );
            let (s, e) = (
                c["start"].as_u64().unwrap_or(0) as usize,
                c["end"].as_u64().unwrap_or(0) as usize,
            );
            assert_eq!(
                doc.text.get(s..e),
                c["quote"].as_str(),
                "{id}: quote at {s}..{e}"
            );
            checked += 1;
        }
    }
    checked
}
