use candle_core::{Device, Tensor};
use optimize_distill::export::{export_onnx, verify_export, PARITY_TOLERANCE};
use optimize_distill::student::{LayerSpec, Student};

/// Every layer kind, with batch-norm statistics moved off their defaults, through ONNX.
fn check(layers: Vec<LayerSpec>, input: &[usize]) {
    let dir = tempfile::tempdir().unwrap();
    let student = Student::new(&layers, input, 5, &Device::Cpu).unwrap();
    // Two training-mode passes move the running statistics of every batch norm.
    let mut shape = vec![16];
    shape.extend(input);
    let x = Tensor::randn(0.5f32, 1.0, shape.clone(), &Device::Cpu).unwrap();
    for _ in 0..2 {
        student.forward_capture(&x, true, None).unwrap();
    }
    let path = dir.path().join("s.onnx");
    export_onnx(&student, &path, &[("optimize.distill", "test")]).unwrap();
    let parity = verify_export(&path, &student, &x).unwrap();
    let tract = &parity[0];
    assert_eq!(tract.backend, "tract");
    assert!(
        tract.max_abs_diff.unwrap() <= PARITY_TOLERANCE,
        "{parity:?}"
    );
    let ort = &parity[1];
    match ort.max_abs_diff {
        Some(d) => assert!(d <= PARITY_TOLERANCE, "{parity:?}"),
        // Without ONNX Runtime installed (scripts/setup-venv.sh installs it) only tract runs.
        None => eprintln!(
            "ONNX Runtime not found, parity checked in tract only: {:?}",
            ort.skipped
        ),
    }
}

#[test]
fn mlp_with_batch_norm_gelu_and_dropout_matches_candle() {
    check(
        vec![
            LayerSpec::linear(32),
            LayerSpec::BatchNorm {
                eps: 1e-5,
                momentum: 0.5,
                name: None,
            },
            LayerSpec::Gelu { name: None },
            LayerSpec::Dropout { p: 0.3, name: None },
            LayerSpec::Linear {
                out: 10,
                bias: false,
                name: Some("head".into()),
            },
        ],
        &[64],
    );
}

#[test]
fn cnn_with_every_layer_matches_candle() {
    check(
        vec![
            LayerSpec::conv2d(6, 3, 1),
            LayerSpec::BatchNorm {
                eps: 1e-3,
                momentum: 0.5,
                name: None,
            },
            LayerSpec::relu(),
            LayerSpec::max_pool2d(2),
            LayerSpec::Conv2d {
                out: 4,
                kernel: 3,
                stride: 2,
                padding: 1,
                bias: false,
                name: None,
            },
            LayerSpec::Gelu { name: None },
            LayerSpec::AvgPool2d {
                kernel: 2,
                name: None,
            },
            LayerSpec::flatten(),
            LayerSpec::linear(10),
        ],
        &[1, 9, 9],
    );
}

#[test]
fn exported_model_is_stamped() {
    let dir = tempfile::tempdir().unwrap();
    let s = Student::new(&[LayerSpec::linear(10)], &[64], 0, &Device::Cpu).unwrap();
    let path = dir.path().join("s.onnx");
    export_onnx(&s, &path, &[("optimize.distill", "why")]).unwrap();
    let m = optimize_onnx::Model::load(&path).unwrap();
    assert_eq!(m.proto.producer_name.as_deref(), Some("optimize"));
    assert_eq!(
        m.proto.metadata_props[0].key.as_deref(),
        Some("optimize.distill")
    );
}
