//! A short, stable stand-in for the cargo-fuzz targets (issue #19): every target of
//! this module runs its seeds, proptest mutations of them, and the crashers the fuzzers
//! found (committed under `fuzz/regressions/<target>/`), and must return without panicking.

use std::path::Path;

use super::{TARGETS, Target};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// An edit of a seed: overwrite a byte, insert bytes, or cut the input short.
#[derive(Debug, Clone)]
enum Edit {
    Set(usize, u8),
    Insert(usize, Vec<u8>),
    Truncate(usize),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        4 => (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Edit::Set(at, b)),
        1 => (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(at, bytes)| Edit::Insert(at, bytes)),
        1 => any::<usize>().prop_map(Edit::Truncate),
    ];
    proptest::collection::vec(edit, 1..8)
}

fn apply(seed: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for edit in edits {
        let len = data.len().max(1);
        match edit {
            Edit::Set(at, b) if !data.is_empty() => data[at % len] = *b,
            Edit::Set(..) => data.push(0),
            Edit::Insert(at, bytes) => {
                let at = at % (data.len() + 1);
                data.splice(at..at, bytes.iter().copied());
            }
            Edit::Truncate(at) => data.truncate(at % len),
        }
    }
    data
}

fn smoke(target: &Target, cases: u32) {
    let seeds = (target.seeds)();
    assert!(!seeds.is_empty(), "target {} has no seeds", target.name);
    for seed in &seeds {
        (target.run)(seed);
    }
    (target.run)(&[]);
    let regressions =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions").join(target.name);
    for entry in std::fs::read_dir(&regressions).into_iter().flatten().flatten() {
        let data = std::fs::read(entry.path()).expect("a committed crasher is readable");
        (target.run)(&data);
    }
    let mut runner =
        TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    let strategy = (0..seeds.len(), edits());
    runner
        .run(&strategy, |(which, edits)| {
            (target.run)(&apply(&seeds[which], &edits));
            Ok(())
        })
        .unwrap_or_else(|e| panic!("target {}: {e}", target.name));
}

#[test]
fn every_fuzz_target_has_a_cargo_fuzz_binary() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/fuzz_targets");
    for target in TARGETS {
        assert!(
            dir.join(format!("{}.rs", target.name)).is_file(),
            "fuzz/fuzz_targets/{}.rs",
            target.name
        );
    }
}

#[test]
fn fuzz_targets_survive_mutated_seeds() {
    for target in TARGETS {
        // Targets that run a whole scan in-process (archives, repositories) cost milliseconds an
        // input; the parsers cost microseconds.
        let slow = matches!(target.name, "image_archive" | "git_history" | "git_tree");
        smoke(target, if slow { 12 } else { 64 });
    }
}
