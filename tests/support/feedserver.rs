//! A loopback HTTP server for the digest tests: feeds (Atom, RSS 2.0, RSS 1.0, an arXiv-shaped
//! Atom API answer, malformed ones), the articles and PDFs they link to, and a robots.txt. Its
//! resources can be changed between digests; it counts every request by path and can slow down
//! articles (so a test can kill a digest midway). Bounded in time; it stops when dropped.

#![allow(dead_code)]

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, StatusCode, Uri};
use axum::response::Response;
use axum::Router;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone)]
pub struct Resource {
    pub content_type: String,
    pub body: Vec<u8>,
    pub status: u16,
}

#[derive(Default)]
pub struct FeedState {
    pub resources: Mutex<HashMap<String, Resource>>,
    pub hits: Mutex<HashMap<String, usize>>,
    /// Pause before answering any path under /articles/ or /papers/.
    pub article_delay_ms: Mutex<u64>,
}

impl FeedState {
    pub fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }
    /// Requests to paths starting with `prefix`.
    pub fn hits_under(&self, prefix: &str) -> usize {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p.starts_with(prefix))
            .map(|(_, n)| n)
            .sum()
    }
    pub fn set(&self, path: &str, content_type: &str, body: impl Into<Vec<u8>>) {
        self.resources.lock().unwrap().insert(
            path.to_string(),
            Resource {
                content_type: content_type.to_string(),
                body: body.into(),
                status: 200,
            },
        );
    }
    pub fn set_status(&self, path: &str, status: u16) {
        self.resources.lock().unwrap().insert(
            path.to_string(),
            Resource {
                content_type: "text/plain".into(),
                body: b"nope".to_vec(),
                status,
            },
        );
    }
}

pub struct FeedServer {
    pub port: u16,
    pub state: Arc<FeedState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FeedServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FeedServer {
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

async fn serve(State(state): State<Arc<FeedState>>, uri: Uri) -> Response {
    let path = uri.path().to_string();
    *state.hits.lock().unwrap().entry(path.clone()).or_default() += 1;
    if path.starts_with("/articles/") || path.starts_with("/papers/") {
        let delay = *state.article_delay_ms.lock().unwrap();
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay.min(10_000))).await;
        }
    }
    if path == "/robots.txt" {
        return Response::builder()
            .header(header::CONTENT_TYPE, "text/plain")
            .body(Body::from("User-agent: *\nDisallow: /private/\n"))
            .unwrap();
    }
    let found = state.resources.lock().unwrap().get(&path).cloned();
    match found {
        Some(r) => Response::builder()
            .status(StatusCode::from_u16(r.status).unwrap_or(StatusCode::OK))
            .header(header::CONTENT_TYPE, r.content_type)
            .body(Body::from(r.body))
            .unwrap(),
        None => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Body::from("not found"))
            .unwrap(),
    }
}

/// Start on 127.0.0.1 with a free port (inside a Tokio runtime).
pub async fn start() -> FeedServer {
    let state = Arc::new(FeedState::default());
    let app = Router::new().fallback(serve).with_state(Arc::clone(&state));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    FeedServer { port, state, task }
}

/// An HTML article page.
pub fn article(title: &str, paragraphs: &[&str]) -> String {
    let body: String = paragraphs.iter().map(|p| format!("<p>{p}</p>\n")).collect();
    format!(
        "<!DOCTYPE html><html><head><title>{title}</title></head><body><nav>Home | About</nav>\
         <main><article><h1>{title}</h1>\n{body}</article></main><footer>(c) test</footer></body></html>"
    )
}

/// An Atom feed of (id, title, link, summary, updated) entries.
pub fn atom(entries: &[(&str, &str, &str, &str, &str)]) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\
         <title>Test Atom</title><id>urn:test:atom</id><updated>2026-11-20T00:00:00Z</updated>\n",
    );
    for (id, title, link, summary, updated) in entries {
        out.push_str(&format!(
            "<entry><id>{id}</id><title>{title}</title><link rel=\"alternate\" href=\"{link}\"/>\
             <updated>{updated}</updated><author><name>A. Writer</name></author>\
             <summary type=\"html\">&lt;p&gt;{summary}&lt;/p&gt;</summary></entry>\n"
        ));
    }
    out.push_str("</feed>\n");
    out
}

/// An RSS 2.0 feed of (title, link, description, pubDate) items.
pub fn rss2(items: &[(&str, &str, &str, &str)]) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\"?>\n<rss version=\"2.0\"><channel><title>Test RSS 2</title>\
         <link>http://example.invalid/</link><description>d</description>\n",
    );
    for (title, link, desc, date) in items {
        out.push_str(&format!(
            "<item><title>{title}</title><link>{link}</link><guid>{link}</guid>\
             <description>{desc}</description><pubDate>{date}</pubDate></item>\n"
        ));
    }
    out.push_str("</channel></rss>\n");
    out
}

/// An RSS 1.0 (RDF) feed of (title, link, description, dc:date) items.
pub fn rss1(items: &[(&str, &str, &str, &str)]) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\"?>\n<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\" \
         xmlns=\"http://purl.org/rss/1.0/\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\">\
         <channel rdf:about=\"http://example.invalid/\"><title>Test RSS 1</title>\
         <link>http://example.invalid/</link><description>d</description><items><rdf:Seq>",
    );
    for (_, link, _, _) in items {
        out.push_str(&format!("<rdf:li rdf:resource=\"{link}\"/>"));
    }
    out.push_str("</rdf:Seq></items></channel>\n");
    for (title, link, desc, date) in items {
        out.push_str(&format!(
            "<item rdf:about=\"{link}\"><title>{title}</title><link>{link}</link>\
             <description>{desc}</description><dc:date>{date}</dc:date></item>\n"
        ));
    }
    out.push_str("</rdf:RDF>\n");
    out
}

/// An arXiv API answer (Atom with arxiv: fields) of (id, version, title, summary, pdf url).
pub fn arxiv(entries: &[(&str, u32, &str, &str, &str)]) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\" \
         xmlns:opensearch=\"http://a9.com/-/spec/opensearch/1.1/\" \
         xmlns:arxiv=\"http://arxiv.org/schemas/atom\"><title>ArXiv Query</title>\
         <id>http://arxiv.org/api/x</id><updated>2026-11-20T00:00:00-05:00</updated>\
         <opensearch:totalResults>1</opensearch:totalResults>\n",
    );
    for (id, v, title, summary, pdf) in entries {
        out.push_str(&format!(
            "<entry><id>http://arxiv.org/abs/{id}v{v}</id><updated>2026-11-19T18:00:00Z</updated>\
             <published>2026-11-18T18:00:00Z</published><title>{title}</title>\
             <summary>  {summary}\n</summary><author><name>B. Scholar</name></author>\
             <arxiv:doi>10.0000/x</arxiv:doi>\
             <link href=\"http://arxiv.org/abs/{id}v{v}\" rel=\"alternate\" type=\"text/html\"/>\
             <link title=\"pdf\" href=\"{pdf}\" rel=\"related\" type=\"application/pdf\"/>\
             <arxiv:primary_category term=\"cs.IR\" scheme=\"http://arxiv.org/schemas/atom\"/>\
             <category term=\"cs.IR\" scheme=\"http://arxiv.org/schemas/atom\"/></entry>\n"
        ));
    }
    out.push_str("</feed>\n");
    out
}
