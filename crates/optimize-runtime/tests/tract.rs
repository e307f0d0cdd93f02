use optimize_data::{random_tensor, DType, RandomRange, Tensor};
use optimize_onnx::proto::{type_proto, ModelProto, TypeProto, ValueInfoProto};
use optimize_runtime::{
    Dim, Error, Model, OptimizationLevel, OrtSession, Runtime, SessionOptions, Tract, TractSession,
};
use prost::Message;

use crate::util::{argmax_rows, case, max_abs_diff, named, workspace};

fn digits_input(shape: &[usize], seed: u64) -> Vec<(String, Tensor)> {
    let x = random_tensor(
        DType::F32,
        shape,
        seed,
        RandomRange::Float {
            low: 0.0,
            high: 1.0,
        },
    )
    .unwrap();
    named([("input", x)])
}

/// tract against ONNX Runtime on the two committed digits models: the same logits within 1e-4
/// and the same predicted class for every row.
#[test]
fn digits_models_match_onnx_runtime() {
    for (file, shape) in [
        ("models/digits-mlp.onnx", &[16, 64][..]),
        ("models/digits-cnn.onnx", &[16, 1, 8, 8][..]),
    ] {
        let path = workspace(file);
        let tract = TractSession::from_file(&path, &SessionOptions::default()).unwrap();
        let ort = OrtSession::from_file(&path, &SessionOptions::deterministic()).unwrap();
        let inputs = digits_input(shape, 7);
        let a = tract.run(&inputs).unwrap();
        let b = ort.run(&inputs).unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!((a[0].0.as_str(), a[0].1.shape()), ("logits", &[16, 10][..]));
        assert_eq!(a[0].0, b[0].0);
        let diff = max_abs_diff(&a[0].1, &b[0].1);
        assert!(diff <= 1e-4, "{file}: max abs diff {diff}");
        assert_eq!(argmax_rows(&a[0].1), argmax_rows(&b[0].1), "{file}");
    }
}

#[test]
fn metadata_names_symbolic_dims() {
    let s = TractSession::from_file(
        workspace("models/digits-mlp.onnx"),
        &SessionOptions::default(),
    )
    .unwrap();
    assert_eq!(s.inputs().len(), 1);
    assert_eq!(s.inputs()[0].name, "input");
    assert_eq!(s.inputs()[0].dtype, Some(DType::F32));
    assert_eq!(
        s.inputs()[0].shape,
        [Dim::Symbolic("batch".into()), Dim::Fixed(64)]
    );
    assert_eq!(s.inputs()[0].onnx_type, "Tensor<f32>(batch, 64)");
    // Output shapes are inferred by tract, not read from the file.
    assert_eq!(s.outputs()[0].name, "logits");
    assert_eq!(s.outputs()[0].describe(), "f32 [batch, 10]");
}

/// One session, batch 1 then 3 then 1 again: each new batch size builds one plan, a repeated
/// one reuses it, and every row matches the same row run alone.
#[test]
fn symbolic_batch_builds_one_plan_per_shape() {
    let s = TractSession::from_file(
        workspace("models/digits-mlp.onnx"),
        &SessionOptions::default(),
    )
    .unwrap();
    let three = digits_input(&[3, 64], 11);
    let rows = three[0].1.to_f32_vec().unwrap();
    let one = named([(
        "input",
        Tensor::from_f32(vec![1, 64], rows[64..128].to_vec()).unwrap(),
    )]);

    let out1 = s.run(&one).unwrap();
    assert_eq!((out1[0].1.shape(), s.cached_plans()), (&[1, 10][..], 1));
    let out3 = s.run(&three).unwrap();
    assert_eq!((out3[0].1.shape(), s.cached_plans()), (&[3, 10][..], 2));
    let again = s.run(&one).unwrap();
    assert_eq!(s.cached_plans(), 2);
    assert_eq!(again, out1);

    let row1_of_3 = &out3[0].1.to_f32_vec().unwrap()[10..20];
    let alone = out1[0].1.to_f32_vec().unwrap();
    for (a, b) in row1_of_3.iter().zip(&alone) {
        assert!((a - b).abs() <= 1e-5, "{a} vs {b}");
    }
}

#[test]
fn every_optimization_level_agrees() {
    let path = workspace("models/digits-cnn.onnx");
    let inputs = digits_input(&[2, 1, 8, 8], 3);
    let reference = TractSession::from_file(&path, &SessionOptions::default())
        .unwrap()
        .run(&inputs)
        .unwrap();
    for level in [OptimizationLevel::Disable, OptimizationLevel::Basic] {
        let opts = SessionOptions::default().with_optimization_level(level);
        let out = TractSession::from_file(&path, &opts)
            .unwrap()
            .run(&inputs)
            .unwrap();
        let diff = max_abs_diff(&out[0].1, &reference[0].1);
        assert!(diff <= 1e-4, "{level:?}: {diff}");
    }
}

