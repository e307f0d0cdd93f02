use std::path::Path;

use optimize_data::calibration::{CalibrationSet, InputSpec};
use optimize_data::{DType, Error, Tensor};

use crate::util::{case, root};

fn x_spec() -> Vec<InputSpec> {
    vec![InputSpec::new("x", DType::F32, [None, Some(4)])]
}

fn open(file: &str) -> Result<CalibrationSet, Error> {
    CalibrationSet::open(case("calibration", file), &x_spec())
}

/// Sample i of x in the calibration case is [i, i + .25, i + .5, i + .75], its label 10 i.
fn check_samples(set: &CalibrationSet, with_labels: bool) {
    assert_eq!(set.len(), 6);
    let samples: Vec<_> = set.iter().collect::<Result<_, _>>().unwrap();
    assert_eq!(samples.len(), 6);
    for (i, sample) in samples.iter().enumerate() {
        let x = sample.input("x").unwrap();
        assert_eq!(sample.index, i);
        assert_eq!(x.shape(), [1, 4]);
        let i = i as f32;
        assert_eq!(x.to_f32_vec().unwrap(), [i, i + 0.25, i + 0.5, i + 0.75]);
        if with_labels {
            let label = sample.extra("label").unwrap();
            assert_eq!(label.shape(), [1]);
            assert_eq!(label.to_i64_vec().unwrap(), [10 * i as i64]);
        }
    }
    if with_labels {
        assert_eq!(
            set.labels().unwrap().to_i64_vec().unwrap(),
            [0, 10, 20, 30, 40, 50]
        );
    }
}

#[test]
fn one_file_of_each_kind() {
    check_samples(&open("calib.npz").unwrap(), true);
    check_samples(&open("calib_deflate.npz").unwrap(), true);
    let set = open("x.npy").unwrap();
    check_samples(&set, false);
    assert_eq!(set.extra_names().count(), 0);
    assert!(matches!(set.labels(), Err(Error::NoSuchArray { .. })));
}

#[test]
fn a_folder_streams_file_by_file_in_name_order() {
    let set = open("folder").unwrap();
    let files: Vec<_> = set
        .files()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files, ["part-00.npz", "part-01.npz", "part-02.npz"]);
    check_samples(&set, true);

    // Split: calibrate on the first 4, verify on the last 2; ranges across file boundaries.
    let (calibrate, verify) = set.split(2);
    assert_eq!((calibrate.clone(), verify.clone()), (0..4, 4..6));
    let idx: Vec<usize> = set.iter_range(verify).map(|s| s.unwrap().index).collect();
    assert_eq!(idx, [4, 5]);
    let idx: Vec<usize> = set.iter_range(1..3).map(|s| s.unwrap().index).collect();
    assert_eq!(idx, [1, 2]);
    assert_eq!(set.split(100), (0..0, 0..6));
    assert_eq!(set.iter_range(5..100).count(), 1);
}

#[test]
fn safetensors_files_work_too() {
    // NumPy cannot write safetensors, so this file comes from the safetensors crate.
    let dir = tempfile::tempdir().unwrap();
    let arrays = optimize_data::read_npz(case("calibration", "calib.npz")).unwrap();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = arrays
        .iter()
        .map(|(name, t)| {
            let dtype = match t.dtype() {
                DType::F32 => safetensors::Dtype::F32,
                DType::I64 => safetensors::Dtype::I64,
                other => panic!("{other}"),
            };
            let view =
                safetensors::tensor::TensorView::new(dtype, t.shape().to_vec(), t.as_bytes())
                    .unwrap();
            (name.clone(), view)
        })
        .collect();
    let path = dir.path().join("calib.safetensors");
    safetensors::serialize_to_file(views, None, &path).unwrap();
    let set = CalibrationSet::open(&path, &x_spec()).unwrap();
    check_samples(&set, true);
}

