//! What the `harness = false` benchmarks share: when to run at all, their sizes from the
//! environment, and medians.

/// Whether the benchmark was asked for (`cargo bench` passes `--bench`); a test run that only
/// lists the targets (nextest, `cargo test --benches`) runs nothing.
pub fn asked() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// A size from the environment variable `var` (`ARGUS_BENCH_HITS`, …), or `default`.
pub fn size(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The run whose `key` is the median of `runs` (the upper one of an even count). Panics on no
/// runs.
pub fn median_by<T>(mut runs: Vec<T>, key: impl Fn(&T) -> f64) -> T {
    runs.sort_by(|a, b| key(a).total_cmp(&key(b)));
    let mid = runs.len() / 2;
    runs.swap_remove(mid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_run_is_chosen_by_its_key() {
        let runs = vec![(3.0, "c"), (1.0, "a"), (2.0, "b")];
        assert_eq!(median_by(runs, |r| r.0), (2.0, "b"));
        assert_eq!(median_by(vec![4.0, 1.0], |v| *v), 4.0);
        assert_eq!(size("ARGUS_NO_SUCH_VARIABLE", 7), 7);
    }
}