/// digits-mlp with the output of its first Relu added as a second graph output, the way the
/// quantizer captures activations for calibration: elem_type FLOAT, no shape, given as bytes.
/// Both back ends return it, after `logits`, equal to each other.
#[test]
fn an_intermediate_tensor_added_as_output_is_returned_by_both_back_ends() {
    let bytes = std::fs::read(workspace("models/digits-mlp.onnx")).unwrap();
    let mut model = ModelProto::decode(bytes.as_slice()).unwrap();
    let graph = model.graph.as_mut().unwrap();
    let relu = graph
        .node
        .iter()
        .find(|n| n.op_type() == "Relu")
        .expect("digits-mlp has a Relu");
    let hidden = relu.output[0].clone();
    graph.output.push(ValueInfoProto {
        name: Some(hidden.clone()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(1), // FLOAT
                shape: None,
            })),
            ..Default::default()
        }),
        ..Default::default()
    });
    let bytes = model.encode_to_vec();

    let inputs = digits_input(&[5, 64], 21);
    let tract = TractSession::from_bytes(&bytes, &SessionOptions::default()).unwrap();
    let ort = OrtSession::from_bytes(&bytes, &SessionOptions::deterministic()).unwrap();
    let names: Vec<&str> = tract.outputs().iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["logits", hidden.as_str()]);
    // tract infers the shape the file leaves out.
    assert_eq!(tract.outputs()[1].describe(), "f32 [batch, 128]");

    let a = tract.run(&inputs).unwrap();
    let b = ort.run(&inputs).unwrap();
    for ((name_a, ta), (name_b, tb)) in a.iter().zip(&b) {
        assert_eq!(name_a, name_b);
        assert_eq!(ta.shape(), tb.shape(), "{name_a}");
        let diff = max_abs_diff(ta, tb);
        assert!(diff <= 1e-4, "{name_a}: {diff}");
    }
    assert_eq!(a[1].1.shape(), [5, 128]);
    assert!(a[1].1.to_f32_vec().unwrap().iter().all(|&v| v >= 0.0));
}

/// Every node output of digits-cnn added as a graph output (Conv before its Relu, Flatten,
/// Gemm, ...): what calibration asks for. tract keeps each one even where it would otherwise
/// fuse it away, and every one matches ONNX Runtime.
#[test]
fn every_intermediate_of_digits_cnn_matches_onnx_runtime() {
    let bytes = std::fs::read(workspace("models/digits-cnn.onnx")).unwrap();
    let mut model = ModelProto::decode(bytes.as_slice()).unwrap();
    let graph = model.graph.as_mut().unwrap();
    let declared: Vec<String> = graph.output.iter().map(|o| o.name().to_string()).collect();
    let intermediates: Vec<String> = graph
        .node
        .iter()
        .flat_map(|n| n.output.clone())
        .filter(|name| !declared.contains(name))
        .collect();
    assert!(intermediates.len() >= 5, "{intermediates:?}");
    for name in &intermediates {
        graph.output.push(ValueInfoProto {
            name: Some(name.clone()),
            r#type: Some(TypeProto {
                value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                    elem_type: Some(1),
                    shape: None,
                })),
                ..Default::default()
            }),
            ..Default::default()
        });
    }
    let bytes = model.encode_to_vec();
    let inputs = digits_input(&[3, 1, 8, 8], 5);
    let a = TractSession::from_bytes(&bytes, &SessionOptions::default())
        .unwrap()
        .run(&inputs)
        .unwrap();
    let b = OrtSession::from_bytes(&bytes, &SessionOptions::deterministic())
        .unwrap()
        .run(&inputs)
        .unwrap();
    assert_eq!(a.len(), 1 + intermediates.len());
    for ((name, ta), (ort_name, tb)) in a.iter().zip(&b) {
        assert_eq!(name, ort_name);
        assert_eq!(ta.shape(), tb.shape(), "{name}");
        let diff = max_abs_diff(ta, tb);
        assert!(diff <= 1e-4, "{name}: {diff}");
    }
}

#[test]
fn through_the_runtime_trait() {
    let runtime: Box<dyn Runtime> = Box::new(Tract::default());
    assert_eq!(runtime.name(), "tract");
    let model: Box<dyn Model> = runtime.load(&case("add_broadcast")).unwrap();
    let out = model
        .run(&named([
            ("x", Tensor::from_f32(vec![2, 4], vec![1.0; 8]).unwrap()),
            (
                "y",
                Tensor::from_f32(vec![4], vec![0.5, 1.0, 2.0, 3.0]).unwrap(),
            ),
        ]))
        .unwrap();
    assert_eq!(out[0].0, "z");
    assert_eq!(
        out[0].1.to_f32_vec().unwrap(),
        [1.5, 2.0, 3.0, 4.0, 1.5, 2.0, 3.0, 4.0]
    );
}

