//! `optimize bench` and `optimize report`: bad input gives one clear line and the right exit
//! code (2 for bad input, 1 for a failure while working) with no panic; a report renders (files
//! exist, SVG parses, PNG decodes, JSON matches the typed schema); the targets say what they did.
//!
//! Nothing here times anything: runs use a few iterations and no minimum duration, and only
//! the shape of the results is checked. Speed is measured in benches/.

use crate::util::{model, optimize, Run};
use optimize_bench::report::{Report, REPORT_SCHEMA};
use optimize_bench::{BenchResult, Engine, Target};
use optimize_data::{write_npz, Tensor};
use optimize_onnx::proto::ModelProto;
use prost::Message;
use std::path::Path;

/// Few iterations, no minimum duration: enough to check the plumbing, never a timing.
const QUICK: [&str; 6] = ["--iterations", "3", "--warmup", "1", "--min-duration", "0"];

fn bench(dir: &Path, args: &[&str]) -> Run {
    let mut all = vec!["bench"];
    all.extend_from_slice(args);
    all.extend_from_slice(&QUICK);
    optimize(dir, &all)
}

/// Exit `code`, exactly one line on stderr holding every needle, no panic, nothing on stdout.
fn expect_error(run: &Run, code: i32, needles: &[&str]) {
    assert_eq!(run.code, code, "expected exit {code}, got {run:?}");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "expected one line on stderr: {:?}",
        run.stderr
    );
    for needle in needles {
        assert!(
            lines[0].contains(needle),
            "expected {needle:?} in: {}",
            lines[0]
        );
    }
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}

fn mlp() -> String {
    model("digits-mlp.onnx").display().to_string()
}

#[test]
fn unknown_back_end() {
    let dir = tempfile::tempdir().unwrap();
    let run = bench(dir.path(), &[&mlp(), "--backend", "tract,onnx"]);
    expect_error(
        &run,
        2,
        &["unknown back end `onnx`", "tract, ort, ort-cuda"],
    );
    let run = bench(dir.path(), &[&mlp(), "--target", "phone"]);
    expect_error(&run, 2, &["unknown target `phone`"]);
}

#[test]
fn a_model_the_back_end_cannot_run_names_the_operator() {
    let dir = tempfile::tempdir().unwrap();
    let mut proto = ModelProto::decode(std::fs::read(mlp()).unwrap().as_slice()).unwrap();
    // Det (determinant) is a standard ONNX op that tract does not implement.
    let node = proto
        .graph
        .as_mut()
        .unwrap()
        .node
        .iter_mut()
        .find(|n| n.op_type.as_deref() == Some("Relu"))
        .unwrap();
    node.op_type = Some("Det".into());
    let name = node.name.clone().unwrap();
    std::fs::write(dir.path().join("det.onnx"), proto.encode_to_vec()).unwrap();
    let run = bench(dir.path(), &["det.onnx", "--backend", "tract"]);
    expect_error(&run, 2, &["det.onnx", "tract", "(Det)", &name]);
}

#[test]
fn missing_model_file() {
    let dir = tempfile::tempdir().unwrap();
    let run = bench(dir.path(), &["nothere.onnx", "--backend", "tract"]);
    expect_error(&run, 2, &["nothere.onnx", "no such file"]);
}

#[test]
fn eval_data_with_the_wrong_shape_or_dtype() {
    let dir = tempfile::tempdir().unwrap();
    // digits-mlp takes input: f32 [batch, 64].
    let short = Tensor::from_f32(vec![3, 32], vec![0.5; 96]).unwrap();
    let label = Tensor::from_i64(vec![3], vec![1, 2, 3]).unwrap();
    write_npz(
        dir.path().join("short.npz"),
        [("input", &short), ("label", &label)],
    )
    .unwrap();
    let wide = Tensor::from_f64(vec![3, 64], vec![0.5; 192]).unwrap();
    write_npz(
        dir.path().join("f64.npz"),
        [("input", &wide), ("label", &label)],
    )
    .unwrap();
    for backend in ["tract", "ort"] {
        let run = bench(
            dir.path(),
            &[&mlp(), "--backend", backend, "--eval", "short.npz"],
        );
        expect_error(&run, 2, &["short.npz", "input", "64"]);
        let run = bench(
            dir.path(),
            &[&mlp(), "--backend", backend, "--eval", "f64.npz"],
        );
        expect_error(&run, 2, &["f64.npz", "input", "f64"]);
    }
}

