//! The `[distribution]` manifest section: what is accepted, what is refused and with which
//! message, and how behaviors match paths (CloudFront's path patterns).

use nuvem_edge::spec::DistributionSpec;
use nuvem_edge::{Distribution, pattern_matches};

#[track_caller]
fn check(toml_text: &str, expected: Result<(), &str>) {
    let spec: Result<DistributionSpec, _> = toml::from_str(toml_text);
    let got = match spec {
        Err(e) => Err(e.to_string()),
        Ok(s) => Distribution::from_spec(&s)
            .map(|_| ())
            .map_err(|e| e.to_string()),
    };
    match (got, expected) {
        (Ok(()), Ok(())) => {}
        (Err(e), Err(want)) => assert!(e.contains(want), "{e:?} should contain {want:?}"),
        (got, want) => panic!("got {got:?}, want {want:?}"),
    }
}

const OK: &str = "[[behaviors]]\npath_pattern = \"default\"\norigin = \"http://127.0.0.1:9\"\n";

#[test]
fn specs() {
    check(OK, Ok(()));
    check("", Err("at least a default behavior"));
    check(
        &format!("{OK}min_ttl = 5\nmax_ttl = 1\n"),
        Err("min_ttl <= default_ttl <= max_ttl"),
    );
    check(
        &format!("{OK}allowed_methods = [\"POST\"]\n"),
        Err("must include GET and HEAD"),
    );
    check(
        &format!("{OK}allowed_methods = [\"GET\", \"HEAD\", \"BREW COFFEE\"]\n"),
        Err("is not a method"),
    );
    check(
        &format!("{OK}viewer_protocol_policy = \"sometimes\"\n"),
        Err("viewer_protocol_policy"),
    );
    check(
        &format!("{OK}cache_key = {{ query_strings = \"some\" }}\n"),
        Err("cache_key.query_strings"),
    );
    check(
        &format!("{OK}cache_key = {{ headers = \"all\" }}\n"),
        Err("cache_key.headers"),
    );
    check(&format!("{OK}typo = 1\n"), Err("unknown field `typo`"));
    check(
        "[[behaviors]]\npath_pattern = \"default\"\norigin = \"ftp://x\"\n",
        Err("must be `bucket:<name>`"),
    );
    check(
        "[[behaviors]]\npath_pattern = \"default\"\norigin = \"https://x\"\n",
        Ok(()),
    );
    check(
        "[[behaviors]]\npath_pattern = \"default\"\norigin = \"https://x:8443/prefix\"\n",
        Ok(()),
    );
    check(&format!("extra_ca_file = \"ca.pem\"\n{OK}"), Ok(()));
    check(
        "[[behaviors]]\npath_pattern = \"default\"\norigin = \"bucket:site\"\n",
        Ok(()),
    );
    check(
        "[[behaviors]]\npath_pattern = \"default\"\norigin = \"api:shop\"\n",
        Ok(()),
    );
    check(
        &format!("{OK}[[custom_error_responses]]\nerror_code = 200\n"),
        Err("not 400-599"),
    );
    check(
        &format!(
            "{OK}[[custom_error_responses]]\nerror_code = 404\nresponse_page_path = \"x.html\"\n"
        ),
        Err("must start with /"),
    );
    check(
        &format!("default_root_object = \"/index.html\"\n{OK}"),
        Err("without a leading /"),
    );
    check(
        &format!("{OK}[[locations]]\nname = \"GRU 1\"\n"),
        Err("letters, digits and -"),
    );
    check(
        &format!("{OK}[[locations]]\nname = \"GRU1\"\naddr = \"127.0.0.1:0\"\n"),
        Ok(()),
    );
}

#[test]
fn path_patterns() {
    let cases = [
        ("*", "/anything/at/all", true),
        ("/api/*", "/api/items", true),
        ("/api/*", "/api", false),
        ("/api/*", "/API/items", false),
        ("*.jpg", "/a/b/c.jpg", true),
        ("*.jpg", "/a/b/c.jpeg", false),
        ("/images/*.png", "/images/x/y.png", true),
        ("/img?.png", "/img1.png", true),
        ("/img?.png", "/img12.png", false),
        ("/exact", "/exact", true),
        ("/exact", "/exact/", false),
    ];
    for (pattern, path, want) in cases {
        assert_eq!(pattern_matches(pattern, path), want, "{pattern} vs {path}");
    }
    let spec: DistributionSpec = toml::from_str(
        "[[behaviors]]\npath_pattern = \"api/*\"\norigin = \"api:a\"\n[[behaviors]]\npath_pattern = \"*.jpg\"\norigin = \"bucket:b\"\n[[behaviors]]\npath_pattern = \"default\"\norigin = \"bucket:c\"\n",
    )
    .unwrap();
    let d = Distribution::from_spec(&spec).unwrap();
    assert_eq!(
        d.behavior_for("/api/x.jpg").0,
        0,
        "a pattern without / is relative to the root"
    );
    assert_eq!(d.behavior_for("/x.jpg").0, 1);
    assert_eq!(d.behavior_for("/x.png").0, 2);
}

/// The README's example distribution is valid.
#[test]
fn readme_example() {
    let readme = include_str!("../../../README.md");
    let start = readme
        .find("### The edge")
        .expect("README has the edge section");
    let block = &readme[start..];
    let toml_start = block.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let toml_end = block[toml_start..].find("```").expect("closed") + toml_start;
    #[derive(serde::Deserialize)]
    struct Manifest {
        distribution: DistributionSpec,
    }
    let m: Manifest = toml::from_str(&block[toml_start..toml_end]).expect("valid TOML");
    let d = Distribution::from_spec(&m.distribution).expect("valid distribution");
    assert_eq!(d.locations.len(), 2);
    assert_eq!(d.behaviors.len(), 2);
}