/// Every dtype tract has passes through an Identity unchanged. tract has no bf16: the golden
/// case (one Identity per dtype) does not load, so the test drops its bf16 input first.
#[test]
fn every_tract_dtype_round_trips() {
    let bytes = std::fs::read(case("identity_dtypes")).unwrap();
    let err = TractSession::from_bytes(&bytes, &SessionOptions::default()).unwrap_err();
    assert!(
        matches!(&err, Error::Load { message, .. } if message.contains("Bfloat16")),
        "{err}"
    );

    let mut model = ModelProto::decode(bytes.as_slice()).unwrap();
    let graph = model.graph.as_mut().unwrap();
    graph.input.retain(|v| v.name() != "x_bf16");
    graph.output.retain(|v| v.name() != "y_bf16");
    graph.node.retain(|n| n.input[0] != "x_bf16");
    let s = TractSession::from_bytes(&model.encode_to_vec(), &SessionOptions::default()).unwrap();

    let mut inputs = Vec::new();
    for (seed, dtype) in DType::ALL.into_iter().enumerate() {
        if dtype == DType::BF16 {
            continue;
        }
        let range = if dtype.is_int() && dtype.int_bounds().unwrap().0 < 0 {
            RandomRange::Int {
                low: -100,
                high: 100,
            }
        } else {
            RandomRange::default_for(dtype)
        };
        let info = s
            .inputs()
            .iter()
            .find(|i| i.name == format!("x_{dtype}"))
            .unwrap();
        assert_eq!(info.dtype, Some(dtype));
        inputs.push((
            info.name.clone(),
            random_tensor(dtype, &[2, 3], seed as u64, range).unwrap(),
        ));
    }
    let outputs = s.run(&inputs).unwrap();
    assert_eq!(outputs.len(), DType::ALL.len() - 1);
    for (name, got) in &outputs {
        let sent = &inputs
            .iter()
            .find(|(n, _)| n == &name.replace("y_", "x_"))
            .unwrap()
            .1;
        assert_eq!(got, sent, "{name}");
    }
}

#[test]
fn input_errors_name_the_input() {
    let s = TractSession::from_file(case("add_broadcast"), &SessionOptions::default()).unwrap();
    let x = Tensor::zeros(DType::F32, vec![1, 4]).unwrap();
    let y = Tensor::zeros(DType::F32, vec![4]).unwrap();
    let err = s
        .run(&named([("x", x.clone()), ("input_1", y.clone())]))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "model has no input named `input_1`; its inputs are [`x`, `y`]"
    );
    let err = s.run(&named([("x", x.clone())])).unwrap_err();
    assert!(
        matches!(&err, Error::MissingInput { name } if name == "y"),
        "{err}"
    );
    let err = s
        .run(&named([
            ("x", x.clone()),
            ("x", x.clone()),
            ("y", y.clone()),
        ]))
        .unwrap_err();
    assert!(
        matches!(&err, Error::DuplicateInput { name } if name == "x"),
        "{err}"
    );
    let err = s
        .run(&named([
            ("x", Tensor::zeros(DType::F32, vec![2, 5]).unwrap()),
            ("y", y),
        ]))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "input `x`: model expects f32 [batch, 4], got f32 [2, 5]"
    );
}

#[test]
fn load_errors_name_the_file() {
    let err =
        TractSession::from_file("/nonexistent/model.onnx", &SessionOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot load model /nonexistent/model.onnx: no such file"
    );
    let err = TractSession::from_bytes(b"definitely not protobuf", &SessionOptions::default())
        .unwrap_err();
    assert!(
        matches!(&err, Error::Load { model, message } if model == "<bytes>" && !message.is_empty()),
        "{err}"
    );
}

#[test]
fn external_data_needs_from_file() {
    let path = case("external_data");
    let s = TractSession::from_file(&path, &SessionOptions::default()).unwrap();
    let out = s
        .run(&named([(
            "x",
            Tensor::from_f32(vec![4], vec![10.0; 4]).unwrap(),
        )]))
        .unwrap();
    assert_eq!(out[0].1.to_f32_vec().unwrap(), [11.0, 12.0, 13.0, 14.0]);

    let bytes = std::fs::read(&path).unwrap();
    let err = TractSession::from_bytes(&bytes, &SessionOptions::default()).unwrap_err();
    let Error::Load { model, message } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(model, "<bytes>");
    assert!(message.contains("external data"), "{message}");
}

/// A node whose op type tract has never heard of: the error names the op and the node
/// before tract analyses anything, and counts every missing op type.
#[test]
fn a_missing_operator_is_named() {
    let bytes = std::fs::read(workspace("models/digits-mlp.onnx")).unwrap();
    let mut model = ModelProto::decode(bytes.as_slice()).unwrap();
    let graph = model.graph.as_mut().unwrap();
    let relu = graph
        .node
        .iter_mut()
        .find(|n| n.op_type() == "Relu")
        .unwrap();
    relu.op_type = Some("Frobnicate".into());
    relu.name = Some("my_relu".into());
    let err =
        TractSession::from_bytes(&model.encode_to_vec(), &SessionOptions::default()).unwrap_err();
    let Error::UnsupportedOperator {
        model,
        op,
        node,
        message,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(
        (model.as_str(), op.as_str(), node.as_str()),
        ("<bytes>", "Frobnicate", "my_relu")
    );
    assert!(message.contains("Frobnicate (1 node)"), "{message}");
    assert!(
        err.to_string()
            .starts_with("tract cannot run model <bytes>: node `my_relu` (Frobnicate): "),
        "{err}"
    );
}
