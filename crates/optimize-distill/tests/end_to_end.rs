use std::path::Path;

use optimize_distill::pipeline::{distill, DistillOptions, Outcome};
use optimize_distill::report::DistillReport;
use optimize_distill::run::{Progress, Quiet};
use optimize_distill::Recipe;

use crate::util::{mlp_recipe, root, write};

fn run(
    recipe_text: &str,
    dir: &Path,
    sweep: bool,
    resume: Option<&Path>,
    observer: &mut dyn Progress,
) -> Outcome {
    let recipe_path = write(dir, "recipe.toml", recipe_text);
    let recipe = Recipe::load(&recipe_path).unwrap();
    let options = DistillOptions {
        out_dir: dir.join("out"),
        resume: resume.map(Path::to_path_buf),
        sweep,
    };
    distill(recipe, &options, observer).unwrap()
}

fn done(o: Outcome) -> Box<DistillReport> {
    match o {
        Outcome::Done(r) => r,
        Outcome::Interrupted { .. } => panic!("interrupted"),
    }
}

fn bytes(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join("out").join(name)).unwrap()
}

/// Stops once, after `after` batches in all.
struct StopAfter {
    after: usize,
    seen: usize,
}

impl Progress for StopAfter {
    fn advance(&mut self, _: u64, _: &str) {
        self.seen += 1;
    }
    fn cancelled(&self) -> bool {
        self.seen == self.after
    }
}

