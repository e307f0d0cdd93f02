use optimize_data::{bf16, f16, random_tensor, DType, RandomRange, Tensor};
use optimize_runtime::{Dim, Error, OptimizationLevel, OrtSession, SessionOptions};

use crate::util::{case, named};

#[test]
fn metadata_has_symbolic_and_fixed_dims() {
    let s = OrtSession::from_file(case("add_broadcast"), &SessionOptions::default()).unwrap();
    let inputs: Vec<_> = s
        .inputs()
        .iter()
        .map(|i| (i.name.as_str(), i.dtype, i.shape.clone()))
        .collect();
    assert_eq!(
        inputs,
        [
            (
                "x",
                Some(DType::F32),
                vec![Dim::Symbolic("batch".into()), Dim::Fixed(4)]
            ),
            ("y", Some(DType::F32), vec![Dim::Fixed(4)]),
        ]
    );
    assert_eq!(s.outputs()[0].name, "z");
    assert_eq!(s.outputs()[0].describe(), "f32 [batch, 4]");
}

#[test]
fn add_broadcasts_over_rows() {
    let s = OrtSession::from_file(case("add_broadcast"), &SessionOptions::deterministic()).unwrap();
    let x = Tensor::from_f32(vec![2, 4], vec![0.0, 1.0, 2.0, 3.0, 10.0, 20.0, 30.0, 40.0]).unwrap();
    let y = Tensor::from_f32(vec![4], vec![0.5, 0.25, -1.0, 100.0]).unwrap();
    let out = s.run(&named([("y", y), ("x", x)])).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, "z");
    assert_eq!(out[0].1.shape(), [2, 4]);
    assert_eq!(
        out[0].1.to_f32_vec().unwrap(),
        [0.5, 1.25, 1.0, 103.0, 10.5, 20.25, 29.0, 140.0]
    );
}

#[test]
fn from_bytes_matches_from_file() {
    let bytes = std::fs::read(case("add_broadcast")).unwrap();
    let a = OrtSession::from_bytes(&bytes, &SessionOptions::deterministic()).unwrap();
    let b = OrtSession::from_file(case("add_broadcast"), &SessionOptions::deterministic()).unwrap();
    let inputs = named([
        (
            "x",
            random_tensor(DType::F32, &[3, 4], 1, RandomRange::default_for(DType::F32)).unwrap(),
        ),
        (
            "y",
            random_tensor(DType::F32, &[4], 2, RandomRange::default_for(DType::F32)).unwrap(),
        ),
    ]);
    assert_eq!(a.run(&inputs).unwrap(), b.run(&inputs).unwrap());
}

#[test]
fn every_dtype_round_trips() {
    let s = OrtSession::from_file(case("identity_dtypes"), &SessionOptions::default()).unwrap();
    assert_eq!(s.inputs().len(), DType::ALL.len());
    let mut inputs = Vec::new();
    for (seed, dtype) in DType::ALL.into_iter().enumerate() {
        let info = s
            .inputs()
            .iter()
            .find(|i| i.name == format!("x_{dtype}"))
            .unwrap();
        assert_eq!(info.dtype, Some(dtype));
        let range = if dtype.is_int() && dtype.int_bounds().unwrap().0 < 0 {
            RandomRange::Int {
                low: -100,
                high: 100,
            }
        } else {
            RandomRange::default_for(dtype)
        };
        inputs.push((
            format!("x_{dtype}"),
            random_tensor(dtype, &[2, 3], seed as u64, range).unwrap(),
        ));
    }
    let outputs = s.run(&inputs).unwrap();
    assert_eq!(outputs.len(), inputs.len());
    for ((in_name, sent), (out_name, got)) in inputs.iter().zip(&outputs) {
        assert_eq!(out_name, &in_name.replace("x_", "y_"));
        assert_eq!(got, sent, "{in_name}");
    }
}

