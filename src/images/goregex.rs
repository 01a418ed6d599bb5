//! A small regular-expression engine for the subset of Go's RE2 syntax that moby's
//! `patternmatcher` can produce when it translates a `.dockerignore` line.
//!
//! Why not translate to `globset` or to the `regex` crate: moby does not interpret the
//! pattern as a glob. It rewrites the line into a Go regexp string (`*` → `[^/]*`,
//! `**` → `(.*/)?`, `?` → `[^/]`, some metacharacters escaped) and passes `[`, `]`, `^`
//! and `\x` through untouched, so odd lines such as `[*]` or `a^b` get Go regexp
//! semantics (`[[^/]*]` is a class of `[`, `^`, `/` repeated, then a literal `]`).
//! To be exact we build the very same regexp string and interpret it with Go's rules.
//!
//! Supported: literals, `.` (not `\n`), `^`/`$` (text anchors: Go's default flags have no
//! multi-line mode), classes with negation, ranges, POSIX `[:name:]` and Perl `\d\s\w`
//! (ASCII, as in Go), escapes of punctuation, `\a\f\t\n\r\v`, `\A \z \b \B`, groups,
//! `*`, `+`, `?`. Rejected with an error (Go would accept them, but no real
//! `.dockerignore` needs them): `\x..`, `\p{..}`, `\Q..\E`, octal escapes, `{n,m}`.
//! Matching is a Pike VM (a set of threads), linear in the input: no backtracking blowup.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegexError(pub String);

impl fmt::Display for RegexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RegexError {}

#[derive(Debug, Clone)]
enum Node {
    Char(char),
    AnyNotNl,
    Class(Class),
    BeginText,
    EndText,
    WordBoundary,
    NotWordBoundary,
    Group(Vec<Vec<Node>>), // alternatives
    Star(Box<Node>),
    Plus(Box<Node>),
    Quest(Box<Node>),
}

#[derive(Debug, Clone, Default)]
struct Class {
    ranges: Vec<(char, char)>,
}

impl Class {
    fn contains(&self, c: char) -> bool {
        self.ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi)
    }

    fn negate(self) -> Class {
        let mut ranges = self.ranges;
        ranges.sort();
        let mut out = Vec::new();
        let mut next: u32 = 0;
        for (lo, hi) in ranges {
            let (lo, hi) = (lo as u32, hi as u32);
            if lo > next {
                push_range_u32(&mut out, next, lo - 1);
            }
            next = next.max(hi + 1);
        }
        if next <= 0x10FFFF {
            push_range_u32(&mut out, next, 0x10FFFF);
        }
        Class { ranges: out }
    }
}

/// Adds `lo..=hi` skipping the surrogate gap, which `char` cannot hold.
fn push_range_u32(out: &mut Vec<(char, char)>, lo: u32, hi: u32) {
    let parts = [(lo, hi.min(0xD7FF)), (lo.max(0xE000), hi)];
    for (a, b) in parts {
        if a <= b {
            if let (Some(a), Some(b)) = (char::from_u32(a), char::from_u32(b)) {
                out.push((a, b));
            }
        }
    }
}