#[test]
fn distilling_digits_reduces_the_loss_and_writes_everything() {
    let dir = tempfile::tempdir().unwrap();
    let report = done(run(&mlp_recipe(4, ""), dir.path(), false, None, &mut Quiet));
    let out = dir.path().join("out");
    for f in [
        "student.safetensors",
        "student.json",
        "student.onnx",
        "alone.safetensors",
        "alone.onnx",
        "log.jsonl",
        "report.json",
        "report.md",
        "curves.svg",
        "curves.png",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    assert!(!out.join("checkpoint.safetensors").exists());
    let log = std::fs::read_to_string(out.join("log.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 8, "4 epochs distilled + 4 alone");
    let loss = |i: usize| lines[i]["train_loss"].as_f64().unwrap();
    assert!(
        loss(3) < loss(0) * 0.9,
        "distilled loss {} -> {}",
        loss(0),
        loss(3)
    );
    assert!(loss(7) < loss(4), "alone loss {} -> {}", loss(4), loss(7));
    let acc = |role: &str| {
        report
            .models
            .iter()
            .find(|m| m.role == role)
            .unwrap()
            .test_accuracy
    };
    assert!(acc("teacher") > 0.95, "teacher {}", acc("teacher"));
    assert!(acc("distilled") > 0.6, "distilled {}", acc("distilled"));
    assert_eq!(
        report.data.labelled + report.data.unlabelled,
        report.data.transfer
    );
    let share = report.data.labelled as f64 / report.data.transfer as f64;
    assert!((share - 0.1).abs() < 0.01, "labelled share {share}");
    assert!(report
        .parity
        .iter()
        .all(|p| p.max_abs_diff.is_none_or(|d| d <= 1e-4)));
}

#[test]
fn same_seed_gives_the_same_bytes() {
    let text = mlp_recipe(
        2,
        "[loss.hint]\nstudent = \"linear0\"\nteacher = \"relu2\"\nweight = 0.1\n",
    )
    .replace(
        "[transfer]",
        "[transfer]\naugment = { shift = 1, noise = 0.05, image = [8, 8] }",
    )
    .replace(
        "{ type = \"relu\" }",
        "{ type = \"relu\" }, { type = \"dropout\", p = 0.2 }",
    );
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    done(run(&text, a.path(), false, None, &mut Quiet));
    done(run(&text, b.path(), false, None, &mut Quiet));
    for f in [
        "student.safetensors",
        "student.onnx",
        "alone.safetensors",
        "alone.onnx",
        "student.json",
    ] {
        assert!(
            bytes(a.path(), f) == bytes(b.path(), f),
            "{f} differs between two runs of one seed"
        );
    }
    let c = tempfile::tempdir().unwrap();
    done(run(
        &text.replace("seed = 3", "seed = 4"),
        c.path(),
        false,
        None,
        &mut Quiet,
    ));
    assert!(bytes(a.path(), "student.safetensors") != bytes(c.path(), "student.safetensors"));
    // The hint term was trained.
    let log = std::fs::read_to_string(a.path().join("out/log.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    assert!(first["hint_loss"].as_f64().unwrap() > 0.0);
}

/// Stopped in the distilled run, resumed, stopped in the baseline run, resumed: the same
/// bytes as a run never stopped.
#[test]
fn stopped_and_resumed_runs_end_where_uninterrupted_ones_do() {
    let text = mlp_recipe(3, "[checkpoint]\nevery = 1\n");
    let whole = tempfile::tempdir().unwrap();
    done(run(&text, whole.path(), false, None, &mut Quiet));

    let parts = tempfile::tempdir().unwrap();
    let ckpt = parts.path().join("out/checkpoint.safetensors");
    // 21 batches per epoch: stop inside the distilled run's second epoch...
    match run(
        &text,
        parts.path(),
        false,
        None,
        &mut StopAfter { after: 30, seen: 0 },
    ) {
        Outcome::Interrupted { checkpoint } => assert_eq!(checkpoint, ckpt),
        Outcome::Done(_) => panic!("not interrupted"),
    }
    assert!(ckpt.is_file());
    // ...then inside the baseline run's first epoch (63 distilled batches remain before it)...
    match run(
        &text,
        parts.path(),
        false,
        Some(&ckpt),
        &mut StopAfter { after: 40, seen: 0 },
    ) {
        Outcome::Interrupted { .. } => {}
        Outcome::Done(_) => panic!("not interrupted"),
    }
    // ...and finish.
    let report = done(run(&text, parts.path(), false, Some(&ckpt), &mut Quiet));
    assert_eq!(report.distilled.epochs, 3);
    for f in [
        "student.safetensors",
        "student.onnx",
        "alone.safetensors",
        "alone.onnx",
    ] {
        assert!(
            bytes(whole.path(), f) == bytes(parts.path(), f),
            "{f} differs after resuming"
        );
    }
    let log_a = std::fs::read_to_string(whole.path().join("out/log.jsonl")).unwrap();
    let log_b = std::fs::read_to_string(parts.path().join("out/log.jsonl")).unwrap();
    let losses = |log: &str| -> Vec<String> {
        log.lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["train_loss"].to_string()
            })
            .collect()
    };
    assert_eq!(losses(&log_a), losses(&log_b));
}

#[test]
fn resume_refuses_another_recipe() {
    let text = mlp_recipe(2, "");
    let dir = tempfile::tempdir().unwrap();
    let Outcome::Interrupted { checkpoint } = run(
        &text,
        dir.path(),
        false,
        None,
        &mut StopAfter { after: 3, seen: 0 },
    ) else {
        panic!("not interrupted")
    };
    let recipe_path = write(
        dir.path(),
        "recipe.toml",
        &text.replace("alpha = 0.3", "alpha = 0.4"),
    );
    let options = DistillOptions {
        out_dir: dir.path().join("out"),
        resume: Some(checkpoint),
        sweep: false,
    };
    let e = distill(Recipe::load(&recipe_path).unwrap(), &options, &mut Quiet).unwrap_err();
    assert!(
        e.to_string().contains("was written for a different recipe"),
        "{e}"
    );
}

#[test]
fn sweep_keeps_the_best_trial_and_a_candle_teacher_works() {
    let dir = tempfile::tempdir().unwrap();
    let text = mlp_recipe(
        2,
        "[sweep]\ntemperature = [2.0, 8.0]\nlr = [0.0005, 0.01]\n",
    )
    .replace("[report]", "[report]\nbaseline = false");
    let report = done(run(&text, dir.path(), true, None, &mut Quiet));
    assert_eq!(report.sweep.len(), 4);
    let best = report
        .sweep
        .iter()
        .map(|t| t.best_val_accuracy)
        .fold(0.0, f64::max);
    assert_eq!(report.distilled.best_val_accuracy, best);
    assert!(report.alone.is_none());

    // The distilled student, as a candle teacher of a smaller one.
    let teacher = dir.path().join("out/student.safetensors");
    let text = mlp_recipe(2, "")
        .replace(
            &format!("onnx = \"{}/models/digits-mlp.onnx\"", root().display()),
            &format!(
                "layers = [{{ type = \"linear\", out = 16 }}, {{ type = \"relu\" }}, {{ type = \"linear\", out = 10 }}]\nweights = \"{}\"",
                teacher.display()
            ),
        )
        .replace("out = 16 }, { type = \"relu\" }, { type = \"linear\", out = 10 }]\n\n[data]", "out = 8 }, { type = \"relu\" }, { type = \"linear\", out = 10 }]\n\n[data]");
    let dir2 = tempfile::tempdir().unwrap();
    let report2 = done(run(&text, dir2.path(), false, None, &mut Quiet));
    let t = report2.models.iter().find(|m| m.role == "teacher").unwrap();
    let s = report
        .models
        .iter()
        .find(|m| m.role == "distilled")
        .unwrap();
    assert!(
        (t.test_accuracy - s.test_accuracy).abs() < 1e-12,
        "candle teacher {} vs the student it was {}",
        t.test_accuracy,
        s.test_accuracy
    );
}

/// Non-empty lines of a gzip-compressed CSV, counted by the project's Python.
fn csv_rows(path: &std::path::Path) -> usize {
    let py = root().join(".venv/bin/python");
    assert!(
        py.exists(),
        "{} missing: run scripts/setup-venv.sh",
        py.display()
    );
    let out = std::process::Command::new(py)
        .args([
            "-c",
            "import gzip,sys; print(sum(1 for l in gzip.open(sys.argv[1], 'rt') if l.strip()))",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// The bundled digits CSV (gzip), split by fraction, with extra unlabelled inputs from a file.
#[test]
fn csv_data_split_by_fraction_and_extra_unlabelled_inputs() {
    let r = root();
    let text = mlp_recipe(1, "")
        .replace(
            &format!(
                "path = \"{r}/models/data/digits-train.npz\"\ntest = \"{r}/models/data/digits-test.npz\"\nsplit = {{ train = 0.9, val = 0.1 }}",
                r = r.display()
            ),
            &format!(
                "path = \"{}/models/data/digits.csv.gz\"\nscale = 0.0625\nsplit = {{ train = 0.7, val = 0.1, test = 0.2 }}",
                r.display()
            ),
        )
        .replace(
            "labelled_fraction = 0.1",
            &format!(
                "labelled_fraction = 0.1\nunlabelled = [\"{}/models/data/digits-test-cnn.npz\"]",
                r.display()
            ),
        )
        .replace("[report]", "[report]\nbaseline = false");
    let dir = tempfile::tempdir().unwrap();
    let report = done(run(&text, dir.path(), false, None, &mut Quiet));
    // The reference: the CSV's rows counted here (Python's gzip; the file has no header) cut by
    // the recipe's fractions, each rounded (the documented rule of data.split), and the rows of
    // the extra file.
    let rows = csv_rows(&r.join("models/data/digits.csv.gz"));
    let count = |f: f64| (f * rows as f64).round() as usize;
    let extra = optimize_data::read_npz(r.join("models/data/digits-test-cnn.npz")).unwrap()[0]
        .1
        .shape()[0];
    assert_eq!(
        (report.data.val, report.data.test),
        (count(0.1), count(0.2))
    );
    assert_eq!(report.data.transfer, count(0.7) + extra);
    assert_eq!(
        report.data.labelled + report.data.unlabelled,
        report.data.transfer
    );
    // A tenth of the training rows keeps its labels: the rest and the extra file do not.
    assert!(
        report.data.unlabelled > extra + count(0.7) * 8 / 10,
        "{:?}",
        report.data
    );
    assert_eq!(report.data.sample_shape, [64]);
}

/// SGD with momentum, a step schedule, early stopping on validation loss, and a student that
/// starts from the weights of an earlier run.
#[test]
fn sgd_early_stopping_and_initial_weights() {
    let first = tempfile::tempdir().unwrap();
    let trained = done(run(
        &mlp_recipe(3, ""),
        first.path(),
        false,
        None,
        &mut Quiet,
    ));
    let weights = first.path().join("out/student.safetensors");
    let text = mlp_recipe(
        40,
        "kind = \"sgd\"\nmomentum = 0.9\n[schedule]\nkind = \"step\"\nstep_epochs = 2\ngamma = 0.5\n[early_stopping]\nmetric = \"val_loss\"\npatience = 2\n",
    )
    .replace("lr = 0.005", "lr = 1e-7")
    .replace(
        "[data]",
        &format!("weights = \"{}\"\n\n[data]", weights.display()),
    )
    .replace("[report]", "[report]\nbaseline = false");
    let dir = tempfile::tempdir().unwrap();
    let report = done(run(&text, dir.path(), false, None, &mut Quiet));
    assert!(report.distilled.stopped_early, "{:?}", report.distilled);
    assert!(report.distilled.epochs < 40);
    // With a learning rate of 1e-7 the student stays where it started: the trained one.
    let acc = |r: &DistillReport| {
        r.models
            .iter()
            .find(|m| m.role == "distilled")
            .unwrap()
            .test_accuracy
    };
    assert!(
        (acc(&report) - acc(&trained)).abs() < 0.01,
        "{} vs {}",
        acc(&report),
        acc(&trained)
    );
}
