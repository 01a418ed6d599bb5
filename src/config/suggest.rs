//! "Did you mean" hints: the closest known word to a misspelt one (a key, a profile, an
//! overlay name, a value).

/// A list written as one string (`"a, b"`) as the items of a TOML array (`"a", "b"`), for
/// hints that show the list form.
pub fn quoted_items(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .map(|i| format!("{i:?}"))
        .collect()
}

/// The closest candidate to a misspelt word, for "did you mean" hints.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let candidates: Vec<&'a str> = candidates.into_iter().collect();
    let by_distance = candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, c)| *d <= (c.len().max(word.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c);
    // Else a long shared start: `node_filters` → `nodes`, `depends` → `depends_on`.
    by_distance.or_else(|| {
        candidates
            .iter()
            .map(|c| {
                (
                    word.chars()
                        .zip(c.chars())
                        .take_while(|(a, b)| a == b)
                        .count(),
                    *c,
                )
            })
            .filter(|(n, _)| *n >= 4)
            .max_by_key(|(n, _)| *n)
            .map(|(_, c)| c)
    })
}

pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_finds_typos_only() {
        assert_eq!(closest("agnets", ["agents", "servers"]), Some("agents"));
        assert_eq!(closest("zzzzzz", ["agents", "servers"]), None);
        assert_eq!(closest("node_filters", ["arg", "nodes"]), Some("nodes"));
    }
}
