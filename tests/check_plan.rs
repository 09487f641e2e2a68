use research::index::{SearchRequest, Store};

#[test]
#[ignore]
fn debug_passages() {
    let store = Store::open(std::path::Path::new("/tmp/cp/idx-both")).unwrap();
    let q = std::env::var("Q").unwrap();
    let hits = store
        .search(&SearchRequest {
            text: q,
            limit: 5,
            ..Default::default()
        })
        .unwrap();
    for h in hits {
        println!(
            "== {} {:?} #{} {}\n{}\n",
            h.location, h.passage.heading_path, h.passage.ordinal, h.score, h.passage.text
        );
    }
}
