//! Canonical URLs: one spelling per page, so the same page found by several searches (or with
//! tracking parameters, a fragment, an upper-case host or a default port) is fetched, stored
//! and cited once.

use url::Url;

/// Query parameters that only track the visitor and never change the page.
fn is_tracking(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.starts_with("utm_")
        || matches!(
            n.as_str(),
            "fbclid"
                | "gclid"
                | "dclid"
                | "gclsrc"
                | "msclkid"
                | "yclid"
                | "igshid"
                | "mc_cid"
                | "mc_eid"
                | "_hsenc"
                | "_hsmi"
                | "ref_src"
                | "spm"
        )
}

/// Parse and canonicalise: http(s) only, no credentials, no fragment, no tracking parameters,
/// lower-case host without a trailing dot, no default port (the `url` crate does the last two
/// and resolves `.`/`..` path segments).
pub fn canonical(input: &str) -> Result<Url, String> {
    let mut url = Url::parse(input.trim()).map_err(|e| format!("{input}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "{input}: scheme {} is not http or https",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{input}: no host"));
    }
    url.set_fragment(None);
    let _ = url.set_username("");
    let _ = url.set_password(None);
    if let Some(host) = url.host_str() {
        if host.ends_with('.') && host.len() > 1 {
            let trimmed = host.trim_end_matches('.').to_string();
            let _ = url.set_host(Some(&trimmed));
        }
    }
    if url.query().is_some() {
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| !is_tracking(k))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if kept.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(kept);
        }
    }
    Ok(url)
}

/// The canonical string, or the input trimmed when it does not parse.
pub fn canonical_string(input: &str) -> String {
    canonical(input)
        .map(String::from)
        .unwrap_or_else(|_| input.trim().to_string())
}

/// Keep the first of each canonical URL, in order.
pub fn dedup<T>(items: Vec<T>, url_of: impl Fn(&T) -> &str) -> Vec<T> {
    let mut seen = std::collections::HashSet::new();
    items
        .into_iter()
        .filter(|i| seen.insert(canonical_string(url_of(i))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_spelling_per_page() {
        let same = [
            "https://Example.ORG/a/b?x=1#section",
            "https://example.org:443/a/./b?x=1&utm_source=news",
            "https://user:pw@example.org./a/c/../b?fbclid=zz&x=1",
        ];
        for s in same {
            assert_eq!(
                canonical(s).unwrap().as_str(),
                "https://example.org/a/b?x=1",
                "{s}"
            );
        }
        assert_eq!(
            canonical("http://example.org?utm_medium=x")
                .unwrap()
                .as_str(),
            "http://example.org/"
        );
        // Different pages stay different.
        assert_ne!(
            canonical("https://example.org/a?x=1").unwrap(),
            canonical("https://example.org/a?x=2").unwrap()
        );
        assert_ne!(
            canonical("http://example.org/a").unwrap(),
            canonical("https://example.org/a").unwrap()
        );
    }

    #[test]
    fn refuses_what_is_not_a_web_page() {
        assert!(canonical("file:///etc/passwd").is_err());
        assert!(canonical("ftp://example.org/x").is_err());
        assert!(canonical("not a url").is_err());
        assert!(canonical("javascript:alert(1)").is_err());
    }

    #[test]
    fn dedup_keeps_first_in_order() {
        let urls = vec![
            "https://a.org/x#1",
            "https://b.org/",
            "https://A.org/x?utm_campaign=q",
            "https://b.org",
        ];
        assert_eq!(
            dedup(urls, |u| u),
            vec!["https://a.org/x#1", "https://b.org/"]
        );
    }
}
