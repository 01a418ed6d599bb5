//! Cases from moby's own tables (github.com/moby/patternmatcher, `patternmatcher_test.go`:
//! `TestMatches`, `matchTests` — Go's `filepath.Match` tests as moby adapted them —,
//! `compileTests`, `TestReadAll` in `ignorefile/ignorefile_test.go`), plus Go-regexp
//! quirks that follow from moby's translation.

use super::*;

fn one(pattern: &str) -> PatternMatcher {
    PatternMatcher::new([pattern]).unwrap_or_else(|e| panic!("{pattern:?}: {e}"))
}

/// moby `TestMatches` (MatchesOrParentMatches and MatchesUsingParentResults agree).
#[test]
fn moby_test_matches_table() {
    let cases: &[(&str, &str, bool)] = &[
        ("**", "file", true),
        ("**", "file/", true),
        ("**/", "file", true),
        ("**/", "file/", true),
        ("**", "/", true),
        ("**/", "/", true),
        ("**", "dir/file", true),
        ("**/", "dir/file", true),
        ("**", "dir/file/", true),
        ("**/", "dir/file/", true),
        ("**/**", "dir/file", true),
        ("**/**", "dir/file/", true),
        ("dir/**", "dir/file", true),
        ("dir/**", "dir/file/", true),
        ("dir/**", "dir/dir2/file", true),
        ("dir/**", "dir/dir2/file/", true),
        ("**/dir", "dir", true),
        ("**/dir", "dir/file", true),
        ("**/dir2/*", "dir/dir2/file", true),
        ("**/dir2/*", "dir/dir2/file/", true),
        ("**/dir2/**", "dir/dir2/dir3/file", true),
        ("**/dir2/**", "dir/dir2/dir3/file/", true),
        ("**file", "file", true),
        ("**file", "dir/file", true),
        ("**/file", "dir/file", true),
        ("**file", "dir/dir/file", true),
        ("**/file", "dir/dir/file", true),
        ("**/file*", "dir/dir/file", true),
        ("**/file*", "dir/dir/file.txt", true),
        ("**/file*txt", "dir/dir/file.txt", true),
        ("**/file*.txt", "dir/dir/file.txt", true),
        ("**/file*.txt*", "dir/dir/file.txt", true),
        ("**/**/*.txt", "dir/dir/file.txt", true),
        ("**/**/*.txt2", "dir/dir/file.txt", false),
        ("**/*.txt", "file.txt", true),
        ("**/**/*.txt", "file.txt", true),
        ("a**/*.txt", "a/file.txt", true),
        ("a**/*.txt", "a/dir/file.txt", true),
        ("a**/*.txt", "a/dir/dir/file.txt", true),
        ("a/*.txt", "a/dir/file.txt", false),
        ("a/*.txt", "a/file.txt", true),
        ("a/*.txt**", "a/file.txt", true),
        ("a[b-d]e", "ae", false),
        ("a[b-d]e", "ace", true),
        ("a[b-d]e", "aae", false),
        ("a[^b-d]e", "aze", true),
        (".*", ".foo", true),
        (".*", "foo", false),
        ("abc.def", "abcdef", false),
        ("abc.def", "abc.def", true),
        ("abc.def", "abcZdef", false),
        ("abc?def", "abcZdef", true),
        ("abc?def", "abcdef", false),
        ("a\\\\", "a\\", true),
        ("**/foo/bar", "foo/bar", true),
        ("**/foo/bar", "dir/foo/bar", true),
        ("**/foo/bar", "dir/dir2/foo/bar", true),
        ("abc/**", "abc", false),
        ("abc/**", "abc/def", true),
        ("abc/**", "abc/def/ghi", true),
        ("**/.foo", ".foo", true),
        ("**/.foo", "bar.foo", false),
        ("a(b)c/def", "a(b)c/def", true),
        ("a(b)c/def", "a(b)c/xyz", false),
        ("a.|)$(}+{bc", "a.|)$(}+{bc", true),
        (
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            true,
        ),
        (
            "dist/*.whl",
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            true,
        ),
        ("a\\*b", "a*b", true),
    ];
    for &(pattern, text, want) in cases {
        let pm = one(pattern);
        assert_eq!(
            pm.matches_or_parent_matches(text.as_bytes()).unwrap(),
            want,
            "MatchesOrParentMatches({pattern:?}, {text:?})"
        );
        assert_eq!(
            using_parent_results(&pm, text),
            want,
            "MatchesUsingParentResults({pattern:?}, {text:?})"
        );
        let (no_ctx, _) = pm
            .matches_using_parent_results(text.as_bytes(), &MatchInfo::default())
            .unwrap();
        assert_eq!(no_ctx, want, "no parent context ({pattern:?}, {text:?})");
    }
}

