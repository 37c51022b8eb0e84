//! Every committed corpus file of every fuzz target (`fuzz/corpus/<target>/`,
//! grown by `bench/fuzz.sh` and minimised), replayed through its check: what
//! the fuzzers reached, every run of `cargo test` checks again.

use std::{fs, path::Path};

#[test]
fn every_corpus_file_keeps_its_targets_rules() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let mut replayed = 0;
    let mut failed = Vec::new();
    for (target, check) in fuzz_checks::TARGETS {
        let dir = corpus.join(target);
        let mut files: Vec<_> = fs::read_dir(&dir)
            .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
            .map(|entry| entry.expect("a corpus entry").path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no corpus for {target}");
        for file in files {
            let data = fs::read(&file).expect("a corpus file");
            // Each file on its own, so that one failure shows every other.
            if std::panic::catch_unwind(|| check(&data)).is_err() {
                failed.push(file.display().to_string());
            }
            replayed += 1;
        }
    }
    eprintln!("replayed {replayed} corpus files");
    assert!(
        failed.is_empty(),
        "{} of {replayed} corpus files break a rule: {failed:#?}",
        failed.len()
    );
}
