//! Whole pipelines on the shipped digits CNN, in process: every expanded configuration is a row,
//! verdicts follow from the numbers in the same report, the winner from the selection rule,
//! shared prefixes and re-runs hit the cache, early exits stop chains, and a failing metric
//! command is reported for its configuration only.

use optimize_pipeline::report::StepOrigin;
use optimize_pipeline::{PipelineJob, PipelineReport, RowStatus};
use optimize_testkit::{python, root};
use std::path::{Path, PathBuf};

/// Writes a recipe for digits-cnn into `dir`: the model and data by absolute path, a short
/// latency measurement, then `body`.
fn write_recipe(dir: &Path, body: &str) -> PathBuf {
    let r = root();
    let text = format!(
        "name = \"t\"\n[model]\npath = \"{}\"\n[data]\ncalibrate = \"{}\"\neval = \"{}\"\n[target]\nthreads = 1\nwarmup = 2\niterations = 20\nmin_duration = \"20ms\"\n{body}",
        r.join("models/digits-cnn.onnx").display(),
        r.join("models/data/digits-train-cnn.npz").display(),
        r.join("models/data/digits-test-cnn.npz").display(),
    );
    let path = dir.join("recipe.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn run(recipe: &Path, out: &Path) -> PipelineReport {
    let mut job = PipelineJob::new(recipe);
    job.out_dir = Some(out.to_path_buf());
    job.run(&mut optimize_job::Quiet).unwrap()
}

#[test]
fn rows_verdicts_winner_and_cache() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = write_recipe(
        dir.path(),
        "[sla]\nmetric_max_drop = 0.02\nsize_max = \"100 KiB\"\nselect = \"size\"\n\
         [[configs]]\nname = \"q\"\nsteps = [{ quantize = { mode = [\"dynamic\", \"static\"] } }]\n\
         [[configs]]\nname = \"pq\"\n[[configs.steps]]\nprune = { method = \"magnitude\", sparsity = [0.3, 0.6] }\n\
         [[configs.steps]]\nquantize = { mode = [\"dynamic\", \"fp16\"] }\n",
    );
    let out = dir.path().join("out");
    let report = run(&recipe, &out);

    // Rows: the original, then every expanded configuration in recipe order.
    let names: Vec<&str> = report.rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "original",
            "q[mode=dynamic]",
            "q[mode=static]",
            "pq[sparsity=0.3,mode=dynamic]",
            "pq[sparsity=0.3,mode=fp16]",
            "pq[sparsity=0.6,mode=dynamic]",
            "pq[sparsity=0.6,mode=fp16]",
        ]
    );
    for row in &report.rows {
        assert_eq!(
            row.status,
            RowStatus::Measured,
            "{}: {:?}",
            row.name,
            row.reason
        );
    }

    // Verdicts follow from the numbers in the same report.
    let base = report.rows[0].numbers.unwrap().metric.unwrap();
    for row in &report.rows {
        let n = row.numbers.unwrap();
        let drop = base - n.metric.unwrap();
        let expect_size = n.size_bytes as f64 / 1024.0 <= 100.0;
        let expect_drop = drop <= 0.02 + 1e-12;
        let by_key = |k: &str| row.sla.iter().find(|c| c.key == k).unwrap().met;
        assert_eq!(by_key("size_max"), expect_size, "{}", row.name);
        assert_eq!(by_key("metric_max_drop"), expect_drop, "{}", row.name);
        assert_eq!(row.sla_met, expect_size && expect_drop, "{}", row.name);
    }
    assert!(
        !report.rows[0].sla_met,
        "the float32 original is over 100 KiB"
    );

    // The winner: the smallest file among the rows that meet the SLA.
    let w = report.winner.expect("a configuration meets the SLA");
    let smallest = report
        .rows
        .iter()
        .enumerate()
        .filter(|(_, r)| r.sla_met)
        .min_by_key(|(_, r)| r.numbers.unwrap().size_bytes)
        .unwrap()
        .0;
    assert_eq!(
        report.rows[w].numbers.unwrap().size_bytes,
        report.rows[smallest].numbers.unwrap().size_bytes
    );
    let best = report.best.as_ref().unwrap();
    assert!(best.verified, "{}", best.verification);
    assert!(out.join("best.onnx").is_file());
    for f in [
        "results.json",
        "report.md",
        "size.svg",
        "size.png",
        "latency.svg",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("**Chosen: "), "{md}");

    // Shared prefixes: each pruning step ran once for its two chains.
    assert_eq!(report.cache.shared, 2, "{:?}", report.cache);
    assert_eq!(report.cache.ran, 2 + 2 + 4);
    assert_eq!(report.cache.cached, 0);

    // A second run finds everything: nothing runs, the same rows and verdicts.
    let again = run(&recipe, &out);
    assert_eq!(again.cache.ran, 0);
    assert_eq!(again.cache.cached, 10);
    assert!(again
        .rows
        .iter()
        .flat_map(|r| &r.steps)
        .all(|s| s.origin == StepOrigin::Cached));
    assert_eq!(again.winner, report.winner);
    for (a, b) in again.rows.iter().zip(&report.rows) {
        assert_eq!(a.numbers, b.numbers, "{}", a.name);
        assert_eq!(a.sla, b.sla);
    }
}