/// Walks the parents first, as the context walkers do.
fn using_parent_results(pm: &PatternMatcher, text: &str) -> bool {
    let mut info = MatchInfo::default();
    for p in parent_dirs(text.as_bytes()) {
        info = pm.matches_using_parent_results(p, &info).unwrap().1;
    }
    pm.matches_using_parent_results(text.as_bytes(), &info)
        .unwrap()
        .0
}

#[test]
fn moby_multi_pattern_table() {
    let cases: &[(&[&str], &str, bool)] = &[
        (&["**", "!util/docker/web"], "util/docker/web/foo", false),
        (
            &["**", "!util/docker/web", "util/docker/web/foo"],
            "util/docker/web/foo",
            true,
        ),
        (
            &[
                "**",
                "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            ],
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            false,
        ),
        (
            &["**", "!dist/*.whl"],
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            false,
        ),
        // the small named tests of patternmatcher_test.go
        (&["!fileutils.go", "*.go"], "fileutils.go", true),
        (&["docs", "!docs/README.md"], "docs/README.md", false),
        (&["docs/", "!docs/README.md"], "docs/README.md", false),
        (&["docs/*", "!docs/README.md"], "docs/README.md", false),
        (&["*.go", "!fileutils.go"], "fileutils.go", false),
        (&["*"], "fileutils.go", true),
        (&[], "/any/path/there", false),
    ];
    for &(patterns, text, want) in cases {
        let pm = PatternMatcher::new(patterns).unwrap();
        assert_eq!(
            pm.matches_or_parent_matches(text.as_bytes()).unwrap(),
            want,
            "{patterns:?} {text:?}"
        );
        assert_eq!(
            using_parent_results(&pm, text),
            want,
            "{patterns:?} {text:?} (parent results)"
        );
    }
}

/// moby's `matchTests` (Go's filepath.Match table), run through the deprecated
/// `Matches` as moby's `TestMatch` does; `None` = ErrBadPattern.
#[test]
fn moby_filepath_match_table() {
    let cases: &[(&str, &str, Option<bool>)] = &[
        ("abc", "abc", Some(true)),
        ("*", "abc", Some(true)),
        ("*c", "abc", Some(true)),
        ("a*", "a", Some(true)),
        ("a*", "abc", Some(true)),
        ("a*", "ab/c", Some(true)),
        ("a*/b", "abc/b", Some(true)),
        ("a*/b", "a/c/b", Some(false)),
        ("a*b*c*d*e*/f", "axbxcxdxe/f", Some(true)),
        ("a*b*c*d*e*/f", "axbxcxdxexxx/f", Some(true)),
        ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", Some(false)),
        ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", Some(false)),
        ("a*b?c*x", "abxbbxdbxebxczzx", Some(true)),
        ("a*b?c*x", "abxbbxdbxebxczzy", Some(false)),
        ("ab[c]", "abc", Some(true)),
        ("ab[b-d]", "abc", Some(true)),
        ("ab[e-g]", "abc", Some(false)),
        ("ab[^c]", "abc", Some(false)),
        ("ab[^b-d]", "abc", Some(false)),
        ("ab[^e-g]", "abc", Some(true)),
        ("a\\*b", "a*b", Some(true)),
        ("a\\*b", "ab", Some(false)),
        ("a?b", "a☺b", Some(true)),
        ("a[^a]b", "a☺b", Some(true)),
        ("a???b", "a☺b", Some(false)),
        ("a[^a][^a][^a]b", "a☺b", Some(false)),
        ("[a-ζ]*", "α", Some(true)),
        ("*[a-ζ]", "A", Some(false)),
        ("a?b", "a/b", Some(false)),
        ("a*b", "a/b", Some(false)),
        ("[\\]a]", "]", Some(true)),
        ("[\\-]", "-", Some(true)),
        ("[x\\-]", "x", Some(true)),
        ("[x\\-]", "-", Some(true)),
        ("[x\\-]", "z", Some(false)),
        ("[\\-x]", "x", Some(true)),
        ("[\\-x]", "-", Some(true)),
        ("[\\-x]", "a", Some(false)),
        ("[]a]", "]", None),
        ("[-]", "-", None),
        ("[x-]", "x", None),
        ("[x-]", "-", None),
        ("[x-]", "z", None),
        ("[-x]", "x", None),
        ("[-x]", "-", None),
        ("[-x]", "a", None),
        ("\\", "a", None),
        ("[a-b-c]", "a", None),
        ("[", "a", None),
        ("[^", "a", None),
        ("[^bc", "a", None),
        ("a[", "a", None),
        ("a[", "ab", None),
        ("*x", "xxx", Some(true)),
    ];
    for &(pattern, text, want) in cases {
        let got = matches_single_parent(text, &[pattern.to_string()]).ok();
        assert_eq!(got, want, "Matches({text:?}, [{pattern:?}])");
    }
}

/// moby `compileTests` (Unix column): the match kind and the exact regexp string.
#[test]
fn moby_compile_table() {
    use Kind::*;
    let cases: &[(&str, Kind, &str)] = &[
        ("*", Regex, "^[^/]*$"),
        ("file*", Regex, "^file[^/]*$"),
        ("*file", Regex, "^[^/]*file$"),
        ("a*/b", Regex, "^a[^/]*/b$"),
        ("**", Suffix, ""),
        ("**/**", Regex, "^(.*/)?.*$"),
        ("dir/**", Prefix, ""),
        ("**/dir", Suffix, ""),
        ("**/dir2/*", Regex, "^(.*/)?dir2/[^/]*$"),
        ("**/dir2/**", Regex, "^(.*/)?dir2/.*$"),
        ("**file", Suffix, ""),
        ("**/file*txt", Regex, "^(.*/)?file[^/]*txt$"),
        ("**/**/*.txt", Regex, "^(.*/)?(.*/)?[^/]*\\.txt$"),
        ("a[b-d]e", Regex, "^a[b-d]e$"),
        (".*", Regex, "^\\.[^/]*$"),
        ("abc.def", Exact, ""),
        ("abc?def", Regex, "^abc[^/]def$"),
        ("**/foo/bar", Suffix, ""),
        ("a(b)c/def", Exact, ""),
        ("a.|)$(}+{bc", Exact, ""),
        (
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            Exact,
            "",
        ),
    ];
    for &(pattern, kind, re) in cases {
        let (k, r, _) = translate(&go_clean(pattern));
        assert_eq!(k, kind, "{pattern:?}");
        if kind == Regex {
            assert_eq!(r, re, "{pattern:?}");
        }
    }
}

/// moby `TestReadAll`, plus comment/whitespace/BOM/CRLF rules.
#[test]
fn read_all() {
    let content =
        "test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n!\n! ";
    assert_eq!(
        read_ignore_file(content.as_bytes()).unwrap(),
        [
            "test1",
            "test2",
            "a/file/here",
            "lastfile",
            "!inverted/abs/path",
            "!",
            "!"
        ]
    );
    let content = "\u{feff}# bom comment\r\n  # not a comment: only column 1\r\n./a/../b//c/\r\n\t*.log  \n/\n";
    assert_eq!(
        read_ignore_file(content.as_bytes()).unwrap(),
        ["# not a comment: only column 1", "b/c", "*.log", "/"]
    );
    assert!(
        read_ignore_file(&vec![b'a'; 70_000]).is_err(),
        "bufio.Scanner's 64 KiB line limit"
    );
}

#[test]
fn new_rejects_what_docker_rejects() {
    assert!(PatternMatcher::new(["!"]).is_err());
    assert!(PatternMatcher::new(["["]).is_err());
    // Valid for filepath.Match, but Go's regexp rejects the range l-O: Docker fails on
    // first use (moby issue 52203); `check` reports it.
    let pm = PatternMatcher::new(["[Local-Only]/"]).unwrap();
    assert!(pm.matches_or_parent_matches(b"x").is_err());
    assert!(pm.check().is_err());
}

#[test]
fn clean_like_go() {
    for (input, want) in [
        ("", "."),
        ("a/./b", "a/b"),
        ("a/../../b", "../b"),
        ("/../a", "/a"),
        ("a//b/", "a/b"),
        ("./", "."),
        ("/", "/"),
        ("!./foo", "!./foo"),
        ("a/b/..", "a"),
    ] {
        assert_eq!(go_clean(input), want, "Clean({input:?})");
    }
}

/// Consequences of moby passing `[`, `]`, `^` and `\x` to Go's regexp unchanged.
#[test]
fn go_regexp_quirks() {
    // `[!a]` is not negation in a .dockerignore (Go regexp: the class {!, a})
    let pm = one("[!a]x");
    assert!(pm.matches_or_parent_matches(b"!x").unwrap());
    assert!(!pm.matches_or_parent_matches(b"bx").unwrap());
    // `\.` is an escaped dot; `\d` is Go's digit class
    assert!(one("v\\d.txt")
        .matches_or_parent_matches(b"v7.txt")
        .unwrap());
    // a `^` outside a class is an anchor: `^foo` is `foo`
    assert!(
        one("x/^foo?")
            .matches_or_parent_matches(b"x/^fooa")
            .unwrap()
            == false
    );
    assert!(one("^foo?").matches_or_parent_matches(b"fooa").unwrap());
    // `*` does not cross `/`, `**` does, and a match of a directory covers its content
    let pm = one("src/*.rs");
    assert!(pm.matches_or_parent_matches(b"src/a.rs").unwrap());
    assert!(!pm.matches_or_parent_matches(b"src/x/a.rs").unwrap());
    assert!(one("src/**/*.rs")
        .matches_or_parent_matches(b"src/x/y/a.rs")
        .unwrap());
    assert!(one("target")
        .matches_or_parent_matches(b"target/debug/x")
        .unwrap());
    // anchored at the root: `foo` is not `**/foo`
    assert!(!one("foo").matches_or_parent_matches(b"a/foo").unwrap());
    // POSIX class inside a class
    assert!(one("[[:digit:]]*")
        .matches_or_parent_matches(b"1abc")
        .unwrap());
}

#[test]
fn last_match_wins_and_reinclusion() {
    let pm = PatternMatcher::new(["*.md", "!README*.md", "README-secret.md"]).unwrap();
    assert!(pm.matches_or_parent_matches(b"CHANGELOG.md").unwrap());
    assert!(!pm.matches_or_parent_matches(b"README.md").unwrap());
    assert!(pm.matches_or_parent_matches(b"README-secret.md").unwrap());
    // an exclusion of a file under an excluded directory re-includes it
    let pm = PatternMatcher::new(["node_modules", "!node_modules/keep/me.js"]).unwrap();
    assert!(!pm
        .matches_or_parent_matches(b"node_modules/keep/me.js")
        .unwrap());
    assert!(pm
        .matches_or_parent_matches(b"node_modules/other.js")
        .unwrap());
}