#[test]
fn digits_test_set() {
    let path = root().join("models/data/digits-test.npz");
    let spec = InputSpec::new("input", DType::F32, [None, Some(64)]);
    let set = CalibrationSet::open(&path, &[spec]).unwrap();
    assert_eq!(set.len(), 359);
    assert_eq!(set.extra_names().collect::<Vec<_>>(), ["label"]);
    let mut n = 0;
    for sample in set.iter() {
        let sample = sample.unwrap();
        assert_eq!(sample.inputs[0].0, "input");
        assert_eq!(sample.inputs[0].1.shape(), [1, 64]);
        assert_eq!(sample.inputs[0].1.count_non_finite(), 0);
        n += 1;
    }
    assert_eq!(n, 359);
    let labels = set.labels().unwrap();
    assert_eq!((labels.dtype(), labels.shape()), (DType::I64, &[359][..]));
    assert!(labels
        .to_i64_vec()
        .unwrap()
        .iter()
        .all(|l| (0..10).contains(l)));
    // The model's batch axis may also be fixed to 1.
    let spec = InputSpec::new("input", DType::F32, [Some(1), Some(64)]);
    assert_eq!(CalibrationSet::open(&path, &[spec]).unwrap().len(), 359);
}

/// The error for `file`, with the path shortened to start at `calibration/`.
fn error(file: &str, inputs: &[InputSpec]) -> (Error, String) {
    let err = CalibrationSet::open(case("calibration", file), inputs).unwrap_err();
    let msg = err.to_string();
    let cases = case("calibration", "");
    let msg = msg.replace(&cases.display().to_string(), "calibration/");
    (err, msg)
}

#[test]
fn bad_data_is_a_clear_error() {
    let spec = x_spec();
    let (err, msg) = error("bad/f64.npz", &spec);
    assert!(matches!(err, Error::InputDType { .. }));
    assert_eq!(
        msg,
        "calibration/bad/f64.npz: array 'x' is float64 but model input 'x' is float32; save it as float32"
    );
    let (_, msg) = error("bad/shape.npz", &spec);
    assert_eq!(
        msg,
        "calibration/bad/shape.npz: array 'x' sample shape [3] does not fit model input [?, 4] \
         (the array's first axis counts samples; each sample is fed with a batch axis of 1)"
    );
    let (_, msg) = error("bad/count.npz", &spec);
    assert_eq!(
        msg,
        "calibration/bad/count.npz: array 'label' holds 5 samples but array 'x' holds 6"
    );
    let (_, msg) = error("bad/missing.npz", &spec);
    assert_eq!(
        msg,
        "calibration/bad/missing.npz: no array for model input 'x' (found: inputs, label)"
    );
    let (err, msg) = error("bad/scalar.npz", &spec);
    assert!(matches!(err, Error::NoSampleAxis { .. }), "{msg}");
    assert!(msg.contains("array 'scale' is a 0-d scalar"), "{msg}");
    let (err, msg) = error("bad/no_data", &spec);
    assert!(matches!(err, Error::NoDataFiles { .. }), "{msg}");
    assert_eq!(
        msg,
        "calibration/bad/no_data: folder holds no .npy, .npz or .safetensors file (ignored: notes.txt)"
    );
    let (err, msg) = error("bad/mixed", &spec);
    assert!(matches!(err, Error::FilesDisagree { .. }), "{msg}");
    assert!(
        msg.contains("part-01.npz: holds extra arrays [] where the first file holds [label]"),
        "{msg}"
    );
    let (err, _) = error("folder/README.txt", &spec);
    assert!(matches!(err, Error::UnknownFormat { .. }));
    let (err, _) = error("no-such-file.npz", &spec);
    assert!(matches!(err, Error::Read { .. }));
}