#[test]
fn early_exit_and_failing_metric_are_per_configuration() {
    let dir = tempfile::tempdir().unwrap();
    // The metric command: 0.5 for the float32 original, garbage for static int8 (QDQ), a
    // failure with a message on stderr for dynamic int8 (its integer MatMul).
    let script = dir.path().join("metric.py");
    std::fs::write(
        &script,
        "import sys\ndata = open(sys.argv[1], 'rb').read()\n\
         if b'MatMulInteger' in data or b'DynamicQuantizeLinear' in data:\n\
         \x20   sys.stderr.write('boom: no labels for this one\\n'); sys.exit(3)\n\
         elif b'QuantizeLinear' in data:\n    print('garbage')\nelse:\n    print(0.5)\n",
    )
    .unwrap();
    let recipe = write_recipe(
        dir.path(),
        &format!(
            "[metric]\ncommand = [\"{}\", \"{}\", \"{{model}}\"]\n[sla]\nmetric_max_drop = 0.1\n\
             [[configs]]\nname = \"q\"\nsteps = [{{ quantize = {{ mode = [\"dynamic\", \"static\"] }} }}]\n",
            python().display(),
            script.display()
        ),
    );
    let report = run(&recipe, &dir.path().join("out"));
    assert_eq!(report.rows.len(), 3);
    assert_eq!(report.rows[0].numbers.unwrap().metric, Some(0.5));
    let dynamic = &report.rows[1];
    assert!(dynamic.numbers.unwrap().metric.is_none());
    let err = dynamic.metric_error.as_deref().unwrap();
    assert!(err.contains("boom"), "{err}");
    let stat = &report.rows[2];
    assert!(
        stat.metric_error.as_deref().unwrap().contains("garbage"),
        "{stat:?}"
    );
    assert!(!dynamic.sla_met && !stat.sla_met);
    assert_eq!(report.winner, Some(0), "only the original is judged");

    // Early exit: 90% of the weights zeroed loses far more than 1 point of accuracy, and the
    // quantize step after it cannot win it back.
    let dir = tempfile::tempdir().unwrap();
    let recipe = write_recipe(
        dir.path(),
        "[sla]\nmetric_max_drop = 0.01\n[[configs]]\nname = \"p\"\n[[configs.steps]]\n\
         prune = { method = \"magnitude\", sparsity = 0.95 }\n[[configs.steps]]\nquantize = { mode = \"dynamic\" }\n",
    );
    let report = run(&recipe, &dir.path().join("out"));
    let row = &report.rows[1];
    assert_eq!(row.status, RowStatus::Stopped, "{row:?}");
    assert_eq!(row.steps.len(), 1);
    assert!(
        row.reason.as_deref().unwrap().contains("cannot raise it"),
        "{:?}",
        row.reason
    );
    assert_eq!(report.winner, Some(0));
}