struct Parser<'a> {
    s: &'a [char],
    i: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<char> {
        self.s.get(self.i).copied()
    }

    fn parse_alternation(&mut self, depth: usize) -> Result<Vec<Vec<Node>>, RegexError> {
        let mut alts = vec![Vec::new()];
        while let Some(c) = self.peek() {
            match c {
                '|' => {
                    self.i += 1;
                    alts.push(Vec::new());
                }
                ')' => {
                    if depth == 0 {
                        return Err(RegexError("unexpected ): unbalanced parenthesis".into()));
                    }
                    return Ok(alts);
                }
                '*' | '+' | '?' => {
                    self.i += 1;
                    let seq = alts.last_mut().expect("at least one alternative");
                    let Some(prev) = seq.pop() else {
                        return Err(RegexError(format!(
                            "missing argument to repetition operator: `{c}`"
                        )));
                    };
                    if matches!(prev, Node::Star(_) | Node::Plus(_) | Node::Quest(_)) {
                        // Go accepts `a*?` (non-greedy), which is the same set for a
                        // yes/no match; it rejects `a**`.
                        if c == '?' {
                            seq.push(prev);
                            continue;
                        }
                        return Err(RegexError(format!(
                            "invalid nested repetition operator: `{c}`"
                        )));
                    }
                    seq.push(match c {
                        '*' => Node::Star(Box::new(prev)),
                        '+' => Node::Plus(Box::new(prev)),
                        _ => Node::Quest(Box::new(prev)),
                    });
                }
                '{' => return Err(RegexError("repetition with {n,m} is not supported".into())),
                _ => {
                    let node = self.parse_atom(depth)?;
                    alts.last_mut()
                        .expect("at least one alternative")
                        .push(node);
                }
            }
        }
        if depth > 0 {
            return Err(RegexError(
                "missing closing ): unbalanced parenthesis".into(),
            ));
        }
        Ok(alts)
    }

    fn parse_atom(&mut self, depth: usize) -> Result<Node, RegexError> {
        let c = self.peek().expect("caller checked");
        self.i += 1;
        Ok(match c {
            '.' => Node::AnyNotNl,
            '^' => Node::BeginText,
            '$' => Node::EndText,
            '(' => {
                if self.peek() == Some('?') {
                    return Err(RegexError("group flags (?...) are not supported".into()));
                }
                let alts = self.parse_alternation(depth + 1)?;
                self.i += 1; // ')'
                Node::Group(alts)
            }
            '[' => Node::Class(self.parse_class()?),
            '\\' => self.parse_escape(false)?,
            c => Node::Char(c),
        })
    }

    /// After a `\`. Inside a class, assertions are not allowed.
    fn parse_escape(&mut self, in_class: bool) -> Result<Node, RegexError> {
        let Some(c) = self.peek() else {
            return Err(RegexError("trailing backslash at end of expression".into()));
        };
        self.i += 1;
        if let Some(class) = perl_class(c) {
            return Ok(Node::Class(class));
        }
        let lit = match c {
            'a' => '\u{7}',
            'f' => '\u{c}',
            't' => '\t',
            'n' => '\n',
            'r' => '\r',
            'v' => '\u{b}',
            'A' if !in_class => return Ok(Node::BeginText),
            'z' if !in_class => return Ok(Node::EndText),
            'b' if !in_class => return Ok(Node::WordBoundary),
            'B' if !in_class => return Ok(Node::NotWordBoundary),
            c if c.is_ascii_punctuation() => c,
            c if (c as u32) >= 0x80 => {
                return Err(RegexError(format!("invalid escape sequence: `\\{c}`")))
            }
            c => {
                return Err(RegexError(format!(
                    "invalid or unsupported escape sequence: `\\{c}`"
                )))
            }
        };
        Ok(Node::Char(lit))
    }

    fn parse_class(&mut self) -> Result<Class, RegexError> {
        let mut class = Class::default();
        let negated = self.peek() == Some('^');
        if negated {
            self.i += 1;
        }
        let mut first = true; // `]` is a literal as the first item
        loop {
            let Some(c) = self.peek() else {
                return Err(RegexError("missing closing ]".into()));
            };
            if c == ']' && !first {
                self.i += 1;
                break;
            }
            first = false;
            // POSIX [:name:] / [:^name:]
            if c == '[' && self.s.get(self.i + 1) == Some(&':') {
                if let Some(end) = find(&self.s[self.i + 2..], &[':', ']']) {
                    let name: String = self.s[self.i + 2..self.i + 2 + end].iter().collect();
                    let (neg, name) = match name.strip_prefix('^') {
                        Some(n) => (true, n.to_string()),
                        None => (false, name),
                    };
                    let Some(mut named) = posix_class(&name) else {
                        return Err(RegexError(format!(
                            "invalid character class range: `[:{name}:]`"
                        )));
                    };
                    if neg {
                        named = named.negate();
                    }
                    class.ranges.extend(named.ranges);
                    self.i += 2 + end + 2;
                    continue;
                }
            }
            if c == '\\' {
                if let Some(pc) = self.s.get(self.i + 1).copied().and_then(perl_class) {
                    class.ranges.extend(pc.ranges);
                    self.i += 2;
                    continue;
                }
            }
            let lo = self.class_char()?;
            let mut hi = lo;
            if self.peek() == Some('-') && self.s.get(self.i + 1).is_some_and(|&n| n != ']') {
                self.i += 1;
                hi = self.class_char()?;
                if hi < lo {
                    return Err(RegexError(format!(
                        "invalid character class range: `{lo}-{hi}`"
                    )));
                }
            }
            class.ranges.push((lo, hi));
        }
        Ok(if negated { class.negate() } else { class })
    }

    fn class_char(&mut self) -> Result<char, RegexError> {
        let Some(c) = self.peek() else {
            return Err(RegexError("missing closing ]".into()));
        };
        self.i += 1;
        if c != '\\' {
            return Ok(c);
        }
        match self.parse_escape(true)? {
            Node::Char(c) => Ok(c),
            _ => Err(RegexError("invalid escape in character class".into())),
        }
    }
}