#[test]
fn typed_values_survive_the_trip() {
    // The brief's four: f32, i64, f16, bool, with values chosen to catch byte-order or width
    // mistakes (sign bits, values above 2^32, subnormal f16).
    let s = OrtSession::from_file(case("identity_dtypes"), &SessionOptions::default()).unwrap();
    let mut inputs: Vec<(String, Tensor)> = DType::ALL
        .iter()
        .map(|d| (format!("x_{d}"), Tensor::zeros(*d, vec![2, 3]).unwrap()))
        .collect();
    let set = |inputs: &mut Vec<(String, Tensor)>, name: &str, t: Tensor| {
        inputs.iter_mut().find(|(n, _)| n == name).unwrap().1 = t;
    };
    let f32s = vec![1.5, -0.0, f32::MAX, f32::MIN_POSITIVE, -3.25, 1e-45];
    let i64s = vec![i64::MIN, -1, 0, 1 << 40, i64::MAX, 7];
    let f16s: Vec<f16> = [0.5, -2.0, 65504.0, 6e-8, -0.0, 1.0]
        .iter()
        .map(|&x| f16::from_f32(x))
        .collect();
    let bools = vec![true, false, false, true, true, false];
    let bf16s: Vec<bf16> = [1.0, -1.0, 3.0e38, 0.0, 2.5, -7.0]
        .iter()
        .map(|&x| bf16::from_f32(x))
        .collect();
    set(
        &mut inputs,
        "x_f32",
        Tensor::from_f32(vec![2, 3], f32s.clone()).unwrap(),
    );
    set(
        &mut inputs,
        "x_i64",
        Tensor::from_i64(vec![2, 3], i64s.clone()).unwrap(),
    );
    set(
        &mut inputs,
        "x_f16",
        Tensor::from_f16(vec![2, 3], f16s.clone()).unwrap(),
    );
    set(
        &mut inputs,
        "x_bool",
        Tensor::from_bool(vec![2, 3], bools.clone()).unwrap(),
    );
    set(
        &mut inputs,
        "x_bf16",
        Tensor::from_bf16(vec![2, 3], bf16s.clone()).unwrap(),
    );
    let out = s.run(&inputs).unwrap();
    let get = |name: &str| &out.iter().find(|(n, _)| n == name).unwrap().1;
    assert_eq!(get("y_f32").to_f32_vec().unwrap(), f32s);
    assert_eq!(get("y_i64").to_i64_vec().unwrap(), i64s);
    assert_eq!(get("y_f16").to_f16_vec().unwrap(), f16s);
    assert_eq!(get("y_bool").to_bool_vec().unwrap(), bools);
    assert_eq!(get("y_bf16").to_bf16_vec().unwrap(), bf16s);
}

#[test]
fn seeded_inputs_give_identical_outputs() {
    let path = crate::util::workspace("models/digits-mlp.onnx");
    let opts = SessionOptions::deterministic();
    let x = || {
        random_tensor(
            DType::F32,
            &[8, 64],
            123,
            RandomRange::Float {
                low: 0.0,
                high: 1.0,
            },
        )
        .unwrap()
    };
    let a = OrtSession::from_file(&path, &opts).unwrap();
    let first = a.run(&named([("input", x())])).unwrap();
    let second = a.run(&named([("input", x())])).unwrap();
    let other_session = OrtSession::from_file(&path, &opts)
        .unwrap()
        .run(&named([("input", x())]))
        .unwrap();
    assert_eq!(first, second);
    assert_eq!(first, other_session);
    assert_eq!(first[0].1.shape(), [8, 10]);
}

#[test]
fn optimization_levels_agree_on_a_simple_graph() {
    let x = Tensor::from_f32(vec![1, 4], vec![1.0, 2.0, 3.0, 4.0]).unwrap();
    let y = Tensor::from_f32(vec![4], vec![1.0; 4]).unwrap();
    for level in [
        OptimizationLevel::Disable,
        OptimizationLevel::Basic,
        OptimizationLevel::All,
    ] {
        let opts = SessionOptions::default()
            .with_optimization_level(level)
            .with_threads(2);
        let s = OrtSession::from_file(case("add_broadcast"), &opts).unwrap();
        let out = s.run(&named([("x", x.clone()), ("y", y.clone())])).unwrap();
        assert_eq!(
            out[0].1.to_f32_vec().unwrap(),
            [2.0, 3.0, 4.0, 5.0],
            "{level:?}"
        );
    }
}

