//! Engine throughput on one core, files held in memory: the CPU cost of a scan without the walk,
//! the reads or the page cache, so two builds compare within a few percent on a noisy machine.
//!
//!   cargo bench --bench engine -- TREE [ROUNDS]
//!
//! Prints the best of ROUNDS (default 5) and the total matches, which must not change when the
//! engine is only made faster. benches/dir.sh measures the whole command against peers.
#![allow(clippy::print_stdout)]

use std::time::Instant;

use leakhound::blob::looks_binary;
use leakhound::engine::Engine;
use leakhound::rules::load::load_builtin;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Test runners (`cargo nextest run --all-targets`) ask a bench for its list of tests: it has
    // none, and without a tree there is nothing to measure either.
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let mut args = args.into_iter().filter(|a| !a.starts_with("--"));
    let Some(tree) = args.next() else {
        eprintln!("usage: cargo bench --bench engine -- TREE [ROUNDS]");
        return;
    };
    let rounds: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(5);
    let blobs: Vec<Vec<u8>> = ignore::WalkBuilder::new(&tree)
        .standard_filters(false)
        .build()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_some_and(|t| t.is_file()))
        .filter_map(|e| std::fs::read(e.path()).ok())
        .filter(|b| !looks_binary(b))
        .collect();
    let bytes: usize = blobs.iter().map(Vec::len).sum();
    let engine = Engine::new(load_builtin().expect("built-in rules")).expect("engine");
    println!("{} text files, {} MB, {} rules", blobs.len(), bytes / 1_000_000, engine.len());
    let mut best = f64::MAX;
    for round in 1..=rounds {
        let clock = Instant::now();
        let matches: usize = blobs.iter().map(|b| engine.scan(b).matches.len()).sum();
        let secs = clock.elapsed().as_secs_f64();
        best = best.min(secs);
        println!(
            "round {round}: {secs:.3} s, {:.0} MB/s, {matches} matches",
            bytes as f64 / secs / 1e6
        );
    }
    println!("best: {best:.3} s, {:.0} MB/s", bytes as f64 / best / 1e6);
}