fn find(hay: &[char], needle: &[char]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn ranges(r: &[(char, char)]) -> Class {
    Class { ranges: r.to_vec() }
}

fn perl_class(c: char) -> Option<Class> {
    let (base, neg) = match c {
        'd' | 'D' => (ranges(&[('0', '9')]), c == 'D'),
        's' | 'S' => (
            ranges(&[('\t', '\n'), ('\u{c}', '\r'), (' ', ' ')]),
            c == 'S',
        ),
        'w' | 'W' => (
            ranges(&[('0', '9'), ('A', 'Z'), ('_', '_'), ('a', 'z')]),
            c == 'W',
        ),
        _ => return None,
    };
    Some(if neg { base.negate() } else { base })
}

fn posix_class(name: &str) -> Option<Class> {
    Some(match name {
        "alnum" => ranges(&[('0', '9'), ('A', 'Z'), ('a', 'z')]),
        "alpha" => ranges(&[('A', 'Z'), ('a', 'z')]),
        "ascii" => ranges(&[('\0', '\u{7f}')]),
        "blank" => ranges(&[('\t', '\t'), (' ', ' ')]),
        "cntrl" => ranges(&[('\0', '\u{1f}'), ('\u{7f}', '\u{7f}')]),
        "digit" => ranges(&[('0', '9')]),
        "graph" => ranges(&[('!', '~')]),
        "lower" => ranges(&[('a', 'z')]),
        "print" => ranges(&[(' ', '~')]),
        "punct" => ranges(&[('!', '/'), (':', '@'), ('[', '`'), ('{', '~')]),
        "space" => ranges(&[('\t', '\r'), (' ', ' ')]),
        "upper" => ranges(&[('A', 'Z')]),
        "word" => ranges(&[('0', '9'), ('A', 'Z'), ('_', '_'), ('a', 'z')]),
        "xdigit" => ranges(&[('0', '9'), ('A', 'F'), ('a', 'f')]),
        _ => return None,
    })
}

#[derive(Debug, Clone)]
enum Inst {
    Char(char),
    AnyNotNl,
    Class(usize),
    Assert(Assertion),
    Split(usize, usize),
    Jmp(usize),
    Match,
}

#[derive(Debug, Clone, Copy)]
enum Assertion {
    BeginText,
    EndText,
    WordBoundary,
    NotWordBoundary,
}

/// A compiled Go regexp (subset). `is_match` has Go's `MatchString` semantics:
/// unanchored search, anchors only where the expression says so.
#[derive(Debug, Clone)]
pub struct GoRegex {
    prog: Vec<Inst>,
    classes: Vec<Class>,
}

impl GoRegex {
    pub fn new(expr: &str) -> Result<GoRegex, RegexError> {
        let chars: Vec<char> = expr.chars().collect();
        let mut p = Parser { s: &chars, i: 0 };
        let alts = p.parse_alternation(0)?;
        let mut re = GoRegex {
            prog: Vec::new(),
            classes: Vec::new(),
        };
        re.compile_alts(&alts);
        re.prog.push(Inst::Match);
        Ok(re)
    }

    fn compile_alts(&mut self, alts: &[Vec<Node>]) {
        if alts.len() == 1 {
            for n in &alts[0] {
                self.compile(n);
            }
            return;
        }
        // split L1, next; L1: alt0; jmp end; next: split ...
        let mut jumps = Vec::new();
        for (k, alt) in alts.iter().enumerate() {
            if k + 1 < alts.len() {
                let split = self.prog.len();
                self.prog.push(Inst::Split(split + 1, 0));
                for n in alt {
                    self.compile(n);
                }
                jumps.push(self.prog.len());
                self.prog.push(Inst::Jmp(0));
                let next = self.prog.len();
                self.prog[split] = Inst::Split(split + 1, next);
            } else {
                for n in alt {
                    self.compile(n);
                }
            }
        }
        let end = self.prog.len();
        for j in jumps {
            self.prog[j] = Inst::Jmp(end);
        }
    }

    fn compile(&mut self, n: &Node) {
        match n {
            Node::Char(c) => self.prog.push(Inst::Char(*c)),
            Node::AnyNotNl => self.prog.push(Inst::AnyNotNl),
            Node::Class(c) => {
                self.classes.push(c.clone());
                self.prog.push(Inst::Class(self.classes.len() - 1));
            }
            Node::BeginText => self.prog.push(Inst::Assert(Assertion::BeginText)),
            Node::EndText => self.prog.push(Inst::Assert(Assertion::EndText)),
            Node::WordBoundary => self.prog.push(Inst::Assert(Assertion::WordBoundary)),
            Node::NotWordBoundary => self.prog.push(Inst::Assert(Assertion::NotWordBoundary)),
            Node::Group(alts) => self.compile_alts(alts),
            Node::Star(inner) => {
                let split = self.prog.len();
                self.prog.push(Inst::Split(split + 1, 0));
                self.compile(inner);
                self.prog.push(Inst::Jmp(split));
                let end = self.prog.len();
                self.prog[split] = Inst::Split(split + 1, end);
            }
            Node::Plus(inner) => {
                let start = self.prog.len();
                self.compile(inner);
                let end = self.prog.len() + 1;
                self.prog.push(Inst::Split(start, end));
            }
            Node::Quest(inner) => {
                let split = self.prog.len();
                self.prog.push(Inst::Split(split + 1, 0));
                self.compile(inner);
                let end = self.prog.len();
                self.prog[split] = Inst::Split(split + 1, end);
            }
        }
    }

    pub fn is_match(&self, input: &[char]) -> bool {
        let n = self.prog.len();
        let mut clist: Vec<usize> = Vec::with_capacity(n);
        let mut nlist: Vec<usize> = Vec::with_capacity(n);
        let mut seen = vec![usize::MAX; n];
        for pos in 0..=input.len() {
            // Unanchored search: a new thread starts at every position.
            self.add_gen(&mut clist, &mut seen, 0, pos, input, pos);
            if clist.iter().any(|&pc| matches!(self.prog[pc], Inst::Match)) {
                return true;
            }
            if pos == input.len() {
                break;
            }
            let c = input[pos];
            nlist.clear();
            let gen = pos + 1;
            for &pc in &clist {
                let ok = match &self.prog[pc] {
                    Inst::Char(x) => *x == c,
                    Inst::AnyNotNl => c != '\n',
                    Inst::Class(k) => self.classes[*k].contains(c),
                    _ => false,
                };
                if ok {
                    self.add_gen(&mut nlist, &mut seen, pc + 1, gen, input, gen);
                }
            }
            std::mem::swap(&mut clist, &mut nlist);
        }
        false
    }

    /// Follows epsilon edges from `pc` at input position `pos`; `gen` marks the step so
    /// a state is added at most once per position.
    fn add_gen(
        &self,
        list: &mut Vec<usize>,
        seen: &mut [usize],
        pc: usize,
        pos: usize,
        input: &[char],
        gen: usize,
    ) {
        if seen[pc] == gen {
            return;
        }
        seen[pc] = gen;
        match &self.prog[pc] {
            Inst::Jmp(t) => self.add_gen(list, seen, *t, pos, input, gen),
            Inst::Split(a, b) => {
                self.add_gen(list, seen, *a, pos, input, gen);
                self.add_gen(list, seen, *b, pos, input, gen);
            }
            Inst::Assert(a) => {
                let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
                let before = pos > 0 && is_word(input[pos - 1]);
                let after = pos < input.len() && is_word(input[pos]);
                let ok = match a {
                    Assertion::BeginText => pos == 0,
                    Assertion::EndText => pos == input.len(),
                    Assertion::WordBoundary => before != after,
                    Assertion::NotWordBoundary => before == after,
                };
                if ok {
                    self.add_gen(list, seen, pc + 1, pos, input, gen);
                }
            }
            _ => list.push(pc),
        }
    }
}

/// Decodes bytes as Go does when it ranges over a string: every byte of an invalid
/// UTF-8 sequence becomes one U+FFFD.
pub fn go_chars(bytes: &[u8]) -> Vec<char> {
    let mut out = Vec::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.extend(chunk.valid().chars());
        out.extend(std::iter::repeat_n('\u{FFFD}', chunk.invalid().len()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(re: &str, s: &str) -> bool {
        GoRegex::new(re).unwrap().is_match(&go_chars(s.as_bytes()))
    }

    #[test]
    fn basics() {
        assert!(m("^a[^/]*b$", "axxb"));
        assert!(!m("^a[^/]*b$", "ax/b"));
        assert!(m("^(.*/)?foo$", "foo"));
        assert!(m("^(.*/)?foo$", "a/b/foo"));
        assert!(!m("^(.*/)?foo$", "a/bfoo"));
        assert!(m("^a\\.b$", "a.b"));
        assert!(!m("^a\\.b$", "axb"));
        // `.` does not cross a newline, a negated class does (Go's default flags)
        assert!(!m("^.*$", "a\nb"));
        assert!(m("^[^x]*$", "a\nb"));
    }

    #[test]
    fn go_class_quirks() {
        // moby turns `[*]` into `[[^/]*]`: the class {[,^,/} repeated, then `]`.
        assert!(m("^[[^/]*]$", "]"));
        assert!(m("^[[^/]*]$", "[^/]"));
        assert!(!m("^[[^/]*]$", "*"));
        // `]` first in a class is literal
        assert!(m("^[]a]$", "]"));
        assert!(m("^[[:digit:]x]$", "7"));
        assert!(m("^[[:^digit:]]$", "x"));
        assert!(!m("^[[:^digit:]]$", "1"));
        assert!(m("^[a-]$", "-"));
        assert!(m("^\\d\\w$", "1_"));
        // a mid-expression ^ is an anchor: never matches after position 0
        assert!(!m("^a^b$", "a^b"));
    }

    #[test]
    fn errors() {
        assert!(GoRegex::new("^\\1$").is_err());
        assert!(GoRegex::new("^[z-a]$").is_err());
        assert!(GoRegex::new("^[[:nope:]]$").is_err());
        assert!(GoRegex::new("^a**$").is_err());
        assert!(GoRegex::new("^[abc$").is_err());
        assert!(GoRegex::new("^a)$").is_err());
    }

    #[test]
    fn invalid_utf8_is_one_replacement_char_per_byte() {
        assert_eq!(
            go_chars(b"a\xff\xfeb"),
            vec!['a', '\u{FFFD}', '\u{FFFD}', 'b']
        );
    }
}