#[test]
fn unknown_input_name_is_named() {
    let s = OrtSession::from_file(case("add_broadcast"), &SessionOptions::default()).unwrap();
    let x = Tensor::zeros(DType::F32, vec![1, 4]).unwrap();
    let err = s
        .run(&named([("x", x.clone()), ("input_1", x)]))
        .unwrap_err();
    assert!(
        matches!(&err, Error::UnknownInput { name, expected } if name == "input_1" && expected == &["x", "y"])
    );
    assert_eq!(
        err.to_string(),
        "model has no input named `input_1`; its inputs are [`x`, `y`]"
    );
}

#[test]
fn missing_and_duplicate_inputs_are_named() {
    let s = OrtSession::from_file(case("add_broadcast"), &SessionOptions::default()).unwrap();
    let x = Tensor::zeros(DType::F32, vec![1, 4]).unwrap();
    let err = s.run(&named([("x", x.clone())])).unwrap_err();
    assert!(
        matches!(&err, Error::MissingInput { name } if name == "y"),
        "{err}"
    );
    let err = s.run(&named([("x", x.clone()), ("x", x)])).unwrap_err();
    assert!(
        matches!(&err, Error::DuplicateInput { name } if name == "x"),
        "{err}"
    );
}

#[test]
fn wrong_dtype_or_shape_is_named_with_expected_and_found() {
    let s = OrtSession::from_file(case("add_broadcast"), &SessionOptions::default()).unwrap();
    let y = Tensor::zeros(DType::F32, vec![4]).unwrap();
    let cases = [
        (Tensor::zeros(DType::I64, vec![2, 4]).unwrap(), "i64 [2, 4]"),
        (Tensor::zeros(DType::F32, vec![2, 5]).unwrap(), "f32 [2, 5]"),
        (Tensor::zeros(DType::F32, vec![4]).unwrap(), "f32 [4]"),
    ];
    for (x, found_text) in cases {
        let err = s.run(&named([("x", x), ("y", y.clone())])).unwrap_err();
        let Error::InputMismatch {
            name,
            expected,
            found,
        } = &err
        else {
            panic!("{err:?}")
        };
        assert_eq!(
            (name.as_str(), expected.as_str(), found.as_str()),
            ("x", "f32 [batch, 4]", found_text)
        );
        assert_eq!(
            err.to_string(),
            format!("input `x`: model expects f32 [batch, 4], got {found_text}")
        );
    }
}

#[test]
fn external_data_needs_from_file() {
    let path = case("external_data");
    let s = OrtSession::from_file(&path, &SessionOptions::default()).unwrap();
    let out = s
        .run(&named([(
            "x",
            Tensor::from_f32(vec![4], vec![10.0; 4]).unwrap(),
        )]))
        .unwrap();
    assert_eq!(out[0].1.to_f32_vec().unwrap(), [11.0, 12.0, 13.0, 14.0]);

    let bytes = std::fs::read(&path).unwrap();
    let err = OrtSession::from_bytes(&bytes, &SessionOptions::default()).unwrap_err();
    assert!(
        matches!(&err, Error::Load { model, .. } if model == "<bytes>"),
        "{err}"
    );
}

#[test]
fn load_errors_name_the_file() {
    let err =
        OrtSession::from_file("/nonexistent/model.onnx", &SessionOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot load model /nonexistent/model.onnx: no such file"
    );

    let tmp = tempfile::tempdir().unwrap();
    let junk = tmp.path().join("junk.onnx");
    std::fs::write(&junk, b"definitely not protobuf").unwrap();
    let err = OrtSession::from_file(&junk, &SessionOptions::default()).unwrap_err();
    let Error::Load { model, message } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(model, &junk.display().to_string());
    assert!(!message.is_empty());
}

#[test]
fn init_reports_the_library_and_is_stable() {
    let a = optimize_runtime::init().unwrap();
    let b = optimize_runtime::init().unwrap();
    assert!(std::ptr::eq(a, b));
    assert!(a.version.starts_with("1."), "{}", a.version);
    assert!(a.path.is_file());
}
