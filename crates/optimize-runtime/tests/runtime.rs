use optimize_data::Tensor;
use optimize_runtime::{Model, OnnxRuntime, Runtime, SessionOptions};

use crate::util::{case, named};

#[test]
fn onnx_runtime_back_end_through_the_trait() {
    let runtime: Box<dyn Runtime> = Box::new(OnnxRuntime::new(SessionOptions::deterministic()));
    assert_eq!(runtime.name(), "onnxruntime");
    let model: Box<dyn Model> = runtime.load(&case("add_broadcast")).unwrap();
    assert_eq!(model.inputs().len(), 2);
    let out = model
        .run(&named([
            ("x", Tensor::from_f32(vec![1, 4], vec![1.0; 4]).unwrap()),
            ("y", Tensor::from_f32(vec![4], vec![2.0; 4]).unwrap()),
        ]))
        .unwrap();
    assert_eq!(out[0].1.to_f32_vec().unwrap(), [3.0; 4]);
}

#[test]
fn a_session_can_be_shared_between_threads() {
    let runtime = OnnxRuntime::default();
    let model = runtime.load(&case("add_broadcast")).unwrap();
    std::thread::scope(|scope| {
        for i in 0..4 {
            let model = &model;
            scope.spawn(move || {
                let x = Tensor::from_f32(vec![1, 4], vec![i as f32; 4]).unwrap();
                let y = Tensor::from_f32(vec![4], vec![1.0; 4]).unwrap();
                let out = model.run(&named([("x", x), ("y", y)])).unwrap();
                assert_eq!(out[0].1.to_f32_vec().unwrap(), [i as f32 + 1.0; 4]);
            });
        }
    });
}