#[test]
fn model_inputs_are_checked() {
    // Two inputs cannot come from one .npy.
    let two = vec![
        InputSpec::new("x", DType::F32, [None, Some(4)]),
        InputSpec::new("mask", DType::Bool, [None, Some(4)]),
    ];
    let (err, msg) = error("x.npy", &two);
    assert!(matches!(err, Error::NpyNeedsOneInput { .. }));
    assert!(msg.contains("the model has 2 inputs (x, mask)"), "{msg}");
    // A second input missing from the file.
    let (_, msg) = error("calib.npz", &two);
    assert!(
        msg.ends_with("no array for model input 'mask' (found: label, x)"),
        "{msg}"
    );
    // A fixed first axis other than 1 is not a batch axis: samples must then hold the whole
    // input, and [4] samples do not fit [8, 4].
    let (err, msg) = error(
        "calib.npz",
        &[InputSpec::new("x", DType::F32, [Some(8), Some(4)])],
    );
    assert!(matches!(err, Error::SampleShape { .. }), "{msg}");
    // A duplicated input name is still a model-side error.
    let dup = [
        InputSpec::new("x", DType::F32, [None, Some(4)]),
        InputSpec::new("x", DType::F32, [None, Some(4)]),
    ];
    let (err, msg) = error("calib.npz", &dup);
    assert!(matches!(err, Error::InputSpec { .. }), "{msg}");
    // Symbolic inner dimensions fit any size; fixed ones must match.
    let spec = InputSpec::new("x", DType::F32, [None, None]);
    assert_eq!(open_with("calib.npz", spec).unwrap().len(), 6);
    let spec = InputSpec::new("x", DType::F32, [None, Some(4), Some(1)]);
    assert!(matches!(
        open_with("calib.npz", spec),
        Err(Error::SampleShape { .. })
    ));
}

fn open_with(file: &str, spec: InputSpec) -> Result<CalibrationSet, Error> {
    CalibrationSet::open(case("calibration", file), &[spec])
}

#[test]
fn a_file_changed_after_open_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("calib.npz");
    std::fs::copy(case("calibration", "calib.npz"), &path).unwrap();
    let set = CalibrationSet::open(&path, &x_spec()).unwrap();
    let x = Tensor::from_f32(vec![2, 4], vec![0.0; 8]).unwrap();
    optimize_data::write_npz(&path, [("x", &x)]).unwrap();
    let first = set.iter().next().unwrap();
    assert!(
        matches!(first, Err(Error::FilesDisagree { .. })),
        "{first:?}"
    );
    assert!(Path::new(&path).exists());
}

/// Issue 14: one `.npz` per request, as a server saves them (a scalar sample rate, a recurrent
/// state, a batch-1 input), is a folder of one-sample files; each sample comes back as it was
/// saved.
#[test]
fn a_folder_of_one_request_per_file() {
    let dir = tempfile::tempdir().unwrap();
    for r in 0..3i64 {
        let input = Tensor::from_f32(vec![1, 4], vec![r as f32; 4]).unwrap();
        let sr = Tensor::from_i64(vec![], vec![16000 + r]).unwrap();
        let state = Tensor::from_f32(vec![2, 1, 3], vec![-(r as f32); 6]).unwrap();
        optimize_data::npz::write_npz(
            dir.path().join(format!("request-{r}.npz")),
            [("input", &input), ("sr", &sr), ("state", &state)],
        )
        .unwrap();
    }
    let specs = [
        InputSpec::new("input", DType::F32, [None, Some(4)]),
        InputSpec::new("sr", DType::I64, []),
        InputSpec::new("state", DType::F32, [Some(2), None, Some(3)]),
    ];
    let set = CalibrationSet::open(dir.path(), &specs).unwrap();
    assert_eq!(set.len(), 3);
    for (r, sample) in set.iter().enumerate() {
        let sample = sample.unwrap();
        let input = sample.input("input").unwrap();
        assert_eq!(input.shape(), [1, 4]);
        assert_eq!(input.to_f32_vec().unwrap(), [r as f32; 4]);
        let sr = sample.input("sr").unwrap();
        assert_eq!(sr.shape(), [] as [usize; 0]);
        assert_eq!(sr.to_i64_vec().unwrap(), [16000 + r as i64]);
        let state = sample.input("state").unwrap();
        assert_eq!(state.shape(), [2, 1, 3]);
    }
}
