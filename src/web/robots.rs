//! robots.txt, as RFC 9309 says: the rules for our product token (or `*`) decide which paths we
//! fetch; a robots.txt that is missing (4xx) allows everything; one that cannot be reached (5xx,
//! 429, network failure) disallows the whole site until a later run. `Crawl-delay` is honoured
//! as the minimum pause between two requests to the host. Parsing is texting_robots'.

use super::error::FetchError;
use std::time::Duration;
use url::Url;

/// The product token matched against `User-agent:` lines.
pub const AGENT_TOKEN: &str = "research";

/// How much of a robots.txt is read (RFC 9309 asks for at least 500 KiB).
pub const MAX_ROBOTS_BYTES: u64 = 512 * 1024;

pub enum RobotsRules {
    AllowAll,
    /// The site's robots.txt could not be read: nothing on it is fetched.
    DisallowAll(String),
    /// The site itself is refused (its address is private): every page fails with this.
    Refused(FetchError),
    Rules(Box<texting_robots::Robot>),
}

impl std::fmt::Debug for RobotsRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RobotsRules::AllowAll => f.write_str("AllowAll"),
            RobotsRules::DisallowAll(r) => write!(f, "DisallowAll({r})"),
            RobotsRules::Refused(e) => write!(f, "Refused({e})"),
            RobotsRules::Rules(r) => write!(f, "Rules(delay {:?})", r.delay),
        }
    }
}

impl RobotsRules {
    /// Rules from a fetched robots.txt (after redirects) by its final status.
    pub fn from_response(status: u16, body: &[u8]) -> RobotsRules {
        match status {
            200..=299 => match texting_robots::Robot::new(AGENT_TOKEN, body) {
                Ok(robot) => RobotsRules::Rules(Box::new(robot)),
                // A file the forgiving parser cannot read says nothing we could obey.
                Err(_) => RobotsRules::AllowAll,
            },
            429 => RobotsRules::DisallowAll(format!(
                "robots.txt answered HTTP {status}, so the site is treated as disallowed"
            )),
            400..=499 => RobotsRules::AllowAll,
            // 3xx left after following redirects: RFC 9309 lets us treat it as unavailable.
            300..=399 => RobotsRules::AllowAll,
            _ => RobotsRules::DisallowAll(format!(
                "robots.txt answered HTTP {status}, so the site is treated as disallowed"
            )),
        }
    }

    /// Rules when robots.txt could not be fetched at all.
    pub fn unreachable(err: &FetchError) -> RobotsRules {
        if matches!(err, FetchError::PrivateAddress(_)) {
            return RobotsRules::Refused(err.clone());
        }
        RobotsRules::DisallowAll(format!(
            "robots.txt could not be fetched ({err}), so the site is treated as disallowed"
        ))
    }

    pub fn check(&self, url: &Url) -> Result<(), FetchError> {
        match self {
            RobotsRules::AllowAll => Ok(()),
            RobotsRules::DisallowAll(reason) => Err(FetchError::RobotsUnreachable(reason.clone())),
            RobotsRules::Refused(e) => Err(e.clone()),
            RobotsRules::Rules(robot) => {
                let mut path = url.path().to_string();
                if let Some(q) = url.query() {
                    path.push('?');
                    path.push_str(q);
                }
                if robot.allowed(&path) {
                    Ok(())
                } else {
                    Err(FetchError::Robots(path))
                }
            }
        }
    }

    pub fn crawl_delay(&self) -> Option<Duration> {
        match self {
            RobotsRules::Rules(robot) => robot
                .delay
                .filter(|d| d.is_finite() && *d > 0.0)
                .map(|d| Duration::from_secs_f64(f64::from(d).min(86_400.0))),
            _ => None,
        }
    }
}

/// `scheme://host:port/robots.txt` for a URL.
pub fn robots_url(url: &Url) -> Option<Url> {
    let mut r = url.clone();
    r.set_fragment(None);
    r.set_query(None);
    let _ = r.set_username("");
    let _ = r.set_password(None);
    r.set_path("/robots.txt");
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn obeys_our_group_or_the_star_group() {
        let txt = b"User-agent: *\nDisallow: /private/\nCrawl-delay: 2\n\n\
                    User-agent: otherbot\nDisallow: /\n";
        let rules = RobotsRules::from_response(200, txt);
        assert!(rules.check(&u("http://h/docs/a.html")).is_ok());
        assert!(matches!(
            rules.check(&u("http://h/private/x.html")),
            Err(FetchError::Robots(_))
        ));
        assert_eq!(rules.crawl_delay(), Some(Duration::from_secs(2)));

        let ours = b"User-agent: research\nDisallow: /no\nAllow: /no/but-this\n\n\
                     User-agent: *\nDisallow: /\n";
        let rules = RobotsRules::from_response(200, ours);
        assert!(rules.check(&u("http://h/yes")).is_ok());
        assert!(rules.check(&u("http://h/no/x")).is_err());
        assert!(rules.check(&u("http://h/no/but-this/x")).is_ok());
        assert!(rules.check(&u("http://h/robots.txt")).is_ok());
    }

    #[test]
    fn query_strings_and_wildcards_count() {
        let rules = RobotsRules::from_response(200, b"User-agent: *\nDisallow: /*?session=\n");
        assert!(rules.check(&u("http://h/page")).is_ok());
        assert!(rules.check(&u("http://h/page?session=1")).is_err());
    }

    #[test]
    fn status_codes_follow_rfc_9309() {
        assert!(matches!(
            RobotsRules::from_response(404, b""),
            RobotsRules::AllowAll
        ));
        assert!(matches!(
            RobotsRules::from_response(403, b""),
            RobotsRules::AllowAll
        ));
        for status in [500, 503, 429] {
            let rules = RobotsRules::from_response(status, b"");
            assert!(
                matches!(
                    rules.check(&u("http://h/x")),
                    Err(FetchError::RobotsUnreachable(_))
                ),
                "{status}"
            );
        }
        let rules = RobotsRules::unreachable(&FetchError::Timeout(Duration::from_secs(1)));
        assert!(rules.check(&u("http://h/x")).is_err());
        // A site refused by the SSRF guard fails every page with that reason.
        let refused = FetchError::PrivateAddress("h resolves to 10.0.0.1".into());
        let rules = RobotsRules::unreachable(&refused);
        assert_eq!(rules.check(&u("http://h/x")), Err(refused));
        // Garbage is not a reason to stop.
        let rules = RobotsRules::from_response(200, b"\xff\xfe<html>not robots</html>");
        assert!(rules.check(&u("http://h/x")).is_ok());
    }

    #[test]
    fn robots_url_is_at_the_origin() {
        assert_eq!(
            robots_url(&u("https://a.org:8443/x/y?z#f"))
                .unwrap()
                .as_str(),
            "https://a.org:8443/robots.txt"
        );
    }
}