#[test]
fn zero_iterations_and_other_bad_flags() {
    let dir = tempfile::tempdir().unwrap();
    let run = optimize(
        dir.path(),
        &["bench", &mlp(), "--iterations", "0", "--min-duration", "0"],
    );
    expect_error(&run, 2, &["iterations must be at least 1"]);
    let run = bench(dir.path(), &[&mlp(), "--batch", "0"]);
    expect_error(&run, 2, &["batch must be at least 1"]);
    let run = bench(dir.path(), &[&mlp(), "--mem-budget", "lots"]);
    expect_error(&run, 2, &["--mem-budget `lots`"]);
    let run = bench(dir.path(), &[&mlp(), "--shape", "input"]);
    expect_error(&run, 2, &["--shape `input`"]);
    let run = bench(
        dir.path(),
        &[&mlp(), "--shape", "pixels=1x64", "--backend", "tract"],
    );
    expect_error(&run, 2, &["input `pixels`", "no such input"]);
    let run = bench(dir.path(), &[&mlp(), "--target", "edge", "--threads", "4"]);
    expect_error(&run, 2, &["edge", "4 threads"]);
    let run = optimize(dir.path(), &["bench"]);
    expect_error(&run, 2, &["no model to measure"]);
}

#[test]
fn unwritable_output_folder_is_a_failure_while_working() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("file"), b"not a folder").unwrap();
    let run = bench(
        dir.path(),
        &[
            "--baseline",
            &mlp(),
            "--backend",
            "tract",
            "-o",
            "file/report",
        ],
    );
    expect_error(&run, 1, &["file/report"]);
    assert_eq!(
        std::fs::read(dir.path().join("file")).unwrap(),
        b"not a folder"
    );
}

/// One body for both builds. Without the `cuda` feature, `--target cuda` is a usage error that
/// says how to get CUDA. With it, the answer is decided here, independently of the binary:
/// when this process can load the model on CUDA device 0, the run must succeed on the GPU;
/// when it cannot, the run must fail with exit 2 and the same named error.
#[test]
fn cuda_target_runs_or_is_a_clear_error() {
    use optimize_runtime::{Device, Error, OrtSession, SessionOptions};
    let dir = tempfile::tempdir().unwrap();
    let run = bench(dir.path(), &[&mlp(), "--target", "cuda", "--json"]);
    if cfg!(feature = "cuda") {
        let options = SessionOptions {
            device: Device::Cuda(0),
            ..SessionOptions::default()
        };
        match OrtSession::from_file(mlp(), &options) {
            Ok(_) => {
                assert_eq!(run.code, 0, "CUDA loads here, the bench must run: {run:?}");
                let report: Report = serde_json::from_str(&run.stdout).unwrap();
                let r = &report.runs[0];
                assert_eq!((r.engine, r.target), (Engine::OrtCuda, Target::Cuda));
            }
            Err(Error::DeviceUnavailable { device, .. }) => {
                expect_error(&run, 2, &[&format!("{device} is not available")]);
            }
            Err(e) => panic!("loading on CUDA failed with an unnamed error: {e}"),
        }
    } else {
        expect_error(&run, 2, &["CUDA is not available", "--features cuda"]);
    }
    let run = bench(dir.path(), &[&mlp(), "--backend", "ort-cuda"]);
    expect_error(&run, 2, &["ort-cuda", "target cuda"]);
}

/// The files a report folder must hold.
const REPORT_FILES: [&str; 8] = [
    "report.json",
    "report.md",
    "latency.svg",
    "latency.png",
    "size.svg",
    "size.png",
    "accuracy-latency.svg",
    "accuracy-latency.png",
];

/// Every report file exists; SVGs parse and hold their title; PNGs decode to a non-blank
/// image; the JSON deserializes into the typed schema.
fn check_report_folder(dir: &Path) -> Report {
    for f in REPORT_FILES {
        assert!(dir.join(f).is_file(), "{f} missing in {}", dir.display());
    }
    for (stem, title) in [
        ("latency", "Latency per call"),
        ("size", "Model size on disk"),
        ("accuracy-latency", "Top-1 accuracy vs median latency"),
    ] {
        let text = std::fs::read_to_string(dir.join(format!("{stem}.svg"))).unwrap();
        let doc = roxmltree::Document::parse(&text)
            .unwrap_or_else(|e| panic!("{stem}.svg does not parse: {e}"));
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        let texts: Vec<&str> = doc
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .filter_map(|n| n.text())
            .collect();
        assert!(
            texts.iter().any(|t| t.contains(title)),
            "{stem}.svg has no title {title:?}: {texts:?}"
        );

        let file = std::fs::File::open(dir.join(format!("{stem}.png"))).unwrap();
        let mut reader = png::Decoder::new(std::io::BufReader::new(file))
            .read_info()
            .unwrap_or_else(|e| panic!("{stem}.png does not decode: {e}"));
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!(info.width, 1000, "{stem}.png");
        assert!(info.height >= 200, "{stem}.png");
        let pixels = &buf[..info.buffer_size()];
        let dark = pixels
            .chunks(3)
            .filter(|p| p.iter().all(|&c| c < 100))
            .count();
        assert!(dark > 500, "{stem}.png looks blank ({dark} dark pixels)");
    }
    let text = std::fs::read_to_string(dir.join("report.json")).unwrap();
    let report: Report = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("report.json does not match the schema: {e}"));
    assert_eq!(report.schema, REPORT_SCHEMA);
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    for needle in [
        "![Latency per call](latency.png)",
        "](size.png)",
        "](accuracy-latency.png)",
        "| digits-mlp (baseline) |",
        "## Machine",
        "## Versions",
        "ONNX Runtime 1.",
        "tract 0.",
        "## Reproduce",
    ] {
        assert!(md.contains(needle), "report.md lacks {needle:?}:\n{md}");
    }
    report
}

#[test]
fn baseline_report_renders_and_re_renders() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(model("digits-mlp.onnx"), dir.path().join("variant.onnx")).unwrap();
    let eval = crate::util::root().join("models/data/digits-test.npz");
    let run = bench(
        dir.path(),
        &[
            "--baseline",
            &mlp(),
            "variant.onnx",
            "--backend",
            "tract,ort",
            "--threads",
            "1",
            "--eval",
            eval.to_str().unwrap(),
            "-o",
            "out",
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("digits-mlp") && run.stdout.contains("variant"));
    assert!(run.stdout.contains("out/report.md"), "{}", run.stdout);
    let report = check_report_folder(&dir.path().join("out"));
    assert_eq!(report.runs.len(), 4);
    assert_eq!(report.baseline, 0);
    assert_eq!(report.comparisons.len(), 4);
    for (run, engine) in report
        .runs
        .iter()
        .zip([Engine::Tract, Engine::Ort].iter().cycle())
    {
        assert_eq!(run.schema, "optimize.bench/1");
        assert_eq!(run.engine, *engine);
        assert_eq!(run.latency.iterations, 3);
        let accuracy = run.accuracy.as_ref().expect("labels give accuracy");
        assert!(
            accuracy.samples > 100 && accuracy.top1 > 0.9,
            "{accuracy:?}"
        );
        // The reference defaults to the baseline; the copy is the same model.
        let fidelity = run
            .fidelity
            .as_ref()
            .expect("fidelity against the baseline");
        assert_eq!(fidelity.outputs[0].top1_agreement, Some(1.0));
    }
    // The copy is the same bytes, so its size ratio is exactly 1.
    assert_eq!(report.comparisons[2].size_ratio, 1.0);
    assert!(report.command.contains("--baseline"));

    // Re-render from the saved JSON into another folder.
    let run = optimize(dir.path(), &["report", "out/report.json", "-o", "again"]);
    assert_eq!(run.code, 0, "{run:?}");
    let again = check_report_folder(&dir.path().join("again"));
    assert_eq!(again.runs, report.runs);
}

#[test]
fn json_output_and_edge_target() {
    let dir = tempfile::tempdir().unwrap();
    let run = bench(
        dir.path(),
        &[&mlp(), "--target", "edge", "--mem-budget", "1KiB", "--json"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let report: Report = serde_json::from_str(&run.stdout).unwrap();
    let r: &BenchResult = &report.runs[0];
    assert_eq!((r.engine, r.target), (Engine::Tract, Target::Edge));
    assert_eq!(r.threads, Some(1));
    assert!(r.pinned_core.is_some());
    assert!(r.simulated.as_deref().unwrap().contains("simulated"));
    assert!(r.memory.over_budget, "{:?}", r.memory);
    assert_eq!(r.inputs[0].shape, [1, 64]);
    assert!(report.notes().iter().any(|n| n.contains("simulation")));
    // Nothing is written without --baseline or -o.
    assert_eq!(crate::util::listing(dir.path()), Vec::<String>::new());

    // The table says the same, with the warnings.
    let run = bench(
        dir.path(),
        &[
            &mlp(),
            "--target",
            "edge",
            "--mem-budget",
            "1KiB",
            "--batch",
            "2",
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("warning: target edge is a simulation"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("over its memory budget"),
        "{}",
        run.stdout
    );
}

#[test]
fn report_rejects_files_that_are_not_results() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("x.json"),
        "{\"schema\": \"optimize.inspect/1\"}",
    )
    .unwrap();
    let run = optimize(dir.path(), &["report", "x.json"]);
    expect_error(&run, 2, &["x.json", "optimize.inspect/1"]);
    let run = optimize(dir.path(), &["report", "missing.json"]);
    expect_error(&run, 2, &["missing.json"]);
}

/// `--baseline` without `-o` writes its report to `bench-<baseline>/` in the current folder,
/// never into the repository's committed results/ (issue 13: it overwrote 8 report files).
#[test]
fn baseline_report_defaults_to_the_current_folder() {
    let dir = tempfile::tempdir().unwrap();
    let run = bench(dir.path(), &["--baseline", &mlp(), "--backend", "ort"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(dir.path().join("bench-digits-mlp/report.json").exists());
    assert!(
        run.stdout.contains("bench-digits-mlp/report.md"),
        "{}",
        run.stdout
    );
}
